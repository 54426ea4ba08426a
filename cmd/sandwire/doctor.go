package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

func newDoctorCommand(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "doctor [options]",
		Short: "Check what a launch on this host needs",
		Long: `Check what a launch on this host needs and say what to do about each
failure: the podman service and its facts, the shield command and its hook
in the server's hooks dirs, the token store, the state, runtime and vault
dirs (owner, mode, no links), wired containers whose runtime dir is gone,
and stray state. Exits 1 when any check fails.`,
		Example: `  sandwire doctor
  sandwire doctor --json`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			sb, err := g.sandbox()
			if err != nil {
				return err
			}
			defer sb.Close()
			checks := sb.Doctor(cmd.Context())
			failed := 0
			for _, c := range checks {
				if !c.OK {
					failed++
				}
			}
			if asJSON {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(checks); err != nil {
					return err
				}
			} else {
				for _, c := range checks {
					status := "ok  "
					if !c.OK {
						status = "FAIL"
					}
					fmt.Fprintf(g.stdout, "%s  %s: %s\n", status, c.Name, c.Detail)
					if c.Fix != "" {
						fmt.Fprintf(g.stdout, "      fix: %s\n", c.Fix)
					}
				}
			}
			if failed > 0 {
				return &exitError{code: exitFailure, err: errors.New(fmt.Sprint(failed, " check(s) failed"))}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the checks as JSON")
	return cmd
}
