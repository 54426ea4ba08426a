package wiring

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

//go:embed bridges
var bridgeFS embed.FS

// bridgesVersion names the materialised bridge resources by their content,
// so an upgrade writes a new directory instead of changing files a running
// container has mounted.
var bridgesVersion = func() string {
	h := sha256.New()
	names, _ := fs.Glob(bridgeFS, "bridges/*")
	sort.Strings(names)
	for _, n := range names {
		data, _ := bridgeFS.ReadFile(n)
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}()

// BridgesDir is the host dir that holds this build's bridge resources.
func (c Config) BridgesDir() string {
	return filepath.Join(c.StateDir, "bridges", bridgesVersion)
}

// MaterializeBridges writes the embedded bridge resources to
// cfg.BridgesDir() unless they are already there, and returns that dir.
// The files are written to a temporary sibling and renamed into place, so
// a reader sees all of one version or none of it.
func MaterializeBridges(cfg Config) (string, error) {
	dir := cfg.BridgesDir()
	if st, err := os.Lstat(dir); err == nil && st.IsDir() {
		return dir, nil
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("creating the bridges dir: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, ".tmp-")
	if err != nil {
		return "", fmt.Errorf("creating the bridges dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	entries, err := bridgeFS.ReadDir("bridges")
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		data, err := bridgeFS.ReadFile("bridges/" + e.Name())
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(tmp, e.Name()), data, 0o644); err != nil {
			return "", fmt.Errorf("writing the bridge resources: %w", err)
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another launch materialised the same version first: use it.
		if st, serr := os.Lstat(dir); serr == nil && st.IsDir() {
			return dir, nil
		}
		return "", fmt.Errorf("installing the bridge resources: %w", err)
	}
	return dir, nil
}
