package launch_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandwire/sandwire/launch"
	"github.com/sandwire/sandwire/podmanapi"
	"github.com/sandwire/sandwire/wiring"
)

// noteLog is a notes sink that a running Watch and the test share.
type noteLog struct {
	mu    sync.Mutex
	notes []string
}

func (n *noteLog) add(msg string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.notes = append(n.notes, msg)
}

// has reports whether a note contains every one of parts.
func (n *noteLog) has(parts ...string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.ContainsFunc(n.notes, func(note string) bool {
		for _, p := range parts {
			if !strings.Contains(note, p) {
				return false
			}
		}
		return true
	})
}

func (n *noteLog) String() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.notes, "\n")
}

// watchFixture is a fixture whose notes a running Watch may send.
func watchFixture(t *testing.T) (fixture, *noteLog) {
	t.Helper()
	notes := &noteLog{}
	return newFixture(t, launch.WithNotes(notes.add)), notes
}

// fastWatch reconnects at once, so that the tests need not wait.
var fastWatch = &launch.WatchOptions{Backoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}

// startWatch runs Watch until the returned stop is called, and fails the
// test unless Watch then returns nil. It returns once the watch follows
// the server's events.
func startWatch(t *testing.T, f fixture, opts *launch.WatchOptions) (stop func()) {
	t.Helper()
	followers := len(f.srv.events.followers())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.sb.Watch(ctx, opts) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch returned %v once its context ended, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Watch did not return within 10s of its context's end")
		}
	}
	t.Cleanup(stop)
	eventually(t, "the watch follows the events", func() bool { return len(f.srv.events.followers()) > followers })
	return stop
}

// eventually polls cond until it holds, failing the test after a deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// create makes a wired container with an SSH token.
func (f fixture) create(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := f.sb.Create(t.Context(), name, spec(), proj, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func (f fixture) remove(t *testing.T, name string) {
	t.Helper()
	if err := f.srv.Remove(t.Context(), name, true); err != nil {
		t.Fatal(err)
	}
}

// drain creates and removes a sentinel container and waits until the
// watch has cleaned up after it: the watch handles events in order, so by
// then it has handled every earlier one.
func (f fixture) drain(t *testing.T) {
	t.Helper()
	f.create(t, "sentinel")
	f.remove(t, "sentinel")
	eventually(t, "the sentinel is cleaned up", func() bool { return f.cleanedUp("sentinel") })
}

// cleanedUp reports whether name has neither state nor tokens left.
func (f fixture) cleanedUp(name string) bool {
	for _, p := range []string{f.cfg.RunStateDir(name), f.cfg.SidecarPath(name), f.cfg.ContainerRuntimeDir(name)} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			return false
		}
	}
	return f.tokens.count(name) == 0
}

// assertKept fails unless all of name's state and its token are there.
func (f fixture) assertKept(t *testing.T, name string) {
	t.Helper()
	for _, p := range []string{f.cfg.RunStateDir(name), f.cfg.SidecarPath(name), f.cfg.ContainerRuntimeDir(name)} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s of %q is gone: %v", p, name, err)
		}
	}
	if n := f.tokens.count(name); n != 1 {
		t.Errorf("%q has %d tokens, want its one", name, n)
	}
}

// backdate makes name's state look as old as age.
func (f fixture) backdate(t *testing.T, name string, age time.Duration) {
	t.Helper()
	old := time.Now().Add(-age)
	for _, p := range []string{f.cfg.RunStateDir(name), f.cfg.SidecarPath(name), f.cfg.ContainerRuntimeDir(name)} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
}

func cursor(t *testing.T, cfg launch.Config) wiring.WatchCursor {
	t.Helper()
	cur, ok, err := wiring.ReadWatchCursor(cfg)
	if err != nil || !ok {
		t.Fatalf("ReadWatchCursor = %v, %v; want the watch's cursor", ok, err)
	}
	return cur
}

func TestWatchCleansUpAfterARemoval(t *testing.T) {
	f, notes := watchFixture(t)
	f.create(t, "web", "db")
	stop := startWatch(t, f, nil)
	asked := f.srv.events.followers()[0]
	want := map[string][]string{"type": {"container"}, "event": {"remove"}}
	if len(asked.Filters) != len(want) || !slices.Equal(asked.Filters["event"], want["event"]) || !slices.Equal(asked.Filters["type"], want["type"]) {
		t.Errorf("the watch asked for the events %v, want %v", asked.Filters, want)
	}

	f.remove(t, "web")
	eventually(t, "web is cleaned up", func() bool { return f.cleanedUp("web") })
	stop()
	f.assertNothingLeft(t, "web")
	f.assertKept(t, "db")
	if !notes.has(`"web" was removed`, "tokens revoked") {
		t.Errorf("the notes do not say web was cleaned up:\n%s", notes)
	}
	if cur := cursor(t, f.cfg); cur.Name != "web" {
		t.Errorf("the cursor is at %+v, want web's removal", cur)
	}
}

func TestWatchLeavesAStoppedContainerAlone(t *testing.T) {
	f, _ := watchFixture(t)
	f.create(t, "web")
	startWatch(t, f, nil)
	f.srv.stop("web")
	f.drain(t)
	f.assertKept(t, "web")
}

func TestWatchIgnoresOtherSandboxesContainers(t *testing.T) {
	f, _ := watchFixture(t)
	f.create(t, "web")
	f.srv.forget("web")
	startWatch(t, f, nil)
	// A container of the same name from a sandbox with another state dir.
	f.srv.events.emit(podmanapi.Event{Type: "container", Action: "remove", ID: "other", Name: "web", Time: time.Now(),
		Attributes: map[string]string{"name": "web", wiring.SidecarLabel: "/elsewhere/sidecar/web.json"}})
	f.drain(t)
	f.assertKept(t, "web")
}

func TestWatchResumesFromTheLastEventWhenTheStreamDrops(t *testing.T) {
	f, notes := watchFixture(t)
	f.create(t, "a", "b")
	startWatch(t, f, fastWatch)
	f.remove(t, "a")
	eventually(t, "the watch has handled a's removal", func() bool { return f.cleanedUp("a") && cursor(t, f.cfg).Name == "a" })
	handled := cursor(t, f.cfg).Time

	// The server goes away; b is removed while nobody follows.
	f.srv.events.drop(true)
	f.remove(t, "b")
	eventually(t, "the watch has been refused", func() bool { return notes.has("retrying in") })
	followers := len(f.srv.events.followers())
	f.srv.events.drop(false)

	eventually(t, "b is cleaned up", func() bool { return f.cleanedUp("b") })
	resumed := f.srv.events.followers()[followers]
	if !resumed.Since.Equal(handled) {
		t.Errorf("the watch resumed since %v, want %v, the time of the last event it handled", resumed.Since, handled)
	}
}

func TestWatchResumesFromItsCursorAfterARestart(t *testing.T) {
	f, _ := watchFixture(t)
	f.create(t, "a", "b")
	stop := startWatch(t, f, nil)
	stop()
	began := cursor(t, f.cfg).Time

	// Removed while no watch runs: the next one replays it.
	f.remove(t, "a")
	stop = startWatch(t, f, nil)
	eventually(t, "a is cleaned up", func() bool { return f.cleanedUp("a") })
	if since := f.srv.events.followers()[1].Since; !since.Equal(began) {
		t.Errorf("the restarted watch followed since %v, want %v, where the first one began", since, began)
	}
	stop()
	handled := cursor(t, f.cfg)
	if handled.Name != "a" {
		t.Fatalf("the stopped watch's cursor is %+v, want a's removal", handled)
	}

	f.remove(t, "b")
	startWatch(t, f, nil)
	eventually(t, "b is cleaned up", func() bool { return f.cleanedUp("b") })
	if since := f.srv.events.followers()[2].Since; !since.Equal(handled.Time) {
		t.Errorf("the third watch followed since %v, want %v, the time of a's removal", since, handled.Time)
	}
}

// TestWatchLeavesANameLaunchedAgain: a removal replayed after its name
// was launched again touches nothing of the new launch, whether the new
// container exists or its state was only prepared.
func TestWatchLeavesANameLaunchedAgain(t *testing.T) {
	f, notes := watchFixture(t)
	f.create(t, "web", "pre")
	before := time.Now().Add(-time.Second)
	for _, name := range []string{"web", "pre"} {
		f.remove(t, name)
		if _, err := f.sb.Cleanup(t.Context(), name); err != nil {
			t.Fatal(err)
		}
	}
	f.create(t, "web")
	if _, err := f.sb.Prepare(t.Context(), "pre", nil, proj); err != nil {
		t.Fatal(err)
	}
	if err := wiring.WriteWatchCursor(f.cfg, wiring.WatchCursor{Time: before}); err != nil {
		t.Fatal(err)
	}
	startWatch(t, f, nil)
	f.drain(t)
	f.assertKept(t, "web")
	f.assertKept(t, "pre")
	if !notes.has(`"web" was removed and exists again`) || !notes.has(`"pre" was removed and launched again since`) {
		t.Errorf("the notes do not say why the replayed removals were left alone:\n%s", notes)
	}
}

// TestWatchDecidesUnderTheNameLock: whether a removed name holds a
// container again is asked while the watch holds the name, so no launch can
// make the container between the answer and the cleanup.
func TestWatchDecidesUnderTheNameLock(t *testing.T) {
	f, _ := watchFixture(t)
	f.create(t, "web")
	var (
		mu   sync.Mutex
		held []bool
	)
	f.srv.mu.Lock()
	f.srv.onInspect = func(name string) {
		if name == "web" {
			mu.Lock()
			defer mu.Unlock()
			held = append(held, nameHeld(t, f, "web"))
		}
	}
	f.srv.mu.Unlock()
	startWatch(t, f, nil)
	f.remove(t, "web")
	eventually(t, "web is cleaned up", func() bool { return f.cleanedUp("web") })
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(held, true) {
		t.Errorf("the watch asked whether web exists again %d times, never while it held the name", len(held))
	}
}

func TestWatchRetriesACleanupThatFailed(t *testing.T) {
	f, notes := watchFixture(t)
	f.create(t, "web")
	f.tokens.mu.Lock()
	f.tokens.revokeErr = errors.New("database is locked")
	f.tokens.mu.Unlock()
	startWatch(t, f, fastWatch)
	f.remove(t, "web")
	eventually(t, "the watch says the cleanup failed", func() bool { return notes.has(`cleaning up after "web"`, "database is locked") })
	f.tokens.mu.Lock()
	f.tokens.revokeErr = nil
	f.tokens.mu.Unlock()
	eventually(t, "web is cleaned up", func() bool { return f.cleanedUp("web") })
}

func TestWatchSweepsOnEveryConnection(t *testing.T) {
	f, notes := watchFixture(t)
	f.create(t, "gone", "lost")
	// Removed before any watch ran, and no event tells of it.
	f.srv.forget("gone")
	f.backdate(t, "gone", 2*time.Hour)
	// Prepared, and the caller's podman has not created it yet.
	if _, err := f.sb.Prepare(t.Context(), "young", nil, proj); err != nil {
		t.Fatal(err)
	}
	startWatch(t, f, fastWatch)
	if !f.cleanedUp("gone") || !notes.has(`swept "gone"`) {
		t.Errorf("the first connection did not sweep gone:\n%s", notes)
	}

	f.srv.events.drop(true)
	f.srv.forget("lost")
	f.backdate(t, "lost", 2*time.Hour)
	f.srv.events.drop(false)
	eventually(t, "the reconnection sweeps lost", func() bool { return f.cleanedUp("lost") })
	f.assertKept(t, "young")
}

func TestWatchSweepsAStrayWhenItComesOfAge(t *testing.T) {
	f, _ := watchFixture(t)
	if _, err := f.sb.Prepare(t.Context(), "later", nil, proj); err != nil {
		t.Fatal(err)
	}
	const grace = time.Hour
	f.backdate(t, "later", grace-3*time.Second)
	startWatch(t, f, &launch.WatchOptions{Grace: grace})
	f.assertKept(t, "later")
	eventually(t, "later is swept once it is older than the grace", func() bool { return f.cleanedUp("later") })
}

func TestWatchRefusesWhatItCannotWatch(t *testing.T) {
	f, _ := watchFixture(t)
	f.srv.remote = true
	if err := f.sb.Watch(t.Context(), nil); !errors.Is(err, launch.ErrRemoteServer) {
		t.Errorf("Watch of a remote server = %v, want ErrRemoteServer", err)
	}
	for _, opts := range []*launch.WatchOptions{{Grace: -time.Second}, {Backoff: -1}, {MaxBackoff: -1}} {
		if err := f.sb.Watch(t.Context(), opts); !errors.Is(err, launch.ErrInvalidArgument) {
			t.Errorf("Watch with %+v = %v, want ErrInvalidArgument", opts, err)
		}
	}
}
