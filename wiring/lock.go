package wiring

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// NameBusyError reports that another launch or cleanup holds a name.
type NameBusyError struct{ Name string }

func (e *NameBusyError) Error() string {
	return fmt.Sprintf("container name %q is in use: another sandwire launch or cleanup of it is in progress", e.Name)
}

// nameLock is an exclusive, non-blocking flock on <state>/sandbox/locks/<name>.lock.
// flock locks belong to the open file description, so two launches in one
// process exclude each other as two processes do. The lock file itself is
// left in place: removing it would let a third launch lock a fresh inode
// while the second still holds the old one.
type nameLock struct{ f *os.File }

func lockName(cfg Config, name string) (*nameLock, error) {
	var f *os.File
	err := cfg.inTree(filepath.Join(cfg.LockDir(), name+".lock"), true, func(r *os.Root, rel string) (err error) {
		if err := r.MkdirAll(filepath.Dir(rel), 0o700); err != nil {
			return err
		}
		f, err = r.OpenFile(rel, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("opening the lock of %q in %s: %w", name, cfg.LockDir(), err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &NameBusyError{Name: name}
		}
		return nil, fmt.Errorf("locking %q: %w", name, err)
	}
	return &nameLock{f: f}, nil
}

func (l *nameLock) release() {
	if l != nil && l.f != nil {
		l.f.Close() // closing the last descriptor drops the flock
		l.f = nil
	}
}
