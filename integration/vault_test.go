package integration

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sandwire/sandwire/internal/vaulttest"
)

// vaultTier puts the sandbox's passphrase into one tier of terok's chain,
// the way terok (or the user) puts it there, for a sandbox whose
// configuration names no passphrase_command.
type vaultTier struct {
	name string
	// put stores sb.passphrase in the tier; skip says why it cannot run.
	put func(t *testing.T, sb *sandbox)
}

var vaultTiers = []vaultTier{
	{"systemd-creds", func(t *testing.T, sb *sandbox) {
		// systemd-creds decrypt --user needs systemd 257 or later and
		// Debian 12 has 252: a stand-in that behaves as systemd-creds(1)
		// says is first on sandwire's PATH.
		dir := filepath.Join(sb.root, "bin")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := vaulttest.SystemdCredsStandIn(dir); err != nil {
			t.Fatal(err)
		}
		sb.env["PATH"] = dir + ":" + os.Getenv("PATH")
		if err := vaulttest.SealForStandIn(filepath.Join(sb.vaultDir(), "vault.passphrase.cred"), "terok-sandbox.vault-passphrase", sb.passphrase); err != nil {
			t.Fatal(err)
		}
	}},
	{"OS keyring", func(t *testing.T, sb *sandbox) {
		dir := filepath.Join(sb.root, "ss")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		ss, err := vaulttest.StartSecretService(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ss.Stop() })
		if err := ss.Store("terok-sandbox", "credentials-db", sb.passphrase); err != nil {
			t.Fatal(err)
		}
		sb.env["DBUS_SESSION_BUS_ADDRESS"] = ss.Address()
	}},
	{"kernel keyring", func(t *testing.T, sb *sandbox) {
		if err := vaulttest.KernelKeyringUsable(); err != nil {
			t.Skipf("the kernel keyring cannot run in this sandbox: %v", err)
		}
		remove, err := vaulttest.StoreInKernelKeyring(sb.dbPath(), sb.passphrase)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(remove)
	}},
	{"passphrase_command", func(t *testing.T, sb *sandbox) { sb.unlock = sb.passphraseCommand(sb.passphrase) }},
	{"prompt on a terminal", func(t *testing.T, sb *sandbox) {
		term, tty, err := vaulttest.OpenPTY()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { term.Close(); tty.Close() })
		// Typed twice: the create asks, and so does the cleanup.
		if _, err := term.WriteString(sb.passphrase + "\n" + sb.passphrase + "\n"); err != nil {
			t.Fatal(err)
		}
		sb.stdin = tty
	}},
}

// TestVaultTiersUnlockTeroksVault: against a credentials DB made as terok
// makes it, a wired launch with --scope, unlocked from each tier of the
// chain in turn, writes its SSH token row there, bound to the container;
// terok's own rows are kept, cleanup removes the token, and the file is
// never plaintext.
func TestVaultTiersUnlockTeroksVault(t *testing.T) {
	for _, tier := range vaultTiers {
		t.Run(tier.name, func(t *testing.T) {
			sb := newSandbox(t)
			sb.unlock = ""
			sb.writeConfig("")
			if err := vaulttest.MakeVault(sb.dbPath(), sb.passphrase); err != nil {
				t.Fatal(err)
			}
			tier.put(t, sb)
			sb.writeConfig("")
			const name = "sw-vault-tier"
			sb.create(name, []string{"--scope", "proj", "--no-shield"}, svc.Image(), "true")

			token := inspect(t, name).env()["TEROK_SSH_SIGNER_TOKEN"]
			rows, err := vaulttest.Tokens(sb.dbPath(), sb.passphrase)
			if err != nil {
				t.Fatal(err)
			}
			want := []vaulttest.Token{{Token: token, Scope: "proj", Subject: name, CredentialSet: "proj", Provider: "ssh"}}
			if !slices.Equal(rows, want) {
				t.Errorf("the vault's proxy_tokens = %v, want the container's SSH token alone", len(rows))
			}
			if n := credentialRows(t, sb); n != 1 {
				t.Errorf("%d rows in terok's credentials table, want the 1 it had", n)
			}
			if err := vaulttest.CheckEncrypted(sb.dbPath()); err != nil {
				t.Error(err)
			}

			if _, err := svc.Podman("rm", "-f", name); err != nil {
				t.Fatal(err)
			}
			mustSucceed(t, sb.sandwire("cleanup", name))
			sb.assertNoState(name)
			if err := vaulttest.CheckEncrypted(sb.dbPath()); err != nil {
				t.Error(err)
			}
		})
	}
}

// credentialRows counts terok's provider credentials in the vault.
func credentialRows(t *testing.T, sb *sandbox) int {
	t.Helper()
	db := sb.vaultDB()
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM credentials").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestVaultRefusalsLeaveNothing: a vault its passphrase does not open, or
// no passphrase anywhere, fails the launch (1) with the reason and leaves
// nothing: no container, no state, the vault unchanged, and no vault made.
func TestVaultRefusalsLeaveNothing(t *testing.T) {
	cases := []struct {
		name   string
		vault  bool
		unlock func(sb *sandbox) string
		causes []string
	}{
		{"a wrong passphrase", true, func(sb *sandbox) string { return sb.passphraseCommand("not the passphrase") },
			[]string{"wrong vault passphrase", "credentials.db"}},
		{"a passphrase_command that fails", true, func(*sandbox) string { return `credentials_passphrase_command = "false"` + "\n" },
			[]string{"the vault is locked", "passphrase-command", `"false"`}},
		{"no passphrase anywhere", false, func(*sandbox) string { return "" },
			[]string{"the vault is locked", "no tier holds the passphrase"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sb := newSandbox(t)
			if tc.vault {
				if err := vaulttest.MakeVault(sb.dbPath(), sb.passphrase); err != nil {
					t.Fatal(err)
				}
			}
			before := vaultFiles(t, sb)
			sb.unlock = tc.unlock(sb)
			sb.writeConfig("")
			const name = "sw-vault-refused"
			removeContainerAtEnd(t, name)
			r := sb.sandwire(relCreateArgs(svc.URL(), name, svc.Image(), relNoShield...)...)
			relAssertFailed(t, r, 1, tc.causes...)
			if strings.Contains(r.stderr, sb.passphrase) || strings.Contains(r.stderr, "not the passphrase") {
				t.Errorf("stderr shows a passphrase:\n%s", r.stderr)
			}
			if containerExists(t, name) {
				t.Errorf("a container was made although the vault was not opened")
			}
			relAssertNothingLeft(t, sb, name)
			if after := vaultFiles(t, sb); !equalFiles(before, after) {
				t.Errorf("the refused launch changed the vault dir: %v, then %v", fileNames(before), fileNames(after))
			}
		})
	}
}

// TestVaultPlaintextStoreIsADevelopmentChoice: token_store = "plaintext"
// keeps tokens in a plaintext SQLite file, and never over an encrypted
// vault.
func TestVaultPlaintextStoreIsADevelopmentChoice(t *testing.T) {
	sb := newSandbox(t)
	sb.writeConfig(`token_store = "plaintext"` + "\n")
	const name = "sw-vault-plain"
	sb.create(name, []string{"--scope", "proj", "--no-shield"}, svc.Image(), "true")
	if head := readHead(t, sb.dbPath()); head != vaulttest.SQLiteHeader {
		t.Errorf("the plaintext store starts with %q", head)
	}
	if _, err := svc.Podman("rm", "-f", name); err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, sb.sandwire("cleanup", name))

	enc := newSandbox(t)
	if err := vaulttest.MakeVault(enc.dbPath(), enc.passphrase); err != nil {
		t.Fatal(err)
	}
	before := vaultFiles(t, enc)
	enc.writeConfig(`token_store = "plaintext"` + "\n")
	r := enc.sandwire(relCreateArgs(svc.URL(), name, svc.Image(), relNoShield...)...)
	relAssertFailed(t, r, 1, "not a plaintext SQLite file", "never writes over it")
	if !equalFiles(before, vaultFiles(t, enc)) {
		t.Error("the plaintext store changed the encrypted vault")
	}
	relAssertNothingLeft(t, enc, name)
}

func readHead(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data[:min(len(data), len(vaulttest.SQLiteHeader))])
}

// vaultFiles maps each file in the sandbox's vault dir to its bytes.
func vaultFiles(t *testing.T, sb *sandbox) map[string][]byte {
	t.Helper()
	files, err := vaulttest.Files(sb.vaultDir())
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func equalFiles(a, b map[string][]byte) bool { return maps.EqualFunc(a, b, bytes.Equal) }

func fileNames(m map[string][]byte) []string { return slices.Sorted(maps.Keys(m)) }
