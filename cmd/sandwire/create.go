package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/sandwire/sandwire/launch"
	"github.com/sandwire/sandwire/podmanapi"
	"github.com/sandwire/sandwire/podmanflags"
	"github.com/sandwire/sandwire/specmutate"
	"github.com/sandwire/sandwire/wiring"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
)

func newCreateCommand(g *globals) *cobra.Command {
	var w wiringFlags
	cmd := &cobra.Command{
		Use:   "create [options] NAME -- [podman create options] IMAGE [COMMAND [ARG...]]",
		Short: "Create a container wired into the sandbox",
		Long: `Create container NAME from IMAGE, wired into the sandbox, through the podman
API. Everything after "--" is what you would give "podman create": its
flags mean what they mean to podman, except the ones the sandbox owns
(--name, --network, --userns, --cap-add, --cap-drop, --annotation,
--hooks-dir, mounts at its paths, --privileged, --security-opt), which are
refused. The container ID is printed to stdout.`,
		Example: `  sandwire create --scope myproj mybox -- -e FOO=bar localhost/app:latest sleep 1d
  sandwire create --no-shield mybox -- busybox`,
		Args: launchArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			res, _, _, err := g.launch(cmd.Context(), args[0], w.request(), args[1:], podmanflags.Create)
			if err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, res.ID)
			return nil
		},
	}
	w.register(cmd.Flags())
	return cmd
}

// launchArgs requires NAME, then "--", then the passthrough.
func launchArgs(cmd *cobra.Command, args []string) error {
	dash := cmd.ArgsLenAtDash()
	switch {
	case len(args) == 0:
		return usageErr(fmt.Errorf("%q requires a container NAME", cmd.CommandPath()))
	case dash < 0:
		return usageErr(fmt.Errorf("%q requires \"--\" before the podman options and IMAGE: %s", cmd.CommandPath(), cmd.Use))
	case dash != 1:
		return usageErr(fmt.Errorf("%q takes exactly one NAME before \"--\", got %d arguments", cmd.CommandPath(), dash))
	case len(args) == 1:
		return usageErr(fmt.Errorf("%q requires an IMAGE after \"--\"", cmd.CommandPath()))
	}
	return nil
}

// gates parses the passthrough as podman does and runs both rejection
// gates on it: the flag policy on the raw arguments and the ownership
// check on the parsed spec. Every conflict of both is reported at once,
// before anything is written.
func gates(name string, passthrough []string, mode podmanflags.Mode) (*podmanflags.Parsed, error) {
	gate1 := podmanflags.CheckPolicy(passthrough)
	parsed, err := podmanflags.Parse(passthrough, mode)
	if err != nil {
		return nil, usageErr(errors.Join(gate1, err))
	}
	if gate2 := specmutate.Conflicts(parsed.Spec, &wiring.Edits{Name: name}); gate1 != nil || gate2 != nil {
		return nil, usageErr(errors.Join(gate1, gate2))
	}
	return parsed, nil
}

// launch runs both gates on the passthrough, parses it into a spec, and
// creates the wired container. Nothing is written before both gates pass.
func (g *globals) launch(ctx context.Context, name string, req wiring.Request, passthrough []string, mode podmanflags.Mode) (*launch.Result, *podmanflags.Parsed, *podmanapi.Client, error) {
	if err := wiring.ValidateName(name); err != nil {
		return nil, nil, nil, err
	}
	parsed, err := gates(name, passthrough, mode)
	if err != nil {
		return nil, nil, nil, err
	}
	cfg, err := loadConfig()
	if err != nil {
		return nil, nil, nil, err
	}
	client, err := g.connect(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	sh, err := newShield(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	res, err := launch.Create(ctx, client, name, parsed.Spec, launch.Options{
		Config: cfg, Request: req, Shield: sh,
		Notes: func(n string) { fmt.Fprintln(g.stderr, n) },
	})
	if err != nil {
		return nil, nil, nil, err
	}
	for _, warn := range res.Warnings {
		logrus.Warn(warn)
	}
	logrus.Debugf("created %q (%s): plan %+v", name, res.ID, res.Plan)
	return res, parsed, client, nil
}
