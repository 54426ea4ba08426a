package wiring

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// WatchCursor is how far a watch of the server's events got: the last
// event it handled. It is kept in the state dir, so that a watch that
// restarts, or reconnects to a restarted server, resumes from there.
type WatchCursor struct {
	// Time is the event's time, to the nanosecond, as the server gave it.
	Time time.Time `json:"time"`
	// ID and Name are the container the event was about, for the record.
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// WatchCursorPath is the file that keeps the watch's cursor.
func (c Config) WatchCursorPath() string {
	return filepath.Join(c.StateDir, "sandbox", "watch", "cursor.json")
}

// ReadWatchCursor returns the cursor a watch left; ok is false when there
// is none. A cursor that cannot be decoded is an error.
func ReadWatchCursor(cfg Config) (cur WatchCursor, ok bool, err error) {
	data, err := cfg.readState(cfg.WatchCursorPath())
	if errors.Is(err, fs.ErrNotExist) {
		return WatchCursor{}, false, nil
	}
	if err == nil {
		err = json.Unmarshal(data, &cur)
	}
	if err == nil && cur.Time.IsZero() {
		err = errors.New("it names no time")
	}
	if err != nil {
		return WatchCursor{}, false, fmt.Errorf("reading the watch's cursor %s: %w", cfg.WatchCursorPath(), err)
	}
	return cur, true, nil
}

// WriteWatchCursor replaces the watch's cursor with cur. The file is
// replaced whole (written beside it, then renamed over it), so a crash
// leaves the old cursor or the new one, never a torn one.
func WriteWatchCursor(cfg Config, cur WatchCursor) error {
	data, err := json.Marshal(cur)
	if err != nil {
		return err
	}
	return cfg.replaceState(cfg.WatchCursorPath(), append(data, '\n'), 0o600)
}

// LaunchedAt is when the state of name was laid down, as far as the disk
// says: the older modification time of its sidecar and its meta.json,
// which a launch writes once. (The dirs' times move whenever something is
// created in them: a service's socket, the shield's files.) ok is false
// when neither file is there.
func LaunchedAt(cfg Config, name string) (at time.Time, ok bool, err error) {
	if err := ValidateName(name); err != nil {
		return time.Time{}, false, err
	}
	for _, p := range []string{cfg.SidecarPath(name), filepath.Join(cfg.RunStateDir(name), metaFile)} {
		st, err := cfg.lstatState(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return time.Time{}, false, fmt.Errorf("reading when %q was launched: %w", name, err)
		}
		if !ok || st.ModTime().Before(at) {
			at, ok = st.ModTime(), true
		}
	}
	return at, ok, nil
}

// replaceState writes data to a temporary file beside path and renames it
// over path, within the tree holding path.
func (c Config) replaceState(path string, data []byte, mode fs.FileMode) error {
	tmp := path + ".tmp"
	if err := c.writeState(tmp, data, mode); err != nil {
		return err
	}
	err := c.inTree(path, false, func(r *os.Root, rel string) error {
		return r.Rename(rel+".tmp", rel)
	})
	if err != nil {
		_, _ = c.removeState(tmp)
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	return nil
}
