// Package wiring is the sandbox's domain: what it means to wire a
// container into the sandbox's host services, with no podman in sight.
// Callers normally use package launch, which drives it.
//
// # Configuration
//
// Config says where the sandbox keeps its state (state, runtime and vault
// dirs) and how its services reach a container (socket or tcp mode).
// LoadConfig reads it from a TOML file and the TEROK_SANDBOX_* variables
// over the defaults for a uid.
//
// # Plan and intent
//
// A Request (scope, subsystems, profiles) resolves to a Plan: which of
// shield, gate, broker and SSH signer a launch wires. Check validates one
// launch's inputs — the name, the configuration, the plan, the socket
// paths — once, and returns the Intent that the launch is made from.
//
// # Edits
//
// Edits are everything the sandbox adds to a container, as data: mounts,
// environment, annotations, labels, network, user namespace, capability
// drops, hosts entries and the name. The sidecar's path is both an
// annotation (the supervisor hook reads it) and a label (podman's events
// carry labels, so a watch knows a wired container by it). Each
// subsystem's share is one Edits value; Compose appends them in a fixed
// order, and package specmutate is the only code that applies them to a
// spec. Flags renders the same Edits as podman run flags.
//
// # The launch transaction
//
// Compose holds the container name, lays down the host state of an Intent
// (run state with the plan, runtime dir, sidecar, tokens) and returns a
// Launch; Commit keeps it once the container exists, and Rollback undoes
// exactly what it laid down. Cleanup reverses a committed launch, and
// Sweep and ListStates reconcile the state on disk with a server's
// containers. A watch of the server's events keeps its place in a
// WatchCursor, and LaunchedAt tells a removal replayed after a name was
// launched again from one that concerns the state on disk.
//
// # Starting again
//
// A wired container outlives its create, but its runtime dir lives under
// /run, which a reboot empties. CheckWired tells whether a container, as
// the server recorded it, is wired into this sandbox and still has its
// state; Restore holds the name, runs that check and re-creates what of
// the container's host-side wiring is gone (runtime dir, socket dirs,
// bridge resources), so that its mounts have sources when it starts.
//
// # The vault
//
// The default TokenStore is VaultStore, terok-sandbox's SQLCipher 4
// credentials DB; its passphrase comes from a PassphraseChain of tiers in
// terok's order (SystemdCreds, OSKeyring, SessionCache, PassphraseCommand,
// Prompt), which Config.PassphraseChain builds from the configuration.
// SQLiteStore is a plaintext store for development.
//
// # Errors
//
// Errors fall in containerd's errdefs categories (invalid argument,
// already exists, not found, unavailable, failed precondition), tested
// with errors.Is; the sentinels ErrInvalidName, ErrInvalidScope,
// ErrInvalidConfig, ErrInvalidEdits, ErrNotWired, ErrCleanedUp and
// ErrBridgesGone each name one check, and ErrVaultLocked,
// ErrWrongPassphrase and ErrTokenStoreUnavailable the token store's
// failures.
package wiring
