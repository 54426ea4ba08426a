package podmantest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
)

// TestUnmountUnderLeavesDirAndUnmountsBelow mounts tmpfs at dir, below it
// at a path with a space (mountinfo escapes it as \040), below that again,
// and at a sibling whose name starts with dir's; unmountUnder must
// unmount the two below dir and leave dir and the sibling mounted.
func TestUnmountUnderLeavesDirAndUnmountsBelow(t *testing.T) {
	if Rootless() {
		t.Skip("mounting tmpfs needs root")
	}
	base := t.TempDir()
	dir := filepath.Join(base, "svc")
	sibling := filepath.Join(base, "svcx")
	outer := filepath.Join(dir, "a b")
	inner := filepath.Join(outer, "c")
	mount := func(p string) {
		t.Helper()
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mount("tmpfs", p, "tmpfs", 0, ""); err != nil {
			t.Fatalf("mounting tmpfs at %s: %v", p, err)
		}
		t.Cleanup(func() { _ = syscall.Unmount(p, syscall.MNT_DETACH) })
	}
	mount(dir)
	mount(outer)
	mount(inner)
	mount(sibling)

	if err := unmountUnder(dir); err != nil {
		t.Fatalf("unmountUnder: %v", err)
	}
	for _, tc := range []struct {
		path    string
		mounted bool
	}{{dir, true}, {outer, false}, {inner, false}, {sibling, true}} {
		got, err := mountinfo.Mounted(tc.path)
		if err != nil && !os.IsNotExist(err) {
			t.Fatalf("mountinfo.Mounted(%s): %v", tc.path, err)
		}
		if got != tc.mounted {
			t.Errorf("%q mounted = %v after unmountUnder, want %v", tc.path, got, tc.mounted)
		}
	}
}

// TestSettleWaitsForTheServicesExitCleanupOnly starts stand-ins for exit
// cleanups, shell processes whose command lines read as podman's
// `--root ROOT container cleanup ID`: Settle must not return while the
// service's own runs, and must not wait for another service's.
func TestSettleWaitsForTheServicesExitCleanupOnly(t *testing.T) {
	svc := &Service{dir: t.TempDir()}
	other := t.TempDir()
	cleanup := func(root, lasts string) *exec.Cmd {
		t.Helper()
		// Not the last command, so that the shell cannot exec sleep in
		// its own place and take the command line with it.
		cmd := exec.Command("sh", "-c", "sleep "+lasts+"; exit 0", "podman", "--root", root, "container", "cleanup", "0123abcd")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	// running: the stand-in has exec'd and not yet exited (a zombie's
	// command line is empty).
	running := func(cmd *exec.Cmd) bool {
		cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid), "cmdline"))
		return err == nil && bytes.Contains(cmdline, []byte("\x00container\x00cleanup\x00"))
	}
	foreign := cleanup(filepath.Join(other, "root"), "60")
	own := cleanup(filepath.Join(svc.dir, "root"), "0.3")
	for deadline := time.Now().Add(10 * time.Second); !running(own) || !running(foreign); runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatal("the stand-ins did not start")
		}
	}

	svc.Settle(30 * time.Second)
	if running(own) {
		t.Error("Settle returned while the service's exit cleanup still ran")
	}
	if !running(foreign) {
		t.Error("Settle waited for another service's exit cleanup to end")
	}
}
