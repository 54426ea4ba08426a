package specmutate_test

import (
	"path/filepath"
	"testing"

	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/sandwire/sandwire/wiring"
)

// Contract values, spelled as DESIGN.md spells them.
const (
	bridgesDir = "/usr/local/share/terok-sandbox/bridges"
	runtimeDir = "/run/terok"
	// userNSAnnotation is where podman's --userns records the mode.
	userNSAnnotation = "io.podman.annotations.userns"
)

// fixture is a set of host paths for one test's edits.
type fixture struct {
	bridges, runtime, resolv, sidecar string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	host := t.TempDir()
	return fixture{
		bridges: filepath.Join(host, "bridges", "0123456789abcdef"),
		runtime: filepath.Join(host, "run", "web"),
		resolv:  filepath.Join(host, "runs", "web", "resolv.conf"),
		sidecar: filepath.Join(host, "sidecar", "web.json"),
	}
}

// edits is what a rootless, shielded, socket-mode launch of "web" adds.
func (f fixture) edits() *wiring.Edits {
	return &wiring.Edits{
		Name: "web",
		Mounts: []wiring.Mount{
			{Source: f.bridges, Destination: bridgesDir, ReadOnly: true, Relabel: "z"},
			{Source: f.runtime, Destination: runtimeDir, ReadOnly: true, Relabel: "z"},
			{Source: f.resolv, Destination: "/etc/resolv.conf", ReadOnly: true},
		},
		Env: map[string]string{
			"TEROK_VAULT_LOOPBACK_PORT": "9419",
			"TEROK_VAULT_SOCKET":        "/run/terok/vault/vault.sock",
			"TEROK_SSH_SIGNER_TOKEN":    "terok-p-00000000000000000000000000000000",
		},
		Annotations: map[string]string{"terok.sandbox.sidecar": f.sidecar},
		Labels:      map[string]string{"terok.sandbox.sidecar": f.sidecar},
		Network:     &wiring.Network{Mode: "pasta", Options: []string{"--map-host-loopback", "169.254.1.2"}},
		UserNS:      &wiring.UserNS{Mode: "keep-id", UID: 1000, GID: 1000},
		CapDrop:     []string{"CAP_NET_RAW"},
		Hosts:       []string{"host.containers.internal:169.254.1.2"},
	}
}

func newSpec() *specgen.SpecGenerator { return specgen.NewSpecGenerator("img", false) }
