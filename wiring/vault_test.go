package wiring_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/sandwire/sandwire/internal/vaulttest"
	"github.com/sandwire/sandwire/wiring"
)

// testPassphrase has a space and both quotes: the vault must hand it to
// SQLCipher verbatim.
const testPassphrase = `correct "horse" battery's staple`

// givenChain is a passphrase chain of one tier that holds pass.
func givenChain(pass string) wiring.PassphraseChain {
	return wiring.PassphraseChain{wiring.GivenPassphrase{Passphrase: wiring.NewPassphrase(pass)}}
}

// readTokens reads the vault at path back independently of VaultStore.
func readTokens(t *testing.T, path, pass string) []vaulttest.Token {
	t.Helper()
	rows, err := vaulttest.Tokens(path, pass)
	if err != nil {
		t.Fatalf("reading the vault back: %v", err)
	}
	return rows
}

// terokVault is a credentials DB made as terok-sandbox makes it.
func terokVault(t *testing.T, pass string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vault", "credentials.db")
	if err := vaulttest.MakeVault(path, pass); err != nil {
		t.Fatal(err)
	}
	return path
}

// plainPassphrase is another passphrase.
const plainPassphrase = "terok's vault passphrase"

func TestVaultStoreWritesTerokVault(t *testing.T) {
	ctx := context.Background()
	newPath := func(t *testing.T, _ string) string { return filepath.Join(t.TempDir(), "vault", "credentials.db") }
	cases := []struct {
		name string
		pass string
		path func(t *testing.T, pass string) string
	}{
		{"a vault terok made takes sandwire's tokens", plainPassphrase, terokVault},
		{"a passphrase with quotes reaches SQLCipher verbatim", testPassphrase, terokVault},
		{"a vault that does not exist is created as terok creates it", plainPassphrase, newPath},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path(t, tc.pass)
			s := wiring.NewVaultStore(path, givenChain(tc.pass))
			tok, err := s.Mint(ctx, "proj", "web", "proj", wiring.SSHProvider)
			if err != nil {
				t.Fatalf("Mint = %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			want := []vaulttest.Token{{Token: tok, Scope: "proj", Subject: "web", CredentialSet: "proj", Provider: "ssh"}}
			if got := readTokens(t, path, tc.pass); !slices.Equal(got, want) {
				t.Errorf("proxy_tokens = %+v, want %+v", got, want)
			}
			if v, err := vaulttest.UserVersion(path, tc.pass); err != nil || v != wiring.VaultSchemaVersion {
				t.Errorf("user_version = %d, %v; want %d", v, err, wiring.VaultSchemaVersion)
			}
			if err := vaulttest.CheckEncrypted(path); err != nil {
				t.Error(err)
			}
			if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("the vault's mode: %v, %v; want 0600", st.Mode(), err)
			}
		})
	}
}

// newVaultOpenedAsTerok is a vault VaultStore created, opened again as
// terok opens it.
func newVaultOpenedAsTerok(t *testing.T) *sql.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "credentials.db")
	s := wiring.NewVaultStore(path, givenChain(plainPassphrase))
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := vaulttest.Open(path, plainPassphrase)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestVaultStoreCreatesTerokSchema(t *testing.T) {
	db := newVaultOpenedAsTerok(t)
	cols := map[string][]string{}
	rows, err := db.Query(`SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var table, col string
		if err := rows.Scan(&table, &col); err != nil {
			t.Fatal(err)
		}
		cols[table] = append(cols[table], col)
	}
	want := map[string][]string{
		"credentials":         {"credential_set", "provider", "data"},
		"ssh_keys":            {"id", "key_type", "private_der", "public_blob", "comment", "fingerprint", "created_at"},
		"ssh_key_assignments": {"scope", "key_id", "assigned_at"},
		"proxy_tokens":        {"token", "scope", "subject", "credential_set", "provider"},
	}
	if fmt.Sprint(cols) != fmt.Sprint(want) {
		t.Errorf("tables and columns:\n got %v\nwant %v", cols, want)
	}
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
}

func TestVaultStoreUsesSQLCipher4Parameters(t *testing.T) {
	db := newVaultOpenedAsTerok(t)
	// What PRAGMA cipher_compatibility = 4 sets, as terok sets it.
	for pragma, want := range map[string]string{
		"cipher_page_size": "4096", "kdf_iter": "256000",
		"cipher_hmac_algorithm": "HMAC_SHA512", "cipher_kdf_algorithm": "PBKDF2_HMAC_SHA512",
	} {
		var got string
		if err := db.QueryRow("PRAGMA " + pragma).Scan(&got); err != nil || got != want {
			t.Errorf("PRAGMA %s = %q, %v; want %q", pragma, got, err, want)
		}
	}
}

func TestVaultStoreRefusesWhatItCannotOpen(t *testing.T) {
	ctx := context.Background()
	plaintext := func(t *testing.T) string {
		path := filepath.Join(t.TempDir(), "credentials.db")
		store := wiring.NewSQLiteStore(path)
		if _, err := store.Mint(ctx, "proj", "old", "proj", wiring.SSHProvider); err != nil {
			t.Fatal(err)
		}
		store.Close()
		return path
	}
	oldSchema := func(t *testing.T) string {
		path := terokVault(t, plainPassphrase)
		db, err := vaulttest.Open(path, plainPassphrase)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec("PRAGMA user_version = 2"); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cases := []struct {
		name  string
		path  func(t *testing.T) string
		chain wiring.PassphraseChain
		want  error
	}{
		{"a wrong passphrase is refused before anything is written", func(t *testing.T) string { return terokVault(t, plainPassphrase) },
			givenChain(testPassphrase), wiring.ErrWrongPassphrase},
		{"no passphrase leaves the vault locked", func(t *testing.T) string { return terokVault(t, plainPassphrase) },
			wiring.PassphraseChain{}, wiring.ErrVaultLocked},
		{"no passphrase creates no vault", func(t *testing.T) string { return filepath.Join(t.TempDir(), "none", "credentials.db") },
			wiring.PassphraseChain{}, wiring.ErrVaultLocked},
		{"a plaintext SQLite file is not taken for the vault", plaintext, givenChain(plainPassphrase), wiring.ErrTokenStoreUnavailable},
		{"an older schema is left to terok to migrate", oldSchema, givenChain(plainPassphrase), wiring.ErrTokenStoreUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path(t)
			before := snapshot(t, filepath.Dir(path))
			s := wiring.NewVaultStore(path, tc.chain)
			_, err := s.Mint(ctx, "proj", "web", "proj", wiring.SSHProvider)
			s.Close()
			if !errors.Is(err, tc.want) || !errdefs.IsUnavailable(err) {
				t.Fatalf("Mint = %v; want %v, in errdefs' unavailable category", err, tc.want)
			}
			if strings.Contains(err.Error(), plainPassphrase) || strings.Contains(err.Error(), testPassphrase) {
				t.Errorf("the error shows the passphrase: %v", err)
			}
			if after := snapshot(t, filepath.Dir(path)); !maps.EqualFunc(before, after, bytes.Equal) {
				t.Errorf("the refused open changed the vault dir:\nbefore %v\n after %v", slices.Sorted(maps.Keys(before)), slices.Sorted(maps.Keys(after)))
			}
		})
	}
}

func TestPlaintextStoreNeverWritesOverTheVault(t *testing.T) {
	path := terokVault(t, plainPassphrase)
	before := snapshot(t, filepath.Dir(path))
	store := wiring.NewSQLiteStore(path)
	defer store.Close()
	_, err := store.Mint(context.Background(), "proj", "web", "proj", wiring.SSHProvider)
	if !errors.Is(err, wiring.ErrTokenStoreUnavailable) {
		t.Fatalf("Mint on the encrypted vault = %v, want ErrTokenStoreUnavailable", err)
	}
	if after := snapshot(t, filepath.Dir(path)); !maps.EqualFunc(before, after, bytes.Equal) {
		t.Errorf("the plaintext store changed the vault dir")
	}
}

func TestVaultStoreSaysWhichTierUnlockedIt(t *testing.T) {
	path := terokVault(t, plainPassphrase)
	chain := wiring.PassphraseChain{
		wiring.SessionFile{RuntimeDir: t.TempDir()}, // holds nothing
		wiring.GivenPassphrase{Passphrase: wiring.NewPassphrase(plainPassphrase)},
	}
	s := wiring.NewVaultStore(path, chain)
	defer s.Close()
	if s.Tier() != "" {
		t.Errorf("Tier before opening = %q, want none", s.Tier())
	}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.Tier() != "given" {
		t.Errorf("Tier = %q, want the given tier", s.Tier())
	}
}

func TestPassphraseNeverFormats(t *testing.T) {
	p := wiring.NewPassphrase(plainPassphrase)
	js, err := json.Marshal(struct{ P wiring.Passphrase }{p})
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]string{
		"%v": fmt.Sprintf("%v", p), "%+v": fmt.Sprintf("%+v", p), "%#v": fmt.Sprintf("%#v", p),
		"%s": fmt.Sprintf("%s", p), "%q": fmt.Sprintf("%q", p), "%x": fmt.Sprintf("%x", p),
		"in a struct": fmt.Sprintf("%+v", struct{ P wiring.Passphrase }{p}), "String": p.String(),
		"an error": fmt.Errorf("with %v", p).Error(), "JSON": string(js),
	} {
		if strings.Contains(s, "vault") || strings.Contains(s, hexOf(plainPassphrase)) || !strings.Contains(s, "[redacted]") {
			t.Errorf("%s of a passphrase is %q, want it redacted", name, s)
		}
	}
}

func hexOf(s string) string { return fmt.Sprintf("%x", []byte(s)) }

// snapshot maps each file under dir to its bytes.
func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files, err := vaulttest.Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestVaultStoreUnlockAsksOnceAndCreatesNothing(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vault", "credentials.db")
	var asked []string
	s := wiring.NewVaultStore(path, wiring.PassphraseChain{recordingTier{name: "helper", pass: plainPassphrase, asked: &asked}})
	defer s.Close()
	if err := s.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Dir(path)); !os.IsNotExist(err) {
		t.Errorf("Unlock of a vault that does not exist made %s (lstat: %v)", filepath.Dir(path), err)
	}
	if _, err := s.Mint(ctx, "proj", "web", "proj", wiring.SSHProvider); err != nil {
		t.Fatal(err)
	}
	if err := vaulttest.CheckEncrypted(path); err != nil {
		t.Error(err)
	}
	if !slices.Equal(asked, []string{"helper"}) || s.Tier() != "helper" {
		t.Errorf("the chain was asked %q, the tier is %q; want it asked once, by Unlock", asked, s.Tier())
	}
}

func TestVaultStoreAsksAgainAfterAWrongPassphrase(t *testing.T) {
	ctx := context.Background()
	path := terokVault(t, plainPassphrase)
	var asked []string
	tier := &recordingTier{name: "helper", pass: "a typo", asked: &asked}
	s := wiring.NewVaultStore(path, wiring.PassphraseChain{tier})
	defer s.Close()
	if err := s.Unlock(ctx); !errors.Is(err, wiring.ErrWrongPassphrase) {
		t.Fatalf("Unlock with a typo = %v, want ErrWrongPassphrase", err)
	}
	tier.pass = plainPassphrase
	if _, err := s.Mint(ctx, "proj", "web", "proj", wiring.SSHProvider); err != nil {
		t.Fatalf("Mint once the tier holds the passphrase = %v", err)
	}
	if len(asked) != 2 {
		t.Errorf("the chain was asked %d times, want again after the wrong passphrase", len(asked))
	}
}

func TestVaultPrefetch(t *testing.T) {
	ctx := context.Background()
	t.Run("an unattended tier's passphrase opens the vault, and Unlock asks no tier again", func(t *testing.T) {
		path := terokVault(t, plainPassphrase)
		var asked []string
		s := wiring.NewVaultStore(path, wiring.PassphraseChain{recordingTier{name: "passphrase-command", pass: plainPassphrase, asked: &asked}})
		defer s.Close()
		s.Prefetch(ctx)
		if len(asked) != 1 || s.Tier() != "passphrase-command" {
			t.Fatalf("after Prefetch: tiers asked %v, tier %q; want the vault unlocked by the one tier", asked, s.Tier())
		}
		if err := s.Unlock(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Mint(ctx, "proj", "web", "proj", wiring.SSHProvider); err != nil {
			t.Fatal(err)
		}
		if len(asked) != 1 || s.Tier() != "passphrase-command" {
			t.Errorf("tiers asked %v, tier %q; want the one tier asked once", asked, s.Tier())
		}
	})
	t.Run("the prompt is left to Unlock", func(t *testing.T) {
		path := terokVault(t, plainPassphrase)
		term, tty, err := vaulttest.OpenPTY()
		if err != nil {
			t.Fatal(err)
		}
		defer term.Close()
		defer tty.Close()
		var asked bytes.Buffer
		s := wiring.NewVaultStore(path, wiring.PassphraseChain{wiring.Prompt{In: tty, Out: &asked}})
		defer s.Close()
		s.Prefetch(ctx)
		if asked.Len() != 0 {
			t.Fatalf("Prefetch prompted: %q", asked.String())
		}
		if _, err := term.WriteString(plainPassphrase + "\n"); err != nil {
			t.Fatal(err)
		}
		if err := s.Unlock(ctx); err != nil || s.Tier() != "prompt" || !strings.Contains(asked.String(), "passphrase: ") {
			t.Errorf("Unlock after Prefetch = %v, tier %q, prompt %q; want the prompt to answer", err, s.Tier(), asked.String())
		}
	})
	t.Run("a vault that does not exist is not made", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "vault", "credentials.db")
		s := wiring.NewVaultStore(path, givenChain(plainPassphrase))
		defer s.Close()
		s.Prefetch(ctx)
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after Prefetch, %s: %v; want nothing there", path, err)
		}
	})
	t.Run("a wrong passphrase is left for Unlock to report", func(t *testing.T) {
		path := terokVault(t, plainPassphrase)
		s := wiring.NewVaultStore(path, givenChain("not it"))
		defer s.Close()
		s.Prefetch(ctx)
		if err := s.Unlock(ctx); !errors.Is(err, wiring.ErrWrongPassphrase) {
			t.Errorf("Unlock after Prefetch = %v, want ErrWrongPassphrase", err)
		}
	})
}
