package wiring

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// sandwire writes in two trees: the state dir and the runtime dir. Every
// file or dir it creates, writes, reads or removes there is reached
// through an os.Root opened at the top of its tree, so that no symlink on
// the way (planted at <state>/sidecar or <runtime>/run, say) can lead it
// out of the tree; and the last component is never followed. The tops are
// the administrator's choice and may themselves be links.

// tree returns the top of the sandwire tree holding path and path relative
// to it. When one tree lies inside the other, the deeper top wins.
func (c Config) tree(path string) (top, rel string, err error) {
	for _, t := range []string{c.StateDir, c.RuntimeDir} {
		if t == "" || len(t) <= len(top) {
			continue
		}
		r, err := filepath.Rel(t, path)
		if err != nil || r == "." || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
			continue
		}
		top, rel = t, r
	}
	if top == "" {
		return "", "", fmt.Errorf("%s is outside sandwire's state dir (%s) and runtime dir (%s)", path, c.StateDir, c.RuntimeDir)
	}
	return top, rel, nil
}

// inTree runs fn on the os.Root of the tree holding path, with path
// relative to it. With create, a missing top is made (0700, parents too);
// without, a missing top is fs.ErrNotExist.
func (c Config) inTree(path string, create bool, fn func(r *os.Root, rel string) error) error {
	top, rel, err := c.tree(path)
	if err != nil {
		return err
	}
	if create {
		if err := os.MkdirAll(top, 0o700); err != nil {
			return err
		}
	}
	r, err := os.OpenRoot(top)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := fn(r, rel); err != nil {
		if link := firstLink(top, rel); link != "" {
			return fmt.Errorf("%w: %s is a symlink, and sandwire follows none in its dirs; remove it", err, link)
		}
		return err
	}
	return nil
}

// firstLink returns the first symlink on the way from top down to rel, rel
// included, if any: what an os.Root error was about.
func firstLink(top, rel string) string {
	p := top
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		if part == "." || part == "" {
			continue
		}
		p = filepath.Join(p, part)
		st, err := os.Lstat(p)
		if err != nil {
			return ""
		}
		if st.Mode()&fs.ModeSymlink != 0 {
			return p
		}
	}
	return ""
}

// mkdirState creates dir with mode 0700, and its missing parents (0700).
// It fails with fs.ErrExist when anything, a symlink too, is at dir.
func (c Config) mkdirState(dir string) error {
	return c.inTree(dir, true, func(r *os.Root, rel string) error {
		if err := r.MkdirAll(filepath.Dir(rel), 0o700); err != nil {
			return err
		}
		if err := r.Mkdir(rel, 0o700); err != nil {
			return err
		}
		// Mkdir's mode is filtered by the umask; the contract says 0700.
		return r.Chmod(rel, 0o700)
	})
}

// writeState writes data to path, creating missing parents (0700). A
// symlink at path is refused, not followed, and mode is forced on a file
// that already existed.
func (c Config) writeState(path string, data []byte, mode fs.FileMode) error {
	err := c.inTree(path, true, func(r *os.Root, rel string) error {
		if err := r.MkdirAll(filepath.Dir(rel), 0o700); err != nil {
			return err
		}
		f, err := r.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, mode)
		if err != nil {
			return err
		}
		return writeAndClose(f, data, mode)
	})
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// readState reads the regular file at path; a symlink there is refused.
func (c Config) readState(path string) ([]byte, error) {
	var data []byte
	err := c.inTree(path, false, func(r *os.Root, rel string) error {
		f, err := r.OpenFile(rel, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		data, err = io.ReadAll(f)
		return err
	})
	return data, err
}

// lstatState is os.Lstat within the tree holding path.
func (c Config) lstatState(path string) (fs.FileInfo, error) {
	var st fs.FileInfo
	err := c.inTree(path, false, func(r *os.Root, rel string) (err error) {
		st, err = r.Lstat(rel)
		return err
	})
	return st, err
}

// removeState removes path and everything under it; a symlink at path is
// removed itself, its target left alone. It reports whether anything was
// there.
func (c Config) removeState(path string) (existed bool, err error) {
	err = c.inTree(path, false, func(r *os.Root, rel string) error {
		if _, err := r.Lstat(rel); err != nil {
			return err
		}
		existed = true
		return r.RemoveAll(rel)
	})
	if errors.Is(err, fs.ErrNotExist) {
		return existed, nil
	}
	if err != nil {
		return existed, fmt.Errorf("removing %s: %w", path, err)
	}
	return existed, nil
}

// readDirState lists the dir at path within its tree; a missing dir is
// empty.
func (c Config) readDirState(path string) ([]fs.DirEntry, error) {
	var entries []fs.DirEntry
	err := c.inTree(path, false, func(r *os.Root, rel string) error {
		f, err := r.Open(rel)
		if err != nil {
			return err
		}
		defer f.Close()
		entries, err = f.ReadDir(-1)
		return err
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return entries, err
}

func writeAndClose(f *os.File, data []byte, mode fs.FileMode) error {
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
