package specmutate

import (
	"testing"

	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/sandwire/sandwire/wiring"
)

func benchEdits() *wiring.Edits {
	return &wiring.Edits{
		Name: "box",
		Mounts: []wiring.Mount{
			{Source: "/var/lib/terok/sandbox/bridges/0123456789abcdef", Destination: wiring.ContainerBridgesDir, ReadOnly: true, Relabel: "z"},
			{Source: "/run/terok/sandbox/run/box", Destination: wiring.ContainerRuntimeDir, ReadOnly: true, Relabel: "z"},
		},
		Env: map[string]string{
			wiring.EnvVaultLoopbackPort: "9419", wiring.EnvVaultSocket: wiring.ContainerVaultSocket,
			wiring.EnvGateSocket: wiring.ContainerGateSocket, wiring.EnvGateToken: "terok-g-00000000000000000000000000000000",
			wiring.EnvSSHSignerSocket: wiring.ContainerSSHSignerSocket, wiring.EnvSSHSignerToken: "terok-p-00000000000000000000000000000000",
		},
		Annotations: map[string]string{wiring.SidecarAnnotation: "/var/lib/terok/sandbox/sidecar/box.json"},
		CapDrop:     []string{"NET_ADMIN", "NET_RAW"},
	}
}

// BenchmarkApply measures gate 2 and the spec mutation of one launch.
func BenchmarkApply(b *testing.B) {
	edits := benchEdits()
	base := specgen.NewSpecGenerator("localhost/app:latest", false)
	base.Env = map[string]string{"FOO": "bar", "PATH": "/usr/bin:/bin"}
	base.Labels = map[string]string{"app": "x"}
	b.ReportAllocs()
	for b.Loop() {
		s := *base
		if err := Apply(&s, edits); err != nil {
			b.Fatal(err)
		}
	}
}
