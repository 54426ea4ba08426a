package main

import (
	"errors"
	"fmt"

	"github.com/sandwire/sandwire/launch"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// wiringFlags are the sandbox's own flags, shared by every launching verb.
type wiringFlags struct {
	scope    string
	noShield bool
	noGate   bool
	noBroker bool
	profiles []string
	orch     launch.Orchestrator
}

func (w *wiringFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&w.scope, "scope", "", "vault scope; wires the broker, gate and SSH signer for it")
	fs.BoolVar(&w.noShield, "no-shield", false, "launch without the egress firewall")
	fs.BoolVar(&w.noGate, "no-gate", false, "do not wire the git gate")
	fs.BoolVar(&w.noBroker, "no-broker", false, "do not wire the vault token broker")
	fs.StringSliceVar(&w.profiles, "profiles", nil, "egress firewall profiles (default from the configuration)")
	fs.StringVar(&w.orch.TaskID, "task-id", "", "orchestrator task ID, recorded in the sidecar")
	fs.StringVar(&w.orch.DossierPath, "dossier-path", "", "absolute host path of the task's dossier, recorded in the sidecar")
	fs.BoolVar(&w.orch.AllowDebugger, "allow-debugger", false, "let a debugger attach to the container's host-side supervisor")
}

func (w *wiringFlags) request() launch.Request {
	return launch.Request{Scope: w.scope, NoShield: w.noShield, NoGate: w.noGate, NoBroker: w.noBroker, Profiles: w.profiles, Orchestrator: w.orch}
}

// exitCode maps an error to the verb's exit code: 2 for usage errors and
// policy refusals, 1 for runtime failures; run exits 125 for either, as
// `podman run` does when it fails before the container ran.
func exitCode(cmd *cobra.Command, err error) int {
	if isRun(cmd) {
		return exitRunFailed
	}
	// The root command runs nothing itself: an error there is an unknown
	// command or a misplaced flag.
	if isUsage(err) || cmd != nil && !cmd.HasParent() {
		return exitUsage
	}
	return exitFailure
}

// isUsage reports a misuse or a refusal: the CLI's own usage errors, and
// the library's invalid-argument and failed-precondition categories (a
// remote server, a container start cannot start wired).
func isUsage(err error) bool {
	var usage *usageError
	return errors.As(err, &usage) || errors.Is(err, launch.ErrInvalidArgument) || errors.Is(err, launch.ErrFailedPrecondition)
}

// advice is what the CLI adds to a library error: the verbs and flags
// that get a person past it, which the library does not know.
func advice(err error) string {
	var (
		exists      *launch.StateExistsError
		kept        *launch.TokensKeptError
		shieldErr   *launch.ShieldError
		unreachable *launch.UnreachableError
	)
	switch {
	case errors.As(err, &kept):
		return fmt.Sprintf("; run 'sandwire cleanup %s' once the token store is available", kept.Name)
	case errors.As(err, &exists):
		return fmt.Sprintf("; remove the container and run 'sandwire cleanup %s' first", exists.Name)
	case errors.As(err, &shieldErr), errors.Is(err, launch.ErrShieldUnavailable):
		return "; --no-shield launches without the firewall"
	case errors.Is(err, launch.ErrNotWired):
		return "; sandwire starts the containers it wired ('sandwire create', 'sandwire run'); start others with 'podman start'"
	case errors.Is(err, launch.ErrCleanedUp), errors.Is(err, launch.ErrBridgesGone):
		return "; remove the container and create it again with 'sandwire create'"
	case errors.As(err, &unreachable):
		return "; is it running? Start it with 'podman system service', or choose another with --url, --connection or CONTAINER_HOST"
	}
	return ""
}
