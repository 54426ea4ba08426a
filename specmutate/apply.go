package specmutate

import (
	"fmt"
	"maps"
	"path"
	"slices"

	"github.com/containers/podman/v5/libpod/define"
	"github.com/containers/podman/v5/pkg/specgen"
	spec "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sandwire/sandwire/wiring"
)

// Apply puts edits onto s: name, network and user namespace, dropped
// capabilities, hosts entries, bind mounts, environment, annotations and labels. It first
// validates the edits and checks s for conflicts (see Conflicts); on any
// error s is left exactly as it was. Applying the same edits again gives
// the same spec.
func Apply(s *specgen.SpecGenerator, edits *wiring.Edits) error {
	if s == nil {
		return fmt.Errorf("applying sandbox edits: the spec is nil")
	}
	if edits == nil {
		return nil
	}
	if err := edits.Validate(); err != nil {
		return err
	}
	if err := Conflicts(s, edits); err != nil {
		return err
	}
	// Everything that can fail is computed before s is touched.
	var netNS, userNSValue specgen.Namespace
	var netOpts map[string][]string
	var err error
	if edits.Network != nil {
		if netNS, netOpts, err = network(edits.Network); err != nil {
			return err
		}
	}
	if edits.UserNS != nil {
		if userNSValue, err = userNS(edits.UserNS); err != nil {
			return err
		}
	}

	if edits.Name != "" {
		s.Name = edits.Name
	}
	if edits.Network != nil {
		s.NetNS = netNS
		s.NetworkOptions = netOpts
	}
	if edits.UserNS != nil {
		s.UserNS = userNSValue
	}
	// Maps and slices are replaced, never written through, so a spec that
	// shares them with a caller's copy leaves that copy untouched.
	if len(edits.CapDrop) > 0 {
		drops := slices.Clone(s.CapDrop)
		for _, c := range edits.CapDrop {
			if !containsFold(drops, c) {
				drops = append(drops, c)
			}
		}
		s.CapDrop = drops
	}
	for _, m := range edits.Mounts {
		s.Mounts = replaceMount(s.Mounts, bindMount(m))
	}
	for _, h := range edits.Hosts {
		s.HostAdd = wiring.ReplaceHost(s.HostAdd, h)
	}
	if len(edits.Env) > 0 {
		s.Env = mergeInto(s.Env, edits.Env)
	}
	annotations := edits.Annotations
	if edits.UserNS != nil {
		// podman's --userns records the mode in this annotation (and
		// images run by terok-sandbox carried it); the sandbox owns the
		// user namespace, so it owns its record too.
		annotations = maps.Clone(annotations)
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations[define.UserNsAnnotation] = edits.UserNS.String()
	}
	if len(annotations) > 0 {
		s.Annotations = mergeInto(s.Annotations, annotations)
	}
	if len(edits.Labels) > 0 {
		s.Labels = mergeInto(s.Labels, edits.Labels)
	}
	return nil
}

// bindMount renders a sandbox mount as podman-remote renders `-v src:dst:opts`.
func bindMount(m wiring.Mount) spec.Mount {
	return spec.Mount{Type: "bind", Source: m.Source, Destination: m.Destination, Options: m.Options()}
}

func replaceMount(mounts []spec.Mount, m spec.Mount) []spec.Mount {
	out := mounts[:0:0]
	for _, old := range mounts {
		if path.Clean(old.Destination) != path.Clean(m.Destination) {
			out = append(out, old)
		}
	}
	return append(out, m)
}

// network parses the edits' network with podman's own parser, so a mode
// means on the spec what it means to `podman run --network`.
func network(n *wiring.Network) (specgen.Namespace, map[string][]string, error) {
	ns, nets, opts, err := specgen.ParseNetworkFlag([]string{n.String()})
	if err != nil {
		return ns, nil, fmt.Errorf("sandbox network %q: %w", n.String(), err)
	}
	if len(nets) > 0 {
		// Named and bridge networks carry per-network settings a
		// namespace mode cannot hold; the sandbox never asks for them.
		return ns, nil, fmt.Errorf("sandbox network %q: named or bridge networks are not supported as sandbox edits", n.String())
	}
	return ns, opts, nil
}

func netNS(n *wiring.Network) (specgen.Namespace, error) {
	if n == nil {
		return specgen.Namespace{}, nil
	}
	ns, _, err := network(n)
	return ns, err
}

func userNS(u *wiring.UserNS) (specgen.Namespace, error) {
	if u == nil {
		return specgen.Namespace{}, nil
	}
	ns, err := specgen.ParseUserNamespace(u.String())
	if err != nil {
		return ns, fmt.Errorf("sandbox user namespace %q: %w", u.String(), err)
	}
	return ns, nil
}

// mergeInto returns a new map holding base with over's keys replaced.
func mergeInto(base, over map[string]string) map[string]string {
	out := make(map[string]string, len(base)+len(over))
	maps.Copy(out, base)
	maps.Copy(out, over)
	return out
}

func containsFold(list []string, s string) bool {
	return len(notIn([]string{s}, list)) == 0
}
