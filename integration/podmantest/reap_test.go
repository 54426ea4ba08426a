package podmantest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

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
