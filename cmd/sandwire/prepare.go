package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/sandwire/sandwire/podmanapi"
	"github.com/sandwire/sandwire/wiring"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
)

func newPrepareCommand(g *globals) *cobra.Command {
	var (
		w      wiringFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "prepare [options] NAME",
		Short: "Lay down the sandbox state for a container and print its podman flags",
		Long: `Lay down the sandbox state for container NAME (tokens, sidecar, runtime dir)
and print the podman run flags that wire it, for use with your own podman:

  podman run $(sandwire prepare NAME --scope myproj) IMAGE

The user namespace follows the podman that will run the flags: the server
named by --url, --connection, CONTAINER_HOST or CONTAINER_CONNECTION when
one is given, else the local podman of this user (rootless unless root).`,
		Example: `  sandwire prepare --scope myproj mybox
  sandwire prepare --json --no-shield mybox`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := wiring.ValidateName(name); err != nil {
				return err
			}
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			local, err := podmanapi.ReadLocalConfig()
			if err != nil {
				return err
			}
			rootless, rootlessNet := os.Geteuid() != 0, local.RootlessNetwork
			if g.explicitServer() {
				client, err := g.connect(cmd.Context())
				if err != nil {
					return err
				}
				if err := client.RequireLocal("prepare"); err != nil {
					return err
				}
				rootless, rootlessNet = client.Facts().Rootless, client.Facts().RootlessNetwork
			}
			sh, err := newShield(cfg)
			if err != nil {
				return err
			}
			store := wiring.NewSQLiteStore(cfg.DBPath())
			defer store.Close()
			l, err := wiring.Compose(cmd.Context(), cfg, name, w.request(), wiring.ComposeOptions{
				Tokens: store, Shield: sh, ServerRootless: rootless, ServerRootlessNetwork: rootlessNet,
			})
			if err != nil {
				return err
			}
			l.Commit()
			for _, n := range l.Notes {
				fmt.Fprintln(g.stderr, n)
			}
			logrus.Debugf("prepared %q: plan %+v", name, l.Plan)
			flags := l.Edits.Flags()
			if asJSON {
				out, err := json.Marshal(flags)
				if err != nil {
					return err
				}
				fmt.Fprintln(g.stdout, string(out))
				return nil
			}
			fmt.Fprintln(g.stdout, wiring.ShellQuote(flags))
			return nil
		},
	}
	w.register(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the flags as a JSON array")
	return cmd
}

// exactArgs is cobra.ExactArgs with a usage error naming what is expected.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErr(fmt.Errorf("%q requires exactly %d argument (%s), got %d", cmd.CommandPath(), n, what, len(args)))
		}
		return nil
	}
}
