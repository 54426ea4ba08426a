package launch_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sandwire/sandwire/launch"
)

// holdName takes the name lock of name, as another cleanup or launch in
// progress holds it, until the returned release is called.
func holdName(t *testing.T, f fixture, name string) (release func()) {
	t.Helper()
	lock, err := tryLock(f, name)
	if err != nil {
		t.Fatal(err)
	}
	return func() { lock.Close() }
}

// nameHeld reports whether someone holds name's lock, without holding it
// any longer than it takes to tell. It may run outside the test's goroutine.
func nameHeld(t *testing.T, f fixture, name string) bool {
	t.Helper()
	lock, err := tryLock(f, name)
	switch {
	case err == nil:
		lock.Close()
		return false
	case errors.Is(err, syscall.EWOULDBLOCK):
		return true
	}
	t.Error(err)
	return false
}

// tryLock takes name's lock without waiting for it, as the sandbox does.
func tryLock(f fixture, name string) (*os.File, error) {
	lock, err := os.OpenFile(filepath.Join(f.cfg.LockDir(), name+".lock"), os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, err
	}
	return lock, nil
}

// followRemovals runs WatchRemovals until the test ends.
func followRemovals(t *testing.T, f fixture) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.sb.WatchRemovals(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	eventually(t, "WatchRemovals follows the events", func() bool { return len(f.srv.events.followers()) > 0 })
}

// wiredAndHeld makes the wired container web, follows the server's
// removals with WatchRemovals, and holds web's name until release.
func wiredAndHeld(t *testing.T) (f fixture, notes *noteLog, release func()) {
	t.Helper()
	notes = &noteLog{}
	f = newFixture(t, launch.WithNotes(notes.add))
	if _, err := f.sb.Create(t.Context(), "web", spec(), proj, nil); err != nil {
		t.Fatal(err)
	}
	followRemovals(t, f)
	return f, notes, holdName(t, f, "web")
}

// TestWatchRemovalsWaitsForACleanupThatHoldsTheName: serve's removal and
// the server's event of it clean the same name up at the same moment; the
// one that finds the name held waits for it rather than giving up with a
// warning.
func TestWatchRemovalsWaitsForACleanupThatHoldsTheName(t *testing.T) {
	f, notes, release := wiredAndHeld(t)
	if err := f.srv.Remove(t.Context(), "web", true); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if _, err := os.Lstat(f.cfg.SidecarPath("web")); err != nil {
		t.Fatalf("the sidecar went while the name was held: %v", err)
	}
	release()
	eventually(t, "the removed container's state is gone once the name is free", func() bool { return len(f.stateLeft("web")) == 0 })
	f.assertNothingLeft(t, "web")
	if notes.has("in use") {
		t.Errorf("WatchRemovals noted:\n%s", notes)
	}
}

// TestWatchRemovalsLeavesANameLaunchedAgainWhileHeld: when the name was
// held by a launch that made the container again, the new state stays.
func TestWatchRemovalsLeavesANameLaunchedAgainWhileHeld(t *testing.T) {
	f, notes, release := wiredAndHeld(t)
	f.srv.mu.Lock()
	again := *f.srv.ctrs["web"]
	f.srv.mu.Unlock()
	if err := f.srv.Remove(t.Context(), "web", true); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	f.srv.mu.Lock()
	f.srv.ctrs["web"] = &again
	f.srv.mu.Unlock()
	release()
	time.Sleep(300 * time.Millisecond)
	if n := f.tokens.count("web"); n == 0 {
		t.Error("the tokens of the container launched again were revoked")
	}
	if _, err := os.Lstat(f.cfg.SidecarPath("web")); err != nil {
		t.Errorf("the sidecar of the container launched again is gone: %v", err)
	}
	if notes.has("WARNING") {
		t.Errorf("WatchRemovals noted:\n%s", notes)
	}
}
