package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/sandwire/sandwire/podmanapi"
	"github.com/sandwire/sandwire/wiring"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
)

func newCleanupCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "cleanup NAME",
		Short: "Revoke a container's tokens and remove its sandbox state",
		Long: `Revoke the phantom tokens of container NAME and remove its sandbox state:
sidecar, runtime dir and run state. The container itself is left alone;
remove it with podman. Safe to run more than once, and on unknown names.`,
		Example: `  sandwire cleanup mybox`,
		Args:    exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := wiring.ValidateName(name); err != nil {
				return err
			}
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			store := wiring.NewSQLiteStore(cfg.DBPath())
			defer store.Close()
			opts := wiring.CleanupOptions{Tokens: store}
			if plan, ok, _ := wiring.ReadPlan(cfg, name); ok && plan.Shield {
				if opts.Shield, err = newShield(cfg); err != nil {
					return err
				}
				opts.ContainerID = g.containerID(cmd.Context(), name)
			}
			found, err := wiring.Cleanup(cmd.Context(), cfg, name, opts)
			if err != nil {
				return err
			}
			if !found {
				fmt.Fprintf(g.stderr, "no sandbox state for %q; nothing to clean up\n", name)
				return nil
			}
			fmt.Fprintln(g.stdout, name)
			return nil
		},
	}
}

// containerID resolves name to the container's ID for the shield's
// teardown. A container that is gone needs none (its hook already ran at
// poststop), so it yields "".
func (g *globals) containerID(ctx context.Context, name string) string {
	client, err := g.connect(ctx)
	if err != nil {
		logrus.Warnf("cannot resolve container %q to tear its shield down: %v", name, err)
		return ""
	}
	data, err := client.Inspect(ctx, name)
	var gone *podmanapi.NoSuchContainerError
	switch {
	case errors.As(err, &gone):
		return ""
	case err != nil:
		logrus.Warnf("cannot resolve container %q to tear its shield down: %v", name, err)
		return ""
	}
	return data.ID
}
