package integration

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/sandwire/sandwire/integration/podmantest"
)

// TestPrepareFlagsRunUnderPodman: prepare's flags, given to podman itself,
// wire a container the same way create does.
func TestPrepareFlagsRunUnderPodman(t *testing.T) {
	sb := newSandbox(t)
	const name = "sw-prep"
	removeContainerAtEnd(t, name)
	r := sb.sandwire("--url", svc.URL(), "prepare", "--json", "--scope", "proj", "--no-shield", name)
	mustSucceed(t, r)
	var flags []string
	if err := json.Unmarshal([]byte(r.stdout), &flags); err != nil {
		t.Fatalf("prepare --json printed no JSON array of strings: %v\n%s", err, r.stdout)
	}

	wantPairs := [][2]string{
		{"--name", name},
		{"-v", sb.containerRuntimeDir(name) + ":/run/terok:ro,z"},
		{"--annotation", sidecarAnnotation + "=" + sb.sidecarPath(name)},
		{"-e", "TEROK_GATE_SOCKET=/run/terok/gate/gate-server.sock"},
		{"-e", "TEROK_VAULT_LOOPBACK_PORT=9419"},
	}
	for _, p := range wantPairs {
		if !hasPair(flags, p[0], p[1]) {
			t.Errorf("flags lack %s %s:\n%s", p[0], p[1], redactedFlags(flags))
		}
	}
	if !hasPairFunc(flags, "-v", func(v string) bool {
		return strings.HasPrefix(v, sb.stateDir()+"/bridges/") && strings.HasSuffix(v, ":/usr/local/share/terok-sandbox/bridges:ro,z")
	}) {
		t.Errorf("flags lack the read-only bridges volume:\n%s", redactedFlags(flags))
	}
	// A rootless server gets the user namespace that maps the user to the
	// image's uid 1000 (the contract); a rootful one none.
	if podmantest.Rootless() {
		if !hasPair(flags, "--userns", "keep-id:uid=1000,gid=1000") {
			t.Errorf("prepare for a rootless server lacks --userns keep-id:uid=1000,gid=1000:\n%s", redactedFlags(flags))
		}
	} else if slices.Contains(flags, "--userns") {
		t.Errorf("prepare for a rootful server asks for a user namespace:\n%s", redactedFlags(flags))
	}
	sb.readSidecar(name)
	if n := sb.tokenCount(name); n != 1 {
		t.Errorf("%d token rows after prepare, want 1", n)
	}

	args := append(append([]string{"run", "--rm"}, flags...), svc.Image(), "sh", "-c",
		`echo "$TEROK_GATE_SOCKET"; touch /run/terok/probe 2>&1 || true`)
	out, err := svc.PodmanRemote(args...)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 0 || lines[0] != "/run/terok/gate/gate-server.sock" {
		t.Errorf("the container printed %q, want /run/terok/gate/gate-server.sock first", out)
	}
	if !strings.Contains(out, "Read-only file system") {
		t.Errorf("/run/terok is writable in a container run with prepare's flags:\n%s", out)
	}

	mustSucceed(t, sb.sandwire("cleanup", name))
	sb.assertNoState(name)
}

// TestPrepareShellOutput: without --json the flags are one shell line
// that splits back into the same words.
func TestPrepareShellOutput(t *testing.T) {
	sb := newSandbox(t)
	const name = "sw-prep-sh"
	r := sb.sandwire("--url", svc.URL(), "prepare", "--scope", "proj", "--no-shield", name)
	mustSucceed(t, r)
	t.Cleanup(func() { sb.sandwire("cleanup", name) })
	line := strings.TrimSpace(r.stdout)
	if strings.Contains(line, "\n") {
		t.Fatalf("prepare printed more than one line:\n%s", r.stdout)
	}
	if !strings.HasPrefix(line, "--name "+name+" ") || !strings.Contains(line, " --annotation "+sidecarAnnotation+"="+sb.sidecarPath(name)) {
		t.Errorf("prepare printed %q", redactedFlags([]string{line}))
	}
}

// TestPrepareShieldFailsClosed: prepare, like create, refuses to lay down
// anything when the shield is on and cannot be prepared.
func TestPrepareShieldFailsClosed(t *testing.T) {
	sb := newSandbox(t)
	r := sb.sandwire("--url", svc.URL(), "prepare", "--scope", "proj", "sw-prep-shield")
	if r.code != 1 || !strings.Contains(r.stderr, "shield") {
		t.Errorf("prepare with the shield on: %s; want exit 1 about the shield", r)
	}
	if r.stdout != "" {
		t.Errorf("prepare printed flags although it failed: %q", r.stdout)
	}
	sb.assertOnlyLocks()
	sb.assertNoState("sw-prep-shield")
}

func hasPair(flags []string, flag, value string) bool {
	return hasPairFunc(flags, flag, func(v string) bool { return v == value })
}

func hasPairFunc(flags []string, flag string, match func(string) bool) bool {
	for i := 0; i+1 < len(flags); i++ {
		if flags[i] == flag && match(flags[i+1]) {
			return true
		}
	}
	return false
}

func redactedFlags(flags []string) string {
	out, _ := json.Marshal(flags)
	return anyTokenRE.ReplaceAllString(string(out), "terok-?-<redacted>")
}
