package wiring_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/sandwire/sandwire/wiring"
)

// update rewrites the golden files under testdata/ instead of comparing.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fakeEnv is a LookupEnv over a fixed map; tests never read the real
// environment through it.
func fakeEnv(vars map[string]string) wiring.LookupEnv {
	return func(key string) (string, bool) {
		v, ok := vars[key]
		return v, ok
	}
}

// shortTempDir is a fresh directory with a short path, removed after the
// test. t.TempDir() embeds the test name, which can push a per-container
// socket path past sun_path's 107 bytes; socket-mode tests need the room.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// fakeBridgeBinary writes a stand-in for the container-side bridge program
// and returns its path.
func fakeBridgeBinary(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "terok-bridge")
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho bridge "+t.Name()+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// testConfig is a valid Config whose every dir is a fresh temporary dir.
func testConfig(t *testing.T, mode wiring.ServicesMode) wiring.Config {
	t.Helper()
	return wiring.Config{
		BridgeBinary:          fakeBridgeBinary(t),
		StateDir:              t.TempDir(),
		RuntimeDir:            shortTempDir(t),
		VaultDir:              t.TempDir(),
		ServicesMode:          mode,
		ShieldProfiles:        []string{wiring.DefaultShieldProfile},
		ShieldCommand:         "terok-shield",
		CredentialsUseKeyring: true,
	}
}

// testStore is a SQLiteStore on the config's token database, closed after
// the test.
func testStore(t *testing.T, cfg wiring.Config) *wiring.SQLiteStore {
	t.Helper()
	s := wiring.NewSQLiteStore(cfg.DBPath())
	t.Cleanup(func() { s.Close() })
	return s
}

// fakeShield is a Shield that returns fixed edits (or a fixed error) and
// records every call.
type fakeShield struct {
	edits   *wiring.Edits
	notes   []string
	err     error
	downErr error

	mu       sync.Mutex
	prepared []wiring.ShieldRequest
	downs    [][2]string
}

func (f *fakeShield) Prepare(_ context.Context, req wiring.ShieldRequest) (wiring.ShieldResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.prepared = append(f.prepared, req)
	if f.err != nil {
		return wiring.ShieldResult{}, f.err
	}
	return wiring.ShieldResult{Edits: f.edits, Notes: f.notes}, nil
}

func (f *fakeShield) Down(_ context.Context, name, containerID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.downs = append(f.downs, [2]string{name, containerID})
	return f.downErr
}

// tree lists every path under root (relative, sorted), so a test can say
// that a directory holds exactly what it held before.
func tree(t *testing.T, root string) []string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		paths = append(paths, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(paths)
	return paths
}

// exists reports whether p exists, without following a symlink at p.
func exists(t *testing.T, p string) bool {
	t.Helper()
	_, err := os.Lstat(p)
	if err == nil {
		return true
	}
	if !os.IsNotExist(err) {
		t.Fatalf("lstat %s: %v", p, err)
	}
	return false
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func ptr[T any](v T) *T { return &v }

// compose is a launch's two steps, Check then Compose, as launch runs them.
func compose(ctx context.Context, cfg wiring.Config, name string, req wiring.Request, opts wiring.ComposeOptions) (*wiring.Launch, error) {
	in, err := wiring.Check(cfg, name, req)
	if err != nil {
		return nil, err
	}
	return wiring.Compose(ctx, in, opts)
}

// wiredContainer composes and commits a launch of name and returns what a
// podman server records of the container made from its edits.
func wiredContainer(t *testing.T, cfg wiring.Config, name string, req wiring.Request) wiring.Recorded {
	t.Helper()
	l, err := compose(t.Context(), cfg, name, req, wiring.ComposeOptions{Tokens: testStore(t, cfg)})
	if err != nil {
		t.Fatalf("Compose(%s) = %v", name, err)
	}
	l.Commit()
	rec := wiring.Recorded{Annotations: l.Edits.Annotations, Mounts: map[string]string{}}
	for _, m := range l.Edits.Mounts {
		rec.Mounts[m.Destination] = m.Source
	}
	return rec
}

// assertBridgesIn fails unless dir holds this build's bridge resources.
func assertBridgesIn(t *testing.T, cfg wiring.Config, dir string) {
	t.Helper()
	if got, want := readFile(t, filepath.Join(dir, wiring.BridgeBinaryName)), readFile(t, cfg.BridgeBinary); got != want {
		t.Errorf("the bridge program in %s is %q, want %q", dir, got, want)
	}
	if !exists(t, filepath.Join(dir, "ensure-bridges.sh")) {
		t.Errorf("ensure-bridges.sh is missing from %s", dir)
	}
}

func removeAll(t *testing.T, p string) {
	t.Helper()
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
}
