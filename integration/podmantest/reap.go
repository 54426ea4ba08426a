package podmantest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/sys/mountinfo"
)

// stopTimeout bounds how long Stop waits for the service to exit on SIGTERM.
const stopTimeout = 15 * time.Second

// Stop removes every container of the service, stops the service and its
// process group, ends any conmon left behind (exec sessions keep theirs
// for minutes), unmounts what is still mounted under the service's dir and
// removes the dir. It is safe to call more than once.
func (s *Service) Stop() error {
	return s.stopped(s.stop)
}

func (s *Service) stop() error {
	var errs []error
	if s.cmd != nil {
		if _, err := os.Stat(filepath.Join(s.dir, "root")); err == nil {
			if _, err := s.Podman("rm", "--all", "--force", "--time", "0"); err != nil {
				errs = append(errs, err)
			}
		}
		if err := s.terminate(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := killStragglers(s.dir); err != nil {
		errs = append(errs, err)
	}
	if err := unmountUnder(s.dir); err != nil {
		errs = append(errs, err)
	}
	if Rootless() {
		if err := s.removeRootlessStorage(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(s.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// removeRootlessStorage removes the storage of a rootless service, whose
// files belong to the user's subordinate IDs: only inside the user
// namespace may the user remove them. It then ends the namespace's pause
// process, which would otherwise outlive the run.
func (s *Service) removeRootlessStorage() error {
	var errs []error
	if _, err := os.Stat(filepath.Join(s.dir, "root")); err == nil {
		if _, err := s.Podman("unshare", "rm", "-rf", filepath.Join(s.dir, "root"), filepath.Join(s.dir, "runroot")); err != nil {
			errs = append(errs, err)
		}
	}
	if data, err := os.ReadFile(filepath.Join(s.dir, "tmp", "pause.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return errors.Join(errs...)
}

// Kill ends the service abruptly, as a crash would: SIGKILL to its
// process group, then a wait until it has exited, so its socket refuses
// connections. Its storage stays, for the podman CLI to look into; Stop
// still cleans up.
func (s *Service) Kill() error { return s.kill() }

// killStragglers ends the processes whose command line names dir: the
// conmon monitors of this service's containers and exec sessions, which
// run in sessions of their own and so outlive the service's group.
func killStragglers(dir string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids := processesNaming(dir)
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes naming %s did not exit: %v", dir, pids)
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func processesNaming(dir string) []int {
	return processesWhere(func(cmdline []byte) bool {
		return bytes.Contains(cmdline, []byte(dir+"/")) || bytes.Contains(cmdline, []byte(dir+"\x00"))
	})
}

// processesWhere lists the processes, this one aside, whose NUL-separated
// command line satisfies match.
func processesWhere(match func(cmdline []byte) bool) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(cmdline) == 0 {
			continue // gone, or a zombie or kernel thread
		}
		if match(cmdline) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Settle waits until none of the service's exit cleanups runs: the
// `podman container cleanup` that conmon starts when a container exits is
// a whole podman process, which holds the service's storage and database
// for a while after the container is gone. A measurement that follows a
// removal settles first, so that its create does not queue behind the
// last container's cleanup (a 20 ms create on 5.8.2 then takes 200 ms).
// It gives up silently after timeout: a cleanup that hangs is the
// service's business, not the caller's.
func (s *Service) Settle(timeout time.Duration) {
	root := []byte("\x00" + filepath.Join(s.dir, "root") + "\x00")
	cleanup := []byte("\x00container\x00cleanup\x00")
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if len(processesWhere(func(cmdline []byte) bool {
			return bytes.Contains(cmdline, root) && bytes.Contains(cmdline, cleanup)
		})) == 0 {
			return
		}
	}
}

// unmountUnder lazily unmounts every mount point below dir, deepest first
// (a container's /dev/shm, should its cleanup not have run).
func unmountUnder(dir string) error {
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return err
	}
	// PrefixFilter keeps dir itself as well: only what lies below it goes.
	mounts = slices.DeleteFunc(mounts, func(m *mountinfo.Info) bool { return m.Mountpoint == dir })
	slices.SortFunc(mounts, func(a, b *mountinfo.Info) int { return len(b.Mountpoint) - len(a.Mountpoint) })
	var errs []error
	for _, m := range mounts {
		if err := syscall.Unmount(m.Mountpoint, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", m.Mountpoint, err))
		}
	}
	return errors.Join(errs...)
}
