package specmutate

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/sandwire/sandwire/wiring"
)

// Conflict is one way a spec touches what the sandbox owns.
type Conflict struct {
	// Field names the spec field, in podman's flag vocabulary where one
	// exists (e.g. "--cap-add", "mount /run/terok").
	Field string
	// Detail says what the spec has there.
	Detail string
}

func (c Conflict) String() string {
	if c.Detail == "" {
		return c.Field
	}
	return c.Field + " (" + c.Detail + ")"
}

// ConflictError lists every conflict found in a spec.
type ConflictError struct {
	Conflicts []Conflict
}

func (e *ConflictError) Error() string {
	parts := make([]string, len(e.Conflicts))
	for i, c := range e.Conflicts {
		parts[i] = c.String()
	}
	return "the container spec sets what the sandbox owns, which it may not override: " + strings.Join(parts, "; ")
}

// Conflicts returns a *ConflictError listing every place where spec touches
// what the sandbox owns and differs from what edits would set there, or
// nil when there is none. A value equal to the edits' own (a spec that
// edits were already applied to) is not a conflict.
func Conflicts(spec *specgen.SpecGenerator, edits *wiring.Edits) error {
	if edits == nil {
		edits = &wiring.Edits{}
	}
	var cs []Conflict
	add := func(field, format string, args ...any) {
		cs = append(cs, Conflict{Field: field, Detail: fmt.Sprintf(format, args...)})
	}

	if spec.Name != "" && spec.Name != edits.Name {
		add("--name", "%q", spec.Name)
	}
	if spec.Pod != "" {
		add("--pod", "%q: a pod decides the namespaces the sandbox owns", spec.Pod)
	}
	cs = append(cs, namespaceConflicts(spec, edits)...)
	cs = append(cs, privilegeConflicts(spec, edits)...)
	cs = append(cs, pathConflicts(spec, edits)...)

	for _, h := range spec.HostAdd {
		if slices.Contains(edits.Hosts, h) {
			continue
		}
		// podman accepts "name1;name2:ip", and host names are case-insensitive.
		for _, name := range strings.Split(wiring.HostName(h), ";") {
			for _, own := range edits.Hosts {
				if strings.EqualFold(name, wiring.HostName(own)) {
					add("--add-host", "%s is set by the sandbox", wiring.HostName(own))
				}
			}
		}
	}
	cs = append(cs, reservedKeys("--env", spec.Env, edits.Env, wiring.OwnsEnv)...)
	for _, kv := range spec.EnvMerge {
		if k, _, _ := strings.Cut(kv, "="); wiring.OwnsEnv(k) {
			add("--env-merge", "%s is reserved for the sandbox", k)
		}
	}
	for _, k := range sortedKeys(spec.EnvSecrets) {
		if wiring.OwnsEnv(k) {
			add("--secret", "type=env,target=%s: %s is reserved for the sandbox", k, k)
		}
	}
	cs = append(cs, reservedKeys("--annotation", spec.Annotations, edits.Annotations, wiring.OwnsAnnotation)...)
	cs = append(cs, reservedKeys("--label", spec.Labels, edits.Labels, wiring.OwnsLabel)...)
	if len(cs) == 0 {
		return nil
	}
	return &ConflictError{Conflicts: cs}
}

// reservedKeys lists the keys of the spec's map (env, annotations,
// labels) that the sandbox owns and whose value is not the edits' own.
func reservedKeys(flag string, spec, edits map[string]string, owns func(string) bool) []Conflict {
	var cs []Conflict
	for _, k := range sortedKeys(spec) {
		if v, ok := edits[k]; owns(k) && (!ok || v != spec[k]) {
			cs = append(cs, Conflict{flag, k + " is reserved for the sandbox"})
		}
	}
	return cs
}

func namespaceConflicts(spec *specgen.SpecGenerator, edits *wiring.Edits) []Conflict {
	var cs []Conflict
	if spec.NetNS.NSMode != "" {
		want, err := netNS(edits.Network)
		if err != nil || edits.Network == nil || spec.NetNS != want {
			cs = append(cs, Conflict{"--network", nsString(spec.NetNS)})
		}
	}
	if len(spec.Networks) > 0 {
		cs = append(cs, Conflict{"--network", "networks " + strings.Join(sortedKeys(spec.Networks), ",")})
	}
	if len(spec.NetworkOptions) > 0 && (edits.Network == nil || !sameOptions(spec.NetworkOptions, edits.Network)) {
		cs = append(cs, Conflict{"--network", "network options for " + strings.Join(sortedKeys(spec.NetworkOptions), ",")})
	}
	if len(spec.CNINetworks) > 0 {
		cs = append(cs, Conflict{"--network", "CNI networks " + strings.Join(spec.CNINetworks, ",")})
	}
	if spec.UserNS.NSMode != "" {
		want, err := userNS(edits.UserNS)
		if err != nil || edits.UserNS == nil || spec.UserNS != want {
			cs = append(cs, Conflict{"--userns", nsString(spec.UserNS)})
		}
	}
	if m := spec.IDMappings; m != nil {
		if len(m.UIDMap) > 0 {
			cs = append(cs, Conflict{"--uidmap", "a user ID mapping"})
		}
		if len(m.GIDMap) > 0 {
			cs = append(cs, Conflict{"--gidmap", "a group ID mapping"})
		}
		if m.AutoUserNs {
			cs = append(cs, Conflict{"--userns", "auto"})
		}
	}
	return cs
}

func privilegeConflicts(spec *specgen.SpecGenerator, edits *wiring.Edits) []Conflict {
	var cs []Conflict
	if len(spec.CapAdd) > 0 {
		cs = append(cs, Conflict{"--cap-add", strings.Join(spec.CapAdd, ",")})
	}
	if extra := notIn(spec.CapDrop, edits.CapDrop); len(extra) > 0 {
		cs = append(cs, Conflict{"--cap-drop", strings.Join(extra, ",")})
	}
	if spec.Privileged != nil && *spec.Privileged {
		cs = append(cs, Conflict{"--privileged", "it disables the sandbox's confinement"})
	}
	if len(spec.SelinuxOpts) > 0 {
		cs = append(cs, Conflict{"--security-opt", "label=" + strings.Join(spec.SelinuxOpts, ",")})
	}
	if spec.ApparmorProfile != "" {
		cs = append(cs, Conflict{"--security-opt", "apparmor=" + spec.ApparmorProfile})
	}
	if spec.SeccompProfilePath != "" {
		cs = append(cs, Conflict{"--security-opt", "seccomp=" + spec.SeccompProfilePath})
	}
	if spec.SeccompPolicy != "" && spec.SeccompPolicy != "default" {
		cs = append(cs, Conflict{"--seccomp-policy", spec.SeccompPolicy})
	}
	if len(spec.Unmask) > 0 {
		cs = append(cs, Conflict{"--security-opt", "unmask=" + strings.Join(spec.Unmask, ":")})
	}
	return cs
}

func pathConflicts(spec *specgen.SpecGenerator, edits *wiring.Edits) []Conflict {
	var cs []Conflict
	owned := func(flag, dest, detail string) {
		if wiring.OwnsPath(dest) || claims(edits, dest) {
			cs = append(cs, Conflict{flag + " " + path.Clean("/"+dest), detail})
		}
	}
	for _, m := range spec.Mounts {
		if ours(edits, m.Source, m.Destination) {
			continue
		}
		owned("--mount", m.Destination, m.Type+" mount")
	}
	for _, v := range spec.Volumes {
		owned("--volume", v.Dest, "named volume "+v.Name)
	}
	for _, v := range spec.OverlayVolumes {
		owned("--volume", v.Destination, "overlay of "+v.Source)
	}
	for _, v := range spec.ImageVolumes {
		owned("--mount", v.Destination, "image volume of "+v.Source)
	}
	for _, v := range spec.ArtifactVolumes {
		owned("--mount", v.Destination, "artifact volume of "+v.Source)
	}
	for _, s := range spec.Secrets {
		// podman mounts a relative target under /run/secrets, and does
		// not refuse "..": resolve it as podman will.
		target := s.Target
		if !path.IsAbs(target) {
			target = path.Join("/run/secrets", target)
		}
		owned("--secret", target, "secret "+s.Source)
	}
	for _, d := range spec.Devices {
		// A device node at a sandbox path would shadow it (rootless
		// podman bind-mounts devices).
		owned("--device", d.Path, "device")
	}
	if len(spec.VolumesFrom) > 0 {
		cs = append(cs, Conflict{"--volumes-from", strings.Join(spec.VolumesFrom, ",") +
			": another container's mounts may cover the sandbox's paths"})
	}
	return cs
}

// claims reports whether the edits mount something at dest; the sandbox
// owns every destination it mounts (the shield's /etc/resolv.conf, say).
func claims(edits *wiring.Edits, dest string) bool {
	for _, m := range edits.Mounts {
		if path.Clean(m.Destination) == path.Clean("/"+dest) {
			return true
		}
	}
	return false
}

// ours reports whether a spec mount is exactly one of the edits' mounts.
func ours(edits *wiring.Edits, source, dest string) bool {
	for _, m := range edits.Mounts {
		if m.Source == source && path.Clean(m.Destination) == path.Clean(dest) {
			return true
		}
	}
	return false
}

// sameOptions reports whether opts are exactly the options the edits'
// network sets: anything else would be silently replaced by Apply.
func sameOptions(opts map[string][]string, n *wiring.Network) bool {
	return len(opts) == 1 && slices.Equal(opts[n.Mode], n.Options)
}

func nsString(ns specgen.Namespace) string {
	if ns.Value == "" {
		return string(ns.NSMode)
	}
	return string(ns.NSMode) + ":" + ns.Value
}

func notIn(list, allowed []string) []string {
	var out []string
	for _, x := range list {
		found := false
		for _, a := range allowed {
			if strings.EqualFold(x, a) {
				found = true
				break
			}
		}
		if !found {
			out = append(out, x)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Is places a conflict in errdefs' invalid-argument category: the spec
// was refused, and nothing was written.
func (e *ConflictError) Is(target error) bool { return target == errdefs.ErrInvalidArgument }
