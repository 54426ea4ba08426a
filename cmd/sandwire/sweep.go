package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sandwire/sandwire/wiring"
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
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			client, err := g.connect(cmd.Context())
			if err != nil {
				return fmt.Errorf("nothing was swept: without the podman service, live and stray state cannot be told apart: %w", err)
			}
			names, err := client.Names(cmd.Context())
			if err != nil {
				return fmt.Errorf("nothing was swept: %w", err)
			}
			store := wiring.NewSQLiteStore(cfg.DBPath())
			defer store.Close()
			rep, err := wiring.Sweep(cmd.Context(), cfg, nameSet(names), wiring.SweepOptions{Grace: grace, Tokens: store})
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
	cmd.Flags().DurationVar(&grace, "grace", wiring.DefaultSweepGrace, "minimum age of stray state to remove")
	return cmd
}

// lsEntry is one row of `sandwire ls`.
type lsEntry struct {
	Name      string       `json:"name"`
	Plan      *wiring.Plan `json:"plan"`
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
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			states, err := wiring.ListStates(cfg)
			if err != nil {
				return err
			}
			var live map[string]bool
			if client, err := g.connect(cmd.Context()); err == nil {
				if names, err := client.Names(cmd.Context()); err == nil {
					live = nameSet(names)
				}
			}
			rows := make([]lsEntry, 0, len(states))
			for _, s := range states {
				rows = append(rows, lsEntry{Name: s.Name, Plan: s.Plan, Container: containerColumn(live, s.Name), State: stateColumn(s)})
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

func containerColumn(live map[string]bool, name string) string {
	switch {
	case live == nil:
		return "unknown"
	case live[name]:
		return "exists"
	default:
		return "missing"
	}
}

func stateColumn(s wiring.State) string {
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

func nameSet(names []string) map[string]bool {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[strings.TrimPrefix(n, "/")] = true
	}
	return set
}
