package wiring_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sandwire/sandwire/internal/vaulttest"
	"github.com/sandwire/sandwire/wiring"
)

// openCounted opens the vault at path through chain with cache and
// returns how many key derivations the open took.
func openCounted(t *testing.T, path string, chain wiring.PassphraseChain, cache wiring.KeyCache) (int, error) {
	t.Helper()
	s := wiring.NewVaultStore(path, chain, wiring.WithKeyCache(cache))
	var n int
	s.CountDerivations(&n)
	_, err := s.Mint(context.Background(), "proj", "web", "proj", wiring.SSHProvider)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// promptChain is a chain whose only tier is a prompt on a pty, where
// pass is typed.
func promptChain(t *testing.T, pass string) wiring.PassphraseChain {
	t.Helper()
	term, tty, err := vaulttest.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { term.Close(); tty.Close() })
	if _, err := term.WriteString(pass + "\n"); err != nil {
		t.Fatal(err)
	}
	return wiring.PassphraseChain{wiring.Prompt{In: tty, Out: &bytes.Buffer{}}}
}

func TestKeyCacheSparesLaterOpensTheKeyDerivation(t *testing.T) {
	path := terokVault(t, plainPassphrase)
	cache := wiring.KeyCache{Dir: filepath.Join(t.TempDir(), "vault-keys")}

	if n, err := openCounted(t, path, givenChain(plainPassphrase), cache); err != nil || n != 1 {
		t.Fatalf("first open: %d derivations, %v; want 1, nil", n, err)
	}
	if n, err := openCounted(t, path, givenChain(plainPassphrase), cache); err != nil || n != 0 {
		t.Fatalf("second open: %d derivations, %v; want 0 (the cached key), nil", n, err)
	}
	entries, err := os.ReadDir(cache.Dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("cache dir holds %v (%v), want one entry", entries, err)
	}
	st, _ := os.Stat(cache.Dir)
	info, _ := entries[0].Info()
	if st.Mode().Perm() != 0o700 || info.Mode().Perm() != 0o600 {
		t.Errorf("cache dir %v, entry %v; want 0700 and 0600", st.Mode(), info.Mode())
	}
	data, _ := os.ReadFile(filepath.Join(cache.Dir, entries[0].Name()))
	if bytes.Contains(data, []byte(plainPassphrase)) {
		t.Errorf("the cache entry holds the passphrase in the clear")
	}
	if got := readTokens(t, path, plainPassphrase); len(got) != 2 {
		t.Errorf("%d token rows after two mints, want 2", len(got))
	}
}

func TestKeyCacheNeverOpensWithoutThePassphrase(t *testing.T) {
	path := terokVault(t, plainPassphrase)
	cache := wiring.KeyCache{Dir: filepath.Join(t.TempDir(), "vault-keys")}
	if _, err := openCounted(t, path, givenChain(plainPassphrase), cache); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		chain wiring.PassphraseChain
		want  error
	}{
		{"a wrong passphrase is refused although a key is cached", givenChain("not it"), wiring.ErrWrongPassphrase},
		{"a chain that holds nothing is locked although a key is cached", wiring.PassphraseChain{}, wiring.ErrVaultLocked},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := openCounted(t, path, tc.chain, cache); !errors.Is(err, tc.want) {
				t.Fatalf("open = %v, want %v", err, tc.want)
			}
		})
	}
	if n, err := openCounted(t, path, givenChain(plainPassphrase), cache); err != nil || n != 0 {
		t.Errorf("the right passphrase afterwards: %d derivations, %v; want the entry kept (0), nil", n, err)
	}
}

func TestKeyCacheEntriesThatDoNotFitAreReplaced(t *testing.T) {
	cases := []struct {
		name  string
		spoil func(t *testing.T, path, entry string)
	}{
		{"an entry of a vault made anew (another salt)", func(t *testing.T, path, _ string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			remade := terokVault(t, plainPassphrase)
			if err := os.Rename(remade, path); err != nil {
				t.Fatal(err)
			}
		}},
		{"a garbled entry", func(t *testing.T, _, entry string) {
			data, _ := os.ReadFile(entry)
			data[len(data)-1] ^= 0xff
			if err := os.WriteFile(entry, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"an entry that is not one", func(t *testing.T, _, entry string) {
			if err := os.WriteFile(entry, []byte("hello"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := terokVault(t, plainPassphrase)
			cache := wiring.KeyCache{Dir: filepath.Join(t.TempDir(), "vault-keys")}
			if _, err := openCounted(t, path, givenChain(plainPassphrase), cache); err != nil {
				t.Fatal(err)
			}
			entries, _ := os.ReadDir(cache.Dir)
			if len(entries) != 1 {
				t.Fatalf("cache holds %d entries, want 1", len(entries))
			}
			tc.spoil(t, path, filepath.Join(cache.Dir, entries[0].Name()))
			if n, err := openCounted(t, path, givenChain(plainPassphrase), cache); err != nil || n != 1 {
				t.Fatalf("open with the spoilt entry: %d derivations, %v; want 1, nil", n, err)
			}
			if n, err := openCounted(t, path, givenChain(plainPassphrase), cache); err != nil || n != 0 {
				t.Fatalf("open after: %d derivations, %v; want the replaced entry used (0), nil", n, err)
			}
		})
	}
}

func TestKeyCacheIsNotWritten(t *testing.T) {
	cases := []struct {
		name  string
		chain func(t *testing.T) wiring.PassphraseChain
		dir   func(t *testing.T) string
	}{
		{"for a passphrase typed at the prompt",
			func(t *testing.T) wiring.PassphraseChain { return promptChain(t, plainPassphrase) },
			func(t *testing.T) string { return filepath.Join(t.TempDir(), "vault-keys") }},
		{"into a dir open to others",
			func(*testing.T) wiring.PassphraseChain { return givenChain(plainPassphrase) },
			func(t *testing.T) string {
				dir := filepath.Join(t.TempDir(), "vault-keys")
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				return dir
			}},
		{"through a link at the dir",
			func(*testing.T) wiring.PassphraseChain { return givenChain(plainPassphrase) },
			func(t *testing.T) string {
				target, dir := t.TempDir(), filepath.Join(t.TempDir(), "vault-keys")
				if err := os.Chmod(target, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(target, dir); err != nil {
					t.Fatal(err)
				}
				return dir
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := terokVault(t, plainPassphrase)
			cache := wiring.KeyCache{Dir: tc.dir(t)}
			for i := range 2 {
				if n, err := openCounted(t, path, tc.chain(t), cache); err != nil || n != 1 {
					t.Fatalf("open %d: %d derivations, %v; want 1 (nothing cached), nil", i+1, n, err)
				}
			}
			real, _ := filepath.EvalSymlinks(cache.Dir)
			entries, _ := os.ReadDir(real)
			if len(entries) != 0 {
				t.Errorf("cache dir holds %d entries, want none", len(entries))
			}
		})
	}
}

func TestNewVaultIsCreatedWithoutTheCache(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault", "credentials.db")
	cache := wiring.KeyCache{Dir: filepath.Join(t.TempDir(), "vault-keys")}
	if n, err := openCounted(t, path, givenChain(plainPassphrase), cache); err != nil || n != 0 {
		t.Fatalf("create: %d derivations here, %v; want SQLCipher's own (0), nil", n, err)
	}
	head := make([]byte, 16)
	f, _ := os.Open(path)
	f.Read(head)
	f.Close()
	if strings.HasPrefix(string(head), "SQLite format 3") {
		t.Fatalf("the new vault is plaintext")
	}
	if n, err := openCounted(t, path, givenChain(plainPassphrase), cache); err != nil || n != 1 {
		t.Fatalf("reopen: %d derivations, %v; want 1, nil", n, err)
	}
	if got := readTokens(t, path, plainPassphrase); len(got) != 2 {
		t.Errorf("%d token rows, want 2", len(got))
	}
}

func TestAPassphraseInRawKeySyntaxReachesSQLCipherAsItIs(t *testing.T) {
	// SQLCipher takes x'<64 hex>' for a raw key, as terok's PRAGMA key
	// does; a vault keyed so opens only if the value reaches it unchanged.
	raw := "x'" + strings.Repeat("0123456789abcdef", 4) + "'"
	path := terokVault(t, raw)
	cache := wiring.KeyCache{Dir: filepath.Join(t.TempDir(), "vault-keys")}
	for i := range 2 {
		if n, err := openCounted(t, path, givenChain(raw), cache); err != nil || n != 0 {
			t.Fatalf("open %d: %d derivations, %v; want the raw key used as it is (0), nil", i+1, n, err)
		}
	}
	if got := readTokens(t, path, raw); len(got) != 2 {
		t.Errorf("%d token rows, want 2", len(got))
	}
}
