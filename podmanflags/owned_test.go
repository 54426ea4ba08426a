package podmanflags

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/sandwire/sandwire/wiring"
)

// The checker below says, from the spec alone, whether a spec touches what
// DESIGN.md ("Who owns what on the spec") gives the sandbox. It is written
// from that list and from what podman does with each field, not from
// specmutate's code, so that the fuzz target really cross-checks gate 2.

// secretsDir is where podman mounts a secret whose target is relative or
// empty (libpod makeBindMounts: filepath.Join(runPath, "secrets", target)).
const secretsDir = "/run/secrets"

// ownsDest reports whether a container path is the bridges dir, the
// runtime dir, or below either, after the cleaning the kernel's path walk
// does ("//run/terok", "/run/terok/", "/run/x/../terok").
func ownsDest(dest string) bool {
	if dest == "" {
		return false
	}
	clean := path.Clean("/" + dest)
	for _, root := range []string{"/run/terok", "/usr/local/share/terok-sandbox/bridges"} {
		if clean == root || strings.HasPrefix(clean, root+"/") {
			return true
		}
	}
	// Belt and braces: the contract's own predicate must agree.
	return wiring.OwnsPath(dest)
}

// secretDest is where podman puts a mounted secret in the container.
func secretDest(s specgen.Secret) string {
	switch {
	case s.Target == "":
		return path.Join(secretsDir, s.Source)
	case path.IsAbs(s.Target):
		return s.Target
	default:
		return path.Join(secretsDir, s.Target)
	}
}

// ownedTouched lists every way s touches a sandbox-owned field, given that
// the sandbox names the container name ("" for no name).
func ownedTouched(s *specgen.SpecGenerator, name string) []string {
	var v []string
	bad := func(format string, args ...any) { v = append(v, fmt.Sprintf(format, args...)) }

	if s.Name != "" && s.Name != name {
		bad("name %q", s.Name)
	}
	if s.Pod != "" {
		bad("pod %q", s.Pod)
	}
	if s.NetNS != (specgen.Namespace{}) {
		bad("network namespace %+v", s.NetNS)
	}
	if len(s.Networks) > 0 {
		bad("networks %v", mapKeys(s.Networks))
	}
	if len(s.NetworkOptions) > 0 {
		bad("network options %v", s.NetworkOptions)
	}
	if len(s.CNINetworks) > 0 {
		bad("CNI networks %v", s.CNINetworks)
	}
	if s.UserNS != (specgen.Namespace{}) {
		bad("user namespace %+v", s.UserNS)
	}
	if m := s.IDMappings; m != nil {
		if len(m.UIDMap) > 0 || len(m.GIDMap) > 0 {
			bad("ID mappings uid=%v gid=%v", m.UIDMap, m.GIDMap)
		}
		if m.AutoUserNs {
			bad("auto user namespace")
		}
	}
	if len(s.CapAdd) > 0 {
		bad("cap-add %v", s.CapAdd)
	}
	if len(s.CapDrop) > 0 {
		bad("cap-drop %v", s.CapDrop)
	}
	if s.Privileged != nil && *s.Privileged {
		bad("privileged")
	}
	if len(s.SelinuxOpts) > 0 {
		bad("SELinux options %v", s.SelinuxOpts)
	}
	if s.ApparmorProfile != "" {
		bad("AppArmor profile %q", s.ApparmorProfile)
	}
	if s.SeccompProfilePath != "" {
		bad("seccomp profile %q", s.SeccompProfilePath)
	}
	if len(s.Unmask) > 0 {
		bad("unmask %v", s.Unmask)
	}

	for _, m := range s.Mounts {
		if ownsDest(m.Destination) {
			bad("%s mount at %q", m.Type, m.Destination)
		}
	}
	for _, vol := range s.Volumes {
		if ownsDest(vol.Dest) {
			bad("named volume %q at %q", vol.Name, vol.Dest)
		}
	}
	for _, vol := range s.OverlayVolumes {
		if ownsDest(vol.Destination) {
			bad("overlay volume at %q", vol.Destination)
		}
	}
	for _, vol := range s.ImageVolumes {
		if ownsDest(vol.Destination) {
			bad("image volume at %q", vol.Destination)
		}
	}
	for _, vol := range s.ArtifactVolumes {
		if ownsDest(vol.Destination) {
			bad("artifact volume at %q", vol.Destination)
		}
	}
	for _, sec := range s.Secrets {
		if d := secretDest(sec); ownsDest(d) {
			bad("secret %q mounted at %q (target %q)", sec.Source, d, sec.Target)
		}
	}
	if len(s.VolumesFrom) > 0 {
		bad("volumes-from %v", s.VolumesFrom)
	}

	for k := range s.Env {
		if strings.HasPrefix(k, "TEROK_") {
			bad("env %s", k)
		}
	}
	for _, kv := range s.EnvMerge {
		if strings.HasPrefix(kv, "TEROK_") {
			bad("env-merge %s", kv)
		}
	}
	for k := range s.EnvSecrets {
		if strings.HasPrefix(k, "TEROK_") {
			bad("env secret %s", k)
		}
	}
	for k := range s.Annotations {
		if strings.HasPrefix(k, "terok.") {
			bad("annotation %s", k)
		}
	}
	for k := range s.Labels {
		if strings.HasPrefix(k, "terok.") {
			bad("label %s", k)
		}
	}
	sort.Strings(v)
	return v
}

// gate1Touched lists the owned fields that only flags CheckPolicy refuses
// can set; a line CheckPolicy accepts must leave them all alone, whatever
// gate 2 would say.
func gate1Touched(s *specgen.SpecGenerator) []string {
	var v []string
	bad := func(format string, args ...any) { v = append(v, fmt.Sprintf(format, args...)) }
	if s.Name != "" {
		bad("name %q (only --name sets it)", s.Name)
	}
	if s.NetNS != (specgen.Namespace{}) {
		bad("network namespace %+v (only --network sets it)", s.NetNS)
	}
	if len(s.CapAdd) > 0 || len(s.CapDrop) > 0 {
		bad("capabilities +%v -%v (only --cap-add/--cap-drop set them)", s.CapAdd, s.CapDrop)
	}
	if s.Privileged != nil && *s.Privileged {
		bad("privileged (only --privileged sets it)")
	}
	if len(s.SelinuxOpts) > 0 || s.ApparmorProfile != "" || s.SeccompProfilePath != "" || len(s.Unmask) > 0 {
		bad("security options (only --security-opt sets them)")
	}
	for k := range s.Annotations {
		if strings.HasPrefix(k, "terok.") {
			bad("annotation %s (only --annotation sets it)", k)
		}
	}
	for k := range s.Labels {
		if strings.HasPrefix(k, "terok.") {
			bad("label %s (only --label and --label-file set it)", k)
		}
	}
	for _, vol := range s.OverlayVolumes {
		// Only -v makes overlay volumes.
		if ownsDest(vol.Destination) {
			bad("overlay volume at %q (only -v makes one)", vol.Destination)
		}
	}
	return v
}

func mapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
