package integration

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"testing"

	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/sandwire/sandwire/podmanapi"
)

// TestPrepareSpecIsWhatCreateSends: the spec prepare prints, sent as it is
// to the API, makes the container create would make.
func TestPrepareSpecIsWhatCreateSends(t *testing.T) {
	sb := newSandbox(t)
	const name = "sw-prep-spec"
	removeContainerAtEnd(t, name)
	r := sb.sandwire("--url", svc.URL(), "prepare", "--format", "spec", "--scope", "proj", "--no-shield", name,
		"--", "-e", "FOO=bar", "--label", "app=x", svc.Image(), "true")
	mustSucceed(t, r)
	var spec specgen.SpecGenerator
	if err := json.Unmarshal([]byte(r.stdout), &spec); err != nil {
		t.Fatalf("prepare --format spec printed no spec: %v\n%s", err, r.stdout)
	}
	if spec.Name != name || spec.Env["FOO"] != "bar" || spec.Labels["app"] != "x" {
		t.Errorf("spec lost the passthrough or the name: name %q env %v labels %v", spec.Name, slices.Sorted(maps.Keys(spec.Env)), spec.Labels)
	}
	if !gateTokenRE.MatchString(spec.Env["TEROK_GATE_TOKEN"]) || spec.Annotations[sidecarAnnotation] != sb.sidecarPath(name) {
		t.Errorf("spec lacks the sandbox's wiring: env %v annotations %v", slices.Sorted(maps.Keys(spec.Env)), spec.Annotations)
	}

	ctx := context.Background()
	client, err := podmanapi.Connect(ctx, podmanapi.Options{URL: svc.URL()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Create(ctx, &spec); err != nil {
		t.Fatalf("the printed spec was refused by the server: %v", err)
	}
	c := inspect(t, name)
	if got := c.env()["TEROK_GATE_TOKEN"]; got != spec.Env["TEROK_GATE_TOKEN"] {
		t.Errorf("created container's gate token differs from the printed spec's")
	}
	if m, ok := c.mounts()["/run/terok"]; !ok || m.RW {
		t.Errorf("created container's /run/terok mount is %+v, want read-only", m)
	}

	// A passthrough that touches what the sandbox owns is refused, and
	// nothing is laid down.
	bad := sb.sandwire("prepare", "--format", "spec", "--no-shield", "sw-prep-bad", "--", "--privileged", svc.Image())
	if bad.code != 2 {
		t.Errorf("prepare --format spec with --privileged: %v, want exit 2", bad)
	}
	sb.assertNoState("sw-prep-bad")

	mustSucceed(t, sb.sandwire("cleanup", name))
	sb.assertNoState(name)
}
