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
				"terok.shield.profiles": "dev-standard:dev-python", "terok.shield.name": "box",
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
			if !strings.Contains(string(calls), "prepare box --json --profiles dev-standard,dev-python ports=4001,4002") {
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
