package shield

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/sandwire/sandwire/specmutate"
	"github.com/sandwire/sandwire/wiring"
)

func fakeShield(t *testing.T) (Command, string) {
	t.Helper()
	path, err := filepath.Abs("testdata/fake-terok-shield")
	if err != nil {
		t.Fatal(err)
	}
	hooks := t.TempDir()
	if err := os.WriteFile(filepath.Join(hooks, HookFile), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "shield.log")
	t.Setenv("FAKE_SHIELD_LOG", log)
	// The shield reads the user's config dir: an empty one of the test's.
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv(EnvConfigDir, "")
	return Command{Path: path, HooksDirs: []string{t.TempDir(), hooks}}, log
}

func TestPrepareTranslatesWhatTheShieldPrints(t *testing.T) {
	for _, tc := range []struct {
		name            string
		mode            string // what the shield was run as
		rootless        bool   // what the server is
		rootlessNetwork string
		wantNetwork     *wiring.Network
		wantHosts       []string
		// wantNote: the shield's own network choice was overridden, and
		// the user is told so.
		wantNote bool
	}{
		{name: "rootful host on a rootful server keeps the default network", mode: "rootful"},
		{name: "rootless pasta host on a rootless pasta server", mode: "pasta", rootless: true, rootlessNetwork: "pasta",
			wantNetwork: &wiring.Network{Mode: "pasta", Options: []string{"--map-host-loopback", "169.254.1.2"}},
			wantHosts:   []string{"host.containers.internal:169.254.1.2"}},
		{name: "rootless slirp4netns host on a rootless slirp4netns server", mode: "slirp4netns", rootless: true, rootlessNetwork: "slirp4netns",
			wantNetwork: &wiring.Network{Mode: "slirp4netns", Options: []string{"allow_host_loopback=true"}},
			wantHosts:   []string{"host.containers.internal:10.0.2.2"}},
		{name: "shield run rootless but a rootful server decides: default network", mode: "pasta", wantNote: true},
		{name: "shield run rootful but a rootless slirp4netns server decides", mode: "rootful", rootless: true, rootlessNetwork: "slirp4netns",
			wantNetwork: &wiring.Network{Mode: "slirp4netns", Options: []string{"allow_host_loopback=true"}},
			wantHosts:   []string{"host.containers.internal:10.0.2.2"}, wantNote: true},
		{name: "old podman asking for a per-container hooks dir is served by the global hook", mode: "hooks-dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sh, log := fakeShield(t)
			t.Setenv("FAKE_SHIELD_MODE", tc.mode)
			state := t.TempDir()
			res, err := sh.Prepare(context.Background(), wiring.ShieldRequest{
				Name: "box", StateDir: state, Profiles: []string{"dev-standard", "dev-python"},
				LoopbackPorts: []int{4001, 4002}, ServerRootless: tc.rootless, RootlessNetwork: tc.rootlessNetwork,
			})
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			edits := res.Edits
			if got := len(res.Notes) == 1 && strings.Contains(res.Notes[0], "shield asked for --network"); got != tc.wantNote || len(res.Notes) > 1 {
				t.Errorf("notes = %q, want a note about the overridden network: %v", res.Notes, tc.wantNote)
			}
			sd := filepath.Join(state, "shield", "containers", "box")
			wantAnn := map[string]string{
				"terok.shield.profiles": "dev-standard:dev-python", "terok.shield.name": "box", "terok.shield.loopback_ports": "4001:4002",
				"terok.shield.state_dir": sd, "terok.shield.version": "7", "terok.shield.audit_enabled": "true",
				"terok.shield.upstream_dns": "169.254.1.1", "terok.shield.dns_tier": "dnsmasq",
			}
			if !reflect.DeepEqual(edits.Annotations, wantAnn) {
				t.Errorf("annotations = %v, want %v", edits.Annotations, wantAnn)
			}
			if want := []string{"NET_ADMIN", "NET_RAW"}; !reflect.DeepEqual(edits.CapDrop, want) {
				t.Errorf("cap drops = %v, want %v", edits.CapDrop, want)
			}
			wantMount := []wiring.Mount{{Source: filepath.Join(sd, "resolv.conf"), Destination: "/etc/resolv.conf", ReadOnly: true, Relabel: "Z"}}
			if !reflect.DeepEqual(edits.Mounts, wantMount) {
				t.Errorf("mounts = %+v, want %+v", edits.Mounts, wantMount)
			}
			if !reflect.DeepEqual(edits.Network, tc.wantNetwork) {
				t.Errorf("network = %+v, want %+v", edits.Network, tc.wantNetwork)
			}
			if !reflect.DeepEqual(edits.Hosts, tc.wantHosts) {
				t.Errorf("hosts = %v, want %v", edits.Hosts, tc.wantHosts)
			}
			calls, _ := os.ReadFile(log)
			if !strings.Contains(string(calls), "prepare box --json --profiles dev-standard dev-python ports=4001:4002") {
				t.Errorf("shield invoked as %q", calls)
			}

			// Applied through the one spec writer, the shield's share lands.
			spec := specgen.NewSpecGenerator("img", false)
			if err := specmutate.Apply(spec, edits); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if spec.Annotations["terok.shield.name"] != "box" || !slices.Contains(spec.CapDrop, "NET_RAW") {
				t.Errorf("applied spec lacks the shield's annotations or cap drops: %v %v", spec.Annotations, spec.CapDrop)
			}
			if tc.wantNetwork != nil && string(spec.NetNS.NSMode) != tc.wantNetwork.Mode {
				t.Errorf("applied network %q, want %q", spec.NetNS.NSMode, tc.wantNetwork.Mode)
			}
			if tc.wantNetwork == nil && spec.NetNS.NSMode != "" {
				t.Errorf("applied network %q on a rootful server, want the default", spec.NetNS.NSMode)
			}
			if !reflect.DeepEqual(spec.HostAdd, tc.wantHosts) {
				t.Errorf("applied hosts %v, want %v", spec.HostAdd, tc.wantHosts)
			}
		})
	}
}

func TestPrepareFailsClosedAndSaysWhy(t *testing.T) {
	for _, tc := range []struct {
		name, mode, reason string
		noHook, noCommand  bool
	}{
		{name: "command missing", noCommand: true, reason: "missing"},
		{name: "command exits non-zero", mode: "fail", reason: "failed"},
		{name: "command prints something unparsable", mode: "garbage", reason: "unparsable"},
		{name: "shield asks for a flag sandwire cannot apply", mode: "unsupported", reason: "unsupported"},
		{name: "server has no shield hook installed", mode: "rootful", noHook: true, reason: "no-hook"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sh, _ := fakeShield(t)
			t.Setenv("FAKE_SHIELD_MODE", tc.mode)
			if tc.noCommand {
				sh.Path = filepath.Join(t.TempDir(), "terok-shield")
			}
			if tc.noHook {
				sh.HooksDirs = []string{t.TempDir()}
			}
			res, err := sh.Prepare(context.Background(), wiring.ShieldRequest{Name: "box", StateDir: t.TempDir()})
			edits := res.Edits
			var f *Failure
			if !errors.As(err, &f) {
				t.Fatalf("Prepare = %v, %v; want a *Failure", edits, err)
			}
			if f.Reason != tc.reason {
				t.Errorf("reason = %q, want %q (%v)", f.Reason, tc.reason, err)
			}
			if edits != nil {
				t.Errorf("edits = %+v on failure, want nil", edits)
			}
		})
	}
}

func TestFailureNamesTheInstallCommandWhenTheHookIsMissing(t *testing.T) {
	sh := Command{HooksDirs: []string{"/etc/containers/oci/hooks.d"}}
	err := sh.requireHook()
	if err == nil || !strings.Contains(err.Error(), "terok-shield setup") || !strings.Contains(err.Error(), "/etc/containers/oci/hooks.d") {
		t.Fatalf("requireHook = %v, want a message naming the dirs and 'terok-shield setup'", err)
	}
}

func TestDownCallsTheShieldWithTheContainerID(t *testing.T) {
	sh, log := fakeShield(t)
	if err := sh.Down(context.Background(), "box", "0123abcd"); err != nil {
		t.Fatal(err)
	}
	calls, _ := os.ReadFile(log)
	if !strings.Contains(string(calls), "down 0123abcd") {
		t.Errorf("shield invoked as %q, want down with the container ID", calls)
	}
}

// TestPrepareGivesTheShieldItsInputsWhereItReadsThem: terok-shield's CLI
// reads loopback ports only from config.yml in its config dir, so a launch
// with ports runs it with a config dir of its own that keeps the user's
// settings and profiles, and adds the ports to the user's.
func TestPrepareGivesTheShieldItsInputsWhereItReadsThem(t *testing.T) {
	for _, tc := range []struct {
		name       string
		userConfig string // "" writes none
		ports      []int
		profiles   []string
		wantPorts  string
		wantProfs  string
	}{
		{name: "ports reach the shield, the user's default profiles stay", userConfig: "default_profiles: [team]\nloopback_ports: [22]\n",
			ports: []int{4001, 4002, 4003}, wantPorts: "22:4001:4002:4003", wantProfs: "team"},
		{name: "a user list in block style is kept", userConfig: "mode: auto\nloopback_ports:\n  - 22\n  - 4001\n",
			ports: []int{4001}, wantPorts: "22:4001", wantProfs: "dev-standard"},
		{name: "without a user config the ports are all", ports: []int{4001}, wantPorts: "4001", wantProfs: "dev-standard"},
		{name: "without ports the shield reads the user's own config", userConfig: "loopback_ports: [22]\n",
			wantPorts: "22", wantProfs: "dev-standard"},
		{name: "several profiles are passed as several words", ports: []int{4001}, profiles: []string{"a", "b", "c"},
			wantPorts: "4001", wantProfs: "a:b:c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sh, log := fakeShield(t)
			user := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "terok", "shield")
			if err := os.MkdirAll(filepath.Join(user, "profiles"), 0o755); err != nil {
				t.Fatal(err)
			}
			if tc.userConfig != "" {
				if err := os.WriteFile(filepath.Join(user, "config.yml"), []byte(tc.userConfig), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			state := t.TempDir()
			res, err := sh.Prepare(context.Background(), wiring.ShieldRequest{Name: "box", StateDir: state, Profiles: tc.profiles, LoopbackPorts: tc.ports})
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			if got := res.Edits.Annotations["terok.shield.loopback_ports"]; got != tc.wantPorts {
				t.Errorf("the shield read loopback ports %q, want %q", got, tc.wantPorts)
			}
			if got := res.Edits.Annotations["terok.shield.profiles"]; got != tc.wantProfs {
				t.Errorf("the shield applied profiles %q, want %q", got, tc.wantProfs)
			}
			if len(tc.ports) > 0 {
				if target, err := os.Readlink(filepath.Join(state, "shield-config", "profiles")); err != nil || target != filepath.Join(user, "profiles") {
					t.Errorf("the user's profiles are not reachable from the launch's config dir: %q, %v", target, err)
				}
			}
			if calls, _ := os.ReadFile(log); !strings.Contains(string(calls), "ports="+tc.wantPorts) {
				t.Errorf("shield invoked as %q", calls)
			}
		})
	}
}

func TestPrepareFailsClosedOnAUserConfigItCannotRead(t *testing.T) {
	sh, _ := fakeShield(t)
	user := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "terok", "shield")
	if err := os.MkdirAll(user, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(user, "config.yml"), []byte("loopback_ports: [1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := sh.Prepare(context.Background(), wiring.ShieldRequest{Name: "box", StateDir: t.TempDir(), LoopbackPorts: []int{4001}})
	var f *Failure
	if !errors.As(err, &f) || !strings.Contains(err.Error(), "config.yml") {
		t.Errorf("Prepare with an unreadable user config = %v, want a *Failure naming it", err)
	}
}
