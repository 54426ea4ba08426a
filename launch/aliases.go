package launch

import (
	"os"

	"github.com/containerd/errdefs"
	"github.com/sandwire/sandwire/podmanapi"
	"github.com/sandwire/sandwire/wiring"
)

// The sandbox's vocabulary, so that a Go program needs this package alone.
type (
	// Config is where the sandbox keeps its state and how its services
	// are reached; see LoadConfig.
	Config = wiring.Config
	// Request is what one launch wires: scope, subsystems, profiles. The
	// zero value asks for the defaults (shield, gate and broker on, no
	// scope).
	Request = wiring.Request
	// Plan is which subsystems a launch wired.
	Plan = wiring.Plan
	// Edits are what the sandbox adds to a container.
	Edits = wiring.Edits
	// State is what of a name's sandbox state is on disk.
	State = wiring.State
	// SweepReport is what Sweep removed and what it left.
	SweepReport = wiring.SweepReport
	// Connection says which podman service to use (--url, --connection,
	// --identity); the zero value follows podman-remote's rules.
	Connection = podmanapi.Options
)

// Errors a front end may want to name in its advice; each also answers
// errors.Is for its category below.
type (
	// StateExistsError: sandbox state of an earlier launch holds the name.
	StateExistsError = wiring.StateExistsError
	// TokensKeptError: a rollback could not revoke its tokens and kept
	// their record for a later cleanup.
	TokensKeptError = wiring.TokensKeptError
	// ShieldError: the egress firewall could not be prepared.
	ShieldError = wiring.ShieldError
	// UnreachableError: the podman service could not be reached.
	UnreachableError = podmanapi.UnreachableError
)

// ErrShieldUnavailable: the shield is on and no firewall is configured.
var ErrShieldUnavailable = wiring.ErrShieldUnavailable

// The vault's errors; both answer errors.Is for ErrUnavailable too.
var (
	// ErrVaultLocked: no tier of terok's passphrase chain holds the
	// vault's passphrase, or a configured tier (systemd-creds,
	// passphrase_command) failed closed.
	ErrVaultLocked = wiring.ErrVaultLocked
	// ErrWrongPassphrase: the passphrase does not decrypt the vault.
	ErrWrongPassphrase = wiring.ErrWrongPassphrase
)

// LoadConfig reads the configuration as the sandwire CLI does: the TOML
// file (SANDWIRE_CONFIG, else the default for this user) and the
// TEROK_SANDBOX_* environment variables, over the defaults for this uid.
func LoadConfig() (Config, error) {
	return wiring.LoadConfig(os.Geteuid(), os.LookupEnv)
}

// Redact removes the sandbox's tokens from s, for logs and messages.
func Redact(s string) string { return wiring.Redact(s) }

// Error categories. Every error a Sandbox returns falls in at most one of
// them, which a caller tests with errors.Is; they are containerd's errdefs
// categories, so errdefs.IsNotFound and the like work too.
var (
	// ErrInvalidArgument: bad input or a policy refusal (a name podman
	// would refuse, a spec that touches what the sandbox owns, a bad
	// configuration). Nothing was written.
	ErrInvalidArgument = errdefs.ErrInvalidArgument
	// ErrAlreadyExists: the name is in use — by a container, by earlier
	// sandbox state, or by another launch or cleanup in progress.
	ErrAlreadyExists = errdefs.ErrAlreadyExists
	// ErrNotFound: a container, an image or the bridge program is missing.
	ErrNotFound = errdefs.ErrNotFound
	// ErrUnavailable: a service could not be used: the podman service, the
	// egress firewall, the token store.
	ErrUnavailable = errdefs.ErrUnavailable
	// ErrRemoteServer: the podman service runs on another machine, where
	// the sandbox's host paths mean nothing (errdefs' failed precondition).
	ErrRemoteServer = errdefs.ErrFailedPrecondition
)

// DefaultSweepGrace is the age below which Sweep leaves stray state alone.
const DefaultSweepGrace = wiring.DefaultSweepGrace
