package specmutate_test

import (
	"errors"
	"path"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/containers/podman/v5/pkg/specgen"
	spec "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sandwire/sandwire/specmutate"
	"github.com/sandwire/sandwire/wiring"
	nettypes "go.podman.io/common/libnetwork/types"
	"go.podman.io/storage/pkg/idtools"
	"go.podman.io/storage/types"
)

// conflictCase is one spec setting that touches what the sandbox owns.
type conflictCase struct {
	name string
	// mutate adds the setting to a spec; it only adds, so several can be
	// combined on one spec.
	mutate func(s *specgen.SpecGenerator, f fixture)
	// edits replaces the fixture's edits; nil means the fixture's.
	edits func(f fixture) *wiring.Edits
	// field is the Conflict.Field the setting must be reported under.
	field string
	// solo marks a case that sets a scalar another case sets too, so it
	// cannot be combined with the others on one spec.
	solo bool
}

func setEnv(s *specgen.SpecGenerator, k, v string) {
	if s.Env == nil {
		s.Env = map[string]string{}
	}
	s.Env[k] = v
}

func setAnnotation(s *specgen.SpecGenerator, k, v string) {
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations[k] = v
}

func setLabel(s *specgen.SpecGenerator, k, v string) {
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	s.Labels[k] = v
}

func idMappings(s *specgen.SpecGenerator) *types.IDMappingOptions {
	if s.IDMappings == nil {
		s.IDMappings = &types.IDMappingOptions{}
	}
	return s.IDMappings
}

// pathKinds are the ways a spec can put something at a container path.
var pathKinds = []struct {
	name, flag string
	add        func(s *specgen.SpecGenerator, dest string)
}{
	{"tmpfs mount", "--mount", func(s *specgen.SpecGenerator, d string) {
		s.Mounts = append(s.Mounts, spec.Mount{Type: "tmpfs", Source: "tmpfs", Destination: d})
	}},
	{"named volume", "--volume", func(s *specgen.SpecGenerator, d string) {
		s.Volumes = append(s.Volumes, &specgen.NamedVolume{Name: "vol", Dest: d})
	}},
	{"overlay volume", "--volume", func(s *specgen.SpecGenerator, d string) {
		s.OverlayVolumes = append(s.OverlayVolumes, &specgen.OverlayVolume{Source: "/srv/lower", Destination: d})
	}},
	{"image volume", "--mount", func(s *specgen.SpecGenerator, d string) {
		s.ImageVolumes = append(s.ImageVolumes, &specgen.ImageVolume{Source: "other-image", Destination: d})
	}},
	{"artifact volume", "--mount", func(s *specgen.SpecGenerator, d string) {
		s.ArtifactVolumes = append(s.ArtifactVolumes, &specgen.ArtifactVolume{Source: "artifact", Destination: d})
	}},
	{"secret", "--secret", func(s *specgen.SpecGenerator, d string) {
		s.Secrets = append(s.Secrets, specgen.Secret{Source: "sec", Target: d})
	}},
	{"device", "--device", func(s *specgen.SpecGenerator, d string) {
		s.Devices = append(s.Devices, spec.LinuxDevice{Path: d})
	}},
}

// ownedPaths are container paths the sandbox owns (with the fixture's edits).
var ownedPaths = []struct{ name, dest string }{
	{"at /run/terok", runtimeDir},
	{"below /run/terok", "/run/terok/vault/vault.sock"},
	{"at the bridges dir", bridgesDir},
	{"below the bridges dir", bridgesDir + "/ensure-bridges.sh"},
	{"at a destination the edits mount", "/etc/resolv.conf"},
	{"at /run/terok spelled with a trailing slash", runtimeDir + "/"},
}

func conflictCases() []conflictCase {
	noNetwork := func(f fixture) *wiring.Edits { e := f.edits(); e.Network = nil; return e }
	noUserNS := func(f fixture) *wiring.Edits { e := f.edits(); e.UserNS = nil; return e }
	cases := []conflictCase{
		{name: "different --name", field: "--name",
			mutate: func(s *specgen.SpecGenerator, _ fixture) { s.Name = "other" }},
		{name: "--name when the edits set none", field: "--name", edits: func(f fixture) *wiring.Edits { e := f.edits(); e.Name = ""; return e },
			mutate: func(s *specgen.SpecGenerator, _ fixture) { s.Name = "web" }},
		{name: "pod", field: "--pod",
			mutate: func(s *specgen.SpecGenerator, _ fixture) { s.Pod = "mypod" }},
		{name: "network namespace other than the edits'", field: "--network",
			mutate: func(s *specgen.SpecGenerator, _ fixture) { s.NetNS = specgen.Namespace{NSMode: specgen.Host} }},
		{name: "network namespace when the edits set none", field: "--network", edits: noNetwork,
			mutate: func(s *specgen.SpecGenerator, _ fixture) { s.NetNS = specgen.Namespace{NSMode: specgen.Pasta} }},
		{name: "networks", field: "--network",
			mutate: func(s *specgen.SpecGenerator, _ fixture) {
				s.Networks = map[string]nettypes.PerNetworkOptions{"mynet": {}}
			}},
		{name: "network options for another mode", field: "--network",
			mutate: func(s *specgen.SpecGenerator, _ fixture) {
				s.NetworkOptions = map[string][]string{"slirp4netns": {"allow_host_loopback=true"}}
			}},
		{name: "network options when the edits set no network", field: "--network", edits: noNetwork,
			mutate: func(s *specgen.SpecGenerator, _ fixture) {
				s.NetworkOptions = map[string][]string{"pasta": {"-T", "80"}}
			}},
		{name: "network options for the edits' mode with other values", field: "--network", solo: true,
			mutate: func(s *specgen.SpecGenerator, _ fixture) {
				s.NetworkOptions = map[string][]string{"pasta": {"-t", "8080"}}
			}},
		{name: "CNI networks", field: "--network",
			mutate: func(s *specgen.SpecGenerator, _ fixture) { s.CNINetworks = []string{"cni0"} }},
		{name: "user namespace other than the edits'", field: "--userns",
			mutate: func(s *specgen.SpecGenerator, _ fixture) { s.UserNS = specgen.Namespace{NSMode: specgen.Host} }},
		{name: "keep-id with other IDs", field: "--userns", solo: true,
			mutate: func(s *specgen.SpecGenerator, _ fixture) {
				s.UserNS = specgen.Namespace{NSMode: specgen.KeepID, Value: "uid=0"}
			}},
		{name: "user namespace when the edits set none", field: "--userns", edits: noUserNS,
			mutate: func(s *specgen.SpecGenerator, _ fixture) { s.UserNS = specgen.Namespace{NSMode: specgen.KeepID} }},
		{name: "UID map", field: "--uidmap",
			mutate: func(s *specgen.SpecGenerator, _ fixture) {
				m := idMappings(s)
				m.UIDMap = append(m.UIDMap, idtools.IDMap{ContainerID: 0, HostID: 100000, Size: 65536})
			}},
		{name: "GID map", field: "--gidmap",
			mutate: func(s *specgen.SpecGenerator, _ fixture) {
				m := idMappings(s)
				m.GIDMap = append(m.GIDMap, idtools.IDMap{ContainerID: 0, HostID: 100000, Size: 65536})
			}},
		{name: "automatic user namespace", field: "--userns",
			mutate: func(s *specgen.SpecGenerator, _ fixture) { idMappings(s).AutoUserNs = true }},
		{name: "added capability", field: "--cap-add",
			mutate: func(s *specgen.SpecGenerator, _ fixture) { s.CapAdd = append(s.CapAdd, "CAP_SYS_ADMIN") }},
		{name: "dropped capability the edits do not drop", field: "--cap-drop",
			mutate: func(s *specgen.SpecGenerator, _ fixture) { s.CapDrop = append(s.CapDrop, "CAP_MKNOD") }},
		{name: "privileged", field: "--privileged",
			mutate: func(s *specgen.SpecGenerator, _ fixture) { t := true; s.Privileged = &t }},
		{name: "SELinux options", field: "--security-opt",
			mutate: func(s *specgen.SpecGenerator, _ fixture) { s.SelinuxOpts = append(s.SelinuxOpts, "disable") }},
		{name: "AppArmor profile", field: "--security-opt",
			mutate: func(s *specgen.SpecGenerator, _ fixture) { s.ApparmorProfile = "unconfined" }},
		{name: "seccomp profile", field: "--security-opt",
			mutate: func(s *specgen.SpecGenerator, _ fixture) { s.SeccompProfilePath = "unconfined" }},
		{name: "seccomp policy other than default", field: "--seccomp-policy",
			mutate: func(s *specgen.SpecGenerator, _ fixture) { s.SeccompPolicy = "image" }},
		{name: "unmasked paths", field: "--security-opt",
			mutate: func(s *specgen.SpecGenerator, _ fixture) { s.Unmask = append(s.Unmask, "ALL") }},
		{name: "bind mount at /run/terok from another source", field: "--mount " + runtimeDir,
			mutate: func(s *specgen.SpecGenerator, _ fixture) {
				s.Mounts = append(s.Mounts, spec.Mount{Type: "bind", Source: "/evil", Destination: runtimeDir})
			}},
		{name: "bind mount of the sandbox's source at another owned path", field: "--mount /run/terok/vault",
			mutate: func(s *specgen.SpecGenerator, f fixture) {
				s.Mounts = append(s.Mounts, spec.Mount{Type: "bind", Source: f.runtime, Destination: "/run/terok/vault"})
			}},
		{name: "volumes from another container", field: "--volumes-from",
			mutate: func(s *specgen.SpecGenerator, _ fixture) { s.VolumesFrom = append(s.VolumesFrom, "other") }},
		{name: "env TEROK_X", field: "--env",
			mutate: func(s *specgen.SpecGenerator, _ fixture) { setEnv(s, "TEROK_X", "1") }},
		{name: "env of a sandbox variable with another value", field: "--env",
			mutate: func(s *specgen.SpecGenerator, _ fixture) { setEnv(s, "TEROK_VAULT_SOCKET", "/tmp/evil.sock") }},
		{name: "env-merge TEROK_X", field: "--env-merge",
			mutate: func(s *specgen.SpecGenerator, _ fixture) { s.EnvMerge = append(s.EnvMerge, "TEROK_X=${TEROK_X}x") }},
		{name: "env secret TEROK_X", field: "--secret",
			mutate: func(s *specgen.SpecGenerator, _ fixture) {
				if s.EnvSecrets == nil {
					s.EnvSecrets = map[string]string{}
				}
				s.EnvSecrets["TEROK_X"] = "sec"
			}},
		{name: "annotation terok.x", field: "--annotation",
			mutate: func(s *specgen.SpecGenerator, _ fixture) { setAnnotation(s, "terok.x", "1") }},
		{name: "sidecar annotation with another path", field: "--annotation",
			mutate: func(s *specgen.SpecGenerator, _ fixture) { setAnnotation(s, "terok.sandbox.sidecar", "/evil.json") }},
		{name: "label terok.x", field: "--label",
			mutate: func(s *specgen.SpecGenerator, _ fixture) { setLabel(s, "terok.x", "1") }},
		{name: "sidecar label with another path", field: "--label",
			mutate: func(s *specgen.SpecGenerator, _ fixture) { setLabel(s, "terok.sandbox.sidecar", "/evil.json") }},
		{name: "label in terok.* the edits do not set, with an empty value", field: "--label",
			mutate: func(s *specgen.SpecGenerator, _ fixture) { setLabel(s, "terok.shield.x", "") }},
		{name: "hosts entry for the sandbox's host name with another address", field: "--add-host",
			mutate: func(s *specgen.SpecGenerator, _ fixture) {
				s.HostAdd = append(s.HostAdd, "host.containers.internal:10.6.6.6")
			}},
		{name: "hosts entry naming the sandbox's host second, after a semicolon", field: "--add-host",
			mutate: func(s *specgen.SpecGenerator, _ fixture) {
				s.HostAdd = append(s.HostAdd, "x;host.containers.internal:6.6.6.6")
			}},
		{name: "hosts entry naming the sandbox's host in capitals", field: "--add-host",
			mutate: func(s *specgen.SpecGenerator, _ fixture) {
				s.HostAdd = append(s.HostAdd, "HOST.CONTAINERS.INTERNAL:6.6.6.6")
			}},
		{name: "env of a sandbox-owned variable the edits do not set, with an empty value", field: "--env",
			mutate: func(s *specgen.SpecGenerator, _ fixture) {
				if s.Env == nil {
					s.Env = map[string]string{}
				}
				s.Env["TEROK_UNSET_BY_EDITS"] = ""
			}},
		{name: "annotation in terok.* the edits do not set, with an empty value", field: "--annotation",
			mutate: func(s *specgen.SpecGenerator, _ fixture) { setAnnotation(s, "terok.shield.x", "") }},
		{name: "relative secret target that climbs into /run/terok", field: "--secret /run/terok/vault/vault.sock",
			mutate: func(s *specgen.SpecGenerator, _ fixture) {
				s.Secrets = append(s.Secrets, specgen.Secret{Source: "sec", Target: "../terok/vault/vault.sock"})
			}},
	}
	for _, k := range pathKinds {
		for _, p := range ownedPaths {
			cases = append(cases, conflictCase{
				name:  k.name + " " + p.name,
				field: k.flag + " " + path.Clean(p.dest),
				mutate: func(s *specgen.SpecGenerator, _ fixture) {
					k.add(s, p.dest)
				},
			})
		}
	}
	return cases
}

func (c conflictCase) editsFor(f fixture) *wiring.Edits {
	if c.edits != nil {
		return c.edits(f)
	}
	return f.edits()
}

func TestConflicts(t *testing.T) {
	f := newFixture(t)
	for _, tc := range conflictCases() {
		t.Run(tc.name+" is a conflict", func(t *testing.T) {
			build := func() *specgen.SpecGenerator {
				s := newSpec()
				tc.mutate(s, f)
				return s
			}
			s := build()
			err := specmutate.Conflicts(s, tc.editsFor(f))
			var ce *specmutate.ConflictError
			if !errors.As(err, &ce) {
				t.Fatalf("Conflicts = %v, want a *ConflictError", err)
			}
			if len(ce.Conflicts) != 1 || ce.Conflicts[0].Field != tc.field {
				t.Fatalf("conflicts = %v, want exactly one on %q", ce.Conflicts, tc.field)
			}
			if !strings.Contains(err.Error(), ce.Conflicts[0].String()) {
				t.Errorf("error %q does not name the conflict %q", err, ce.Conflicts[0])
			}

			// Apply refuses the spec and leaves it as it was.
			before := build()
			err = specmutate.Apply(s, tc.editsFor(f))
			if !errors.As(err, &ce) {
				t.Errorf("Apply = %v, want a *ConflictError", err)
			}
			if !reflect.DeepEqual(s, before) {
				t.Errorf("the refused Apply changed the spec:\n%+v\nwant\n%+v", s, before)
			}
		})
	}
}

func TestConflictsReportsEveryConflictAtOnce(t *testing.T) {
	f := newFixture(t)
	build := func() (*specgen.SpecGenerator, []string) {
		s := newSpec()
		var want []string
		for _, tc := range conflictCases() {
			if tc.edits != nil || tc.solo {
				continue // needs edits of its own, or collides with another case
			}
			tc.mutate(s, f)
			want = append(want, tc.field)
		}
		sort.Strings(want)
		return s, want
	}
	s, want := build()
	if len(want) < 40 {
		t.Fatalf("only %d conflicts were combined", len(want))
	}
	err := specmutate.Apply(s, f.edits())
	var ce *specmutate.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("Apply = %v, want a *ConflictError", err)
	}
	var got []string
	for _, c := range ce.Conflicts {
		got = append(got, c.Field)
		if !strings.Contains(err.Error(), c.String()) {
			t.Errorf("error does not name %q", c)
		}
	}
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("conflict fields =\n%q\nwant\n%q", got, want)
	}
	if before, _ := build(); !reflect.DeepEqual(s, before) {
		t.Error("the refused Apply changed the spec")
	}
}

func TestConflictsAllowsWhatTheSandboxDoesNotOwn(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name   string
		mutate func(s *specgen.SpecGenerator)
	}{
		{"env outside TEROK_", func(s *specgen.SpecGenerator) { setEnv(s, "FOO", "bar"); setEnv(s, "XTEROK_A", "1") }},
		{"env of a sandbox variable with the edits' value", func(s *specgen.SpecGenerator) {
			setEnv(s, "TEROK_VAULT_SOCKET", "/run/terok/vault/vault.sock")
		}},
		{"env-merge outside TEROK_", func(s *specgen.SpecGenerator) { s.EnvMerge = []string{"PATH=${PATH}:/opt/bin"} }},
		{"env secret outside TEROK_", func(s *specgen.SpecGenerator) { s.EnvSecrets = map[string]string{"API_KEY": "sec"} }},
		{"annotation outside terok.", func(s *specgen.SpecGenerator) { setAnnotation(s, "io.podman.annotations.x", "1") }},
		{"annotation with the edits' value", func(s *specgen.SpecGenerator) { setAnnotation(s, "terok.sandbox.sidecar", f.sidecar) }},
		{"the edits' own name", func(s *specgen.SpecGenerator) { s.Name = "web" }},
		{"the edits' own network", func(s *specgen.SpecGenerator) {
			s.NetNS = specgen.Namespace{NSMode: specgen.Pasta}
			s.NetworkOptions = map[string][]string{"pasta": {"--map-host-loopback", "169.254.1.2"}}
		}},
		{"the edits' own user namespace", func(s *specgen.SpecGenerator) {
			s.UserNS = specgen.Namespace{NSMode: specgen.KeepID, Value: "uid=1000,gid=1000"}
		}},
		{"empty ID mappings", func(s *specgen.SpecGenerator) { s.IDMappings = &types.IDMappingOptions{} }},
		{"the edits' cap drop in another case", func(s *specgen.SpecGenerator) { s.CapDrop = []string{"cap_net_raw"} }},
		{"privileged explicitly off", func(s *specgen.SpecGenerator) { off := false; s.Privileged = &off }},
		{"default seccomp policy", func(s *specgen.SpecGenerator) { s.SeccompPolicy = "default" }},
		{"the edits' own mounts", func(s *specgen.SpecGenerator) {
			s.Mounts = []spec.Mount{
				{Type: "bind", Source: f.runtime, Destination: runtimeDir, Options: []string{"ro", "z"}},
				{Type: "bind", Source: f.bridges, Destination: bridgesDir + "/"},
			}
		}},
		{"mounts next to the owned paths", func(s *specgen.SpecGenerator) {
			s.Mounts = []spec.Mount{
				{Type: "tmpfs", Destination: "/run/terokx"},
				{Type: "tmpfs", Destination: "/run"},
				{Type: "bind", Source: "/srv", Destination: "/usr/local/share/terok-sandbox"},
				{Type: "bind", Source: "/srv", Destination: "/etc/resolv.conf.d"},
			}
		}},
		{"volumes elsewhere", func(s *specgen.SpecGenerator) {
			s.Volumes = []*specgen.NamedVolume{{Name: "v", Dest: "/data"}}
			s.OverlayVolumes = []*specgen.OverlayVolume{{Source: "/srv", Destination: "/overlay"}}
			s.ImageVolumes = []*specgen.ImageVolume{{Source: "img", Destination: "/img"}}
		}},
		{"secret under /run/secrets by a relative target", func(s *specgen.SpecGenerator) {
			s.Secrets = []specgen.Secret{{Source: "sec", Target: "terok"}}
		}},
		{"hosts entries for other names", func(s *specgen.SpecGenerator) {
			s.HostAdd = []string{"db:10.0.0.5", "host.containers.internal:169.254.1.2"}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is not a conflict", func(t *testing.T) {
			s := newSpec()
			tc.mutate(s)
			if err := specmutate.Conflicts(s, f.edits()); err != nil {
				t.Fatalf("Conflicts = %v, want nil", err)
			}
			if err := specmutate.Apply(s, f.edits()); err != nil {
				t.Errorf("Apply = %v, want nil", err)
			}
		})
	}
}

func TestConflictsWithNilEdits(t *testing.T) {
	s := newSpec()
	s.Name = "mine"
	setEnv(s, "TEROK_X", "1")
	err := specmutate.Conflicts(s, nil)
	var ce *specmutate.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("Conflicts(spec, nil) = %v, want a *ConflictError", err)
	}
	var got []string
	for _, c := range ce.Conflicts {
		got = append(got, c.Field)
	}
	if want := []string{"--name", "--env"}; !reflect.DeepEqual(got, want) {
		t.Errorf("conflict fields = %q, want %q", got, want)
	}
	if err := specmutate.Conflicts(newSpec(), nil); err != nil {
		t.Errorf("Conflicts(fresh spec, nil) = %v, want nil", err)
	}
}

func TestConflictString(t *testing.T) {
	cases := []struct {
		name string
		c    specmutate.Conflict
		want string
	}{
		{"conflict with a detail", specmutate.Conflict{Field: "--cap-add", Detail: "CAP_SYS_ADMIN"}, "--cap-add (CAP_SYS_ADMIN)"},
		{"conflict without a detail", specmutate.Conflict{Field: "--pod"}, "--pod"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
	err := &specmutate.ConflictError{Conflicts: []specmutate.Conflict{cases[0].c, cases[1].c}}
	if got := err.Error(); !strings.HasSuffix(got, ": --cap-add (CAP_SYS_ADMIN); --pod") {
		t.Errorf("Error() = %q, want it to end with both conflicts, ;-separated", got)
	}
}
