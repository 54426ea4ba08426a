package wiring

import (
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

//go:embed bridges/ensure-bridges.sh
var bridgeFS embed.FS

// BridgeBinaryName is the container-side bridge program's file name.
const BridgeBinaryName = "terok-bridge"

// bridgeScript is the script images source to start the bridges.
const bridgeScript = "ensure-bridges.sh"

// bridgeBinarySearchPath lists where the bridge program is looked for when
// the configuration names none: beside the running executable (a build
// tree, or a package's bin dir), then the usual helper-binary dirs.
func bridgeBinarySearchPath() []string {
	var dirs []string
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			dirs = append(dirs, filepath.Dir(exe))
		}
	}
	return append(dirs, "/usr/local/libexec/sandwire", "/usr/libexec/sandwire", "/usr/local/lib/sandwire", "/usr/lib/sandwire")
}

// BridgeBinaryNotFoundError reports that the bridge program is missing.
type BridgeBinaryNotFoundError struct{ Searched []string }

func (e *BridgeBinaryNotFoundError) Error() string {
	return fmt.Sprintf("the container-side bridge program %s was not found in %v: install it beside sandwire ('make build' puts both in bin/) or set bridge_binary in the configuration",
		BridgeBinaryName, e.Searched)
}

func (c Config) bridgeBinary() (string, error) {
	if c.BridgeBinary != "" {
		if _, err := os.Stat(c.BridgeBinary); err != nil {
			return "", fmt.Errorf("the configured bridge_binary: %w", err)
		}
		return c.BridgeBinary, nil
	}
	dirs := bridgeBinarySearchPath()
	for _, d := range dirs {
		p := filepath.Join(d, BridgeBinaryName)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", &BridgeBinaryNotFoundError{Searched: dirs}
}

// bridgeVersions caches the version of a bridge program by its identity,
// so a launch does not re-read it.
var bridgeVersions sync.Map // bridgeIdentity -> string

// bridgeIdentity tells one bridge program file from another without
// reading it: writing to a file changes its change time, which no one but
// the kernel sets. The embedded script is part of the version, so this
// build's script is part of the identity.
type bridgeIdentity struct {
	dev, ino           uint64
	size, mtime, ctime int64
	script             string
}

func identityOf(st fs.FileInfo) (bridgeIdentity, bool) {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return bridgeIdentity{}, false
	}
	return bridgeIdentity{dev: uint64(sys.Dev), ino: sys.Ino, size: st.Size(),
		mtime: sys.Mtim.Nano(), ctime: sys.Ctim.Nano(), script: scriptSum()}, true
}

// name is the identity as a file name.
func (id bridgeIdentity) name() string {
	return fmt.Sprintf("%x-%x-%x-%x-%x-%s", id.dev, id.ino, id.size, id.mtime, id.ctime, id.script)
}

// settled reports whether the file changed long enough ago that a change
// after it was read would show in its change time: timestamps are coarse,
// so one made in the same tick as the last would leave it as it was.
func (id bridgeIdentity) settled(now time.Time) bool {
	return now.Sub(time.Unix(0, max(id.mtime, id.ctime))) > bridgeSettleTime
}

var bridgeSettleTime = 2 * time.Second

var scriptSum = sync.OnceValue(func() string {
	script, _ := bridgeFS.ReadFile("bridges/" + bridgeScript)
	sum := sha256.Sum256(script)
	return hex.EncodeToString(sum[:8])
})

// bridgeIndexDir keeps, across processes, the version of each bridge
// program file by its identity: hashing the program costs a process ~2 ms.
func (c Config) bridgeIndexDir() string { return filepath.Join(c.StateDir, "bridge-versions") }

// bridgesVersion names a set of bridge resources by their content, so an
// upgrade writes a new directory instead of changing files a running
// container has mounted. A program whose identity is in this process's
// cache or in the state dir's index is not read again.
func bridgesVersion(cfg Config, binary string) (string, error) {
	st, err := os.Stat(binary)
	if err != nil {
		return "", err
	}
	id, known := identityOf(st)
	if known {
		if v, ok := bridgeVersions.Load(id); ok {
			return v.(string), nil
		}
		if v, ok := cfg.indexedBridgesVersion(id); ok {
			bridgeVersions.Store(id, v)
			return v, nil
		}
	}
	v, err := hashBridges(binary, st.Size())
	if err != nil {
		return "", err
	}
	// Kept only if the file did not change while it was read.
	if after, err := os.Stat(binary); known && err == nil {
		if again, ok := identityOf(after); ok && again == id {
			bridgeVersions.Store(id, v)
			if id.settled(time.Now()) {
				// Best effort: without the entry the next process hashes.
				_ = cfg.writeState(filepath.Join(cfg.bridgeIndexDir(), id.name()), []byte(v), 0o600)
			}
		}
	}
	return v, nil
}

// indexedBridgesVersion is the version the index holds for id.
func (c Config) indexedBridgesVersion(id bridgeIdentity) (string, bool) {
	data, err := c.readState(filepath.Join(c.bridgeIndexDir(), id.name()))
	if err != nil || len(data) != versionLen {
		return "", false
	}
	if _, err := hex.DecodeString(string(data)); err != nil {
		return "", false
	}
	return string(data), true
}

// versionLen is the length of a bridges version: 16 hex digits.
const versionLen = 16

// hashBridges is the content hash of the embedded script and the program.
func hashBridges(binary string, size int64) (string, error) {
	h := sha256.New()
	script, err := bridgeFS.ReadFile("bridges/" + bridgeScript)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "%s\x00%d\x00", bridgeScript, len(script))
	h.Write(script)
	f, err := os.Open(binary)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fmt.Fprintf(h, "%s\x00%d\x00", BridgeBinaryName, size)
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:versionLen], nil
}

// bridgesTarget is the bridge program and the versioned dir under the
// state dir that holds this build's bridge resources; it writes nothing.
func bridgesTarget(cfg Config) (binary, dir string, err error) {
	if binary, err = cfg.bridgeBinary(); err != nil {
		return "", "", err
	}
	version, err := bridgesVersion(cfg, binary)
	if err != nil {
		return "", "", fmt.Errorf("reading the bridge program: %w", err)
	}
	return binary, filepath.Join(cfg.BridgesDir(), version), nil
}

// materializeBridges puts this build's bridge resources — the embedded
// script and the bridge program — in a versioned dir under the state dir
// unless they are already there, and returns that dir. The files are
// written to a temporary sibling and renamed into place, so a reader sees
// all of one version or none of it; nothing in it is writable but by its
// owner, and the container mounts it read-only.
func materializeBridges(cfg Config) (string, error) {
	binary, dir, err := bridgesTarget(cfg)
	if err != nil {
		return "", err
	}
	err = cfg.inTree(dir, true, func(r *os.Root, rel string) error {
		if st, err := r.Lstat(rel); err == nil && st.IsDir() {
			return nil
		}
		if err := r.MkdirAll(filepath.Dir(rel), 0o755); err != nil {
			return err
		}
		tmp, err := mkdirTempIn(r, filepath.Dir(rel), ".tmp-")
		if err != nil {
			return err
		}
		defer r.RemoveAll(tmp)
		script, _ := bridgeFS.ReadFile("bridges/" + bridgeScript)
		if err := r.WriteFile(filepath.Join(tmp, bridgeScript), script, 0o644); err != nil {
			return err
		}
		if err := copyFileInto(r, binary, filepath.Join(tmp, BridgeBinaryName), 0o755); err != nil {
			return err
		}
		if err := r.Chmod(tmp, 0o755); err != nil {
			return err
		}
		if err := r.Rename(tmp, rel); err != nil {
			// Another launch materialised the same version first: use it.
			if st, serr := r.Lstat(rel); serr == nil && st.IsDir() {
				return nil
			}
			return err
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("installing the bridge resources in %s: %w", dir, err)
	}
	return dir, nil
}

// mkdirTempIn makes a fresh dir named prefix+random in dir within r, 0700.
func mkdirTempIn(r *os.Root, dir, prefix string) (string, error) {
	for range 10 {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		name := filepath.Join(dir, prefix+hex.EncodeToString(b[:]))
		if err := r.Mkdir(name, 0o700); err == nil || !errors.Is(err, fs.ErrExist) {
			return name, err
		}
	}
	return "", fmt.Errorf("no fresh temporary dir in %s", dir)
}

// copyFileInto copies the file at src to dst within r, which must not
// exist, with mode.
func copyFileInto(r *os.Root, src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := r.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return errors.Join(out.Chmod(mode), out.Close())
}
