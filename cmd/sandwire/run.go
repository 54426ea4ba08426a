package main

import (
	"context"
	"fmt"

	"github.com/sandwire/sandwire/launch"
	"github.com/sandwire/sandwire/podmanflags"
	"github.com/spf13/cobra"
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

With --rm the container and its sandbox state are removed when it exits.
Ctrl-C stops the container. sandwire exits 125 when it fails or refuses
before the container ran.`,
		Example: `  sandwire run --scope myproj mybox -- -it localhost/app:latest sh
  sandwire run --no-shield mybox -- -d busybox sleep 1d`,
		Args: launchArgs,
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
	opts := &launch.RunOptions{
		Detach: parsed.Run.Detach, Remove: parsed.Options.Rm, DetachKeys: parsed.Run.DetachKeys,
		Stdout: g.stdout, Stderr: g.stderr, Pull: pull,
	}
	if parsed.Options.Interactive {
		opts.Stdin = g.stdin
	}
	res, err := sb.Run(ctx, name, parsed.Spec, req, opts)
	switch {
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
