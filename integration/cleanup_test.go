package integration

import (
	"strings"
	"testing"
)

func TestCleanupRemovesEverythingButTheContainer(t *testing.T) {
	sb := newSandbox(t)
	const name = "sw-cleanup"
	id := sb.create(name, []string{"--scope", "proj", "--no-shield"}, svc.Image(), "sleep", "300")
	if _, err := svc.Podman("start", name); err != nil {
		t.Fatal(err)
	}
	if n := sb.tokenCount(name); n != 1 {
		t.Fatalf("%d token rows before cleanup, want 1", n)
	}

	r := sb.sandwire("--url", svc.URL(), "cleanup", name)
	mustSucceed(t, r)
	if strings.TrimSpace(r.stdout) != name {
		t.Errorf("cleanup printed %q, want the name", r.stdout)
	}
	sb.assertNoState(name)

	// The container is the user's: cleanup leaves it alone.
	c := inspect(t, name)
	if c.ID != id {
		t.Errorf("container %s is now %s", id, c.ID)
	}

	again := sb.sandwire("--url", svc.URL(), "cleanup", name)
	if again.code != 0 {
		t.Errorf("second cleanup: %s", again)
	}
	if strings.TrimSpace(again.stdout) != "" || !strings.Contains(again.stderr, "nothing to clean up") {
		t.Errorf("second cleanup should say there was nothing to clean up:\n%s", again)
	}
	sb.assertNoState(name)
}

func TestCleanupOfUnknownNameSucceeds(t *testing.T) {
	sb := newSandbox(t)
	r := sb.sandwire("--url", svc.URL(), "cleanup", "sw-never-launched")
	if r.code != 0 {
		t.Fatalf("cleanup of an unknown name: %s", r)
	}
	if !strings.Contains(r.stderr, "nothing to clean up") {
		t.Errorf("cleanup of an unknown name should say there was nothing to clean up:\n%s", r)
	}
}

func TestCleanupRefusesUnsafeName(t *testing.T) {
	sb := newSandbox(t)
	r := sb.sandwire("--url", svc.URL(), "cleanup", "../x")
	if r.code != 2 || !strings.Contains(r.stderr, "invalid container name") {
		t.Errorf("cleanup ../x: %s; want exit 2 naming the invalid name", r)
	}
}
