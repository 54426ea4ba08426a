package wiring

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
)

// Passphrase is the vault's passphrase. It never shows itself: every fmt
// verb, String and its text (and so JSON) form give "[redacted]", so that no
// log line or error can carry it by accident.
type Passphrase struct{ secret string }

const redactedPassphrase = "[redacted]"

// NewPassphrase wraps a passphrase a caller already holds.
func NewPassphrase(s string) Passphrase { return Passphrase{secret: s} }

// IsZero reports whether p is empty, which SQLCipher would take for "no
// encryption": every tier treats an empty value as no passphrase.
func (p Passphrase) IsZero() bool { return p.secret == "" }

func (p Passphrase) reveal() string { return p.secret }

func (Passphrase) String() string               { return redactedPassphrase }
func (Passphrase) GoString() string             { return redactedPassphrase }
func (Passphrase) Format(f fmt.State, _ rune)   { io.WriteString(f, redactedPassphrase) }
func (Passphrase) MarshalText() ([]byte, error) { return []byte(redactedPassphrase), nil }

// PassphraseTier is one place the vault's passphrase may live, in
// terok-sandbox's words a tier of the resolution chain.
type PassphraseTier interface {
	// Tier is terok's name of the tier ("systemd-creds", "keyring", ...).
	Tier() string
	// Lookup returns the passphrase the tier holds for the vault at dbPath.
	// found is false when it holds none, and the chain goes on; an error
	// stops the chain: a tier that is configured but broken fails closed
	// rather than fall through to a weaker one.
	Lookup(ctx context.Context, dbPath string) (p Passphrase, found bool, err error)
}

// PassphraseChain is terok-sandbox's passphrase resolution chain: tiers
// walked in order, the first that holds a passphrase wins.
type PassphraseChain []PassphraseTier

// Resolve walks the chain for the vault at dbPath and returns the first
// passphrase found and the name of its tier. When no tier holds one, or a
// tier fails closed, the error wraps ErrVaultLocked.
func (c PassphraseChain) Resolve(ctx context.Context, dbPath string) (Passphrase, string, error) {
	names := make([]string, 0, len(c))
	for _, tier := range c {
		p, found, err := tier.Lookup(ctx, dbPath)
		if err != nil {
			return Passphrase{}, "", fmt.Errorf("%w: the %s tier failed closed: %w", ErrVaultLocked, tier.Tier(), err)
		}
		if found && !p.IsZero() {
			return p, tier.Tier(), nil
		}
		names = append(names, tier.Tier())
	}
	return Passphrase{}, "", fmt.Errorf("%w: no tier holds the passphrase of %s (tried: %s)", ErrVaultLocked, dbPath, strings.Join(names, ", "))
}

// PassphraseChain is terok-sandbox's chain for this configuration, in its
// order: the systemd-creds credential in the vault dir; the OS keyring,
// when CredentialsUseKeyring is on; the session cache (the kernel keyring,
// or a session file under XDG_RUNTIME_DIR where the kernel keyring is
// unusable); CredentialsPassphraseCommand, when set; and, when prompt is a
// terminal, a prompt on it. The sidecar carries the same policy fields to
// the supervisor, so sandwire and terok's vault and signer walk one chain.
func (c Config) PassphraseChain(lookup LookupEnv, prompt *os.File) PassphraseChain {
	chain := PassphraseChain{SystemdCreds{File: c.VaultSystemdCredsFile()}}
	if c.CredentialsUseKeyring {
		chain = append(chain, OSKeyring{})
	}
	runtimeDir, _ := lookup("XDG_RUNTIME_DIR")
	chain = append(chain, SessionCache{File: SessionFile{RuntimeDir: runtimeDir}})
	if cmd := c.CredentialsPassphraseCommand; cmd != nil && *cmd != "" {
		chain = append(chain, PassphraseCommand{Command: *cmd})
	}
	if prompt != nil {
		chain = append(chain, Prompt{In: prompt, Out: os.Stderr})
	}
	return chain
}
