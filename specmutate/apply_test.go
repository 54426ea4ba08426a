package specmutate_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/containers/podman/v5/pkg/specgen"
	spec "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sandwire/sandwire/specmutate"
	"github.com/sandwire/sandwire/wiring"
)

func TestApply(t *testing.T) {
	f := newFixture(t)
	s := newSpec()
	if err := specmutate.Apply(s, f.edits()); err != nil {
		t.Fatalf("Apply = %v", err)
	}

	want := newSpec()
	want.Name = "web"
	want.NetNS = specgen.Namespace{NSMode: specgen.Pasta}
	want.NetworkOptions = map[string][]string{"pasta": {"--map-host-loopback", "169.254.1.2"}}
	want.UserNS = specgen.Namespace{NSMode: specgen.KeepID, Value: "uid=1000,gid=1000"}
	want.CapDrop = []string{"CAP_NET_RAW"}
	want.HostAdd = []string{"host.containers.internal:169.254.1.2"}
	want.Mounts = []spec.Mount{
		{Type: "bind", Source: f.bridges, Destination: bridgesDir, Options: []string{"ro", "z"}},
		{Type: "bind", Source: f.runtime, Destination: runtimeDir, Options: []string{"ro", "z"}},
		{Type: "bind", Source: f.resolv, Destination: "/etc/resolv.conf", Options: []string{"ro"}},
	}
	want.Env = map[string]string{
		"TEROK_VAULT_LOOPBACK_PORT": "9419",
		"TEROK_VAULT_SOCKET":        "/run/terok/vault/vault.sock",
		"TEROK_SSH_SIGNER_TOKEN":    "terok-p-00000000000000000000000000000000",
	}
	want.Annotations = map[string]string{"terok.sandbox.sidecar": f.sidecar, userNSAnnotation: "keep-id:uid=1000,gid=1000"}
	want.Labels = map[string]string{"terok.sandbox.sidecar": f.sidecar}

	if !reflect.DeepEqual(s, want) {
		t.Errorf("Apply gave\n%+v\nwant\n%+v", s, want)
	}
}

func TestApplyNetwork(t *testing.T) {
	cases := []struct {
		name     string
		network  wiring.Network
		wantNS   specgen.Namespace
		wantOpts map[string][]string
	}{
		{"pasta without options", wiring.Network{Mode: "pasta"}, specgen.Namespace{NSMode: specgen.Pasta}, nil},
		{"pasta with options", wiring.Network{Mode: "pasta", Options: []string{"-T", "8080"}},
			specgen.Namespace{NSMode: specgen.Pasta}, map[string][]string{"pasta": {"-T", "8080"}}},
		{"slirp4netns with host loopback", wiring.Network{Mode: "slirp4netns", Options: []string{"allow_host_loopback=true"}},
			specgen.Namespace{NSMode: specgen.Slirp}, map[string][]string{"slirp4netns": {"allow_host_loopback=true"}}},
		{"no network", wiring.Network{Mode: "none"}, specgen.Namespace{NSMode: specgen.NoNetwork}, nil},
		{"host network", wiring.Network{Mode: "host"}, specgen.Namespace{NSMode: specgen.Host}, nil},
		{"private network", wiring.Network{Mode: "private"}, specgen.Namespace{NSMode: specgen.Private}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is parsed as podman parses --network", func(t *testing.T) {
			s := newSpec()
			if err := specmutate.Apply(s, &wiring.Edits{Network: &tc.network}); err != nil {
				t.Fatalf("Apply = %v", err)
			}
			want := newSpec()
			want.NetNS, want.NetworkOptions = tc.wantNS, tc.wantOpts
			if !reflect.DeepEqual(s, want) {
				t.Errorf("Apply gave NetNS %+v, options %v; want %+v, %v", s.NetNS, s.NetworkOptions, tc.wantNS, tc.wantOpts)
			}
		})
	}
}

func TestApplyUserNamespace(t *testing.T) {
	// podman's --userns also records the mode, as spelled, in an
	// annotation; so does Apply.
	cases := []struct {
		name   string
		userns wiring.UserNS
		want   specgen.Namespace
		record string
	}{
		{"keep-id with IDs", wiring.UserNS{Mode: "keep-id", UID: 1000, GID: 1000}, specgen.Namespace{NSMode: specgen.KeepID, Value: "uid=1000,gid=1000"}, "keep-id:uid=1000,gid=1000"},
		{"bare keep-id", wiring.UserNS{Mode: "keep-id"}, specgen.Namespace{NSMode: specgen.KeepID}, "keep-id"},
		{"auto", wiring.UserNS{Mode: "auto"}, specgen.Namespace{NSMode: specgen.Auto}, "auto"},
		{"nomap", wiring.UserNS{Mode: "nomap"}, specgen.Namespace{NSMode: specgen.NoMap}, "nomap"},
		{"host", wiring.UserNS{Mode: "host"}, specgen.Namespace{NSMode: specgen.Host}, "host"},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is parsed as podman parses --userns", func(t *testing.T) {
			s := newSpec()
			if err := specmutate.Apply(s, &wiring.Edits{UserNS: &tc.userns}); err != nil {
				t.Fatalf("Apply = %v", err)
			}
			want := newSpec()
			want.UserNS = tc.want
			want.Annotations = map[string]string{userNSAnnotation: tc.record}
			if !reflect.DeepEqual(s, want) {
				t.Errorf("Apply gave UserNS %+v, annotations %v; want %+v, %v", s.UserNS, s.Annotations, tc.want, want.Annotations)
			}
		})
	}
}

func TestApplyIsIdempotent(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name string
		// start builds the spec before the edits are applied.
		start func() *specgen.SpecGenerator
	}{
		{"fresh spec", newSpec},
		{"spec with the user's own env, annotations, labels, mounts, caps and hosts", func() *specgen.SpecGenerator {
			s := newSpec()
			s.Env = map[string]string{"FOO": "old"}
			s.Annotations = map[string]string{"io.example/owner": "me"}
			s.Labels = map[string]string{"app": "web"}
			s.Mounts = []spec.Mount{{Type: "bind", Source: "/srv/data", Destination: "/data"}}
			s.CapDrop = []string{"cap_net_raw"}
			s.HostAdd = []string{"db:10.0.0.5"}
			return s
		}},
	}
	for _, tc := range cases {
		t.Run("applying twice to a "+tc.name+" equals applying once", func(t *testing.T) {
			once := tc.start()
			if err := specmutate.Apply(once, f.edits()); err != nil {
				t.Fatalf("Apply = %v", err)
			}
			twice := tc.start()
			for i := range 2 {
				if err := specmutate.Apply(twice, f.edits()); err != nil {
					t.Fatalf("Apply #%d = %v", i+1, err)
				}
			}
			if !reflect.DeepEqual(twice, once) {
				t.Errorf("applying twice gave\n%+v\nonce gave\n%+v", twice, once)
			}
			if err := specmutate.Conflicts(once, f.edits()); err != nil {
				t.Errorf("Conflicts on a spec the edits were applied to = %v", err)
			}
		})
	}
}

func TestApplyKeepsTheUsersValues(t *testing.T) {
	f := newFixture(t)
	e := f.edits()
	s := newSpec()
	s.Env = map[string]string{"FOO": "old", "TEROK_VAULT_SOCKET": e.Env["TEROK_VAULT_SOCKET"]}
	s.Annotations = map[string]string{"io.example/owner": "me"}
	s.Labels = map[string]string{"app": "web", "terok.sandbox.sidecar": f.sidecar}
	s.Mounts = []spec.Mount{
		{Type: "bind", Source: "/srv/data", Destination: "/data"},
		// The sandbox's own mount, spelled differently: it is replaced, not doubled.
		{Type: "bind", Source: f.runtime, Destination: runtimeDir + "/", Options: []string{"rw"}},
	}
	s.CapDrop = []string{"cap_net_raw"}
	s.HostAdd = []string{"db:10.0.0.5", "host.containers.internal:169.254.1.2"}
	if err := specmutate.Apply(s, e); err != nil {
		t.Fatalf("Apply = %v", err)
	}

	wantEnv := map[string]string{"FOO": "old"}
	for k, v := range e.Env {
		wantEnv[k] = v
	}
	wantMounts := []spec.Mount{
		{Type: "bind", Source: "/srv/data", Destination: "/data"},
		{Type: "bind", Source: f.bridges, Destination: bridgesDir, Options: []string{"ro", "z"}},
		{Type: "bind", Source: f.runtime, Destination: runtimeDir, Options: []string{"ro", "z"}},
		{Type: "bind", Source: f.resolv, Destination: "/etc/resolv.conf", Options: []string{"ro"}},
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"env keeps FOO=old and adds the sandbox's variables", s.Env, wantEnv},
		{"annotations keep the user's and add the sandbox's", s.Annotations, map[string]string{"io.example/owner": "me", "terok.sandbox.sidecar": f.sidecar, userNSAnnotation: "keep-id:uid=1000,gid=1000"}},
		{"labels keep the user's and hold the sandbox's once", s.Labels, map[string]string{"app": "web", "terok.sandbox.sidecar": f.sidecar}},
		{"the sandbox's mount replaces its differently spelled twin", s.Mounts, wantMounts},
		{"a cap drop differing only in case is not doubled", s.CapDrop, []string{"cap_net_raw"}},
		{"hosts keep the user's entry and hold the sandbox's once", s.HostAdd, []string{"db:10.0.0.5", "host.containers.internal:169.254.1.2"}},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("got %v, want %v", c.got, c.want)
			}
		})
	}
}

func TestApplyDoesNotWriteThroughAShallowCopy(t *testing.T) {
	f := newFixture(t)
	build := func() *specgen.SpecGenerator {
		s := newSpec()
		s.Env = map[string]string{"FOO": "old"}
		s.Annotations = map[string]string{"io.example/owner": "me"}
		s.Labels = map[string]string{"app": "web"}
		// Spare capacity, so an in-place append would be invisible to len.
		s.Mounts = append(make([]spec.Mount, 0, 8), spec.Mount{Type: "bind", Source: "/srv/data", Destination: "/data"})
		s.CapDrop = append(make([]string, 0, 8), "CAP_NET_RAW")
		s.HostAdd = append(make([]string, 0, 8), "db:10.0.0.5")
		return s
	}
	spec1, before := build(), build()
	spec2 := *spec1
	if err := specmutate.Apply(&spec2, f.edits()); err != nil {
		t.Fatalf("Apply = %v", err)
	}
	if !reflect.DeepEqual(spec1, before) {
		t.Errorf("Apply on a shallow copy changed the original:\n%+v\nwant\n%+v", spec1, before)
	}
	spare := []struct {
		name string
		got  any
		want any
	}{
		{"mounts' spare capacity", spec1.Mounts[1:2], make([]spec.Mount, 1)},
		{"cap drops' spare capacity", spec1.CapDrop[1:2], make([]string, 1)},
		{"hosts' spare capacity", spec1.HostAdd[1:2], make([]string, 1)},
	}
	for _, c := range spare {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("Apply wrote into the original's %s: %v", c.name, c.got)
		}
	}
	if reflect.DeepEqual(&spec2, spec1) {
		t.Error("Apply did not change the copy")
	}
}

func TestApplyErrorsLeaveTheSpecUnchanged(t *testing.T) {
	f := newFixture(t)
	withUserSpec := func() *specgen.SpecGenerator {
		s := newSpec()
		s.Env = map[string]string{"FOO": "old"}
		s.Mounts = []spec.Mount{{Type: "bind", Source: "/srv/data", Destination: "/data"}}
		return s
	}
	cases := []struct {
		name  string
		spec  func() *specgen.SpecGenerator
		edits func() *wiring.Edits
		check func(error) bool
	}{
		{
			name:  "edits outside the sandbox's namespace are refused",
			spec:  withUserSpec,
			edits: func() *wiring.Edits { e := f.edits(); e.Env["PATH"] = "/evil"; return e },
			check: func(err error) bool { return errors.Is(err, wiring.ErrInvalidEdits) },
		},
		{
			name: "conflicting spec is refused",
			spec: func() *specgen.SpecGenerator {
				s := withUserSpec()
				s.CapAdd = []string{"CAP_SYS_ADMIN"}
				return s
			},
			edits: f.edits,
			check: func(err error) bool { var ce *specmutate.ConflictError; return errors.As(err, &ce) },
		},
		{
			name: "unparsable network is refused",
			spec: withUserSpec,
			edits: func() *wiring.Edits {
				e := f.edits()
				e.Network = &wiring.Network{Mode: "mynet", Options: []string{"ip=not-an-ip"}}
				return e
			},
			check: func(err error) bool { return err != nil && strings.Contains(err.Error(), "sandbox network") },
		},
		{
			name:  "unparsable user namespace is refused",
			spec:  withUserSpec,
			edits: func() *wiring.Edits { e := f.edits(); e.UserNS = &wiring.UserNS{Mode: "bogus"}; return e },
			check: func(err error) bool { return err != nil && strings.Contains(err.Error(), "sandbox user namespace") },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, before := tc.spec(), tc.spec()
			err := specmutate.Apply(s, tc.edits())
			if !tc.check(err) {
				t.Errorf("Apply = %v: not the expected error", err)
			}
			if !reflect.DeepEqual(s, before) {
				t.Errorf("the refused Apply changed the spec:\n%+v\nwant\n%+v", s, before)
			}
		})
	}
}

func TestApplyNilArguments(t *testing.T) {
	if err := specmutate.Apply(nil, &wiring.Edits{Name: "web"}); err == nil {
		t.Error("Apply(nil spec) = nil, want an error")
	}
	s := newSpec()
	s.Name = "mine"
	if err := specmutate.Apply(s, nil); err != nil {
		t.Errorf("Apply(spec, nil) = %v, want nil", err)
	}
	want := newSpec()
	want.Name = "mine"
	if !reflect.DeepEqual(s, want) {
		t.Errorf("Apply with nil edits changed the spec: %+v", s)
	}
}

func TestApplyRefusesNamedNetworksItCannotHold(t *testing.T) {
	for _, n := range []*wiring.Network{{Mode: "mynet"}, {Mode: "bridge", Options: []string{"ip=10.88.0.5"}}} {
		s := specgen.NewSpecGenerator("img", false)
		if err := specmutate.Apply(s, &wiring.Edits{Network: n}); err == nil || !strings.Contains(err.Error(), "not supported") {
			t.Errorf("Apply(network %s) = %v, want a refusal", n, err)
		}
		if s.NetNS.NSMode != "" {
			t.Errorf("Apply(network %s) changed the spec on error: %+v", n, s.NetNS)
		}
	}
}
