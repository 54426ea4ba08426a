package integration

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// watchDeadline bounds how long a removal may take to be cleaned up: the
// watch's backoff after a server restart is at most 10s.
const watchDeadline = 30 * time.Second

// watchProc is `sandwire watch` running in a sandbox, as a unit would run it.
type watchProc struct {
	t   *testing.T
	cmd *exec.Cmd
	// log is the file the watch's stdout and stderr go to.
	log    string
	done   chan error
	exited bool
}

// startWatch starts `sandwire --url URL watch` and returns once it
// follows the service's events.
func (sb *sandbox) startWatch() *watchProc {
	sb.t.Helper()
	w := &watchProc{t: sb.t, log: filepath.Join(sb.t.TempDir(), "watch.log"), done: make(chan error, 1)}
	out, err := os.Create(w.log)
	if err != nil {
		sb.t.Fatal(err)
	}
	defer out.Close()
	w.cmd = exec.Command(sandwireBin, "--url", svc.URL(), "watch")
	w.cmd.Env = sb.environ()
	w.cmd.Stdout, w.cmd.Stderr = out, out
	if err := w.cmd.Start(); err != nil {
		sb.t.Fatal(err)
	}
	go func() { w.done <- w.cmd.Wait() }()
	sb.t.Cleanup(func() {
		if !w.exited {
			_ = w.cmd.Process.Kill()
			<-w.done
		}
	})
	w.waitFollowing(1)
	return w
}

// output is what the watch printed so far.
func (w *watchProc) output() string {
	data, err := os.ReadFile(w.log)
	if err != nil {
		w.t.Fatal(err)
	}
	return string(data)
}

// following counts the connections on which the watch followed the events.
func (w *watchProc) following() int {
	return strings.Count(w.output(), "watch: following the removals")
}

func (w *watchProc) waitFollowing(n int) {
	w.t.Helper()
	waitFor(w.t, fmt.Sprintf("sandwire watch to follow the events (%d)", n), func() bool { return w.following() >= n }, w.output)
}

// stop sends SIGTERM, as systemd stops the unit, and requires exit 0 and
// no token in what the watch printed. It returns what it printed.
func (w *watchProc) stop() string {
	w.t.Helper()
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		w.t.Fatal(err)
	}
	select {
	case err := <-w.done:
		w.exited = true
		if err != nil {
			w.t.Errorf("sandwire watch exited with %v on SIGTERM, want 0; it printed:\n%s", err, w.output())
		}
	case <-time.After(20 * time.Second):
		w.t.Fatalf("sandwire watch did not exit within 20s of SIGTERM; it printed:\n%s", w.output())
	}
	out := w.output()
	if tok := anyTokenRE.FindString(out); tok != "" {
		w.t.Errorf("sandwire watch printed a token:\n%s", out)
	}
	return out
}

// waitFor polls cond until it holds, failing the test after watchDeadline
// with what context says.
func waitFor(t *testing.T, what string, cond func() bool, context func() string) {
	t.Helper()
	deadline := time.Now().Add(watchDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s:\n%s", watchDeadline, what, context())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// cleanedUp reports whether nothing of name's sandbox state is left.
func (sb *sandbox) cleanedUp(name string) bool {
	sb.t.Helper()
	for _, p := range []string{sb.sidecarPath(name), sb.runStateDir(name), sb.containerRuntimeDir(name)} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			return false
		}
	}
	return sb.tokenCount(name) == 0
}

// assertKept fails unless all of name's state and its token are there.
func (sb *sandbox) assertKept(name string) {
	sb.t.Helper()
	for _, p := range []string{sb.sidecarPath(name), sb.runStateDir(name), sb.containerRuntimeDir(name)} {
		if _, err := os.Lstat(p); err != nil {
			sb.t.Errorf("%s is gone: %v", p, err)
		}
	}
	if n := sb.tokenCount(name); n != 1 {
		sb.t.Errorf("%s has %d token rows, want its SSH token", name, n)
	}
}

// must fails the test on a podman command's error: must(t)(svc.Podman(...)).
func must(t *testing.T) func(string, error) string {
	return func(out string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
}

// TestWatchCleansUpAfterEveryKindOfRemoval: with sandwire watch running,
// wired containers removed by podman rm, by --rm when they exit, and by a
// prune through the API lose their tokens and state within seconds; a
// container that was started and stopped keeps everything. SIGTERM ends
// the watch with exit 0.
func TestWatchCleansUpAfterEveryKindOfRemoval(t *testing.T) {
	sb := newSandbox(t)
	const (
		removed = "sw-watch-rm"
		autoRm  = "sw-watch-autorm"
		pruned  = "sw-watch-prune"
		stopped = "sw-watch-stopped"
	)
	sb.create(removed, relNoShield, svc.Image(), "sleep", "600")
	sb.create(autoRm, relNoShield, "--rm", svc.Image(), "true")
	sb.create(pruned, relNoShield, svc.Image(), "true")
	sb.create(stopped, relNoShield, svc.Image(), "sleep", "600")
	w := sb.startWatch()

	must(t)(svc.PodmanRemote("start", stopped))
	must(t)(svc.PodmanRemote("stop", "--time", "0", stopped))
	must(t)(svc.Podman("rm", "--force", "--time", "0", removed))
	must(t)(svc.PodmanRemote("start", autoRm))
	must(t)(svc.PodmanRemote("container", "prune", "--force", "--filter", "label=terok.sandbox.sidecar="+sb.sidecarPath(pruned)))

	for _, name := range []string{removed, autoRm, pruned} {
		waitFor(t, name+" to be cleaned up", func() bool { return sb.cleanedUp(name) }, w.output)
		if containerExists(t, name) {
			t.Errorf("%s still exists", name)
		}
	}
	// The watch handles events in order: the stop came before the
	// removals it has handled.
	if !containerExists(t, stopped) {
		t.Fatalf("%s was removed", stopped)
	}
	sb.assertKept(stopped)
	out := w.stop()
	for _, name := range []string{removed, autoRm, pruned} {
		if !strings.Contains(out, fmt.Sprintf("watch: %q was removed: tokens revoked", name)) {
			t.Errorf("the watch does not say it cleaned up %s:\n%s", name, out)
		}
	}
	sb.assertKept(stopped)
	mustSucceed(t, sb.sandwire("cleanup", stopped))
}

// TestWatchCatchesUpAfterItWasStopped: a wired container removed while no
// watch runs is cleaned up once the watch runs again.
func TestWatchCatchesUpAfterItWasStopped(t *testing.T) {
	sb := newSandbox(t)
	const name = "sw-watch-offline"
	sb.create(name, relNoShield, svc.Image(), "true")
	sb.startWatch().stop()

	must(t)(svc.Podman("rm", name))
	sb.assertKept(name)
	w := sb.startWatch()
	waitFor(t, name+" to be cleaned up", func() bool { return sb.cleanedUp(name) }, w.output)
	w.stop()
}

// TestWatchCatchesUpAfterTheServiceRestarted: a wired container removed
// while the podman service is down (by the podman CLI on its storage) is
// cleaned up once the watch has reconnected to the restarted service.
func TestWatchCatchesUpAfterTheServiceRestarted(t *testing.T) {
	sb := newSandbox(t)
	const name = "sw-watch-restart"
	sb.create(name, relNoShield, svc.Image(), "true")
	w := sb.startWatch()

	err := svc.Restart(func() error {
		_, err := svc.Podman("rm", name)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, name+" to be cleaned up", func() bool { return sb.cleanedUp(name) }, w.output)
	w.waitFollowing(2)
	if out := w.stop(); !strings.Contains(out, "retrying in") {
		t.Errorf("the watch does not say it lost the service:\n%s", out)
	}
}
