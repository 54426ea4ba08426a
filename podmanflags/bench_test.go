package podmanflags

import (
	"testing"

	"github.com/sandwire/sandwire/specmutate"
	"github.com/sandwire/sandwire/wiring"
)

// benchLine is a 40-argument passthrough of the kind people type.
var benchLine = []string{
	"-e", "FOO=bar", "-e", "BAZ=qux", "-v", "/srv/data:/data:ro", "-v", "/srv/cache:/cache",
	"--mount", "type=tmpfs,destination=/scratch", "-p", "8080:80", "-w", "/work", "-u", "1000:1000",
	"--label", "app=web", "--label", "tier=front", "--memory", "256m", "--cpus", "1.5",
	"--hostname", "web", "--add-host", "db:10.0.0.5", "--read-only", "--init", "-it", "--rm",
	"--tmpfs", "/tmp", "--pull=never", "--entrypoint", "/bin/sh", "localhost/app:latest", "-c", "exec sleep 1d",
}

// BenchmarkGates measures both rejection gates on an accepted line:
// gate 1 on the raw arguments and gate 2 on the parsed spec.
func BenchmarkGates(b *testing.B) {
	if len(benchLine) != 40 {
		b.Fatalf("bench line has %d arguments, want 40", len(benchLine))
	}
	parsed, err := Parse(benchLine, Run)
	if err != nil {
		b.Fatal(err)
	}
	edits := &wiring.Edits{Name: "box"}
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckPolicy(benchLine); err != nil {
			b.Fatal(err)
		}
		if err := specmutate.Conflicts(parsed.Spec, edits); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParse measures podman's own parser turning the line into a spec.
func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(benchLine, Run); err != nil {
			b.Fatal(err)
		}
	}
}
