package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"

	"github.com/sandwire/sandwire/launch"
	"github.com/spf13/cobra"
)

// startFlags are podman start's flags that sandwire start takes.
type startFlags struct {
	attach      bool
	interactive bool
	detachKeys  string
	sigProxy    bool
}

func newStartCommand(g *globals) *cobra.Command {
	var f startFlags
	cmd := &cobra.Command{
		Use:   "start [options] NAME [NAME...]",
		Short: "Start one or more wired containers",
		Long: `Starts one or more containers wired into the sandbox. The container name or
ID can be used.

Before it starts a container, sandwire re-creates what of its host-side
wiring is gone: the runtime dir that a reboot empties (the source of its
/run/terok mount), the dirs its services bind their sockets in, and its
bridge resources. A container that sandwire did not wire, or whose sandbox
state was cleaned up, is refused. Starting a running container does
nothing; with --attach, sandwire attaches to it, as podman start does.

With --attach, sandwire exits with the container's exit code, and the
signals it receives (Ctrl-C's SIGINT, SIGTERM, ...) are forwarded to the
container, as podman start --attach forwards them; with --sig-proxy=false
they are not, and end sandwire alone. Otherwise it prints each NAME it
started.`,
		Example: `  sandwire start mybox
  sandwire start --interactive --attach mybox`,
		Args:              startArgs(&f),
		ValidArgsFunction: g.completeWiredNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			// podman's rule: --sig-proxy is on when attaching, unless given.
			if !cmd.Flags().Changed("sig-proxy") {
				f.sigProxy = f.attach
			}
			if f.sigProxy && !f.attach {
				return usageErr(errors.New("you cannot use sig-proxy without --attach: invalid argument"))
			}
			return g.start(cmd, args, f)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&f.attach, "attach", "a", false, "Attach container's STDOUT and STDERR")
	flags.StringVar(&f.detachKeys, "detach-keys", "", "Select the key sequence for detaching a container. Format is a single character `[a-Z]` or a comma separated sequence of `ctrl-<value>`, where `<value>` is one of: `a-z`, `@`, `^`, `[`, `\\`, `]`, `^` or `_`")
	flags.BoolVarP(&f.interactive, "interactive", "i", false, "Make STDIN available to the contained process")
	flags.BoolVar(&f.sigProxy, "sig-proxy", false, "Proxy received signals to the process (default true if attaching, false otherwise)")
	_ = flags.MarkHidden("sig-proxy") // as podman-remote hides it
	return cmd
}

// startArgs are podman start's rules: at least one container, and only
// one when attaching.
func startArgs(f *startFlags) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		switch {
		case len(args) == 0:
			return usageErr(errors.New("start requires at least one argument"))
		case len(args) > 1 && f.attach:
			return usageErr(errors.New("you cannot start and attach multiple containers at once"))
		}
		return nil
	}
}

func (g *globals) start(cmd *cobra.Command, names []string, f startFlags) error {
	sb, err := g.sandbox()
	if err != nil {
		return err
	}
	defer sb.Close()
	if f.attach {
		return g.startAttached(cmd.Context(), sb, names[0], f)
	}
	return g.startEach(cmd, sb, names)
}

// startAttached starts one container attached and exits with its code.
func (g *globals) startAttached(ctx context.Context, sb *launch.Sandbox, name string, f startFlags) error {
	opts := &launch.StartOptions{Attach: true, Stdout: g.stdout, Stderr: g.stderr, DetachKeys: f.detachKeys}
	if f.interactive {
		opts.Stdin = g.stdin
	}
	// As podman start: from here the signals are the container's (or,
	// without --sig-proxy, end sandwire), not a cancel of the start.
	if f.sigProxy {
		signals := make(chan os.Signal, launch.SignalBuffer)
		launch.CatchProxiedSignals(signals)
		defer signal.Stop(signals)
		opts.Signals = signals
	}
	g.releaseInterrupts()
	res, err := sb.Start(ctx, name, opts)
	switch {
	case err != nil:
		return err
	case res.Detached:
		return nil
	}
	return &exitError{code: res.ExitCode}
}

// startEach starts every name, as podman start does: it goes on past a
// failure, prints each name it started, then the errors, and exits with
// the code of the first failure.
func (g *globals) startEach(cmd *cobra.Command, sb *launch.Sandbox, names []string) error {
	var errs []error
	for _, name := range names {
		if _, err := sb.Start(cmd.Context(), name, nil); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintln(g.stdout, name)
	}
	if len(errs) == 0 {
		return nil
	}
	for _, err := range errs {
		printError(g.stderr, cmd, err)
	}
	return &exitError{code: exitCode(cmd, errs[0])}
}
