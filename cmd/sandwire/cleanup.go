package main

import (
	"fmt"

	"github.com/sandwire/sandwire/wiring"
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
			found, err := wiring.Cleanup(cmd.Context(), cfg, name, wiring.CleanupOptions{Tokens: store})
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
