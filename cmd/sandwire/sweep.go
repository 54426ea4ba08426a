package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sandwire/sandwire/launch"
	"github.com/spf13/cobra"
)

func newSweepCommand(g *globals) *cobra.Command {
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "sweep [options]",
		Short: "Remove sandbox state whose container no longer exists",
		Long: `Remove the sandbox state and tokens of every name whose container the podman
service no longer knows, once the state is older than the grace period
(prepare writes state before your own podman run creates the container).
When the podman service cannot be reached nothing is removed.`,
		Example: `  sandwire sweep
  sandwire sweep --grace 10m`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if grace <= 0 {
				return usageErr(fmt.Errorf("--grace must be positive, got %s", grace))
			}
			sb, err := g.sandbox()
			if err != nil {
				return err
			}
			defer sb.Close()
			rep, err := sb.Sweep(cmd.Context(), grace)
			for _, n := range rep.Swept {
				fmt.Fprintln(g.stdout, n)
			}
			if len(rep.Young) > 0 {
				fmt.Fprintf(g.stderr, "left %d stray(s) younger than %s: %s\n", len(rep.Young), grace, strings.Join(rep.Young, ", "))
			}
			if len(rep.Busy) > 0 {
				fmt.Fprintf(g.stderr, "left %d stray(s) that a launch or cleanup holds: %s\n", len(rep.Busy), strings.Join(rep.Busy, ", "))
			}
			return err
		},
	}
	cmd.Flags().DurationVar(&grace, "grace", launch.DefaultSweepGrace, "minimum age of stray state to remove")
	return cmd
}

// lsEntry is one row of `sandwire ls`.
type lsEntry struct {
	Name      string       `json:"name"`
	Plan      *launch.Plan `json:"plan"`
	Container string       `json:"container"`
	State     string       `json:"state"`
}

func newLsCommand(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:     "ls [options]",
		Aliases: []string{"list", "ps"},
		Short:   "List wired containers and whether disk state and server agree",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return usageErr(fmt.Errorf("--format must be \"table\" or \"json\", got %q", format))
			}
			sb, err := g.sandbox()
			if err != nil {
				return err
			}
			defer sb.Close()
			entries, err := sb.List(cmd.Context())
			if err != nil {
				return err
			}
			rows := make([]lsEntry, 0, len(entries))
			for _, e := range entries {
				rows = append(rows, lsEntry{Name: e.Name, Plan: e.Plan, Container: string(e.Container), State: stateColumn(e.State)})
			}
			if format == "json" {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSCOPE\tSHIELD\tGATE\tBROKER\tSSH\tCONTAINER\tSTATE")
			for _, r := range rows {
				scope, shield, gate, broker, ssh := "-", "-", "-", "-", "-"
				if p := r.Plan; p != nil {
					scope = p.ScopeName()
					if scope == "" {
						scope = "-"
					}
					shield, gate, broker, ssh = onOff(p.Shield), onOff(p.Gate), onOff(p.Broker), onOff(p.SSH)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, scope, shield, gate, broker, ssh, r.Container, r.State)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

func stateColumn(s launch.State) string {
	if s.Complete() {
		return "complete"
	}
	var missing []string
	for _, p := range []struct {
		have bool
		name string
	}{{s.Plan != nil, "plan"}, {s.Sidecar, "sidecar"}, {s.RunState, "run state"}, {s.RuntimeDir, "runtime dir"}} {
		if !p.have {
			missing = append(missing, p.name)
		}
	}
	return "partial (no " + strings.Join(missing, ", ") + ")"
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
