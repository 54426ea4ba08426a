package launch_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
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
	// onInspect runs as Inspect answers about nameOrID, after the
	// server has looked the container up.
	onInspect func(nameOrID string)
	exitCode  int
	// onStart runs as Start starts a container, as the server would.
	onStart func()
	// images are the images the server has; pullErr fails Pull, which
	// otherwise adds the image (named pulledAs, when set). asked are the
	// images ImageExists was asked about; pulls what Pull was sent.
	images   map[string]bool
	pullErr  error
	pulledAs string
	asked    []string
	pulls    []pullCall
	// ctrs are the containers by name; specs what Create was sent.
	ctrs    map[string]*define.InspectContainerData
	specs   []*specgen.SpecGenerator
	removed []string
	started []string
	// removedImages are what RemoveImage was asked; removeImageErr fails it.
	removedImages  []string
	removeImageErr error
	// bound are the named volumes that bind a host path.
	bound map[string]string
	// events is the server's events log.
	events eventLog
}

// pullCall is one pull the server was asked for.
type pullCall struct {
	Ref  string
	Opts podmanapi.PullOptions
}

func newFakeServer() *fakeServer {
	return &fakeServer{ctrs: map[string]*define.InspectContainerData{}, events: eventLog{wake: make(chan struct{})}, images: map[string]bool{}}
}

func (f *fakeServer) Facts(context.Context) (podmanapi.Facts, error) { return f.facts, nil }

func (f *fakeServer) RequireLocal(what string) error {
	if f.remote {
		return &podmanapi.RemoteHostError{URI: "ssh://elsewhere", What: what}
	}
	return nil
}

func (f *fakeServer) ImageExists(_ context.Context, ref string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, ref)
	return f.images[ref], nil
}

func (f *fakeServer) Pull(_ context.Context, ref string, opts podmanapi.PullOptions) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pulls = append(f.pulls, pullCall{Ref: ref, Opts: opts})
	if f.pullErr != nil {
		return "", f.pullErr
	}
	name := ref
	if f.pulledAs != "" {
		name = f.pulledAs
	}
	f.images[name] = true
	return name, nil
}

func (f *fakeServer) Create(_ context.Context, s *specgen.SpecGenerator) (podmanapi.Created, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.specs = append(f.specs, s)
	if s.Image != "" && !f.images[s.Image] {
		return podmanapi.Created{}, &podmanapi.ImageNotFoundError{Image: s.Image}
	}
	if _, taken := f.ctrs[s.Name]; taken {
		return podmanapi.Created{}, &podmanapi.NameInUseError{Name: s.Name}
	}
	if f.createErr == nil || f.createMakes {
		c := &define.InspectContainerData{
			ID: fmt.Sprintf("%064d", len(f.specs)), Name: s.Name, Created: time.Now(),
			Config: &define.InspectContainerConfig{Annotations: s.Annotations, Labels: s.Labels},
			State:  &define.InspectContainerState{Status: "created"},
		}
		for _, m := range s.Mounts {
			c.Mounts = append(c.Mounts, define.InspectMount{Type: m.Type, Source: m.Source, Destination: m.Destination})
		}
		f.ctrs[s.Name] = c
	}
	if f.createErr != nil {
		return podmanapi.Created{}, f.createErr
	}
	return podmanapi.Created{ID: f.ctrs[s.Name].ID, Warnings: []string{"server warning"}}, nil
}

func (f *fakeServer) Start(_ context.Context, id string) error {
	f.mu.Lock()
	f.started = append(f.started, id)
	err, onStart := f.startErr, f.onStart
	f.mu.Unlock()
	if err != nil {
		return err
	}
	if onStart != nil {
		onStart()
	}
	f.setRunning(id, true)
	return nil
}

// StartAttached starts the container, tells streams it did, and has it
// exit with exitCode at once; or, when streams carry signals, of the first
// signal forwarded to it (128 plus its number), as a shell does.
func (f *fakeServer) StartAttached(ctx context.Context, id string, streams podmanapi.Streams) (int, error) {
	if err := f.Start(ctx, id); err != nil {
		return -1, err
	}
	if streams.Started != nil {
		streams.Started()
	}
	code := f.exitCode
	if streams.Signals != nil {
		if sig, ok := (<-streams.Signals).(syscall.Signal); ok {
			code = 128 + int(sig)
		}
	}
	f.setRunning(id, false)
	return code, nil
}

func (f *fakeServer) setRunning(id string, running bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.find(id); c != nil && c.State != nil {
		c.State.Running = running
	}
}

func (f *fakeServer) Inspect(_ context.Context, nameOrID string) (*define.InspectContainerData, error) {
	f.mu.Lock()
	c, err, on := f.find(nameOrID), f.inspectErr, f.onInspect
	f.mu.Unlock()
	if on != nil {
		on(nameOrID)
	}
	switch {
	case err != nil:
		return nil, err
	case c == nil:
		return nil, &podmanapi.NoSuchContainerError{Name: nameOrID}
	}
	return c, nil
}

func (f *fakeServer) RemoveImage(_ context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removedImages = append(f.removedImages, ref)
	return f.removeImageErr
}

func (f *fakeServer) Remove(_ context.Context, nameOrID string, _ bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.find(nameOrID); c != nil {
		delete(f.ctrs, c.Name)
		f.removed = append(f.removed, c.Name)
		f.events.emit(containerEvent(c, "remove"))
	}
	return nil
}

// stop emits what podman logs when a container stops on its own: died,
// then stop, with the container's labels. The container stays.
func (f *fakeServer) stop(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, action := range []string{"died", "stop"} {
		f.events.emit(containerEvent(f.find(name), action))
	}
}

// forget drops a container without an event, as a server whose events
// log was lost or rotated away.
func (f *fakeServer) forget(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.ctrs, name)
}

func (f *fakeServer) Events(ctx context.Context, handle func(podmanapi.Event) error, opts *podmanapi.EventsOptions) error {
	return f.events.follow(ctx, handle, opts)
}

// containerEvent is the event podman logs for c: its labels are the
// attributes, with the name and image beside them.
func containerEvent(c *define.InspectContainerData, action string) podmanapi.Event {
	attrs := map[string]string{"name": c.Name, "image": "localhost/img"}
	for k, v := range c.Config.Labels {
		attrs[k] = v
	}
	return podmanapi.Event{Type: "container", Action: action, ID: c.ID, Name: c.Name, Time: time.Now(), Attributes: attrs}
}

// eventLog is a server's events log and its followers: a follower is
// given every logged event after its since that its filters match, then
// each new one, until its context ends or the test drops the streams.
type eventLog struct {
	mu  sync.Mutex
	log []podmanapi.Event
	// wake is closed, and replaced, on every change.
	wake chan struct{}
	// generation counts the drops; a follower of an older one ends.
	generation int
	// down refuses new followers, as a stopped server does.
	down bool
	// asked records each follower's options, in order.
	asked []podmanapi.EventsOptions
}

func (l *eventLog) emit(e podmanapi.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log = append(l.log, e)
	l.changed()
}

// drop ends every stream; down says whether the server then refuses new ones.
func (l *eventLog) drop(down bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.generation++
	l.down = down
	l.changed()
}

func (l *eventLog) changed() {
	close(l.wake)
	l.wake = make(chan struct{})
}

// followers is how many streams were asked for so far, and their options.
func (l *eventLog) followers() []podmanapi.EventsOptions {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.asked)
}

func (l *eventLog) follow(ctx context.Context, handle func(podmanapi.Event) error, opts *podmanapi.EventsOptions) error {
	l.mu.Lock()
	if l.down {
		l.mu.Unlock()
		return &podmanapi.UnreachableError{URI: "unix:///fake.sock", Err: errors.New("connection refused")}
	}
	l.asked = append(l.asked, *opts)
	gen, next := l.generation, 0
	l.mu.Unlock()
	for {
		l.mu.Lock()
		pending := l.log[next:]
		next = len(l.log)
		wake, dropped := l.wake, l.generation != gen
		l.mu.Unlock()
		if dropped {
			return &podmanapi.UnreachableError{URI: "unix:///fake.sock", Err: podmanapi.ErrStreamEnded}
		}
		for _, e := range pending {
			if e.Time.After(opts.Since) && matches(e, opts.Filters) {
				if err := handle(e); err != nil {
					return err
				}
			}
		}
		select {
		case <-ctx.Done():
			return &podmanapi.InterruptedError{Op: "following the event stream", Err: ctx.Err()}
		case <-wake:
		}
	}
}

// matches applies podman's event filters: every key must match, by one of
// its values (libpod/events/filters.go).
func matches(e podmanapi.Event, filters map[string][]string) bool {
	for key, values := range filters {
		if !slices.ContainsFunc(values, func(v string) bool {
			switch key {
			case "type":
				return e.Type == v
			case "event":
				return e.Action == v
			}
			return false
		}) {
			return false
		}
	}
	return true
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
// notes and the server's warnings it passed on.
type fixture struct {
	sb     *launch.Sandbox
	srv    *fakeServer
	tokens *memStore
	cfg    launch.Config
	notes  *[]string
	warns  *[]string
}

func newFixture(t *testing.T, opts ...launch.Option) fixture {
	t.Helper()
	f := fixture{srv: newFakeServer(), tokens: newMemStore(), cfg: testConfig(t), notes: new([]string), warns: new([]string)}
	all := append([]launch.Option{
		launch.WithServer(f.srv), launch.WithTokenStore(f.tokens), launch.WithShield(nil),
		launch.WithNotes(func(n string) { *f.notes = append(*f.notes, n) }),
		launch.WithWarnings(func(w string) { *f.warns = append(*f.warns, w) }),
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
	for _, left := range f.stateLeft(name) {
		t.Error(left)
	}
	if f.srv.find(name) != nil {
		t.Errorf("container %q is left on the server", name)
	}
}

// stateLeft says what is left of name's sandbox state: files on disk,
// tokens.
func (f fixture) stateLeft(name string) []string {
	var left []string
	for _, p := range []string{f.cfg.RunStateDir(name), f.cfg.SidecarPath(name), f.cfg.ContainerRuntimeDir(name)} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			left = append(left, fmt.Sprintf("%s is left behind (%v)", p, err))
		}
	}
	if n := f.tokens.count(name); n != 0 {
		left = append(left, fmt.Sprintf("%d token(s) of %q are left", n, name))
	}
	return left
}

func spec() *specgen.SpecGenerator {
	s := specgen.NewSpecGenerator("localhost/img", false)
	s.Env = map[string]string{"FOO": "bar"}
	return s
}

func (f *fakeServer) BoundDevice(_ context.Context, volume string) (string, bool, error) {
	dev, ok := f.bound[volume]
	return dev, ok, nil
}

// Removals follows the events log from now on and calls removed with the
// name of each removed container, as podmanapi.Client does.
func (f *fakeServer) Removals(ctx context.Context, removed func(name string)) error {
	opts := &podmanapi.EventsOptions{Since: time.Now().Add(-time.Nanosecond), Filters: map[string][]string{"type": {"container"}, "event": {"remove"}}}
	return f.events.follow(ctx, func(e podmanapi.Event) error {
		removed(e.Name)
		return nil
	}, opts)
}
