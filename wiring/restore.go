package wiring

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/containerd/errdefs"
)

// ErrBridgesGone is wrapped when the bridge resources a container was
// created with are gone and this build's are another version, which cannot
// stand in for them: their dir is named after their content.
var ErrBridgesGone = newSentinel(errdefs.ErrFailedPrecondition, "gone")

// Restored is a wired container whose host-side wiring Restore rebuilt.
// It holds the container's name until Release, so that no launch or
// cleanup of the name can change that wiring before the container starts.
type Restored struct {
	Wired
	// Made lists the host paths that were gone and were re-created, in
	// the order they were made.
	Made []string

	lock *nameLock
}

// Release lets other launches and cleanups of the name go on. It is safe
// to call more than once.
func (r *Restored) Release() { r.lock.release() }

// Restore re-creates what of a wired container's host-side wiring is gone —
// a reboot empties the runtime dir under /run — so that its mounts have
// their sources again when it starts: the per-container runtime dir (mode
// 0700, parents too), in socket mode the dirs its services bind their
// sockets in, and the bridge resources it mounts. rec is what the server
// recorded of the container. Restore holds the name while it checks rec
// with CheckWired and rebuilds, and returns still holding it; a refusal
// writes nothing, and what it re-created stays when a later step fails.
// It never re-creates the sidecar or the run state: without them the
// container was cleaned up, and its tokens are revoked.
func Restore(cfg Config, name string, rec Recorded) (_ *Restored, err error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	lock, err := lockName(cfg, name)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			lock.release()
		}
	}()
	w, err := CheckWired(cfg, name, rec)
	if err != nil {
		return nil, err
	}
	r := &Restored{Wired: *w, lock: lock}
	if err := r.rebuild(cfg, rec); err != nil {
		return nil, err
	}
	return r, nil
}

// rebuild re-creates the runtime dir, its socket dirs and the bridges. A
// refusal (bridges that cannot be put back) comes before any write.
func (r *Restored) rebuild(cfg Config, rec Recorded) error {
	bridges, err := r.goneBridges(cfg, rec)
	if err != nil {
		return err
	}
	for _, d := range r.dirs(cfg) {
		if err := r.ensureDir(cfg, d); err != nil {
			return err
		}
	}
	if bridges == "" {
		return nil
	}
	if _, err := materializeBridges(cfg); err != nil {
		return err
	}
	r.Made = append(r.Made, bridges)
	return nil
}

// dirs are the runtime dir and, when the container was wired in socket
// mode, the dirs its services bind their sockets in, parents first.
func (r *Restored) dirs(cfg Config) []string {
	runtimeDir := cfg.ContainerRuntimeDir(r.Name)
	dirs := []string{runtimeDir}
	if ServicesMode(r.Sidecar.IPCMode) == ServicesSocket {
		for _, d := range socketDirs(r.Plan) {
			dirs = append(dirs, filepath.Join(runtimeDir, d))
		}
	}
	return dirs
}

// ensureDir makes dir (mode 0700, missing parents too) unless a dir is
// there already, and records it in Made when it did. Anything else there,
// a symlink too, is refused.
func (r *Restored) ensureDir(cfg Config, dir string) error {
	err := cfg.mkdirState(dir)
	if err == nil {
		r.Made = append(r.Made, dir)
		return nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("re-creating %s: %w", dir, err)
	}
	st, err := cfg.lstatState(dir)
	switch {
	case err != nil:
		return fmt.Errorf("re-creating %s: %w", dir, err)
	case !st.IsDir():
		return fmt.Errorf("re-creating %s: a %s is there, not a directory; remove it", dir, modeKind(st.Mode()))
	}
	return nil
}

// modeKind names what a mode says a file is.
func modeKind(m fs.FileMode) string {
	if m&fs.ModeSymlink != 0 {
		return "symlink"
	}
	return "file"
}

// goneBridges is the bridges dir the container mounts when it is gone and
// this build's bridge resources can be put back there, and "" when the
// container mounts none or its dir is there. It writes nothing.
func (r *Restored) goneBridges(cfg Config, rec Recorded) (string, error) {
	src, mounted := rec.Mounts[ContainerBridgesDir]
	if !mounted {
		return "", nil
	}
	src = filepath.Clean(src)
	if _, err := cfg.lstatState(src); !errors.Is(err, fs.ErrNotExist) {
		if err != nil {
			return "", fmt.Errorf("checking the bridge resources of %q: %w", r.Name, err)
		}
		return "", nil
	}
	_, current, err := bridgesTarget(cfg)
	if err != nil {
		return "", err
	}
	if current != src {
		return "", fmt.Errorf("the bridge resources container %q was created with (%s) are %w, and this build's (%s) are another version",
			r.Name, src, ErrBridgesGone, current)
	}
	return src, nil
}
