package wiring

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
)

// TokenStore keeps the phantom tokens the vault broker and the SSH signer
// accept. The default is terok-sandbox's vault in the vault dir
// (VaultStore); SQLiteStore is a plaintext one for development; a caller
// with its own vault supplies its own implementation. A store that also
// has an Unlock(context.Context) error method is unlocked by Compose
// before a launch that mints lays anything down.
type TokenStore interface {
	// Mint creates and stores a phantom token bound to scope, subject
	// (the container name), credential set and provider.
	Mint(ctx context.Context, scope, subject, credentialSet, provider string) (string, error)
	// Revoke removes exactly the given tokens; unknown tokens are ignored.
	Revoke(ctx context.Context, tokens ...string) error
	// RevokeSubject removes every token bound to scope and subject and
	// returns how many there were.
	RevokeSubject(ctx context.Context, scope, subject string) (int, error)
}

// mintGateToken returns a fresh gate token: "terok-g-" and 32 hex digits
// from the system's secure random source.
func mintGateToken() (string, error) { return randomToken(GateTokenPrefix) }

// NewPhantomToken returns a fresh phantom token value, "terok-p-" and 32
// hex digits. TokenStore implementations use it to mint.
func NewPhantomToken() (string, error) { return randomToken(PhantomTokenPrefix) }

func randomToken(prefix string) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("reading random bytes for a token: %w", err)
	}
	return prefix + hex.EncodeToString(b[:]), nil
}

// tokenRE matches both token formats wherever they appear in text.
var tokenRE = regexp.MustCompile(`terok-[gp]-[0-9a-f]{32}`)

// Redact replaces every gate or phantom token in s with a placeholder that
// keeps its prefix, so that a log line can say which kind it was.
func Redact(s string) string {
	return tokenRE.ReplaceAllStringFunc(s, func(t string) string { return t[:len(GateTokenPrefix)] + "<redacted>" })
}
