package wiring_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/sandwire/sandwire/wiring"
)

// longestSocketSuffix is the longest "/<sub>/<socket>" a service socket adds
// to the per-container runtime dir on the host.
func longestSocketSuffix() string {
	longest := ""
	for _, s := range []string{wiring.ContainerVaultSocket, wiring.ContainerSSHSignerSocket, wiring.ContainerGateSocket} {
		if suffix := strings.TrimPrefix(s, wiring.ContainerRuntimeDir); len(suffix) > len(longest) {
			longest = suffix
		}
	}
	return longest
}

func TestCheckSocketPaths(t *testing.T) {
	suffix := longestSocketSuffix()
	// runtimeDir returns an absolute dir that makes the longest socket
	// path exactly n bytes long.
	runtimeDir := func(n int) string { return "/" + strings.Repeat("r", n-len(suffix)-1) }

	cases := []struct {
		name    string
		dir     string
		wantErr bool
	}{
		{"short runtime dir passes", "/run/user/1000/terok/sandbox/run/web", false},
		{"socket path of exactly 107 bytes passes", runtimeDir(wiring.MaxSocketPath), false},
		{"socket path of 108 bytes fails", runtimeDir(wiring.MaxSocketPath + 1), true},
		{"socket path of 200 bytes fails", runtimeDir(200), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := wiring.CheckSocketPaths(tc.dir)
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("CheckSocketPaths(%q) = %v, want nil", tc.dir, err)
				}
				return
			}
			var spe *wiring.SocketPathError
			if !errors.As(err, &spe) {
				t.Fatalf("CheckSocketPaths(%q) = %v, want a *SocketPathError", tc.dir, err)
			}
			if !strings.HasPrefix(spe.Path, tc.dir+"/") || spe.Bytes != len(spe.Path) || spe.Bytes <= wiring.MaxSocketPath {
				t.Errorf("SocketPathError = %+v: want a path under %q whose length (> %d) is Bytes", spe, tc.dir, wiring.MaxSocketPath)
			}
			if !strings.Contains(err.Error(), spe.Path) {
				t.Errorf("error %q does not name the path %q", err, spe.Path)
			}
			if !strings.Contains(err.Error(), wiring.EnvRuntimeDir) {
				t.Errorf("error %q does not say how to shorten the runtime dir (%s)", err, wiring.EnvRuntimeDir)
			}
		})
	}
}

func TestPickPorts(t *testing.T) {
	for _, n := range []int{0, 1, 3, 8} {
		ports, err := wiring.PickPorts(n)
		if err != nil {
			t.Fatalf("PickPorts(%d) = %v", n, err)
		}
		if len(ports) != n {
			t.Fatalf("PickPorts(%d) returned %d ports: %v", n, len(ports), ports)
		}
		seen := map[int]bool{}
		for _, p := range ports {
			if p <= 0 || p > 65535 {
				t.Errorf("PickPorts(%d) returned the invalid port %d", n, p)
			}
			if seen[p] {
				t.Errorf("PickPorts(%d) returned port %d twice: %v", n, p, ports)
			}
			seen[p] = true
		}
	}
}

func TestLoopbackPorts(t *testing.T) {
	cases := []struct {
		name string
		res  wiring.Resources
		want []int
	}{
		{"socket mode has no ports", wiring.Resources{RuntimeDir: "/r"}, nil},
		{"tcp mode lists gate, broker and signer", wiring.Resources{BrokerPort: 1, SignerPort: 2, GatePort: 3}, []int{3, 1, 2}},
		{"zero ports are left out", wiring.Resources{BrokerPort: 1}, []int{1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.res.LoopbackPorts(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("LoopbackPorts() = %v, want %v", got, tc.want)
			}
		})
	}
}
