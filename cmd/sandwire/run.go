package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/sandwire/sandwire/launch"
	"github.com/sandwire/sandwire/podmanflags"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func newRunCommand(g *globals) *cobra.Command {
	var w wiringFlags
	cmd := &cobra.Command{
		Use:   "run [options] NAME -- [podman run options] IMAGE [COMMAND [ARG...]]",
		Short: "Run a command in a new container wired into the sandbox",
		Long: `Create container NAME from IMAGE, wired into the sandbox, start it, and —
unless -d is given — attach to it and exit with its exit code, as
"podman run" does. Everything after "--" is what you would give
"podman run", except the flags the sandbox owns, which are refused.

With --rm the container and its sandbox state are removed when it exits;
without it, a container whose start failed is kept, as podman keeps it.
Once the container is created, the signals sandwire receives (Ctrl-C's
SIGINT, SIGTERM, SIGHUP, ...) are forwarded to it, as podman run's
--sig-proxy forwards them, and the container decides what they mean;
with --sig-proxy=false they are not, and SIGINT, SIGTERM or SIGHUP ends
sandwire as it ends podman, leaving the container running. Before that,
SIGINT and SIGTERM cancel the launch, which then leaves nothing. Errors
read as podman run's. Exit codes are podman run's: 125 when sandwire or
the podman service failed or refused before the container's command
could be invoked, 126 when it could not be invoked, 127 when it was not
found, else the container's own.`,
		Example: `  sandwire run --scope myproj mybox -- -it localhost/app:latest sh
  sandwire run --no-shield mybox -- -d busybox sleep 1d`,
		Args:              launchArgs,
		ValidArgsFunction: completePassthrough(podmanflags.Run),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd.Context(), args[0], w.request(), args[1:])
		},
	}
	w.register(cmd.Flags())
	return cmd
}

func (g *globals) run(ctx context.Context, name string, req launch.Request, passthrough []string) error {
	parsed, pull, sb, err := g.launcher(name, passthrough, podmanflags.Run)
	if err != nil {
		return err
	}
	defer sb.Close()
	o := parsed.Options
	if o.TTY && o.Interactive && !isTerminal(g.stdin) {
		logrus.Warnf("The input device is not a TTY. The --tty and --interactive flags might not work properly")
	}
	opts := &launch.RunOptions{
		Detach: parsed.Run.Detach, Remove: o.Rm, RemoveImage: parsed.Run.Rmi, CIDFile: o.CIDFile,
		DetachKeys: parsed.Run.DetachKeys, Pull: pull,
	}
	g.attach(parsed, opts)
	defer g.proxySignals(parsed.Run, opts)()
	res, err := sb.Run(ctx, name, parsed.Spec, req, opts)
	var start *launch.StartError
	switch {
	case errors.As(err, &start):
		return &exitError{code: res.ExitCode, err: err}
	case err != nil:
		return err
	case parsed.Run.Detach:
		fmt.Fprintln(g.stdout, res.ID)
		return nil
	case res.Detached:
		return nil
	}
	return &exitError{code: res.ExitCode}
}

// attach sets the streams run attaches, as podman run chooses them; with
// neither stdout nor stderr attached, the ID is printed once the
// container is created, as podman does.
func (g *globals) attach(parsed *podmanflags.Parsed, opts *launch.RunOptions) {
	if parsed.Run.Detach {
		return
	}
	stdin, stdout, stderr := parsed.Streams()
	if stdin {
		opts.Stdin = g.stdin
	}
	if stdout {
		opts.Stdout = g.stdout
	}
	if stderr {
		opts.Stderr = g.stderr
	}
	if !stdout && !stderr {
		opts.Created = func(c *launch.Container) { fmt.Fprintln(g.stdout, c.ID) }
	}
}

// proxySignals hands the signals of an attached run over once its
// container is created, as podman run does: to the container with
// --sig-proxy, else to their default effect. Until then SIGINT and SIGTERM
// cancel the launch. It returns what stops the catching.
func (g *globals) proxySignals(run podmanflags.RunOptions, opts *launch.RunOptions) (stop func()) {
	if run.Detach {
		return func() {}
	}
	var signals chan os.Signal
	if run.SigProxy {
		signals = make(chan os.Signal, launch.SignalBuffer)
		opts.Signals = signals
	}
	created := opts.Created
	opts.Created = func(c *launch.Container) {
		if signals != nil {
			launch.CatchProxiedSignals(signals)
		}
		g.releaseInterrupts()
		if created != nil {
			created(c)
		}
	}
	return func() {
		if signals != nil {
			signal.Stop(signals)
		}
	}
}

// isTerminal reports whether r is a terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
