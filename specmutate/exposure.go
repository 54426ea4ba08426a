package specmutate

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/sandwire/sandwire/wiring"
)

// HostDir is one of the sandbox's own host dirs, which no container may
// see: each holds the state of every wired container (sidecars with their
// gate tokens, the token store, the service sockets).
type HostDir struct {
	// Role names the dir for a person: "state dir", "vault dir", ...
	Role string
	Path string
}

// Exposures returns a *ConflictError listing every way spec would let the
// container see the sandbox's host state, or nil when there is none:
//
//   - a host path made visible (bind mount in any spelling — -v, --mount
//     type=bind or glob, :O overlays —, a device, the rootfs) whose source
//     contains, is, or lies inside one of dirs, once "..", repeated slashes
//     and symlinks are resolved as the server on this machine resolves
//     them;
//   - joining the host's PID or IPC namespace, or another container's:
//     a process there can read other processes' environment (where the
//     TEROK_* tokens live) or shared memory.
//
// The edits' own mounts (the bridges and runtime dirs, read-only) are the
// sandbox's and pass. A UTS or cgroup namespace of the host shows names,
// not state, and passes too.
//
// bound maps the names of the spec's named volumes that bind a host path
// (local volumes made with o=bind, which only the server knows) to that
// path; they are checked like bind mounts.
func Exposures(spec *specgen.SpecGenerator, edits *wiring.Edits, dirs []HostDir, bound map[string]string) error {
	if edits == nil {
		edits = &wiring.Edits{}
	}
	resolved := make([]HostDir, 0, len(dirs))
	for _, d := range dirs {
		if d.Path != "" {
			resolved = append(resolved, HostDir{Role: d.Role, Path: Resolve(d.Path)})
		}
	}
	var cs []Conflict
	// field is how the user spelled the mount; source its host path.
	exposes := func(field, source string) {
		if d, ok := exposedDir(source, resolved); ok {
			cs = append(cs, Conflict{Field: field, Detail: "it exposes the sandbox's " + d.Role + " " + d.Path})
		}
	}
	for _, m := range spec.Mounts {
		if m.Type == "bind" && !ours(edits, m.Source, m.Destination) {
			exposes("--volume "+m.Source, m.Source)
		}
	}
	for _, v := range spec.Volumes {
		if dev, ok := bound[v.Name]; ok {
			exposes("--volume "+v.Name+" (bound to "+dev+")", dev)
		}
	}
	for _, v := range spec.OverlayVolumes {
		exposes("--volume "+v.Source+":"+v.Destination+":O", v.Source)
	}
	for _, d := range spec.Devices {
		src, _, _ := strings.Cut(d.Path, ":")
		exposes("--device "+src, src)
	}
	if spec.Rootfs != "" {
		rootfs := strings.TrimSuffix(spec.Rootfs, ":O")
		exposes("--rootfs "+rootfs, rootfs)
	}
	cs = append(cs, namespaceExposures(spec)...)
	for _, k := range spec.UnsetEnv {
		if wiring.OwnsEnv(k) {
			cs = append(cs, Conflict{Field: "--unsetenv", Detail: k + " is reserved for the sandbox"})
		}
	}
	if len(cs) == 0 {
		return nil
	}
	return &ConflictError{Conflicts: cs}
}

// namespaceExposures refuses the PID and IPC namespaces that are shared
// with the host or another container.
func namespaceExposures(spec *specgen.SpecGenerator) []Conflict {
	var cs []Conflict
	for _, ns := range []struct {
		flag string
		ns   specgen.Namespace
		what string
	}{
		{"--pid", spec.PidNS, "read other processes' environment and memory"},
		{"--ipc", spec.IpcNS, "reach other processes' shared memory"},
	} {
		switch ns.ns.NSMode {
		case specgen.Host:
			cs = append(cs, Conflict{Field: ns.flag, Detail: "host: the container could " + ns.what})
		case specgen.FromContainer:
			cs = append(cs, Conflict{Field: ns.flag, Detail: nsString(ns.ns) + ": the container could " + ns.what + " of that container"})
		}
	}
	return cs
}

// exposedDir reports the sandbox dir that source, once resolved, lies
// inside (the innermost of dirs, which come innermost first) or contains.
func exposedDir(source string, dirs []HostDir) (HostDir, bool) {
	src := Resolve(source)
	for _, d := range dirs {
		if within(src, d.Path) {
			return d, true
		}
	}
	for _, d := range dirs {
		if within(d.Path, src) {
			return d, true
		}
	}
	return HostDir{}, false
}

// within reports whether path is dir or lies under it; both are clean
// and absolute.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// Resolve is the path the server will bind for p: cleaned of ".." and
// repeated slashes, relative to the root, with every symlink on its
// longest existing prefix followed. A part that does not exist yet is
// taken as spelled.
func Resolve(p string) string {
	p = filepath.Clean("/" + p)
	rest := ""
	for dir := p; ; dir = filepath.Dir(dir) {
		real, err := filepath.EvalSymlinks(dir)
		if err == nil {
			return filepath.Join(real, rest)
		}
		if dir == "/" || !errors.Is(err, fs.ErrNotExist) {
			// Unreadable on the way: the spelling is all there is to go on.
			return p
		}
		rest = filepath.Join(filepath.Base(dir), rest)
	}
}

// ExposureDirs are the sandbox's host dirs of cfg, by role, innermost
// first.
func ExposureDirs(cfg wiring.Config) []HostDir {
	return []HostDir{
		{Role: "bridges dir", Path: cfg.BridgesDir()},
		{Role: "state dir", Path: cfg.StateDir},
		{Role: "runtime dir", Path: cfg.RuntimeDir},
		{Role: "vault dir", Path: cfg.VaultDir},
	}
}
