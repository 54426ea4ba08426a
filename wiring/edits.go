package wiring

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
)

// Mount is a bind mount the sandbox adds to a container.
type Mount struct {
	// Source is the absolute host path. Mandatory.
	Source string `json:"source"`
	// Destination is the absolute path in the container. Mandatory.
	Destination string `json:"destination"`
	// ReadOnly mounts the source read-only.
	ReadOnly bool `json:"readOnly,omitempty"`
	// Relabel is the SELinux relabel option: "z" (shared), "Z" (private)
	// or empty for none.
	Relabel string `json:"relabel,omitempty"`
}

// Options renders the mount's options the way podman's -v flag spells them.
func (m Mount) Options() []string {
	var opts []string
	if m.ReadOnly {
		opts = append(opts, "ro")
	}
	if m.Relabel != "" {
		opts = append(opts, m.Relabel)
	}
	return opts
}

// UserNS is the user namespace the sandbox asks for.
type UserNS struct {
	// Mode is the podman userns mode, e.g. "keep-id". Mandatory.
	Mode string `json:"mode"`
	// UID and GID are the keep-id in-container IDs; zero means podman's default.
	UID int `json:"uid,omitempty"`
	GID int `json:"gid,omitempty"`
}

// String renders the mode the way podman's --userns flag spells it.
func (u UserNS) String() string {
	var opts []string
	if u.UID != 0 {
		opts = append(opts, fmt.Sprintf("uid=%d", u.UID))
	}
	if u.GID != 0 {
		opts = append(opts, fmt.Sprintf("gid=%d", u.GID))
	}
	if len(opts) == 0 {
		return u.Mode
	}
	return u.Mode + ":" + strings.Join(opts, ",")
}

// Network is the network namespace the sandbox asks for.
type Network struct {
	// Mode is the podman network mode ("pasta", "slirp4netns", "bridge", ...).
	Mode string `json:"mode"`
	// Options are mode-specific options, e.g. slirp4netns's "allow_host_loopback=true".
	Options []string `json:"options,omitempty"`
}

// String renders the network the way podman's --network flag spells it.
func (n Network) String() string {
	if len(n.Options) == 0 {
		return n.Mode
	}
	return n.Mode + ":" + strings.Join(n.Options, ",")
}

// Edits is everything the sandbox adds to a container, as data. Each
// subsystem contributes one Edits value; they are merged with Append in a
// fixed order and then applied to a container spec by exactly one function
// (specmutate.Apply) or rendered as podman flags (Flags). Both renderings
// come from the same value, so they cannot disagree.
//
// The zero value adds nothing. A nil *Edits is valid and empty.
type Edits struct {
	// Name is the container name. Optional.
	Name string `json:"name,omitempty"`
	// Mounts are bind mounts keyed by destination. Every destination is
	// sandbox-owned on the container it is applied to.
	Mounts []Mount `json:"mounts,omitempty"`
	// Env maps variable names to values; every key is sandbox-owned.
	Env map[string]string `json:"env,omitempty"`
	// Annotations maps keys to values; every key is sandbox-owned.
	Annotations map[string]string `json:"annotations,omitempty"`
	// Labels maps keys to values; every key is sandbox-owned. Unlike
	// annotations, labels reach podman's events.
	Labels map[string]string `json:"labels,omitempty"`
	// Network is the network namespace; nil leaves the server's default.
	Network *Network `json:"network,omitempty"`
	// UserNS is the user namespace; nil leaves the server's default.
	UserNS *UserNS `json:"userns,omitempty"`
	// CapDrop lists capabilities to drop, in podman's spelling (CAP_NET_RAW).
	CapDrop []string `json:"capDrop,omitempty"`
	// Hosts are /etc/hosts entries, "NAME:IP", keyed by name.
	Hosts []string `json:"hosts,omitempty"`
}

// ErrInvalidEdits is wrapped by every error Validate returns.
var ErrInvalidEdits = newSentinel(errdefs.ErrInvalidArgument, "invalid sandbox edits")

// Append merges other into e and returns e. Scalars from other win when
// set; mounts are replaced by destination, env, annotations and labels by key,
// and capability drops are unioned. Appending to a nil receiver allocates.
func (e *Edits) Append(other *Edits) *Edits {
	if e == nil {
		e = &Edits{}
	}
	if other == nil {
		return e
	}
	if other.Name != "" {
		e.Name = other.Name
	}
	for _, m := range other.Mounts {
		e.Mounts = replaceMount(e.Mounts, m)
	}
	e.Env = mergeMap(e.Env, other.Env)
	e.Annotations = mergeMap(e.Annotations, other.Annotations)
	e.Labels = mergeMap(e.Labels, other.Labels)
	if other.Network != nil {
		n := *other.Network
		n.Options = append([]string(nil), n.Options...)
		e.Network = &n
	}
	if other.UserNS != nil {
		u := *other.UserNS
		e.UserNS = &u
	}
	for _, c := range other.CapDrop {
		if !contains(e.CapDrop, c) {
			e.CapDrop = append(e.CapDrop, c)
		}
	}
	for _, h := range other.Hosts {
		e.Hosts = ReplaceHost(e.Hosts, h)
	}
	return e
}

// ReplaceHost returns hosts with entry ("NAME:IP") added, replacing any
// entry of the same name.
func ReplaceHost(hosts []string, entry string) []string {
	name := HostName(entry)
	out := hosts[:0:0]
	for _, h := range hosts {
		if HostName(h) != name {
			out = append(out, h)
		}
	}
	return append(out, entry)
}

// HostName is the name part of a "NAME:IP" hosts entry.
func HostName(entry string) string {
	name, _, _ := strings.Cut(entry, ":")
	return name
}

// Validate checks that the edits stay inside what the sandbox owns and
// that every path is absolute. It fails on the first problem found.
func (e *Edits) Validate() error {
	if e == nil {
		return nil
	}
	if e.Name != "" {
		if err := ValidateName(e.Name); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidEdits, err)
		}
	}
	for _, m := range e.Mounts {
		if !path.IsAbs(m.Source) || !path.IsAbs(m.Destination) {
			return fmt.Errorf("%w: mount %q -> %q: both paths must be absolute", ErrInvalidEdits, m.Source, m.Destination)
		}
		switch m.Relabel {
		case "", "z", "Z":
		default:
			return fmt.Errorf("%w: mount %q: relabel %q must be \"z\", \"Z\" or empty", ErrInvalidEdits, m.Destination, m.Relabel)
		}
	}
	for _, keys := range []struct {
		what   string
		m      map[string]string
		owns   func(string) bool
		prefix string
	}{
		{"environment variable", e.Env, OwnsEnv, EnvPrefix},
		{"annotation", e.Annotations, OwnsAnnotation, AnnotationPrefix},
		{"label", e.Labels, OwnsLabel, LabelPrefix},
	} {
		for _, k := range slices.Sorted(maps.Keys(keys.m)) {
			if !keys.owns(k) {
				return fmt.Errorf("%w: %s %q is not in the sandbox's %s namespace", ErrInvalidEdits, keys.what, k, keys.prefix)
			}
		}
	}
	for _, h := range e.Hosts {
		if name, ip, ok := strings.Cut(h, ":"); !ok || name == "" || ip == "" {
			return fmt.Errorf("%w: hosts entry %q must be NAME:IP", ErrInvalidEdits, h)
		}
	}
	if e.Network != nil && e.Network.Mode == "" {
		return fmt.Errorf("%w: network mode is empty", ErrInvalidEdits)
	}
	if e.UserNS != nil && e.UserNS.Mode == "" {
		return fmt.Errorf("%w: user namespace mode is empty", ErrInvalidEdits)
	}
	return nil
}

// Flags renders the edits as `podman run` flags, in a stable order:
// name, network, userns, cap drops, hosts, volumes, env, annotations, labels. Values are
// not shell-quoted; see ShellQuote.
func (e *Edits) Flags() []string {
	if e == nil {
		return nil
	}
	var args []string
	if e.Name != "" {
		args = append(args, "--name", e.Name)
	}
	if e.Network != nil {
		args = append(args, "--network", e.Network.String())
	}
	if e.UserNS != nil {
		args = append(args, "--userns", e.UserNS.String())
	}
	for _, c := range e.CapDrop {
		args = append(args, "--cap-drop", c)
	}
	for _, h := range e.Hosts {
		args = append(args, "--add-host", h)
	}
	for _, m := range e.Mounts {
		v := m.Source + ":" + m.Destination
		if opts := m.Options(); len(opts) > 0 {
			v += ":" + strings.Join(opts, ",")
		}
		args = append(args, "-v", v)
	}
	args = appendKeyValues(args, "-e", e.Env)
	args = appendKeyValues(args, "--annotation", e.Annotations)
	return appendKeyValues(args, "--label", e.Labels)
}

// appendKeyValues appends one flag KEY=VALUE a key of m, in key order.
func appendKeyValues(args []string, flag string, m map[string]string) []string {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		args = append(args, flag, k+"="+m[k])
	}
	return args
}

// ShellQuote renders args as one line a POSIX shell splits back into the
// same words.
func ShellQuote(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = shellQuoteWord(a)
	}
	return strings.Join(quoted, " ")
}

func shellQuoteWord(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./-_", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

func replaceMount(mounts []Mount, m Mount) []Mount {
	dest := cleanDest(m.Destination)
	for i := range mounts {
		if cleanDest(mounts[i].Destination) == dest {
			mounts[i] = m
			return mounts
		}
	}
	return append(mounts, m)
}

func mergeMap(dst, src map[string]string) map[string]string {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = make(map[string]string, len(src))
	}
	for k, v := range src {
		dst[k] = v
	}
	return dst
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// cleanDest normalises a container path for comparison: "/run/terok/",
// "//run/terok" and "/run/./terok" all name /run/terok.
func cleanDest(p string) string {
	if p == "" {
		return ""
	}
	return path.Clean("/" + p)
}
