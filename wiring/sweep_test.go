package wiring_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/sandwire/sandwire/wiring"
)

func TestListStates(t *testing.T) {
	cfg := testConfig(t, wiring.ServicesSocket)
	store := testStore(t, cfg)
	launched(t, cfg, store, "full", wiring.Request{Scope: "proj"})
	writeFile(t, sidecarPathOf(cfg, "sidecar-only"), "{}")
	if err := os.MkdirAll(runtimeDirOf(cfg, "runtime-only"), 0o700); err != nil {
		t.Fatal(err)
	}
	// Entries sandwire never writes are ignored.
	writeFile(t, filepath.Join(cfg.SidecarDir(), ".hidden.json"), "{}")
	writeFile(t, filepath.Join(cfg.SidecarDir(), "notes.txt"), "x")
	if err := os.MkdirAll(filepath.Join(cfg.RunsDir(), "-bad"), 0o700); err != nil {
		t.Fatal(err)
	}

	states, err := wiring.ListStates(cfg)
	if err != nil {
		t.Fatalf("ListStates = %v", err)
	}
	type summary struct {
		Name                          string
		Plan                          *wiring.Plan
		Sidecar, RunState, RuntimeDir bool
		Complete, HasTime             bool
	}
	var got []summary
	for _, s := range states {
		got = append(got, summary{s.Name, s.Plan, s.Sidecar, s.RunState, s.RuntimeDir, s.Complete(), !s.ModTime.IsZero()})
	}
	want := []summary{
		{Name: "full", Plan: &wiring.Plan{Scope: ptr("proj"), Shield: true, Gate: true, Broker: true, SSH: true},
			Sidecar: true, RunState: true, RuntimeDir: true, Complete: true, HasTime: true},
		{Name: "runtime-only", RuntimeDir: true, HasTime: true},
		{Name: "sidecar-only", Sidecar: true, HasTime: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ListStates =\n%+v\nwant\n%+v", got, want)
	}
}

func TestListStatesOfAnEmptyStateDir(t *testing.T) {
	states, err := wiring.ListStates(testConfig(t, wiring.ServicesSocket))
	if err != nil || len(states) != 0 {
		t.Errorf("ListStates = %v, %v; want nothing", states, err)
	}
}

func TestSweep(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t, wiring.ServicesSocket)
	store := testStore(t, cfg)
	for _, name := range []string{"live", "stray"} {
		launched(t, cfg, store, name, wiring.Request{Scope: "proj"})
	}
	held, err := compose(ctx, cfg, "held", wiring.Request{Scope: "proj", NoShield: true}, wiring.ComposeOptions{Tokens: store})
	if err != nil {
		t.Fatalf("Compose(held) = %v", err)
	}
	defer held.Commit()
	live := map[string]bool{"live": true}

	t.Run("young strays are left alone", func(t *testing.T) {
		rep, err := wiring.Sweep(ctx, cfg, live, wiring.SweepOptions{Tokens: store})
		if err != nil {
			t.Fatalf("Sweep = %v", err)
		}
		if want := (wiring.SweepReport{Young: []string{"held", "stray"}}); !reflect.DeepEqual(rep, want) {
			t.Errorf("Sweep = %+v, want %+v", rep, want)
		}
		if !exists(t, sidecarPathOf(cfg, "stray")) {
			t.Error("a young stray was removed")
		}
	})
	t.Run("old strays are swept unless a launch holds them", func(t *testing.T) {
		rep, err := wiring.Sweep(ctx, cfg, live, wiring.SweepOptions{Tokens: store, Now: time.Now().Add(2 * wiring.DefaultSweepGrace)})
		if err != nil {
			t.Fatalf("Sweep = %v", err)
		}
		if want := (wiring.SweepReport{Swept: []string{"stray"}, Busy: []string{"held"}}); !reflect.DeepEqual(rep, want) {
			t.Errorf("Sweep = %+v, want %+v", rep, want)
		}
		assertNoneLeft(t, cfg, store, "stray", "Sweep")
		for _, name := range []string{"live", "held"} {
			for _, p := range statePaths(cfg, name) {
				if !exists(t, p) {
					t.Errorf("Sweep removed %s", p)
				}
			}
			if n, err := store.CountSubject(ctx, name); err != nil || n != 1 {
				t.Errorf("CountSubject(%s) = %d, %v; want 1", name, n, err)
			}
		}
	})
	t.Run("a grace longer than the state's age keeps it", func(t *testing.T) {
		held.Commit()
		rep, err := wiring.Sweep(ctx, cfg, live, wiring.SweepOptions{Tokens: store, Grace: 24 * time.Hour, Now: time.Now().Add(2 * time.Hour)})
		if err != nil {
			t.Fatalf("Sweep = %v", err)
		}
		if want := (wiring.SweepReport{Young: []string{"held"}}); !reflect.DeepEqual(rep, want) {
			t.Errorf("Sweep = %+v, want %+v", rep, want)
		}
	})
}

// The watch keeps its place in a cursor beside the state it reconciles.

func TestWatchCursorRoundTrips(t *testing.T) {
	cfg := testConfig(t, wiring.ServicesSocket)
	if _, ok, err := wiring.ReadWatchCursor(cfg); ok || err != nil {
		t.Fatalf("ReadWatchCursor before any watch = %v, %v; want none, nil", ok, err)
	}
	want := wiring.WatchCursor{Time: time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC), ID: "c0ffee", Name: "web"}
	for range 2 {
		if err := wiring.WriteWatchCursor(cfg, want); err != nil {
			t.Fatal(err)
		}
	}
	got, ok, err := wiring.ReadWatchCursor(cfg)
	if err != nil || !ok || !got.Time.Equal(want.Time) || got.ID != want.ID || got.Name != want.Name {
		t.Errorf("ReadWatchCursor = %+v, %v, %v; want %+v", got, ok, err, want)
	}
	p := filepath.Join(cfg.StateDir, "sandbox", "watch", "cursor.json")
	if cfg.WatchCursorPath() != p {
		t.Errorf("WatchCursorPath = %s, want %s", cfg.WatchCursorPath(), p)
	}
	assertMode(t, p, 0o600)
	if exists(t, p+".tmp") {
		t.Errorf("the cursor's temporary file is left behind")
	}
	if states, err := wiring.ListStates(cfg); err != nil || len(states) != 0 {
		t.Errorf("ListStates with only a cursor = %v, %v; want none", states, err)
	}
}

func TestWatchCursorThatCannotBeReadIsAnError(t *testing.T) {
	for _, content := range []string{"{torn", `{"id":"x"}`} {
		cfg := testConfig(t, wiring.ServicesSocket)
		writeFile(t, cfg.WatchCursorPath(), content)
		if _, ok, err := wiring.ReadWatchCursor(cfg); ok || err == nil {
			t.Errorf("ReadWatchCursor of %q = %v, %v; want an error", content, ok, err)
		}
	}
}

func TestWatchCursorRefusesASymlink(t *testing.T) {
	cfg := testConfig(t, wiring.ServicesSocket)
	target := filepath.Join(t.TempDir(), "elsewhere")
	writeFile(t, target, `{"time":"2025-01-02T03:04:05Z"}`)
	if err := os.MkdirAll(filepath.Dir(cfg.WatchCursorPath()), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, cfg.WatchCursorPath()); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := wiring.ReadWatchCursor(cfg); ok || err == nil {
		t.Errorf("ReadWatchCursor through a symlink = %v, %v; want an error", ok, err)
	}
	if err := wiring.WriteWatchCursor(cfg, wiring.WatchCursor{Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, target); got != `{"time":"2025-01-02T03:04:05Z"}` {
		t.Errorf("writing the cursor wrote through the symlink: %q", got)
	}
}

func TestLaunchedAtIsWhenTheSidecarWasWritten(t *testing.T) {
	cfg := testConfig(t, wiring.ServicesSocket)
	store := testStore(t, cfg)
	if _, ok, err := wiring.LaunchedAt(cfg, "web"); ok || err != nil {
		t.Fatalf("LaunchedAt before a launch = %v, %v; want none, nil", ok, err)
	}
	before := time.Now().Add(-time.Second)
	launched(t, cfg, store, "web", wiring.Request{Scope: "proj"})
	at, ok, err := wiring.LaunchedAt(cfg, "web")
	if err != nil || !ok || at.Before(before) || at.After(time.Now()) {
		t.Fatalf("LaunchedAt = %v, %v, %v; want a time of the launch", at, ok, err)
	}
	// A socket made in the runtime dir, or a file in the run state dir,
	// later on does not move it.
	later := time.Now().Add(time.Hour)
	for _, p := range []string{runtimeDirOf(cfg, "web"), runStateDirOf(cfg, "web")} {
		if err := os.Chtimes(p, later, later); err != nil {
			t.Fatal(err)
		}
	}
	if again, _, _ := wiring.LaunchedAt(cfg, "web"); !again.Equal(at) {
		t.Errorf("LaunchedAt moved to %v with the dirs' times, want %v", again, at)
	}
	if _, ok, err := wiring.LaunchedAt(cfg, "../x"); ok || err == nil {
		t.Errorf("LaunchedAt of an unsafe name = %v, %v; want an error", ok, err)
	}
}
