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
// environment, annotations, network, user namespace, capability drops,
// hosts entries and the name. Each subsystem's share is one Edits value;
// Compose appends them in a fixed order, and package specmutate is the
// only code that applies them to a spec. Flags renders the same Edits as
// podman run flags.
//
// # The launch transaction
//
// Compose holds the container name, lays down the host state of an Intent
// (run state with the plan, runtime dir, sidecar, tokens) and returns a
// Launch; Commit keeps it once the container exists, and Rollback undoes
// exactly what it laid down. Cleanup reverses a committed launch, and
// Sweep and ListStates reconcile the state on disk with a server's
// containers.
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
// already exists, not found, unavailable), tested with errors.Is; the
// sentinels ErrInvalidName, ErrInvalidScope, ErrInvalidConfig and
// ErrInvalidEdits each name one check, and ErrVaultLocked,
// ErrWrongPassphrase and ErrTokenStoreUnavailable the token store's
// failures.
package wiring
