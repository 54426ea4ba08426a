package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/sandwire/sandwire/launch"
	"github.com/sandwire/sandwire/podmanflags"
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
--hooks-dir, mounts at its paths, terok.* labels, --privileged,
--security-opt), which are refused. The container ID is printed to stdout.`,
		Example: `  sandwire create --scope myproj mybox -- -e FOO=bar localhost/app:latest sleep 1d
  sandwire create --no-shield mybox -- busybox`,
		Args:              launchArgs,
		ValidArgsFunction: completePassthrough(podmanflags.Create),
		RunE: func(cmd *cobra.Command, args []string) error {
			parsed, pull, sb, err := g.launcher(args[0], args[1:], podmanflags.Create)
			if err != nil {
				return err
			}
			defer sb.Close()
			res, err := sb.Create(cmd.Context(), args[0], parsed.Spec, w.request(), &launch.CreateOptions{Pull: pull})
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

// launcher builds the sandbox for a launching verb, runs the gates on its
// passthrough and settles how the image is pulled.
func (g *globals) launcher(name string, passthrough []string, mode podmanflags.Mode) (*podmanflags.Parsed, *launch.PullOptions, *launch.Sandbox, error) {
	sb, err := g.sandbox()
	if err != nil {
		return nil, nil, nil, err
	}
	parsed, err := gates(sb, name, passthrough, mode)
	if err != nil {
		sb.Close()
		return nil, nil, nil, err
	}
	pull, err := pullOptions(parsed, g.stderr)
	if err != nil {
		sb.Close()
		return nil, nil, nil, usageErr(err)
	}
	return parsed, pull, sb, nil
}

// pullOptions are the passthrough's pull flags, meaning what they mean to
// podman run and create; the pull's progress goes to progress (stderr)
// unless -q was given.
func pullOptions(parsed *podmanflags.Parsed, progress io.Writer) (*launch.PullOptions, error) {
	o := parsed.Options
	user, password, err := parsed.Credentials()
	if err != nil {
		return nil, err
	}
	pull := &launch.PullOptions{
		Policy: launch.PullPolicy(o.Pull), Authfile: o.Authfile, Username: user, Password: password,
		OS: o.OS, Arch: o.Arch, Variant: o.Variant, Retry: parsed.Retry, RetryDelay: parsed.RetryDelay,
	}
	if o.TLSVerify.Present() {
		verify := o.TLSVerify.Value()
		pull.TLSVerify = &verify
	}
	if !o.Quiet {
		pull.Progress = progress
	}
	return pull, nil
}

// gates parses the passthrough as podman does and runs gate 1, the flag
// policy, on the raw arguments. Gate 2, on the parsed spec, runs in the
// library; when gate 1 refuses, gate 2 runs here too, so that every
// refusal of both is reported at once, before anything is written.
func gates(sb *launch.Sandbox, name string, passthrough []string, mode podmanflags.Mode) (*podmanflags.Parsed, error) {
	gate1 := podmanflags.CheckPolicy(passthrough)
	parsed, err := podmanflags.Parse(passthrough, mode)
	if err != nil {
		return nil, usageErr(errors.Join(gate1, err))
	}
	if gate1 != nil {
		return nil, usageErr(errors.Join(gate1, sb.CheckSpec(name, parsed.Spec)))
	}
	return parsed, nil
}
