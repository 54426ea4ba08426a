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
// Create wires a caller's specgen.SpecGenerator and creates the container.
// Run creates, starts and, unless detached, attaches and waits, as podman
// run does. Prepare lays down the state for a container the caller creates
// itself and returns the podman flags (or the spec) that wire it. Cleanup
// revokes a container's tokens, tears its firewall down and removes its
// state. List and Sweep reconcile the state on disk with the server's
// containers.
//
// # Checks and atomicity
//
// A launch checks its inputs once, before anything is minted or written:
// the name (podman's rule, one safe path component), the configuration,
// the plan, and gate 2 (CheckSpec) — the spec may not touch what the
// sandbox owns. A failure after that point rolls back exactly what the
// launch made: its tokens are revoked, its state is removed, and a
// container whose create answer was lost is removed when it carries the
// launch's sidecar annotation. Two launches of one name never touch each
// other's files or tokens.
//
// # Errors
//
// Errors fall in a few categories, tested with errors.Is: ErrInvalidArgument
// (bad input or a policy refusal), ErrAlreadyExists (the name is in use),
// ErrNotFound, ErrUnavailable (the podman service, the shield or the token
// store could not be used) and ErrRemoteServer. They are containerd's errdefs
// categories. Messages say what went wrong; advice that names CLI flags or
// verbs is the front end's to add.
package launch
