// Package launch is sandwire's library: one value, a Sandbox, whose
// methods are the verbs that wire a container into the sandbox's host
// services — the egress firewall (shield), the vault token broker, the
// vault SSH signer and the git gate — create it through the podman REST
// API, and undo it. The sandwire CLI is a thin front end over it; a Go
// program needs this package and podman's specgen, nothing else.
//
// # The Sandbox
//
// New builds a Sandbox from a Config (LoadConfig reads it as the CLI does)
// and options. Every collaborator has the CLI's default: phantom tokens in
// terok-sandbox's vault in the vault dir (its SQLCipher credentials DB,
// unlocked through terok's passphrase chain), the shield through
// terok-shield, the podman service chosen as podman-remote chooses it
// (CONTAINER_HOST, CONTAINER_CONNECTION, the default connection, the
// default socket), and messages for the user on standard error.
// WithServer, WithConnection, WithTokenStore, WithShield and WithNotes
// replace them. Nothing is opened or connected until a verb needs it;
// Close releases the token store.
//
// A program's go.mod replaces github.com/mattn/go-sqlite3 with this
// module's third_party/go-sqlite3: podman's client libraries link mattn's
// SQLite driver, and the vault's SQLCipher cannot share a program with it.
//
// # Verbs
//
// Create wires a caller's specgen.SpecGenerator and creates the container,
// pulling its image first as podman create does (PullOptions: podman's
// --pull policy, by default PullMissing, and its other pull flags). Run
// creates, starts and, unless detached, attaches and waits, as podman run
// does: a container whose start failed is kept with its state unless
// RunOptions.Remove is set, and the *StartError says podman run's exit
// code for it (126, 127); RunOptions also carry podman run's client-side
// --cidfile, --attach, --rmi and --sig-proxy (Signals, which
// CatchProxiedSignals fills with podman's set). Prepare lays down the state for a container the caller creates
// itself and returns the podman flags (or the spec) that wire it. Start
// starts a wired container again, as podman start does, once it has
// re-created what of its host-side wiring is gone (a reboot empties the
// runtime dir under /run); it refuses a container it did not wire or whose
// state was cleaned up. Cleanup
// revokes a container's tokens, tears its firewall down and removes its
// state. List and Sweep reconcile the state on disk with the server's
// containers. Watch follows the server's events and cleans up after every
// wired container that any client removes, resuming from the last event
// it handled.
//
// # Checks and atomicity
//
// A launch checks its inputs once, before anything is minted or written:
// the name (podman's rule, one safe path component), the configuration,
// the plan, and gate 2 (CheckSpec) — the spec may not touch what the
// sandbox owns. The image is pulled after the checks and still before
// anything is minted or written, so a failed pull leaves nothing. A
// failure after that point rolls back exactly what the launch made: its
// tokens are revoked, its state is removed, and a container whose create
// answer was lost is removed when it carries the launch's sidecar
// annotation. Two launches of one name never touch each other's files or
// tokens.
//
// # Errors
//
// Errors fall in a few categories, tested with errors.Is: ErrInvalidArgument
// (bad input or a policy refusal), ErrAlreadyExists (the name is in use),
// ErrNotFound (a missing image, container or bridge program; an image that
// could not be pulled, a *PullError), ErrUnavailable (the podman service,
// the shield or the token store could not be used) and
// ErrFailedPrecondition (a container Start cannot start wired;
// ErrRemoteServer, a podman service on another machine, is in it too).
// They are containerd's errdefs categories. Messages say what went wrong,
// with what was attempted; PodmanMessage words an error as podman's own
// client would, for a front end that must read as podman. Advice that
// names CLI flags or verbs is the front end's to add.
package launch
