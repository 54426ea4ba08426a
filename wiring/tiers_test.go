package wiring_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandwire/sandwire/internal/vaulttest"
	"github.com/sandwire/sandwire/wiring"
	xterm "golang.org/x/term"
)

func TestMain(m *testing.M) {
	code := m.Run()
	secretService.stop()
	os.Exit(code)
}

// secretService is the test binary's private Secret Service, started by
// the first test that needs it: the D-Bus client keeps one session bus
// connection per process, so every keyring test shares one bus.
var secretService sharedSecretService

type sharedSecretService struct {
	once sync.Once
	dir  string
	svc  *vaulttest.SecretService
	err  error
}

func privateSecretService(t *testing.T) *vaulttest.SecretService {
	t.Helper()
	s := &secretService
	s.once.Do(func() {
		if s.dir, s.err = os.MkdirTemp("", "sw-ss"); s.err != nil {
			return
		}
		if s.svc, s.err = vaulttest.StartSecretService(s.dir); s.err == nil {
			os.Setenv("DBUS_SESSION_BUS_ADDRESS", s.svc.Address())
		}
	})
	if s.err != nil {
		t.Fatalf("a private Secret Service: %v", s.err)
	}
	t.Cleanup(func() { s.svc.Clear(wiring.KeyringService, wiring.KeyringUser) })
	return s.svc
}

func (s *sharedSecretService) stop() {
	if s.svc != nil {
		s.svc.Stop()
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// lookupResult is what one tier answered.
type lookupResult struct {
	pass  string // the passphrase found, "" for none
	found bool
	err   bool
}

// lookup asks tier for the passphrase of the vault at dbPath.
func lookup(t *testing.T, tier wiring.PassphraseTier, dbPath string) lookupResult {
	t.Helper()
	p, found, err := tier.Lookup(context.Background(), dbPath)
	got := lookupResult{found: found, err: err != nil}
	if found {
		got.pass = wiring.Reveal(p)
	}
	if err != nil && strings.Contains(err.Error(), testPassphrase) {
		t.Errorf("the error shows the passphrase: %v", err)
	}
	return got
}

func TestSystemdCredsTier(t *testing.T) {
	// systemd-creds decrypt --user needs systemd 257 or later and Debian 12
	// has 252: a stand-in that behaves as systemd-creds(1) says runs here.
	dir := t.TempDir()
	standIn, err := vaulttest.SystemdCredsStandIn(dir)
	if err != nil {
		t.Fatal(err)
	}
	failing := filepath.Join(dir, "failing-systemd-creds")
	writeExecutable(t, failing, "#!/bin/sh\necho 'Failed to decrypt: Operation not supported' >&2\nexit 1\n")
	empty := filepath.Join(dir, "empty-systemd-creds")
	writeExecutable(t, empty, "#!/bin/sh\nexit 0\n")
	sealed := func(name string) string {
		p := filepath.Join(t.TempDir(), "vault.passphrase.cred")
		if err := vaulttest.SealForStandIn(p, name, testPassphrase); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name string
		tier wiring.SystemdCreds
		want lookupResult
	}{
		{"a sealed credential is decrypted", wiring.SystemdCreds{File: sealed(wiring.SystemdCredsName), Command: standIn},
			lookupResult{pass: testPassphrase, found: true}},
		{"no sealed credential holds nothing", wiring.SystemdCreds{File: filepath.Join(dir, "none.cred"), Command: standIn}, lookupResult{}},
		{"no configured credential holds nothing", wiring.SystemdCreds{Command: standIn}, lookupResult{}},
		{"a credential sealed for another purpose fails closed", wiring.SystemdCreds{File: sealed("other.name"), Command: standIn},
			lookupResult{err: true}},
		{"a credential that cannot be decrypted fails closed", wiring.SystemdCreds{File: sealed(wiring.SystemdCredsName), Command: failing},
			lookupResult{err: true}},
		{"a credential that decrypts to nothing fails closed", wiring.SystemdCreds{File: sealed(wiring.SystemdCredsName), Command: empty},
			lookupResult{err: true}},
		{"a missing systemd-creds fails closed", wiring.SystemdCreds{File: sealed(wiring.SystemdCredsName), Command: filepath.Join(dir, "none")},
			lookupResult{err: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := lookup(t, tc.tier, "/vault/credentials.db"); got != tc.want {
				t.Errorf("Lookup = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestOSKeyringTier(t *testing.T) {
	svc := privateSecretService(t)
	cases := []struct {
		name  string
		setup func(t *testing.T)
		tier  wiring.OSKeyring
		want  lookupResult
	}{
		{"terok's keyring item is read", func(t *testing.T) {
			if err := svc.Store(wiring.KeyringService, wiring.KeyringUser, testPassphrase); err != nil {
				t.Fatal(err)
			}
		}, wiring.OSKeyring{}, lookupResult{pass: testPassphrase, found: true}},
		{"no item holds nothing", func(*testing.T) {}, wiring.OSKeyring{}, lookupResult{}},
		{"another service's item is not taken", func(t *testing.T) {
			if err := svc.Store("another-service", wiring.KeyringUser, "not ours"); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { svc.Clear("another-service", wiring.KeyringUser) })
		}, wiring.OSKeyring{}, lookupResult{}},
		{"no session bus holds nothing", func(t *testing.T) {
			t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
			t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
		}, wiring.OSKeyring{}, lookupResult{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := svc.Clear(wiring.KeyringService, wiring.KeyringUser); err != nil {
				t.Fatal(err)
			}
			tc.setup(t)
			if got := lookup(t, tc.tier, "/vault/credentials.db"); got != tc.want {
				t.Errorf("Lookup = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestOSKeyringTierSkipsALockedCollection(t *testing.T) {
	svc := privateSecretService(t)
	if err := svc.Store(wiring.KeyringService, wiring.KeyringUser, testPassphrase); err != nil {
		t.Fatal(err)
	}
	if err := svc.Lock(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := svc.Unlock(); err != nil {
			t.Errorf("unlocking the collection again: %v", err)
		}
	})
	start := time.Now()
	if got := lookup(t, wiring.OSKeyring{}, "/vault/credentials.db"); got != (lookupResult{}) {
		t.Errorf("Lookup in a locked collection = %+v, want nothing", got)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the locked collection took %v, want no wait on an unlock", d)
	}
}

func TestKernelKeyringTier(t *testing.T) {
	if err := vaulttest.KernelKeyringUsable(); err != nil {
		t.Skipf("the kernel keyring cannot run in this sandbox: %v", err)
	}
	db := filepath.Join(t.TempDir(), "credentials.db")
	remove, err := vaulttest.StoreInKernelKeyring(db, testPassphrase)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(remove)
	cases := []struct {
		name string
		db   string
		want lookupResult
	}{
		{"the key terok cached for the vault is read", db, lookupResult{pass: testPassphrase, found: true}},
		{"the same vault by another spelling of its path is found", filepath.Join(filepath.Dir(db), ".", "credentials.db"),
			lookupResult{pass: testPassphrase, found: true}},
		{"another vault's key is not taken", filepath.Join(t.TempDir(), "credentials.db"), lookupResult{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := lookup(t, wiring.KernelKeyring{}, tc.db); got != tc.want {
				t.Errorf("Lookup = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSessionFileTier(t *testing.T) {
	db := "/vault/credentials.db"
	runtime := t.TempDir()
	// Verbatim: a trailing newline the operator stored is passphrase.
	if err := vaulttest.WriteSessionFile(runtime, db, testPassphrase+"\n"); err != nil {
		t.Fatal(err)
	}
	emptyRuntime := t.TempDir()
	if err := vaulttest.WriteSessionFile(emptyRuntime, db, ""); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		tier wiring.SessionFile
		db   string
		want lookupResult
	}{
		{"the session file terok wrote is read verbatim", wiring.SessionFile{RuntimeDir: runtime}, db,
			lookupResult{pass: testPassphrase + "\n", found: true}},
		{"another vault's session file is not taken", wiring.SessionFile{RuntimeDir: runtime}, "/other/credentials.db", lookupResult{}},
		{"an empty session file holds nothing", wiring.SessionFile{RuntimeDir: emptyRuntime}, db, lookupResult{}},
		{"no runtime dir holds nothing", wiring.SessionFile{}, db, lookupResult{}},
		{"a missing runtime dir holds nothing", wiring.SessionFile{RuntimeDir: filepath.Join(runtime, "none")}, db, lookupResult{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := lookup(t, tc.tier, tc.db); got != tc.want {
				t.Errorf("Lookup = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSessionCacheTier(t *testing.T) {
	db := filepath.Join(t.TempDir(), "credentials.db")
	runtime := t.TempDir()
	if err := vaulttest.WriteSessionFile(runtime, db, "from the session file"); err != nil {
		t.Fatal(err)
	}
	t.Run("an unusable kernel keyring falls back to the session file", func(t *testing.T) {
		// A keyring id that names none: keyctl answers as where the
		// facility is missing.
		tier := wiring.SessionCache{Kernel: wiring.KernelKeyring{Ring: -100}, File: wiring.SessionFile{RuntimeDir: runtime}}
		if got := lookup(t, tier, db); got != (lookupResult{pass: "from the session file", found: true}) {
			t.Errorf("Lookup = %+v, want the session file's", got)
		}
	})
	t.Run("a usable kernel keyring is the only backing asked", func(t *testing.T) {
		if err := vaulttest.KernelKeyringUsable(); err != nil {
			t.Skipf("the kernel keyring cannot run in this sandbox: %v", err)
		}
		tier := wiring.SessionCache{File: wiring.SessionFile{RuntimeDir: runtime}}
		if got := lookup(t, tier, db); got != (lookupResult{}) {
			t.Errorf("Lookup with an empty kernel keyring = %+v, want nothing", got)
		}
		remove, err := vaulttest.StoreInKernelKeyring(db, testPassphrase)
		if err != nil {
			t.Fatal(err)
		}
		defer remove()
		if got := lookup(t, tier, db); got != (lookupResult{pass: testPassphrase, found: true}) {
			t.Errorf("Lookup = %+v, want the kernel keyring's", got)
		}
	})
}

func TestPassphraseCommandTier(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret file")
	writeFile(t, secret, testPassphrase+"\r\n")
	cases := []struct {
		name string
		tier wiring.PassphraseCommand
		want lookupResult
	}{
		{"the command's output is the passphrase, its line ending removed", wiring.PassphraseCommand{Command: "cat '" + secret + "'"},
			lookupResult{pass: testPassphrase, found: true}},
		{"words are split as a shell splits them, without a shell", wiring.PassphraseCommand{Command: `printf '%s|%s' "a b" $HOME`},
			lookupResult{pass: "a b|$HOME", found: true}},
		{"a failing command fails closed", wiring.PassphraseCommand{Command: "sh -c 'echo denied >&2; exit 3'"}, lookupResult{err: true}},
		{"a command that prints nothing fails closed", wiring.PassphraseCommand{Command: "true"}, lookupResult{err: true}},
		{"a command that is not there fails closed", wiring.PassphraseCommand{Command: filepath.Join(dir, "none")}, lookupResult{err: true}},
		{"a command that takes too long fails closed", wiring.PassphraseCommand{Command: "sleep 10", Timeout: 200 * time.Millisecond},
			lookupResult{err: true}},
		{"a command with an open quote fails closed", wiring.PassphraseCommand{Command: "cat 'unclosed"}, lookupResult{err: true}},
		{"a blank command fails closed", wiring.PassphraseCommand{Command: "  "}, lookupResult{err: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			if got := lookup(t, tc.tier, "/vault/credentials.db"); got != tc.want {
				t.Errorf("Lookup = %+v, want %+v", got, tc.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v: the timeout did not hold", d)
			}
		})
	}
	t.Run("the error names the program, never the whole command", func(t *testing.T) {
		_, _, err := wiring.PassphraseCommand{Command: "false --secret-arn=arn:aws:xyz"}.Lookup(context.Background(), "")
		if err == nil || !strings.Contains(err.Error(), `"false"`) || strings.Contains(err.Error(), "arn:aws") {
			t.Errorf("error = %v, want the program named and its arguments left out", err)
		}
	})
}

func TestPromptTier(t *testing.T) {
	term, tty, err := vaulttest.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	defer tty.Close()
	// The tty is raw before anything is typed, as it is once the prompt
	// has begun: typed ahead into a cooked tty, erase, Ctrl-U and Ctrl-C
	// would be the kernel's to handle, not the prompt's.
	state, err := xterm.MakeRaw(int(tty.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer xterm.Restore(int(tty.Fd()), state)
	notATerminal, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer notATerminal.Close()
	cases := []struct {
		name  string
		in    *os.File
		typed string
		want  lookupResult
	}{
		{"a passphrase typed on a terminal is taken", tty, "  " + testPassphrase + "\n", lookupResult{pass: testPassphrase, found: true}},
		{"Enter on a terminal in raw mode ends the line", tty, "hunter2\r", lookupResult{pass: "hunter2", found: true}},
		{"an erase takes the last character back, a multi-byte one whole", tty, "pxä\x7f\x7fass\r", lookupResult{pass: "pass", found: true}},
		{"Ctrl-U erases the line", tty, "wrong\x15right\r", lookupResult{pass: "right", found: true}},
		{"Ctrl-C cancels", tty, "hunter\x03", lookupResult{err: true}},
		{"an empty answer fails closed", tty, "\n", lookupResult{err: true}},
		{"no terminal holds nothing and asks nothing", notATerminal, "", lookupResult{}},
		{"no input holds nothing", nil, "", lookupResult{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.typed != "" {
				if _, err := term.WriteString(tc.typed); err != nil {
					t.Fatal(err)
				}
			}
			var asked strings.Builder
			if got := lookup(t, wiring.Prompt{In: tc.in, Out: &asked}, "/vault/credentials.db"); got != tc.want {
				t.Errorf("Lookup = %+v, want %+v", got, tc.want)
			}
			if wantAsked := tc.typed != ""; strings.Contains(asked.String(), "passphrase: ") != wantAsked {
				t.Errorf("the prompt wrote %q", asked.String())
			}
			echoed := strings.TrimPrefix(asked.String(), "credentials.db passphrase: ")
			if tc.want.pass != "" && (strings.Contains(echoed, tc.want.pass) || !strings.Contains(echoed, "*")) {
				t.Errorf("the prompt echoed %q, want each character masked as *", asked.String())
			}
		})
	}
}

// recordingTier is a tier that answers as told and records that it was asked.
type recordingTier struct {
	name  string
	pass  string
	err   error
	asked *[]string
}

func (r recordingTier) Tier() string { return r.name }

func (r recordingTier) Lookup(context.Context, string) (wiring.Passphrase, bool, error) {
	*r.asked = append(*r.asked, r.name)
	return wiring.NewPassphrase(r.pass), r.pass != "", r.err
}

func TestPassphraseChainResolve(t *testing.T) {
	cases := []struct {
		name      string
		tiers     []recordingTier
		wantPass  string
		wantTier  string
		wantAsked []string
		wantErr   error
	}{
		{"the first tier holding a passphrase wins and the rest are not asked",
			[]recordingTier{{name: "a"}, {name: "b", pass: "from b"}, {name: "c", pass: "from c"}},
			"from b", "b", []string{"a", "b"}, nil},
		{"a tier that fails closed stops the chain",
			[]recordingTier{{name: "a", err: errors.New("sealed but broken")}, {name: "b", pass: "from b"}},
			"", "", []string{"a"}, wiring.ErrVaultLocked},
		{"no tier holding one leaves the vault locked",
			[]recordingTier{{name: "a"}, {name: "b"}}, "", "", []string{"a", "b"}, wiring.ErrVaultLocked},
		{"an empty chain leaves the vault locked", nil, "", "", nil, wiring.ErrVaultLocked},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var asked []string
			var chain wiring.PassphraseChain
			for _, r := range tc.tiers {
				r.asked = &asked
				chain = append(chain, r)
			}
			p, tier, err := chain.Resolve(context.Background(), "/vault/credentials.db")
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Errorf("Resolve error = %v, want %v", err, tc.wantErr)
			}
			if wiring.Reveal(p) != tc.wantPass || tier != tc.wantTier || !slices.Equal(asked, tc.wantAsked) {
				t.Errorf("Resolve = %q from %q, asked %q; want %q from %q, asked %q",
					wiring.Reveal(p), tier, asked, tc.wantPass, tc.wantTier, tc.wantAsked)
			}
		})
	}
}

func TestConfigPassphraseChainIsTeroksOrder(t *testing.T) {
	env := fakeEnv(map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"})
	base := wiring.Config{VaultDir: "/vault"}
	cases := []struct {
		name   string
		mutate func(*wiring.Config)
		prompt *os.File
		want   []string
	}{
		{"every tier, in terok's order", func(c *wiring.Config) {
			c.CredentialsUseKeyring, c.CredentialsPassphraseCommand = true, ptr("pass show vault")
		},
			os.Stdin, []string{"systemd-creds", "keyring", "kernel-keyring", "passphrase-command", "prompt"}},
		{"use_keyring off keeps the chain away from the keyring", func(c *wiring.Config) { c.CredentialsPassphraseCommand = ptr("pass show vault") },
			nil, []string{"systemd-creds", "kernel-keyring", "passphrase-command"}},
		{"no command and no prompt", func(c *wiring.Config) { c.CredentialsUseKeyring = true },
			nil, []string{"systemd-creds", "keyring", "kernel-keyring"}},
		{"an empty command is no command", func(c *wiring.Config) { c.CredentialsPassphraseCommand = ptr("") },
			nil, []string{"systemd-creds", "kernel-keyring"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.mutate(&cfg)
			chain := cfg.PassphraseChain(env, tc.prompt)
			var names []string
			for _, tier := range chain {
				names = append(names, tier.Tier())
			}
			if !slices.Equal(names, tc.want) {
				t.Errorf("tiers %q, want %q", names, tc.want)
			}
			if sc, ok := chain[0].(wiring.SystemdCreds); !ok || sc.File != "/vault/vault.passphrase.cred" {
				t.Errorf("the systemd-creds tier is %+v, want the vault dir's sealed credential", chain[0])
			}
			for _, tier := range chain {
				if sc, ok := tier.(wiring.SessionCache); ok && sc.File.RuntimeDir != "/run/user/1000" {
					t.Errorf("the session file is under %q, want XDG_RUNTIME_DIR", sc.File.RuntimeDir)
				}
			}
		})
	}
}

func writeExecutable(t *testing.T, p, script string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}
