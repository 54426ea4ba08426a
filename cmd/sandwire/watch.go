package main

import (
	"fmt"

	"github.com/sandwire/sandwire/launch"
	"github.com/spf13/cobra"
)

const watchLong = `Follow the podman service's events and, when a wired container is removed
(podman rm, podman run --rm when the container exits, podman container prune,
compose down, any client of the service), revoke its tokens and remove its
sandbox state, as "sandwire cleanup" does. A stopped container keeps
everything.

watch runs in the foreground until SIGINT or SIGTERM, and exits 0 then. It
resumes from the last event it handled (kept in the state dir), so removals
while it or the podman service was down are handled once both run again;
when the service goes away it reconnects with backoff. On every connection
it also sweeps, as "sandwire sweep --grace" does, for what no event tells.
What it does is reported on stderr.`

func newWatchCommand(g *globals) *cobra.Command {
	opts := &launch.WatchOptions{}
	cmd := &cobra.Command{
		Use:   "watch [options]",
		Short: "Clean up after wired containers that any client removes",
		Long:  watchLong,
		Example: `  sandwire watch
  sandwire --url unix:///run/podman/podman.sock watch --grace 10m`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Grace <= 0 {
				return usageErr(fmt.Errorf("--grace must be positive, got %s", opts.Grace))
			}
			sb, err := g.sandbox()
			if err != nil {
				return err
			}
			defer sb.Close()
			return sb.Watch(cmd.Context(), opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Grace, "grace", launch.DefaultSweepGrace, "minimum age of stray state the sweeps remove")
	return cmd
}
