package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/sandwire/sandwire/launch"
	"github.com/sandwire/sandwire/podmanflags"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
)

// Output formats of prepare.
const (
	formatFlags = "flags"
	formatJSON  = "json"
	formatSpec  = "spec"
)

func newPrepareCommand(g *globals) *cobra.Command {
	var (
		w      wiringFlags
		format string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "prepare [options] NAME [-- [podman create options] IMAGE [COMMAND [ARG...]]]",
		Short: "Lay down the sandbox state for a container and print how to wire it",
		Long: `Lay down the sandbox state for container NAME (tokens, sidecar, runtime dir)
and print what wires it, for use with your own podman:

  podman run $(sandwire prepare --scope myproj NAME) IMAGE

--format flags (the default) prints the podman run flags, shell-quoted;
--format json prints them as a JSON array; --format spec prints the
SpecGenerator JSON that "sandwire create" would send to the podman API for
the container described after "--".

The user namespace and network follow the podman that will run the
container: the server named by --connection, --url, CONTAINER_CONNECTION or
CONTAINER_HOST when one is given, else the local podman of this user
(rootless unless root).`,
		Example: `  sandwire prepare --scope myproj mybox
  sandwire prepare --format json --no-shield mybox
  sandwire prepare --format spec --no-shield mybox -- -e FOO=bar localhost/app:latest`,
		Args: prepareArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON {
				format = formatJSON
			}
			var passthrough []string
			if dash := cmd.ArgsLenAtDash(); dash >= 0 {
				passthrough = args[dash:]
			}
			return g.prepare(cmd.Context(), args[0], w.request(), format, passthrough)
		},
	}
	w.register(cmd.Flags())
	cmd.Flags().StringVar(&format, "format", formatFlags, "output: flags, json or spec")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the flags as a JSON array (same as --format json)")
	return cmd
}

func prepareArgs(cmd *cobra.Command, args []string) error {
	dash := cmd.ArgsLenAtDash()
	switch {
	case len(args) == 0 || dash == 0:
		return usageErr(fmt.Errorf("%q requires a container NAME", cmd.CommandPath()))
	case dash < 0 && len(args) != 1, dash > 1:
		return usageErr(fmt.Errorf("%q takes exactly one NAME", cmd.CommandPath()))
	}
	return nil
}

func (g *globals) prepare(ctx context.Context, name string, req launch.Request, format string, passthrough []string) error {
	sb, err := g.sandbox()
	if err != nil {
		return err
	}
	defer sb.Close()
	var spec *specgen.SpecGenerator
	switch format {
	case formatFlags, formatJSON:
		if len(passthrough) > 0 {
			return usageErr(errors.New("arguments after \"--\" describe the container for --format spec only"))
		}
	case formatSpec:
		if len(passthrough) == 0 {
			return usageErr(errors.New("--format spec needs the container after \"--\": [podman create options] IMAGE [COMMAND]"))
		}
		parsed, err := gates(sb, name, passthrough, podmanflags.Create)
		if err != nil {
			return err
		}
		spec = parsed.Spec
	default:
		return usageErr(fmt.Errorf("--format must be %q, %q or %q, got %q", formatFlags, formatJSON, formatSpec, format))
	}
	p, err := sb.Prepare(ctx, name, spec, req)
	if err != nil {
		return err
	}
	logrus.Debugf("prepared %q: plan %+v", name, p.Plan)
	out, err := render(p, format)
	if err != nil {
		return err
	}
	fmt.Fprintln(g.stdout, out)
	return nil
}

// render prints what prepare laid down in one format. The flags and the
// spec are two renderings of the same edits, so they cannot disagree.
func render(p *launch.Prepared, format string) (string, error) {
	switch format {
	case formatJSON:
		out, err := json.Marshal(p.Flags())
		return string(out), err
	case formatSpec:
		out, err := json.MarshalIndent(p.Spec, "", "  ")
		return string(out), err
	}
	return p.ShellFlags(), nil
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
