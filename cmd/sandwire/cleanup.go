package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newCleanupCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "cleanup NAME",
		Short: "Revoke a container's tokens and remove its sandbox state",
		Long: `Revoke the phantom tokens of container NAME and remove its sandbox state:
sidecar, runtime dir and run state. The container itself is left alone;
remove it with podman. Safe to run more than once, and on unknown names.`,
		Example:           `  sandwire cleanup mybox`,
		Args:              exactArgs(1, "NAME"),
		ValidArgsFunction: g.completeWiredNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			sb, err := g.sandbox()
			if err != nil {
				return err
			}
			defer sb.Close()
			found, err := sb.Cleanup(cmd.Context(), name)
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
