package wiring_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/sandwire/sandwire/wiring"
)

// launched composes and commits a launch of name with a fake shield, and
// returns the shield.
func launched(t *testing.T, cfg wiring.Config, store wiring.TokenStore, name string, req wiring.Request) *fakeShield {
	t.Helper()
	shield := &fakeShield{edits: &wiring.Edits{Annotations: map[string]string{"terok.shield.state": "x"}}}
	l, err := compose(context.Background(), cfg, name, req, wiring.ComposeOptions{Tokens: store, Shield: shield})
	if err != nil {
		t.Fatalf("Compose(%s) = %v", name, err)
	}
	l.Commit()
	return shield
}

func statePaths(cfg wiring.Config, name string) []string {
	return []string{sidecarPathOf(cfg, name), runtimeDirOf(cfg, name), runStateDirOf(cfg, name)}
}

// assertNoneLeft fails if what (a cleanup, a sweep) left any of name's
// state or tokens.
func assertNoneLeft(t *testing.T, cfg wiring.Config, store *wiring.SQLiteStore, name, what string) {
	t.Helper()
	for _, p := range statePaths(cfg, name) {
		if exists(t, p) {
			t.Errorf("%s left %s", what, p)
		}
	}
	if n, err := store.CountSubject(context.Background(), name); err != nil || n != 0 {
		t.Errorf("after %s, CountSubject(%s) = %d, %v; want 0", what, name, n, err)
	}
}

func TestCleanupReversesALaunch(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []wiring.ServicesMode{wiring.ServicesSocket, wiring.ServicesTCP} {
		t.Run(string(mode)+" mode cleanup removes the state, the tokens and the shield", func(t *testing.T) {
			cfg := testConfig(t, mode)
			store := testStore(t, cfg)
			shield := launched(t, cfg, store, "web", wiring.Request{Scope: "proj"})
			launched(t, cfg, store, "db", wiring.Request{Scope: "proj"})
			otherBefore := map[string][]string{}
			for _, p := range statePaths(cfg, "db") {
				if st, err := os.Stat(p); err == nil && st.IsDir() {
					otherBefore[p] = tree(t, p)
				}
			}

			found, err := wiring.Cleanup(ctx, cfg, "web", wiring.CleanupOptions{Tokens: store, Shield: shield, ContainerID: "c0ffee"})
			if err != nil || !found {
				t.Fatalf("Cleanup = %v, %v; want true, nil", found, err)
			}
			assertNoneLeft(t, cfg, store, "web", "Cleanup")
			if want := [][2]string{{"web", "c0ffee"}}; !reflect.DeepEqual(shield.downs, want) {
				t.Errorf("shield teardowns = %v, want %v", shield.downs, want)
			}

			// The other container is untouched.
			for _, p := range statePaths(cfg, "db") {
				if !exists(t, p) {
					t.Errorf("Cleanup of web removed %s", p)
				}
			}
			for p, before := range otherBefore {
				if got := tree(t, p); !reflect.DeepEqual(got, before) {
					t.Errorf("%s = %q, want %q", p, got, before)
				}
			}
			if n, err := store.CountSubject(ctx, "db"); err != nil || n != 1 {
				t.Errorf("CountSubject(db) = %d, %v; want 1", n, err)
			}

			// Idempotent.
			found, err = wiring.Cleanup(ctx, cfg, "web", wiring.CleanupOptions{Tokens: store, Shield: shield, ContainerID: "c0ffee"})
			if err != nil || found {
				t.Errorf("second Cleanup = %v, %v; want false, nil", found, err)
			}
			if len(shield.downs) != 1 {
				t.Errorf("the second Cleanup tore the shield down again: %v", shield.downs)
			}
			// The name can be launched again.
			launched(t, cfg, store, "web", wiring.Request{Scope: "proj"})
		})
	}
}

func TestCleanupOfAnUnknownName(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t, wiring.ServicesSocket)
	store := testStore(t, cfg)
	cases := []struct {
		name  string
		opts  wiring.CleanupOptions
		cname string
	}{
		{"never-launched name is not found and not an error", wiring.CleanupOptions{Tokens: store}, "never"},
		{"never-launched name without collaborators is not found", wiring.CleanupOptions{}, "never2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			found, err := wiring.Cleanup(ctx, cfg, tc.cname, tc.opts)
			if err != nil || found {
				t.Errorf("Cleanup(%s) = %v, %v; want false, nil", tc.cname, found, err)
			}
			for _, p := range statePaths(cfg, tc.cname) {
				if exists(t, p) {
					t.Errorf("Cleanup created %s", p)
				}
			}
		})
	}
}

func TestCleanupRejectsAnInvalidName(t *testing.T) {
	cfg := testConfig(t, wiring.ServicesSocket)
	victim := filepath.Join(cfg.StateDir, "victim.json")
	writeFile(t, victim, "keep")
	for _, name := range []string{"", ".", "..", "../victim", "a/b", "-x"} {
		found, err := wiring.Cleanup(context.Background(), cfg, name, wiring.CleanupOptions{})
		if !errors.Is(err, wiring.ErrInvalidName) || found {
			t.Errorf("Cleanup(%q) = %v, %v; want false and an ErrInvalidName", name, found, err)
		}
	}
	if got, want := tree(t, cfg.StateDir), []string{"victim.json"}; !reflect.DeepEqual(got, want) {
		t.Errorf("state dir = %q, want %q", got, want)
	}
}

func TestCleanupRemovesSymlinksNotTheirTargets(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t, wiring.ServicesSocket)
	victims := t.TempDir()
	targets := map[string]string{
		sidecarPathOf(cfg, "web"): filepath.Join(victims, "sidecar.json"),
		runtimeDirOf(cfg, "web"):  filepath.Join(victims, "runtime"),
		runStateDirOf(cfg, "web"): filepath.Join(victims, "runs"),
	}
	writeFile(t, targets[sidecarPathOf(cfg, "web")], `{"container_name":"web","scope_id":"proj"}`)
	writeFile(t, filepath.Join(targets[runtimeDirOf(cfg, "web")], "keep"), "keep")
	writeFile(t, filepath.Join(targets[runStateDirOf(cfg, "web")], "keep"), "keep")
	before := tree(t, victims)
	for link, target := range targets {
		if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}

	found, err := wiring.Cleanup(ctx, cfg, "web", wiring.CleanupOptions{})
	if err != nil || !found {
		t.Fatalf("Cleanup = %v, %v; want true, nil", found, err)
	}
	for link := range targets {
		if exists(t, link) {
			t.Errorf("Cleanup left the symlink %s", link)
		}
	}
	if got := tree(t, victims); !reflect.DeepEqual(got, before) {
		t.Errorf("symlink targets = %q, want %q", got, before)
	}
	for _, f := range []string{filepath.Join(victims, "runtime", "keep"), filepath.Join(victims, "runs", "keep")} {
		if got := readFile(t, f); got != "keep" {
			t.Errorf("%s = %q, want keep", f, got)
		}
	}
}

func TestCleanupRevokesByTheSidecarsScopeWhenThePlanIsGone(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t, wiring.ServicesSocket)
	store := testStore(t, cfg)
	launched(t, cfg, store, "web", wiring.Request{Scope: "proj"})
	if err := os.RemoveAll(runStateDirOf(cfg, "web")); err != nil {
		t.Fatal(err)
	}
	found, err := wiring.Cleanup(ctx, cfg, "web", wiring.CleanupOptions{Tokens: store})
	if err != nil || !found {
		t.Fatalf("Cleanup = %v, %v; want true, nil", found, err)
	}
	if n, err := store.CountSubject(ctx, "web"); err != nil || n != 0 {
		t.Errorf("CountSubject(web) = %d, %v; want 0", n, err)
	}
}

func TestCleanupWithAnUnreadablePlanStillRemovesEverything(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t, wiring.ServicesSocket)
	store := testStore(t, cfg)
	launched(t, cfg, store, "web", wiring.Request{Scope: "proj"})
	writeFile(t, filepath.Join(runStateDirOf(cfg, "web"), "meta.json"), "{corrupt")

	found, err := wiring.Cleanup(ctx, cfg, "web", wiring.CleanupOptions{Tokens: store})
	if err == nil || !found {
		t.Errorf("Cleanup = %v, %v; want true and the plan's error", found, err)
	}
	for _, p := range statePaths(cfg, "web") {
		if exists(t, p) {
			t.Errorf("Cleanup left %s", p)
		}
	}
	if n, err := store.CountSubject(ctx, "web"); err != nil || n != 0 {
		t.Errorf("CountSubject(web) = %d, %v; want 0 (revoked by the sidecar's scope)", n, err)
	}
}

func TestCleanupShieldTeardown(t *testing.T) {
	ctx := context.Background()
	errDown := errors.New("nft exploded")
	cases := []struct {
		name        string
		req         wiring.Request
		containerID string
		downErr     error
		wantDowns   int
		wantErr     error
	}{
		{"shielded launch with a container ID is torn down", wiring.Request{Scope: "proj"}, "c1", nil, 1, nil},
		{"shielded launch without a container ID is not torn down", wiring.Request{Scope: "proj"}, "", nil, 0, nil},
		{"unshielded launch is not torn down", wiring.Request{Scope: "proj", NoShield: true}, "c1", nil, 0, nil},
		{"failed teardown is reported and the state still removed", wiring.Request{Scope: "proj"}, "c1", errDown, 1, errDown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, wiring.ServicesSocket)
			store := testStore(t, cfg)
			launched(t, cfg, store, "web", tc.req)
			shield := &fakeShield{downErr: tc.downErr}
			found, err := wiring.Cleanup(ctx, cfg, "web", wiring.CleanupOptions{Tokens: store, Shield: shield, ContainerID: tc.containerID})
			if !found {
				t.Error("Cleanup found nothing")
			}
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("Cleanup error = %v, want %v", err, tc.wantErr)
			}
			if len(shield.downs) != tc.wantDowns {
				t.Errorf("shield teardowns = %v, want %d", shield.downs, tc.wantDowns)
			}
			assertNoneLeft(t, cfg, store, "web", "Cleanup")
		})
	}
}

func TestCleanupWithoutATokenStoreLeavesTheTokens(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t, wiring.ServicesSocket)
	store := testStore(t, cfg)
	launched(t, cfg, store, "web", wiring.Request{Scope: "proj"})
	found, err := wiring.Cleanup(ctx, cfg, "web", wiring.CleanupOptions{})
	if err != nil || !found {
		t.Fatalf("Cleanup = %v, %v; want true, nil", found, err)
	}
	for _, p := range statePaths(cfg, "web") {
		if exists(t, p) {
			t.Errorf("Cleanup left %s", p)
		}
	}
	if n, err := store.CountSubject(ctx, "web"); err != nil || n != 1 {
		t.Errorf("CountSubject(web) = %d, %v; want the token kept (no store to revoke it in)", n, err)
	}
}

// lockedStore is a token store whose revocations fail, as a locked vault's do.
type lockedStore struct{ wiring.TokenStore }

func (lockedStore) RevokeSubject(context.Context, string, string) (int, error) {
	return 0, errors.New("database is locked")
}

func TestCleanupThatCannotRevokeKeepsTheRecordOfTheTokens(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t, wiring.ServicesSocket)
	store := testStore(t, cfg)
	launched(t, cfg, store, "web", wiring.Request{Scope: "proj"})

	found, err := wiring.Cleanup(ctx, cfg, "web", wiring.CleanupOptions{Tokens: lockedStore{store}})
	if err == nil || !found {
		t.Fatalf("Cleanup with a locked store = %v, %v; want true and the store's error", found, err)
	}
	for _, p := range []string{sidecarPathOf(cfg, "web"), runStateDirOf(cfg, "web")} {
		if !exists(t, p) {
			t.Errorf("Cleanup removed %s, the record of the tokens it could not revoke", p)
		}
	}
	if exists(t, runtimeDirOf(cfg, "web")) {
		t.Errorf("Cleanup kept the runtime dir, which records nothing")
	}

	found, err = wiring.Cleanup(ctx, cfg, "web", wiring.CleanupOptions{Tokens: store})
	if err != nil || !found {
		t.Fatalf("Cleanup again = %v, %v; want true, nil", found, err)
	}
	assertNoneLeft(t, cfg, store, "web", "the second Cleanup")
}

// TestCleanupAsksKeepUnderTheNameLock: Keep is asked once the name is
// held, so that a launch cannot make the container again between the
// question and the cleanup; a name it keeps, or whose question fails, is
// left as it was.
func TestCleanupAsksKeepUnderTheNameLock(t *testing.T) {
	errAsk := errors.New("the server cannot be asked")
	for _, tc := range []struct {
		name    string
		keep    bool
		err     error
		removed bool
	}{
		{name: "a name launched again is left alone", keep: true},
		{name: "a failed question leaves everything", err: errAsk},
		{name: "a name that stays gone is cleaned up", removed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := testConfig(t, wiring.ServicesSocket)
			store := testStore(t, cfg)
			launched(t, cfg, store, "web", wiring.Request{Scope: "proj"})
			var held error
			keep := func() (bool, error) {
				// Another cleanup of the name must find it held.
				_, held = wiring.Cleanup(ctx, cfg, "web", wiring.CleanupOptions{Tokens: store})
				return tc.keep, tc.err
			}
			found, err := wiring.Cleanup(ctx, cfg, "web", wiring.CleanupOptions{Tokens: store, Keep: keep})
			if !errors.Is(err, tc.err) || found != tc.removed {
				t.Fatalf("Cleanup = %v, %v; want %v, %v", found, err, tc.removed, tc.err)
			}
			if _, ok := errors.AsType[*wiring.NameBusyError](held); !ok {
				t.Errorf("a cleanup from within Keep = %v; want the name held", held)
			}
			if tc.removed {
				assertNoneLeft(t, cfg, store, "web", "the cleanup")
				return
			}
			for _, p := range statePaths(cfg, "web") {
				if !exists(t, p) {
					t.Errorf("the kept name lost %s", p)
				}
			}
			if n, err := store.CountSubject(ctx, "web"); err != nil || n == 0 {
				t.Errorf("the kept name's tokens: CountSubject = %d, %v", n, err)
			}
		})
	}
}
