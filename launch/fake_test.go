package launch_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/containers/podman/v5/libpod/define"
	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/sandwire/sandwire/launch"
	"github.com/sandwire/sandwire/podmanapi"
	"github.com/sandwire/sandwire/wiring"
)

// fakeServer is a podman service that keeps containers in memory and
// fails where a test says. It answers as podmanapi.Client does: typed
// errors, Remove of a gone container is no error.
type fakeServer struct {
	mu    sync.Mutex
	facts podmanapi.Facts
	// remote makes RequireLocal refuse, as for an ssh:// connection.
	remote bool
	// createErr fails Create; with createMakes the container is made all
	// the same, as when the server's answer is lost on the way back.
	createErr   error
	createMakes bool
	startErr    error
	inspectErr  error
	exitCode    int
	// ctrs are the containers by name; specs what Create was sent.
	ctrs    map[string]*define.InspectContainerData
	specs   []*specgen.SpecGenerator
	removed []string
	started []string
}

func newFakeServer() *fakeServer {
	return &fakeServer{ctrs: map[string]*define.InspectContainerData{}}
}

func (f *fakeServer) Facts(context.Context) (podmanapi.Facts, error) { return f.facts, nil }

func (f *fakeServer) RequireLocal(what string) error {
	if f.remote {
		return &podmanapi.RemoteHostError{URI: "ssh://elsewhere", What: what}
	}
	return nil
}

func (f *fakeServer) Create(_ context.Context, s *specgen.SpecGenerator) (podmanapi.Created, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.specs = append(f.specs, s)
	if _, taken := f.ctrs[s.Name]; taken {
		return podmanapi.Created{}, &podmanapi.NameInUseError{Name: s.Name}
	}
	if f.createErr == nil || f.createMakes {
		f.ctrs[s.Name] = &define.InspectContainerData{
			ID: fmt.Sprintf("%064d", len(f.specs)), Name: s.Name, Created: time.Now(),
			Config: &define.InspectContainerConfig{Annotations: s.Annotations},
		}
	}
	if f.createErr != nil {
		return podmanapi.Created{}, f.createErr
	}
	return podmanapi.Created{ID: f.ctrs[s.Name].ID, Warnings: []string{"server warning"}}, nil
}

func (f *fakeServer) Start(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started = append(f.started, id)
	return f.startErr
}

func (f *fakeServer) StartAttached(ctx context.Context, id string, _ podmanapi.Streams) (int, error) {
	if err := f.Start(ctx, id); err != nil {
		return -1, err
	}
	return f.exitCode, nil
}

func (f *fakeServer) Inspect(_ context.Context, nameOrID string) (*define.InspectContainerData, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inspectErr != nil {
		return nil, f.inspectErr
	}
	if c := f.find(nameOrID); c != nil {
		return c, nil
	}
	return nil, &podmanapi.NoSuchContainerError{Name: nameOrID}
}

func (f *fakeServer) Remove(_ context.Context, nameOrID string, _ bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.find(nameOrID); c != nil {
		delete(f.ctrs, c.Name)
		f.removed = append(f.removed, c.Name)
	}
	return nil
}

func (f *fakeServer) Names(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(func(yield func(string) bool) {
		for n := range f.ctrs {
			if !yield(n) {
				return
			}
		}
	}), nil
}

func (f *fakeServer) find(nameOrID string) *define.InspectContainerData {
	for _, c := range f.ctrs {
		if c.Name == nameOrID || c.ID == nameOrID {
			return c
		}
	}
	return nil
}

// memStore is a token store in memory; revokeErr makes revocation fail,
// as a locked database does.
type memStore struct {
	mu        sync.Mutex
	tokens    map[string]string // token -> subject
	revokeErr error
}

func newMemStore() *memStore { return &memStore{tokens: map[string]string{}} }

func (m *memStore) Mint(_ context.Context, _, subject, _, _ string) (string, error) {
	tok, err := wiring.NewPhantomToken()
	if err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tokens[tok] = subject
	return tok, nil
}

func (m *memStore) Revoke(_ context.Context, tokens ...string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.revokeErr != nil {
		return m.revokeErr
	}
	for _, t := range tokens {
		delete(m.tokens, t)
	}
	return nil
}

func (m *memStore) RevokeSubject(_ context.Context, _, subject string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.revokeErr != nil {
		return 0, m.revokeErr
	}
	n := 0
	for t, s := range m.tokens {
		if s == subject {
			delete(m.tokens, t)
			n++
		}
	}
	return n, nil
}

func (m *memStore) count(subject string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, s := range m.tokens {
		if s == subject {
			n++
		}
	}
	return n
}

// testConfig is a configuration whose dirs are fresh and empty. The
// runtime dir has a short path: the socket paths under it must fit
// sun_path, and t.TempDir() embeds the test's name.
func testConfig(t *testing.T) launch.Config {
	t.Helper()
	run, err := os.MkdirTemp("", "sw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(run) })
	bridge := filepath.Join(t.TempDir(), wiring.BridgeBinaryName)
	if err := os.WriteFile(bridge, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := wiring.DefaultConfig(0, func(string) (string, bool) { return "", false })
	cfg.StateDir, cfg.RuntimeDir, cfg.VaultDir, cfg.BridgeBinary = t.TempDir(), run, t.TempDir(), bridge
	cfg.ShieldCommand = filepath.Join(t.TempDir(), "no-terok-shield")
	return cfg
}

// fixture is a Sandbox over a fake server and token store, with the
// notes it sent.
type fixture struct {
	sb     *launch.Sandbox
	srv    *fakeServer
	tokens *memStore
	cfg    launch.Config
	notes  *[]string
}

func newFixture(t *testing.T, opts ...launch.Option) fixture {
	t.Helper()
	f := fixture{srv: newFakeServer(), tokens: newMemStore(), cfg: testConfig(t), notes: new([]string)}
	all := append([]launch.Option{
		launch.WithServer(f.srv), launch.WithTokenStore(f.tokens), launch.WithShield(nil),
		launch.WithNotes(func(n string) { *f.notes = append(*f.notes, n) }),
	}, opts...)
	sb, err := launch.New(f.cfg, all...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	f.sb = sb
	return f
}

// assertNothingLeft fails when anything of name's launch remains: state
// on disk, tokens, or a container.
func (f fixture) assertNothingLeft(t *testing.T, name string) {
	t.Helper()
	for _, p := range []string{f.cfg.RunStateDir(name), f.cfg.SidecarPath(name), f.cfg.ContainerRuntimeDir(name)} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is left behind (%v)", p, err)
		}
	}
	if n := f.tokens.count(name); n != 0 {
		t.Errorf("%d token(s) of %q are left", n, name)
	}
	if f.srv.find(name) != nil {
		t.Errorf("container %q is left on the server", name)
	}
}

func spec() *specgen.SpecGenerator {
	s := specgen.NewSpecGenerator("localhost/img", false)
	s.Env = map[string]string{"FOO": "bar"}
	return s
}
