package podmantest

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"

	mobyuser "github.com/moby/sys/user"
)

// Rootless reports whether the harness runs as an unprivileged user, and
// so starts a rootless service; tests that need root skip, saying so.
func Rootless() bool { return os.Geteuid() != 0 }

// CheckPrerequisites reports every missing prerequisite of the harness.
func CheckPrerequisites() error { return checkPrerequisites(Binary()) }

func checkPrerequisites(binary string) error {
	var errs []error
	if Rootless() {
		errs = append(errs, checkRootless()...)
	}
	if _, err := exec.LookPath(binary); err != nil {
		errs = append(errs, fmt.Errorf("podman is not installed: %w", err))
	}
	if runcPath() == "" {
		errs = append(errs, errors.New("runc is not installed (not in PATH, /usr/bin or /usr/sbin)"))
	}
	if err := checkStatic(BusyboxPath); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("integration test prerequisites missing (hack/install-deps.sh installs them): %w", errors.Join(errs...))
}

// checkRootless reports what a rootless service lacks for this user.
func checkRootless() []error {
	var errs []error
	for _, tool := range []string{"newuidmap", "newgidmap", "slirp4netns"} {
		if _, err := exec.LookPath(tool); err != nil {
			errs = append(errs, fmt.Errorf("rootless podman needs %s (packages uidmap, slirp4netns): %w", tool, err))
		}
	}
	u, err := user.Current()
	if err != nil {
		return append(errs, fmt.Errorf("looking up the test user: %w", err))
	}
	for _, file := range []string{"/etc/subuid", "/etc/subgid"} {
		if !hasSubordinateRange(file, u.Username, u.Uid) {
			errs = append(errs, fmt.Errorf("%s has no range for %s: rootless podman needs one (usermod --add-subuids/--add-subgids)", file, u.Username))
		}
	}
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir == "" {
		errs = append(errs, errors.New("XDG_RUNTIME_DIR is not set: rootless podman keeps its pause process and locks there"))
	}
	return errs
}

// hasSubordinateRange reports whether file (/etc/subuid or /etc/subgid)
// gives the user, by name or uid, a range of IDs.
func hasSubordinateRange(file, name, uid string) bool {
	ranges, err := mobyuser.ParseSubIDFileFilter(file, func(r mobyuser.SubID) bool {
		return (r.Name == name || r.Name == uid) && r.Count > 0
	})
	return err == nil && len(ranges) > 0
}

func runcPath() string {
	if p, err := exec.LookPath("runc"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/runc", "/usr/bin/runc"} {
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// checkStatic fails unless path is a statically linked ELF executable:
// Debian's plain busybox package installs a dynamic /bin/busybox, which
// cannot run in an image without a libc.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s is missing or not an executable (install busybox-static): %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; the test image needs busybox-static", path)
		}
	}
	return nil
}
