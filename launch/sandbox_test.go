package launch_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containers/podman/v5/libpod/define"
	"github.com/containers/podman/v5/pkg/errorhandling"
	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/sandwire/sandwire/launch"
	"github.com/sandwire/sandwire/podmanapi"
	"github.com/sandwire/sandwire/wiring"
)

var proj = launch.Request{Scope: "proj", NoShield: true}

func TestCreateWiresTheSpecAndKeepsTheState(t *testing.T) {
	f := newFixture(t)
	s := spec()
	c, err := f.sb.Create(t.Context(), "web", s, proj, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.srv.specs) != 1 {
		t.Fatalf("the server was sent %d creates, want 1", len(f.srv.specs))
	}
	sent := f.srv.specs[0]
	if sent.Name != "web" || sent.Env["FOO"] != "bar" || sent.Env[wiring.EnvSSHSignerToken] == "" ||
		sent.Annotations[wiring.SidecarAnnotation] != f.cfg.SidecarPath("web") {
		t.Errorf("the server was sent name %q env %v annotations %v; want the wired spec", sent.Name, wiring.Redact(strings.Join(envList(sent), " ")), sent.Annotations)
	}
	if s.Name != "" || len(s.Env) != 1 || len(s.Mounts) != 0 {
		t.Errorf("Create changed the caller's spec: %q %v %v", s.Name, s.Env, s.Mounts)
	}
	if c.ID != f.srv.find("web").ID || !c.Plan.SSH || c.Edits == nil {
		t.Errorf("Create = %+v", c)
	}
	for _, p := range []string{f.cfg.RunStateDir("web"), f.cfg.SidecarPath("web"), f.cfg.ContainerRuntimeDir("web")} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("the launch's state %s is missing: %v", p, err)
		}
	}
	if n := f.tokens.count("web"); n != 1 {
		t.Errorf("%d tokens minted for web, want the SSH signer's one", n)
	}
	if got := *f.warns; len(got) != 1 || got[0] != "server warning" || len(*f.notes) != 0 {
		t.Errorf("warnings = %q, notes = %q; want the server's warning among the warnings alone", got, *f.notes)
	}
}

// TestCreateLeavesNothingWhenAStepFails fails the launch at each step and
// checks that it rolls back: tokens revoked, state removed, and the
// container removed only when this launch made it.
func TestCreateLeavesNothingWhenAStepFails(t *testing.T) {
	lost := &podmanapi.UnreachableError{URI: "unix:///x.sock", Err: errors.New("connection reset")}
	for _, tc := range []struct {
		name     string
		setup    func(f fixture)
		spec     func() *specgen.SpecGenerator
		category error
		// wantCreates is how many creates reached the server; wantRemoved
		// the containers this launch removed.
		wantCreates int
		wantRemoved []string
		wantMsg     string
	}{
		{name: "a spec that sets what the sandbox owns is refused before the server is asked",
			spec:     func() *specgen.SpecGenerator { s := spec(); s.CapAdd = []string{"SYS_ADMIN"}; return s },
			category: launch.ErrInvalidArgument, wantMsg: "--cap-add"},
		{name: "a remote server is refused before anything is written",
			setup:    func(f fixture) { f.srv.remote = true },
			category: launch.ErrRemoteServer, wantMsg: "another machine"},
		{name: "a server that refuses the create",
			setup:    func(f fixture) { f.srv.createErr = &podmanapi.APIError{Code: 500, Err: errors.New("boom")} },
			category: nil, wantCreates: 1, wantMsg: "boom"},
		{name: "a name in use on the server",
			setup: func(f fixture) {
				f.srv.ctrs["web"] = &define.InspectContainerData{ID: "someone-elses", Name: "web", Config: &define.InspectContainerConfig{}}
			},
			category: launch.ErrAlreadyExists, wantCreates: 1, wantMsg: "in use"},
		{name: "a lost answer after the server made the container removes it",
			setup:    func(f fixture) { f.srv.createErr, f.srv.createMakes = lost, true },
			category: launch.ErrUnavailable, wantCreates: 1, wantRemoved: []string{"web"}, wantMsg: "connection reset"},
		{name: "a lost answer before the server made anything removes nothing",
			setup:    func(f fixture) { f.srv.createErr = lost },
			category: launch.ErrUnavailable, wantCreates: 1, wantMsg: "connection reset"},
		{name: "a lost answer that cannot be checked says the container may exist",
			setup:    func(f fixture) { f.srv.createErr, f.srv.inspectErr = lost, lost },
			category: launch.ErrUnavailable, wantCreates: 1, wantMsg: "may have been made"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			s := spec()
			if tc.spec != nil {
				s = tc.spec()
			}
			before := f.srv.find("web")
			c, err := f.sb.Create(t.Context(), "web", s, proj, nil)
			if err == nil {
				t.Fatalf("Create = %+v, want an error", c)
			}
			if tc.category != nil && !errors.Is(err, tc.category) {
				t.Errorf("error %v is not in category %v", err, tc.category)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not say %q", err, tc.wantMsg)
			}
			if len(f.srv.specs) != tc.wantCreates {
				t.Errorf("%d creates reached the server, want %d", len(f.srv.specs), tc.wantCreates)
			}
			if !slices.Equal(f.srv.removed, tc.wantRemoved) {
				t.Errorf("removed %q, want %q", f.srv.removed, tc.wantRemoved)
			}
			if before != nil {
				if f.srv.find("web") != before {
					t.Error("the other container of that name was touched")
				}
				delete(f.srv.ctrs, "web")
			}
			f.assertNothingLeft(t, "web")
		})
	}
}

func TestCreateKeepsTheRecordOfTokensItCouldNotRevoke(t *testing.T) {
	f := newFixture(t)
	f.srv.createErr = &podmanapi.APIError{Code: 500, Err: errors.New("boom")}
	f.tokens.revokeErr = errors.New("database is locked")
	_, err := f.sb.Create(t.Context(), "web", spec(), proj, nil)
	var kept *launch.TokensKeptError
	if !errors.As(err, &kept) || kept.Kept != f.cfg.RunStateDir("web") {
		t.Fatalf("error %v, want a *TokensKeptError keeping the run state", err)
	}
	if _, err := os.Stat(f.cfg.RunStateDir("web")); err != nil {
		t.Errorf("the run state that records the tokens is gone: %v", err)
	}
	if _, err := os.Lstat(f.cfg.SidecarPath("web")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the sidecar is left: %v", err)
	}
	f.tokens.revokeErr = nil
	if found, err := f.sb.Cleanup(t.Context(), "web"); err != nil || !found {
		t.Fatalf("Cleanup once the store is back = %v, %v", found, err)
	}
	f.assertNothingLeft(t, "web")
}

func TestRunKeepsAContainerThatCouldNotStartUnlessRm(t *testing.T) {
	tests := []struct {
		name           string
		detach, remove bool
		message        string
		wantCode       int
	}{
		{name: "a command not found exits 127 and is kept", message: "stat /no/such: no such file or directory", wantCode: 127},
		{name: "a command not executable exits 126 and is kept", message: "exec: \"/etc\": permission denied", wantCode: 126},
		{name: "a detached start that failed is kept", detach: true, message: "address already in use", wantCode: 126},
		{name: "with --rm a failed start is removed", remove: true, message: "no such file or directory", wantCode: 127},
		{name: "with -d --rm a failed start is removed", detach: true, remove: true, message: "permission denied", wantCode: 126},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			model := &errorhandling.ErrorModel{Message: tc.message, ResponseCode: 500}
			f.srv.startErr = &podmanapi.StartError{ID: "web-id", Err: &podmanapi.APIError{Code: 500, Err: model}}
			res, err := f.sb.Run(t.Context(), "web", spec(), proj, &launch.RunOptions{Detach: tc.detach, Remove: tc.remove})
			var start *launch.StartError
			if !errors.As(err, &start) || res == nil || res.ExitCode != tc.wantCode || res.Detached {
				t.Fatalf("Run = %+v, %v; want a *StartError and exit code %d", res, err, tc.wantCode)
			}
			if err.Error() != tc.message {
				t.Errorf("error %q, want the server's message %q alone", err, tc.message)
			}
			if tc.remove {
				if !res.Removed {
					t.Error("RunResult.Removed is not set")
				}
				f.assertNothingLeft(t, "web")
				return
			}
			if f.srv.find("web") == nil || f.tokens.count("web") != 1 || len(f.srv.removed) != 0 {
				t.Errorf("the container or its tokens are gone: removed %q", f.srv.removed)
			}
			if _, err := os.Stat(f.cfg.SidecarPath("web")); err != nil {
				t.Errorf("the sidecar of a kept container is gone: %v", err)
			}
		})
	}
}

func TestRunWritesTheCIDFileAndRemovesItWithTheContainer(t *testing.T) {
	for _, rm := range []bool{false, true} {
		f := newFixture(t)
		cid := filepath.Join(t.TempDir(), "cid")
		var seen string
		opts := &launch.RunOptions{Remove: rm, CIDFile: cid, Created: func(c *launch.Container) {
			data, _ := os.ReadFile(cid)
			seen = string(data)
		}}
		res, err := f.sb.Run(t.Context(), "web", spec(), proj, opts)
		if err != nil {
			t.Fatal(err)
		}
		if seen != res.ID {
			t.Errorf("rm=%v: the cidfile held %q when Created was called, want %q", rm, seen, res.ID)
		}
		_, statErr := os.Stat(cid)
		if rm != errors.Is(statErr, os.ErrNotExist) {
			t.Errorf("rm=%v: cidfile after the run: %v", rm, statErr)
		}
	}
}

func TestRunRemovesTheImageOnlyAfterTheContainerRan(t *testing.T) {
	tests := []struct {
		name     string
		startErr error
		want     []string
	}{
		{name: "an exited container's image is removed", want: []string{"localhost/img"}},
		{name: "a failed start keeps the image", startErr: &podmanapi.StartError{Err: errors.New("no such file")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.srv.startErr = tc.startErr
			f.srv.removeImageErr = errors.New("image is in use")
			if _, err := f.sb.Run(t.Context(), "web", spec(), proj, &launch.RunOptions{Remove: true, RemoveImage: true}); (err != nil) != (tc.startErr != nil) {
				t.Fatalf("Run = %v", err)
			}
			if !slices.Equal(f.srv.removedImages, tc.want) {
				t.Errorf("removed images %q, want %q", f.srv.removedImages, tc.want)
			}
		})
	}
}

func TestRunReturnsTheExitCodeAndRemovesWithRm(t *testing.T) {
	for _, rm := range []bool{false, true} {
		f := newFixture(t)
		f.srv.exitCode = 3
		res, err := f.sb.Run(t.Context(), "web", spec(), proj, &launch.RunOptions{Remove: rm})
		if err != nil || res.ExitCode != 3 || res.Detached {
			t.Fatalf("rm=%v: Run = %+v, %v; want exit code 3", rm, res, err)
		}
		if rm {
			f.assertNothingLeft(t, "web")
		} else if f.srv.find("web") == nil || f.tokens.count("web") != 1 {
			t.Errorf("without --rm the container or its tokens are gone")
		}
	}
}

// TestRunWithRmWaitsForAWatchThatHoldsTheName: a watch that saw the
// removal may be cleaning up the name at that moment; Run's own cleanup
// waits for it rather than failing.
func TestRunWithRmWaitsForAWatchThatHoldsTheName(t *testing.T) {
	f := newFixture(t)
	released := make(chan struct{})
	f.srv.onStart = func() {
		lock, err := os.OpenFile(filepath.Join(f.cfg.LockDir(), "web.lock"), os.O_RDWR, 0)
		if err != nil {
			t.Error(err)
			return
		}
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			t.Error(err)
		}
		go func() {
			defer close(released)
			time.Sleep(200 * time.Millisecond)
			lock.Close()
		}()
	}
	if _, err := f.sb.Run(t.Context(), "web", spec(), proj, &launch.RunOptions{Remove: true}); err != nil {
		t.Fatalf("Run --rm = %v", err)
	}
	<-released
	f.assertNothingLeft(t, "web")
	for _, n := range *f.notes {
		if strings.Contains(n, "in use") {
			t.Errorf("Run noted %q", n)
		}
	}
}

func TestRunForwardsItsSignalsToTheContainer(t *testing.T) {
	f := newFixture(t)
	signals := make(chan os.Signal, 1)
	signals <- syscall.SIGTERM
	res, err := f.sb.Run(t.Context(), "web", spec(), proj, &launch.RunOptions{Signals: signals})
	if err != nil || res.ExitCode != 128+int(syscall.SIGTERM) {
		t.Fatalf("Run = %+v, %v; want the exit code of a container ended by the SIGTERM forwarded to it", res, err)
	}
	if f.srv.find("web") == nil {
		t.Errorf("the container is gone: a forwarded signal is the container's to act on, not Run's")
	}
}

func TestRunWithNilOptionsWaitsForTheExit(t *testing.T) {
	f := newFixture(t)
	res, err := f.sb.Run(t.Context(), "web", spec(), proj, nil)
	if err != nil || res.ExitCode != 0 || res.Detached || len(f.srv.started) != 1 {
		t.Fatalf("Run(nil options) = %+v, %v", res, err)
	}
}

func TestCleanupIsIdempotentAndSafeOnUnknownNames(t *testing.T) {
	f := newFixture(t)
	if _, err := f.sb.Create(t.Context(), "web", spec(), proj, nil); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false} {
		found, err := f.sb.Cleanup(t.Context(), "web")
		if err != nil || found != want {
			t.Errorf("cleanup %d = %v, %v; want found=%v", i+1, found, err, want)
		}
	}
	if found, err := f.sb.Cleanup(t.Context(), "never-launched"); err != nil || found {
		t.Errorf("cleanup of an unknown name = %v, %v", found, err)
	}
	if _, err := f.sb.Cleanup(t.Context(), "../x"); !errors.Is(err, launch.ErrInvalidArgument) {
		t.Errorf("cleanup of an unsafe name = %v, want an invalid argument", err)
	}
	if f.srv.find("web") == nil {
		t.Error("cleanup removed the container, which belongs to its user")
	}
}

// TestNewWithAConfigAloneHasTheShieldOn: the default shield is terok-shield,
// so a zero-value request is shielded, and fails closed where it is missing.
func TestNewWithAConfigAloneHasTheShieldOn(t *testing.T) {
	cfg := testConfig(t)
	srv := newFakeServer()
	var notes []string
	sb, err := launch.New(cfg, launch.WithServer(srv), launch.WithNotes(func(n string) { notes = append(notes, n) }))
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	_, err = sb.Create(t.Context(), "web", spec(), launch.Request{}, nil)
	var shieldErr *launch.ShieldError
	if !errors.As(err, &shieldErr) || !errors.Is(err, launch.ErrUnavailable) {
		t.Fatalf("Create with the default shield and no terok-shield = %v, want a *ShieldError", err)
	}
	if len(srv.specs) != 0 {
		t.Error("a container was created although the shield failed")
	}
	if len(notes) != 2 || !strings.Contains(notes[0], "--scope") {
		t.Errorf("notes = %q, want the two skipped subsystems", notes)
	}
}

func TestPrepareRendersTheEditsCreateWouldApply(t *testing.T) {
	f := newFixture(t)
	p, err := f.sb.Prepare(t.Context(), "web", spec(), proj)
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec == nil || p.Spec.Name != "web" || p.Spec.Env[wiring.EnvSSHSignerToken] == "" {
		t.Fatalf("prepared spec = %+v", p.Spec)
	}
	flags := strings.Join(p.Flags(), " ")
	if !strings.Contains(flags, "--name web") || !strings.Contains(p.ShellFlags(), wiring.EnvSSHSignerToken+"=") {
		t.Errorf("flags %q do not wire the container", wiring.Redact(flags))
	}
	if len(f.srv.specs) != 0 {
		t.Error("prepare created a container")
	}
	if _, err := f.sb.Prepare(t.Context(), "web", nil, proj); !errors.Is(err, launch.ErrAlreadyExists) {
		t.Errorf("a second prepare of web = %v, want the name in use", err)
	}
}

func TestListAndSweepAskTheServerWhichContainersLive(t *testing.T) {
	f := newFixture(t)
	for _, n := range []string{"a", "b"} {
		if _, err := f.sb.Create(t.Context(), n, spec(), proj, nil); err != nil {
			t.Fatal(err)
		}
	}
	delete(f.srv.ctrs, "b") // removed by another client
	entries, err := f.sb.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]launch.Presence{}
	for _, e := range entries {
		got[e.Name] = e.Container
	}
	if len(got) != 2 || got["a"] != launch.Exists || got["b"] != launch.Missing {
		t.Errorf("List = %v, want a exists and b missing", got)
	}
	rep, err := f.sb.Sweep(t.Context(), 0)
	if err != nil || len(rep.Swept) != 0 || !slices.Equal(rep.Young, []string{"b"}) {
		t.Errorf("Sweep within the default grace = %+v, %v; want b left as young", rep, err)
	}
	if _, err := f.sb.Sweep(context.Background(), -1); !errors.Is(err, launch.ErrInvalidArgument) {
		t.Errorf("Sweep with a negative grace = %v", err)
	}
}

func envList(s *specgen.SpecGenerator) []string {
	var out []string
	for k, v := range s.Env {
		out = append(out, k+"="+v)
	}
	return out
}

// TestCreateRefusesANamedVolumeThatBindsTheSandboxsState: only the server
// knows that a named volume binds a host path; the launch asks it, and
// refuses before anything is written.
func TestCreateRefusesANamedVolumeThatBindsTheSandboxsState(t *testing.T) {
	f := newFixture(t)
	f.srv.bound = map[string]string{"home": f.cfg.VaultDir, "data": t.TempDir()}
	for _, tc := range []struct {
		volume  string
		refused bool
	}{{"home", true}, {"data", false}, {"fresh", false}} {
		s := spec()
		s.Volumes = []*specgen.NamedVolume{{Name: tc.volume, Dest: "/v"}}
		name := "web-" + tc.volume
		_, err := f.sb.Create(t.Context(), name, s, proj, nil)
		if refused := errors.Is(err, launch.ErrInvalidArgument); refused != tc.refused || (!tc.refused && err != nil) {
			t.Errorf("volume %s: Create = %v, want refused=%v", tc.volume, err, tc.refused)
		}
		if tc.refused {
			if !strings.Contains(err.Error(), "vault dir") {
				t.Errorf("the refusal %q does not name the vault dir", err)
			}
			f.assertNothingLeft(t, name)
		}
	}
}

// TestNewKeepsTokensInTheVaultUnlessPlaintextIsConfigured launches with
// the default token store: the vault, encrypted, unless the configuration
// asks for the plaintext development store.
func TestNewKeepsTokensInTheVaultUnlessPlaintextIsConfigured(t *testing.T) {
	for _, tc := range []struct {
		name      string
		store     wiring.TokenStoreKind
		plaintext bool
	}{
		{"by default tokens go to the encrypted vault", "", false},
		{"the vault by its name", wiring.TokenStoreVault, false},
		{"plaintext only when the configuration says so", wiring.TokenStorePlaintext, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.TokenStore, cfg.CredentialsUseKeyring = tc.store, false
			secret := filepath.Join(t.TempDir(), "passphrase")
			if err := os.WriteFile(secret, []byte("launch test passphrase\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			command := "cat " + secret
			cfg.CredentialsPassphraseCommand = &command
			sb, err := launch.New(cfg, launch.WithServer(newFakeServer()), launch.WithShield(nil), launch.WithNotes(nil))
			if err != nil {
				t.Fatal(err)
			}
			defer sb.Close()
			if _, err := sb.Create(t.Context(), "web", spec(), proj, nil); err != nil {
				t.Fatal(err)
			}
			head := make([]byte, 16)
			f, err := os.Open(cfg.DBPath())
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Read(head); err != nil {
				t.Fatal(err)
			}
			if got := string(head) == "SQLite format 3\x00"; got != tc.plaintext {
				t.Errorf("the token store starts with the plaintext header: %v, want %v", got, tc.plaintext)
			}
		})
	}
}

func TestNewWithALockedVaultFailsTheLaunch(t *testing.T) {
	cfg := testConfig(t)
	cfg.CredentialsUseKeyring = false
	// No terminal either, even when the tests run in one: nothing to ask.
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	stdin := os.Stdin
	os.Stdin = devNull
	sb, err := launch.New(cfg, launch.WithServer(newFakeServer()), launch.WithShield(nil), launch.WithNotes(nil))
	os.Stdin = stdin
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	_, err = sb.Create(t.Context(), "web", spec(), proj, nil)
	if !errors.Is(err, launch.ErrVaultLocked) || !errors.Is(err, launch.ErrUnavailable) {
		t.Errorf("Create with no passphrase anywhere = %v, want ErrVaultLocked (unavailable)", err)
	}
}
