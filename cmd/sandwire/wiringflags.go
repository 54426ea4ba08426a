package main

import (
	"errors"

	"github.com/sandwire/sandwire/podmanapi"
	"github.com/sandwire/sandwire/specmutate"
	"github.com/sandwire/sandwire/wiring"
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
}

func (w *wiringFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&w.scope, "scope", "", "vault scope; wires the broker, gate and SSH signer for it")
	fs.BoolVar(&w.noShield, "no-shield", false, "launch without the egress firewall")
	fs.BoolVar(&w.noGate, "no-gate", false, "do not wire the git gate")
	fs.BoolVar(&w.noBroker, "no-broker", false, "do not wire the vault token broker")
	fs.StringSliceVar(&w.profiles, "profiles", nil, "egress firewall profiles (default from the configuration)")
}

func (w *wiringFlags) request() wiring.Request {
	return wiring.Request{Scope: w.scope, NoShield: w.noShield, NoGate: w.noGate, NoBroker: w.noBroker, Profiles: w.profiles}
}

// exitCode maps an error to the verb's exit code: 2 for usage errors and
// policy refusals, 1 for runtime failures; run exits 125 for either, as
// `podman run` does when it fails before the container ran.
func exitCode(cmd *cobra.Command, err error) int {
	if cmd != nil && cmd.Name() == "run" {
		return exitRunFailed
	}
	// The root command runs nothing itself: an error there is an unknown
	// command or a misplaced flag.
	if isUsage(err) || cmd != nil && !cmd.HasParent() {
		return exitUsage
	}
	return exitFailure
}

func isUsage(err error) bool {
	var (
		usage    *usageError
		conflict *specmutate.ConflictError
		sockPath *wiring.SocketPathError
		remote   *podmanapi.RemoteHostError
	)
	return errors.As(err, &usage) || errors.As(err, &conflict) || errors.As(err, &sockPath) ||
		errors.As(err, &remote) ||
		errors.Is(err, wiring.ErrInvalidName) || errors.Is(err, wiring.ErrInvalidScope) ||
		errors.Is(err, wiring.ErrInvalidConfig)
}
