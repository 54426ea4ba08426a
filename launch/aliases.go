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
	// Orchestrator is what terok's orchestrators record in the sidecar.
	Orchestrator = wiring.Orchestrator
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
	// PullOptions are how the image is pulled before the create: podman
	// run's and create's --pull, --tls-verify, --authfile, --creds,
	// --platform (--os, --arch, --variant), --retry, --retry-delay, and
	// where the progress goes (nowhere for --quiet). The zero value pulls
	// a missing image, with the server's defaults, showing no progress.
	PullOptions = podmanapi.PullOptions
	// PullPolicy is podman's --pull; see PullMissing and the others.
	PullPolicy = podmanapi.PullPolicy
)

// podman's pull policies (--pull).
const (
	// PullMissing pulls when the server has no such image: the default.
	PullMissing = podmanapi.PullMissing
	// PullAlways pulls every time.
	PullAlways = podmanapi.PullAlways
	// PullNever never pulls; a missing image fails the launch with an
	// *ImageNotFoundError.
	PullNever = podmanapi.PullNever
	// PullNewer pulls when the registry's image differs from the server's.
	PullNewer = podmanapi.PullNewer
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
	// PullError: the server could not pull the image; it names the image
	// and the registry's answer. Nothing of the launch was made.
	PullError = podmanapi.PullError
	// ImageNotFoundError: the server has no such image, and the policy
	// said not to pull it (PullNever).
	ImageNotFoundError = podmanapi.ImageNotFoundError
	// StartError: a created container could not be started; its message
	// is the runtime's, its ExitCode podman run's (126 or 127).
	StartError = podmanapi.StartError
)

// ErrShieldUnavailable: the shield is on and no firewall is configured.
var ErrShieldUnavailable = wiring.ErrShieldUnavailable

// Start's refusals, which a front end may want to name in its advice;
// each also answers errors.Is for ErrFailedPrecondition.
var (
	// ErrNotWired: Start was given a container this sandbox did not wire.
	ErrNotWired = wiring.ErrNotWired
	// ErrCleanedUp: Start was given a container whose sandbox state was
	// cleaned up (its tokens are revoked).
	ErrCleanedUp = wiring.ErrCleanedUp
	// ErrBridgesGone: the bridge resources a container mounts are gone and
	// this build's are another version.
	ErrBridgesGone = wiring.ErrBridgesGone
)

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

// PodmanMessage is err as podman's remote client would word it, for a
// front end that must read as podman does: where the podman service
// refused the create, the start or the pull, its message alone, without
// what was attempted or the HTTP status; where it could not be reached,
// the podman client libraries' account of it; the sandbox's own errors as
// they are. The errors of a join get a line each. err.Error() keeps the
// whole chain.
func PodmanMessage(err error) string { return podmanapi.PodmanMessage(err) }

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
	// ErrNotFound: a container, an image or the bridge program is missing,
	// or the image could not be pulled.
	ErrNotFound = errdefs.ErrNotFound
	// ErrUnavailable: a service could not be used: the podman service, the
	// egress firewall, the token store.
	ErrUnavailable = errdefs.ErrUnavailable
	// ErrFailedPrecondition: the request is sound, but the container or the
	// server is in no state for it: Start of a container that is not wired
	// or whose state was cleaned up, or a podman service on another machine
	// (ErrRemoteServer, the same category).
	ErrFailedPrecondition = errdefs.ErrFailedPrecondition
	// ErrRemoteServer: the podman service runs on another machine, where
	// the sandbox's host paths mean nothing (errdefs' failed precondition).
	ErrRemoteServer = errdefs.ErrFailedPrecondition
)

// DefaultSweepGrace is the age below which Sweep leaves stray state alone.
const DefaultSweepGrace = wiring.DefaultSweepGrace
