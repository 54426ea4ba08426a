package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/sandwire/sandwire/launch"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
)

// Exit codes: podman's for run, the container's for start --attach; 0/1/2
// for the other verbs.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	// exitRunFailed is what `run` exits with when sandwire failed or
	// refused before the container ran, as `podman run` does.
	exitRunFailed = 125
)

// globals are the flags every verb shares.
type globals struct {
	url        string
	connection string
	identity   string
	logLevel   string
	quietNotes bool

	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	// releaseInterrupts ends the cancelling of the verb's context by
	// SIGINT and SIGTERM (see cancelOnInterrupt).
	releaseInterrupts func()
}

// Main runs the CLI with args and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRootCommand(g)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)

	ctx, cancel, release := cancelOnInterrupt(context.Background())
	defer cancel()
	defer release()
	g.releaseInterrupts = release
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var exit *exitError
	if errors.As(err, &exit) {
		if exit.err != nil {
			printError(stderr, cmd, exit.err)
		}
		return exit.code
	}
	printError(stderr, cmd, err)
	return exitCode(cmd, err)
}

// cancelOnInterrupt returns a context that SIGINT and SIGTERM cancel, its
// cancel, and release, which ends that: from then on the two signals go
// to whoever else catches them (run's signal proxy), or have their
// default effect, ending the process.
func cancelOnInterrupt(parent context.Context) (ctx context.Context, cancel, release func()) {
	ctx, cancel = context.WithCancel(parent)
	interrupts := make(chan os.Signal, 1)
	released := make(chan struct{})
	signal.Notify(interrupts, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-interrupts:
			cancel()
		case <-released:
		}
	}()
	release = sync.OnceFunc(func() {
		signal.Stop(interrupts)
		close(released)
	})
	return ctx, cancel, release
}

// printError writes err for the user: with the CLI's advice, tokens
// redacted. run's errors read as podman run's (podmanError); a failed
// start of the other verbs reads as podman's too, the runtime's message
// alone. At --log-level debug the whole chain is kept.
func printError(w io.Writer, cmd *cobra.Command, err error) {
	debug := logrus.IsLevelEnabled(logrus.DebugLevel)
	if isRun(cmd) {
		podmanError(w, err, debug)
		return
	}
	msg := err.Error()
	var start *launch.StartError
	if errors.As(err, &start) && debug {
		msg = start.Err.Error()
	}
	fmt.Fprintln(w, "Error:", launch.Redact(msg+advice(err)))
}

// podmanError writes err as podman's remote client writes it: the podman
// service's or the runtime's message alone, without what was attempted or
// the HTTP status (the whole chain at debug level), and, for a service
// that could not be reached, podman's advice on its connections first,
// instead of sandwire's. The sandbox's own errors keep the CLI's advice.
func podmanError(w io.Writer, err error, debug bool) {
	msg := launch.PodmanMessage(err)
	var start *launch.StartError
	switch {
	case debug && errors.As(err, &start):
		msg = start.Err.Error()
	case debug:
		msg = err.Error()
	}
	var unreachable *launch.UnreachableError
	if errors.As(err, &unreachable) && unreachable.AtConnect() {
		fmt.Fprintln(w, cannotConnect)
	} else {
		msg += advice(err)
	}
	fmt.Fprintln(w, "Error:", launch.Redact(msg))
}

// cannotConnect is the advice podman's remote client prints, before its
// error, when the service cannot be reached.
const cannotConnect = "Cannot connect to Podman. Please verify your connection to the Linux system using `podman system connection list`, or try `podman machine init` and `podman machine start` to manage a new Linux VM"

// isRun reports whether cmd is run, which behaves as podman run.
func isRun(cmd *cobra.Command) bool { return cmd != nil && cmd.Name() == "run" }

func newRootCommand(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "sandwire",
		Short: "Wire containers into the sandbox's host services through the podman API",
		Long: `Wire containers into the sandbox's host services through the podman API.

sandwire adds what the sandbox owns to a container — the egress firewall
(shield), the vault token broker, the vault SSH signer and the git gate —
and creates the container through the podman REST socket.`,
		Version:           launch.ClientVersion().Version,
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return setupLogging(g) },
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.url, "url", "", "URL to access the Podman service (CONTAINER_HOST)")
	pf.StringVarP(&g.connection, "connection", "c", "", "Connection to use for the remote Podman service (CONTAINER_CONNECTION)")
	pf.StringVar(&g.identity, "identity", "", "path to SSH identity file (CONTAINER_SSHKEY)")
	pf.BoolVar(&g.quietNotes, "quiet-notes", false, "Do not print the sandbox's own notes (skipped services, the shield's network); podman's warnings and errors are still printed")
	pf.StringVar(&g.logLevel, "log-level", "warn", "Log messages above specified level (trace, debug, info, warn, warning, error, fatal, panic)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr(err) })

	root.AddCommand(newPrepareCommand(g), newCreateCommand(g), newRunCommand(g), newStartCommand(g), newCleanupCommand(g), newSweepCommand(g), newLsCommand(g), newWatchCommand(g), newServeCommand(g), newVersionCommand(g), newDoctorCommand(g))
	return root
}

func setupLogging(g *globals) error {
	level, err := logrus.ParseLevel(g.logLevel)
	if err != nil {
		return usageErr(fmt.Errorf("invalid --log-level %q: %w", g.logLevel, err))
	}
	logrus.SetLevel(level)
	logrus.SetOutput(g.stderr)
	// podman's own format, so that the warnings it would print read the same.
	logrus.SetFormatter(redactingFormatter{&logrus.TextFormatter{}})
	return nil
}

// redactingFormatter removes tokens from every formatted log line, fields
// included, so no code path can log a secret by accident.
type redactingFormatter struct{ inner logrus.Formatter }

func (f redactingFormatter) Format(e *logrus.Entry) ([]byte, error) {
	out, err := f.inner.Format(e)
	if err != nil {
		return nil, err
	}
	return []byte(launch.Redact(string(out))), nil
}

// sandbox builds the library value every verb runs on: the configuration,
// the podman service the global flags name, and the user's notes on stderr.
func (g *globals) sandbox() (*launch.Sandbox, error) {
	cfg, err := launch.LoadConfig()
	if err != nil {
		return nil, err
	}
	notes := launch.NotesTo(g.stderr)
	if g.quietNotes {
		notes = nil
	}
	return launch.New(cfg,
		launch.WithConnection(launch.Connection{URL: g.url, Connection: g.connection, Identity: g.identity}),
		launch.WithNotes(notes), launch.WithWarnings(launch.NotesTo(g.stderr)))
}

// usageError marks a misuse of the command line.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErr(err error) error { return &usageError{err: err} }

// exitError carries a specific exit code (a container's, for run).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }
