package podmanapi_test

import (
	"testing"

	"github.com/sandwire/sandwire/podmanapi"
)

func TestIsLocalOnlyForThisMachinesSockets(t *testing.T) {
	cases := []struct {
		name string
		uri  string
		want bool
	}{
		{"a unix socket is on this machine", "unix:///run/podman/podman.sock", true},
		{"a rootless unix socket is on this machine", "unix:///run/user/1000/podman/podman.sock", true},
		{"tcp to 127.0.0.1 is on this machine", "tcp://127.0.0.1:8080", true},
		{"tcp to anywhere in 127.0.0.0/8 is on this machine", "tcp://127.0.0.2:8080", true},
		{"tcp to [::1] is on this machine", "tcp://[::1]:8080", true},
		{"tcp to localhost is on this machine", "tcp://localhost:8080", true},
		{"tcp to another address is another machine", "tcp://192.0.2.10:8080", false},
		{"tcp to a host name is another machine", "tcp://podman.example:8080", false},
		{"tcp to the unspecified address is not taken for loopback", "tcp://0.0.0.0:8080", false},
		{"ssh is another machine", "ssh://core@podman.example/run/podman/podman.sock", false},
		{"ssh to loopback may reach a podman machine, so it is not local", "ssh://core@127.0.0.1:2222/run/user/1000/podman/podman.sock", false},
		{"a scheme podman does not speak is not local", "http://127.0.0.1:8080", false},
		{"a bare path is not a URI", "/run/podman/podman.sock", false},
		{"garbage is not local", "::not a uri::", false},
		{"an empty URI is not local", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := podmanapi.IsLocal(tc.uri); got != tc.want {
				t.Errorf("IsLocal(%q) = %v, want %v", tc.uri, got, tc.want)
			}
		})
	}
}
