package specmutate_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/containers/podman/v5/pkg/specgen"
	spec "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sandwire/sandwire/specmutate"
	"github.com/sandwire/sandwire/wiring"
)

// hostTree is a sandbox's host dirs under one root, with links planted
// beside them the way a user's home might hold them.
type hostTree struct {
	root, state, run, vault string
	dirs                    []specmutate.HostDir
}

func newHostTree(t *testing.T) hostTree {
	t.Helper()
	root := t.TempDir()
	h := hostTree{root: root, state: filepath.Join(root, "state"), run: filepath.Join(root, "run"), vault: filepath.Join(root, "vault")}
	for _, d := range []string{h.state + "/bridges/0123", h.state + "/sidecar", h.run, h.vault, root + "/other", root + "/state-other"} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"to-state": h.state, "to-root": root, "to-other": root + "/other"} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := wiring.Config{StateDir: h.state, RuntimeDir: h.run, VaultDir: h.vault}
	h.dirs = specmutate.ExposureDirs(cfg)
	return h
}

func bind(src string) func(*specgen.SpecGenerator) {
	return func(s *specgen.SpecGenerator) {
		s.Mounts = append(s.Mounts, spec.Mount{Type: "bind", Source: src, Destination: "/x"})
	}
}

func TestExposuresRefuseWhatShowsTheSandboxsHostState(t *testing.T) {
	h := newHostTree(t)
	for _, tc := range []struct {
		name string
		edit func(*specgen.SpecGenerator)
		// wantField and wantDir are what the refusal must name.
		wantField, wantDir string
	}{
		{"a bind of the state dir", bind(h.state), "--volume " + h.state, "state dir"},
		{"a bind of a dir that contains the state dir", bind(h.root), "--volume " + h.root, "dir"},
		{"a bind of the host's root", bind("/"), "--volume /", "dir"},
		{"a bind of a file inside the vault dir", bind(h.vault + "/credentials.db"), "--volume", "vault dir"},
		{"a bind of the bridges dir names the bridges dir", bind(h.state + "/bridges/0123"), "--volume", "bridges dir"},
		{"a bind spelled with ..", bind(h.root + "/other/../state"), "--volume", "state dir"},
		{"a bind spelled with repeated slashes", bind(strings.Replace(h.state, "/state", "//state/", 1)), "--volume", "state dir"},
		{"a bind through a symlink to the state dir", bind(h.root + "/to-state/sidecar"), "--volume", "state dir"},
		{"a bind through a symlink to a parent", bind(h.root + "/to-root"), "--volume", "dir"},
		{"a bind of a path not made yet inside the runtime dir", bind(h.run + "/later/x"), "--volume", "runtime dir"},
		{"an overlay of the runtime dir", func(s *specgen.SpecGenerator) {
			s.OverlayVolumes = []*specgen.OverlayVolume{{Source: h.run, Destination: "/x"}}
		}, "--volume " + h.run + ":/x:O", "runtime dir"},
		{"a device inside the vault dir", func(s *specgen.SpecGenerator) {
			s.Devices = []spec.LinuxDevice{{Path: h.vault + "/dev:/dev/x:rwm"}}
		}, "--device " + h.vault + "/dev", "vault dir"},
		{"a rootfs that contains the sandbox dirs", func(s *specgen.SpecGenerator) { s.Image, s.Rootfs = "", h.root }, "--rootfs", "dir"},
		{"the host's PID namespace", func(s *specgen.SpecGenerator) { s.PidNS = specgen.Namespace{NSMode: specgen.Host} }, "--pid", ""},
		{"another container's PID namespace", func(s *specgen.SpecGenerator) {
			s.PidNS = specgen.Namespace{NSMode: specgen.FromContainer, Value: "other"}
		}, "--pid", ""},
		{"the host's IPC namespace", func(s *specgen.SpecGenerator) { s.IpcNS = specgen.Namespace{NSMode: specgen.Host} }, "--ipc", ""},
		{"another container's IPC namespace", func(s *specgen.SpecGenerator) {
			s.IpcNS = specgen.Namespace{NSMode: specgen.FromContainer, Value: "other"}
		}, "--ipc", ""},
		{"unsetting a variable the sandbox sets", func(s *specgen.SpecGenerator) { s.UnsetEnv = []string{"TEROK_GATE_TOKEN"} }, "--unsetenv", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSpec()
			tc.edit(s)
			err := specmutate.Exposures(s, nil, h.dirs, nil)
			var ce *specmutate.ConflictError
			if !errors.As(err, &ce) || len(ce.Conflicts) != 1 {
				t.Fatalf("Exposures = %v, want one refusal", err)
			}
			if !errdefs.IsInvalidArgument(err) {
				t.Errorf("%v is not an invalid argument", err)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.wantField) || !strings.Contains(msg, tc.wantDir) {
				t.Errorf("refusal %q does not name %q and %q", msg, tc.wantField, tc.wantDir)
			}
		})
	}
}

func TestExposuresAcceptWhatShowsNothingOfTheSandbox(t *testing.T) {
	h := newHostTree(t)
	ownBridges := &wiring.Edits{Name: "web", Mounts: []wiring.Mount{{Source: h.state + "/bridges/0123", Destination: "/x", ReadOnly: true}}}
	for _, tc := range []struct {
		name  string
		edits *wiring.Edits
		edit  func(*specgen.SpecGenerator)
	}{
		{"a bind of a sibling of the sandbox dirs", nil, bind(h.root + "/other")},
		{"a bind of a dir whose name begins with the state dir's", nil, bind(h.root + "/state-other")},
		{"a bind through a symlink to a sibling", nil, bind(h.root + "/to-other")},
		{"a bind of an unrelated system dir", nil, bind("/srv")},
		{"the sandbox's own mounts", ownBridges, bind(ownBridges.Mounts[0].Source)},
		{"a tmpfs and a named volume", nil, func(s *specgen.SpecGenerator) {
			s.Mounts = []spec.Mount{{Type: "tmpfs", Source: "tmpfs", Destination: "/scratch"}}
			s.Volumes = []*specgen.NamedVolume{{Name: "data", Dest: "/data"}}
		}},
		{"the host's UTS and cgroup namespaces", nil, func(s *specgen.SpecGenerator) {
			s.UtsNS = specgen.Namespace{NSMode: specgen.Host}
			s.CgroupNS = specgen.Namespace{NSMode: specgen.Host}
		}},
		{"a private PID namespace", nil, func(s *specgen.SpecGenerator) { s.PidNS = specgen.Namespace{NSMode: specgen.Private} }},
		{"unsetting a variable of the user's", nil, func(s *specgen.SpecGenerator) { s.UnsetEnv = []string{"FOO"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSpec()
			tc.edit(s)
			if err := specmutate.Exposures(s, tc.edits, h.dirs, nil); err != nil {
				t.Errorf("Exposures = %v, want none", err)
			}
		})
	}
}

func TestResolveFollowsTheServersSpelling(t *testing.T) {
	h := newHostTree(t)
	for _, tc := range []struct{ in, want string }{
		{h.root + "/to-state", h.state},
		{h.root + "/to-state/../vault", h.vault},
		{h.root + "//other///", h.root + "/other"},
		{h.root + "/to-root/missing/x", h.root + "/missing/x"},
		{"relative/x", "/relative/x"},
	} {
		// t.TempDir may itself lie under a link (/tmp on some systems).
		want, err := filepath.EvalSymlinks(filepath.Dir(tc.want))
		if err != nil {
			want = filepath.Dir(tc.want)
		}
		want = filepath.Join(want, filepath.Base(tc.want))
		if got := specmutate.Resolve(tc.in); got != want && got != tc.want {
			t.Errorf("Resolve(%q) = %q, want %q", tc.in, got, want)
		}
	}
}
