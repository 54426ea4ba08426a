package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/sandwire/sandwire/podmanapi"
	"github.com/sandwire/sandwire/podmanflags"
	"github.com/sandwire/sandwire/wiring"
	"github.com/sirupsen/logrus"
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

func (g *globals) run(ctx context.Context, name string, req wiring.Request, passthrough []string) error {
	res, parsed, client, err := g.launch(ctx, name, req, passthrough, podmanflags.Run)
	if err != nil {
		return err
	}
	if parsed.Run.Detach {
		if err := client.Start(ctx, res.ID); err != nil {
			return g.discard(name, res.ID, client, err)
		}
		fmt.Fprintln(g.stdout, res.ID)
		return nil
	}
	streams := podmanapi.Streams{Stdout: g.stdout, Stderr: g.stderr, DetachKeys: parsed.Run.DetachKeys}
	if parsed.Options.Interactive {
		streams.Stdin = g.stdin
	}
	code, err := client.StartAttached(ctx, res.ID, streams)
	if errors.Is(err, podmanapi.ErrDetached) {
		return nil
	}
	if err != nil {
		return g.discard(name, res.ID, client, err)
	}
	if parsed.Options.Rm {
		if err := g.removeWired(context.WithoutCancel(ctx), name, res.ID, client); err != nil {
			logrus.Errorf("removing %q after it exited: %v", name, err)
		}
	}
	return &exitError{code: code}
}

// discard removes a container that was created but could not be run,
// with its sandbox state, so a failed run leaves nothing behind.
func (g *globals) discard(name, id string, client *podmanapi.Client, cause error) error {
	if err := g.removeWired(context.Background(), name, id, client); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// removeWired force-removes the container (when a client is at hand) and
// cleans up its sandbox state.
func (g *globals) removeWired(ctx context.Context, name, id string, client *podmanapi.Client) error {
	var errs []error
	if client != nil {
		if err := client.Remove(ctx, id, true); err != nil {
			errs = append(errs, err)
		}
	}
	cfg, err := loadConfig()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	store := wiring.NewSQLiteStore(cfg.DBPath())
	defer store.Close()
	if _, err := wiring.Cleanup(ctx, cfg, name, wiring.CleanupOptions{Tokens: store}); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
