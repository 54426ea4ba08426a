package launch

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/containers/podman/v5/libpod/define"
	"github.com/containers/podman/v5/pkg/api/handlers"
	"github.com/containers/podman/v5/pkg/specgen"
	dockerContainer "github.com/docker/docker/api/types/container"
	dockerMount "github.com/docker/docker/api/types/mount"
	spec "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sandwire/sandwire/wiring"
	nettypes "go.podman.io/common/libnetwork/types"
)

// dockerSpec is what gate 2 needs to know of the spec podman will make of
// a Docker create body: every field through which the body could touch
// what the sandbox owns or show the sandbox's host state, parsed with
// podman's own parsers where podman's conversion uses them (volumes,
// namespaces, networks). The rest of the body does not matter to the
// gate and is left out.
func dockerSpec(c *handlers.CreateContainerConfig) (*specgen.SpecGenerator, error) {
	h := &c.HostConfig
	s := &specgen.SpecGenerator{}
	s.Env = map[string]string{}
	for _, kv := range c.Config.Env {
		k, v, _ := strings.Cut(kv, "=")
		s.Env[k] = v
	}
	s.EnvMerge, s.UnsetEnv = c.EnvMerge, c.UnsetEnv
	s.Annotations = h.Annotations
	s.Labels = c.Config.Labels
	s.CapAdd, s.CapDrop = h.CapAdd, h.CapDrop
	if h.Privileged {
		s.Privileged = &h.Privileged
	}
	securityOpts(s, h.SecurityOpt)
	s.HostAdd = h.ExtraHosts
	s.VolumesFrom = h.VolumesFrom
	if err := dockerNamespaces(s, c); err != nil {
		return nil, err
	}
	if err := dockerVolumes(s, c); err != nil {
		return nil, err
	}
	for dest := range h.Tmpfs {
		s.Mounts = append(s.Mounts, spec.Mount{Type: "tmpfs", Destination: dest})
	}
	for _, d := range h.Devices {
		s.Devices = append(s.Devices, spec.LinuxDevice{Path: d.PathOnHost})
		// The device node appears at its container path, which may shadow
		// the sandbox's mounts.
		s.Mounts = append(s.Mounts, spec.Mount{Type: "device", Source: d.PathOnHost, Destination: d.PathInContainer})
	}
	return s, nil
}

// securityOpts puts Docker's --security-opt values where gate 2 looks for
// them; the ones that only tighten confinement are left out.
func securityOpts(s *specgen.SpecGenerator, opts []string) {
	for _, o := range opts {
		k, v, _ := strings.Cut(strings.Replace(o, ":", "=", 1), "=")
		switch k {
		case "no-new-privileges", "mask":
		case "apparmor":
			s.ApparmorProfile = v
		case "seccomp":
			s.SeccompProfilePath = v
		case "unmask":
			s.Unmask = append(s.Unmask, v)
		default:
			s.SelinuxOpts = append(s.SelinuxOpts, o)
		}
	}
}

// dockerNamespaces parses the body's network, user, PID and IPC modes as
// podman's conversion does.
func dockerNamespaces(s *specgen.SpecGenerator, c *handlers.CreateContainerConfig) error {
	h := &c.HostConfig
	if mode := string(h.NetworkMode); mode != "" && mode != "default" {
		ns, nets, opts, err := specgen.ParseNetworkFlag([]string{mode})
		if err != nil {
			return fmt.Errorf("network mode %q: %w", mode, err)
		}
		s.NetNS, s.Networks, s.NetworkOptions = ns, nets, opts
	}
	for name := range c.NetworkingConfig.EndpointsConfig {
		if name == "default" && (h.NetworkMode == "" || h.NetworkMode == "default") {
			continue // the docker CLI restating the default network
		}
		if s.Networks == nil {
			s.Networks = map[string]nettypes.PerNetworkOptions{}
		}
		s.Networks[name] = nettypes.PerNetworkOptions{}
	}
	var err error
	if h.UsernsMode != "" {
		if s.UserNS, err = specgen.ParseUserNamespace(string(h.UsernsMode)); err != nil {
			return fmt.Errorf("user namespace %q: %w", h.UsernsMode, err)
		}
	}
	if h.PidMode != "" {
		if s.PidNS, err = specgen.ParseNamespace(string(h.PidMode)); err != nil {
			return fmt.Errorf("PID namespace %q: %w", h.PidMode, err)
		}
	}
	if h.IpcMode != "" {
		if s.IpcNS, err = specgen.ParseIPCNamespace(string(h.IpcMode)); err != nil {
			return fmt.Errorf("IPC namespace %q: %w", h.IpcMode, err)
		}
	}
	return nil
}

// dockerVolumes parses the body's binds, anonymous volumes and mounts.
func dockerVolumes(s *specgen.SpecGenerator, c *handlers.CreateContainerConfig) error {
	vols := slices.Clone(c.HostConfig.Binds)
	for dest := range c.Config.Volumes {
		vols = append(vols, dest)
	}
	binds, named, overlays, err := specgen.GenVolumeMounts(vols)
	if err != nil {
		return err
	}
	for _, dest := range slices.Sorted(maps.Keys(binds)) {
		s.Mounts = append(s.Mounts, binds[dest])
	}
	for _, dest := range slices.Sorted(maps.Keys(named)) {
		s.Volumes = append(s.Volumes, named[dest])
	}
	for _, dest := range slices.Sorted(maps.Keys(overlays)) {
		s.OverlayVolumes = append(s.OverlayVolumes, overlays[dest])
	}
	for _, m := range c.HostConfig.Mounts {
		switch m.Type {
		case dockerMount.TypeVolume:
			s.Volumes = append(s.Volumes, &specgen.NamedVolume{Name: m.Source, Dest: m.Target})
		case dockerMount.TypeImage:
			s.ImageVolumes = append(s.ImageVolumes, &specgen.ImageVolume{Source: m.Source, Destination: m.Target})
		default:
			s.Mounts = append(s.Mounts, spec.Mount{Type: string(m.Type), Source: m.Source, Destination: m.Target})
		}
	}
	return nil
}

// wireDocker returns a copy of body with edits put on it in Docker's own
// form — binds, environment, annotations, network, user namespace,
// capability drops, hosts entries, name — so that podman makes of it the
// container it makes of body, plus the wiring. body is left as it was.
func wireDocker(body *handlers.CreateContainerConfig, edits *wiring.Edits) *handlers.CreateContainerConfig {
	c := *body
	h := &c.HostConfig
	if edits.Name != "" {
		c.Name = edits.Name
	}
	c.Config.Env = slices.DeleteFunc(slices.Clone(c.Config.Env), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		_, ours := edits.Env[k]
		return ours
	})
	for _, k := range slices.Sorted(maps.Keys(edits.Env)) {
		c.Config.Env = append(c.Config.Env, k+"="+edits.Env[k])
	}
	if edits.Network != nil {
		h.NetworkMode = dockerContainer.NetworkMode(edits.Network.String())
		c.NetworkingConfig.EndpointsConfig = nil
	}
	if len(edits.Labels) > 0 {
		// Labels are what the server's events carry: the watch knows a
		// wired container by its sidecar label.
		labels := maps.Clone(c.Config.Labels)
		if labels == nil {
			labels = map[string]string{}
		}
		maps.Copy(labels, edits.Labels)
		c.Config.Labels = labels
	}
	annotations := maps.Clone(h.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	maps.Copy(annotations, edits.Annotations)
	if edits.UserNS != nil {
		h.UsernsMode = dockerContainer.UsernsMode(edits.UserNS.String())
		annotations[define.UserNsAnnotation] = edits.UserNS.String()
	}
	h.Annotations = annotations
	drops := slices.Clone(h.CapDrop)
	for _, d := range edits.CapDrop {
		if !slices.ContainsFunc(drops, func(x string) bool { return strings.EqualFold(x, d) }) {
			drops = append(drops, d)
		}
	}
	h.CapDrop = drops
	hosts := slices.Clone(h.ExtraHosts)
	for _, e := range edits.Hosts {
		hosts = wiring.ReplaceHost(hosts, e)
	}
	h.ExtraHosts = hosts
	bindsOut := slices.Clone(h.Binds)
	for _, m := range edits.Mounts {
		bindsOut = slices.DeleteFunc(bindsOut, func(b string) bool {
			parts := specgen.SplitVolumeString(b)
			return len(parts) > 1 && path.Clean(parts[1]) == path.Clean(m.Destination)
		})
		bind := m.Source + ":" + m.Destination
		if opts := m.Options(); len(opts) > 0 {
			bind += ":" + strings.Join(opts, ",")
		}
		bindsOut = append(bindsOut, bind)
	}
	h.Binds = bindsOut
	return &c
}
