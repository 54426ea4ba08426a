package integration

import (
	"os"
	"strings"
	"testing"

	"github.com/sandwire/sandwire/wiring"
)

// afterRebootScript is a wired container's command: its first run only
// marks that it ran; every later run waits for the host services to bind
// their sockets (the supervisor would, as the container starts), then
// reports what it sees and asks every service through the bridges.
const afterRebootScript = `if [ ! -e /tmp/ran ]; then touch /tmp/ran; echo first-run; exit 0; fi
echo second-run
env | grep ^TEROK_ | sort
grep ' /run/terok ' /proc/mounts
i=0
while [ ! -S /run/terok/signer/ssh-agent.sock ] && [ $i -lt 150 ]; do sleep 0.2; i=$((i+1)); done
` + bridgeScript

// removeRuntime removes what a reboot removes: the container's runtime
// dir, or the whole runtime dir of the sandbox.
type removeRuntime struct {
	name string
	path func(sb *sandbox, ctr string) string
}

var reboots = []removeRuntime{
	{"the container's runtime dir removed", func(sb *sandbox, ctr string) string { return sb.containerRuntimeDir(ctr) }},
	{"the whole runtime dir removed, as by a reboot", func(sb *sandbox, _ string) string { return sb.runtimeDir() }},
}

// TestStartAfterARebootRebuildsTheWiring: a stopped wired container whose
// runtime dir is gone cannot be started by podman; sandwire start puts the
// dir back and starts it, and the container sees its /run/terok mount, its
// TEROK_* variables and working bridges to every host service.
func TestStartAfterARebootRebuildsTheWiring(t *testing.T) {
	probe := buildAgentProbe(t)
	for i, reboot := range reboots {
		t.Run(reboot.name, func(t *testing.T) {
			sb := newSandbox(t)
			name := []string{"sw-start-leaf", "sw-start-reboot"}[i]
			sb.create(name, []string{"--scope", "proj", "--no-shield"},
				"-v", probe+":/probe:ro", svc.Image(), "sh", "-c", afterRebootScript)
			if out := startAttached(t, name); !strings.Contains(out, "first-run") {
				t.Fatalf("the first run printed %q", out)
			}
			rt := sb.containerRuntimeDir(name)
			if err := os.RemoveAll(reboot.path(sb, name)); err != nil {
				t.Fatal(err)
			}

			// runc names the missing mount source when rootful; rootless,
			// it says only that its child died.
			if out, err := svc.PodmanRemote("start", name); err == nil {
				t.Fatalf("podman start without the runtime dir %s = %q; want a failure", rt, out)
			}
			r := sb.sandwire("--url", svc.URL(), "start", name)
			if r.code != 0 || r.stdout != name+"\n" {
				t.Fatalf("sandwire start = %s; want exit 0 and the name", r)
			}
			if st, err := os.Stat(rt); err != nil || st.Mode().Perm() != 0o700 {
				t.Errorf("the re-created runtime dir: %v, %v; want a dir with mode 0700", st, err)
			}
			out := secondRun(t, sb, name)
			c := inspect(t, name)
			for k, v := range c.terokEnv() {
				if !strings.Contains(out, k+"="+v+"\n") {
					t.Errorf("the restarted container lacks %s=%s:\n%s", k, wiring.Redact(v), wiring.Redact(out))
				}
			}
			if !strings.Contains(out, " /run/terok ") || !strings.Contains(out, " ro,") {
				t.Errorf("the restarted container does not mount /run/terok read-only:\n%s", wiring.Redact(out))
			}
			for _, want := range []string{"vault=vault-ok", "gate=gate-ok", "agent=identities: 1 [sandwire-e2e]"} {
				if !strings.Contains(out, want) {
					t.Errorf("the restarted container did not get %q through its bridges:\n%s", want, wiring.Redact(out))
				}
			}
		})
	}
}

// secondRun serves the container's host services in its re-created
// runtime dir, waits for the container to exit 0 and returns what its
// second run printed.
func secondRun(t *testing.T, sb *sandbox, name string) string {
	t.Helper()
	h, _ := newHostServices(t, sb, name)
	h.startSocketServices(sb.containerRuntimeDir(name))
	code, err := svc.Podman("wait", name)
	if err != nil || strings.TrimSpace(code) != "0" {
		t.Errorf("podman wait = %q, %v; want exit code 0", code, err)
	}
	logs, err := svc.Podman("logs", name)
	if err != nil {
		t.Fatal(err)
	}
	_, out, ok := strings.Cut(logs, "second-run\n")
	if !ok {
		t.Fatalf("the container did not run a second time:\n%s", wiring.Redact(logs))
	}
	return out
}

// TestStartAttachedExitsWithTheContainersCode: with --attach, sandwire
// start restores, attaches, and exits with the container's own code.
func TestStartAttachedExitsWithTheContainersCode(t *testing.T) {
	sb := newSandbox(t)
	const name = "sw-start-attach"
	sb.create(name, []string{"--scope", "proj", "--no-shield"}, svc.Image(), "sh", "-c", `echo "socket=$TEROK_SSH_SIGNER_SOCKET"; exit 7`)
	if err := os.RemoveAll(sb.runtimeDir()); err != nil {
		t.Fatal(err)
	}
	r := sb.sandwire("--url", svc.URL(), "start", "--attach", name)
	if r.code != 7 || r.stdout != "socket=/run/terok/signer/ssh-agent.sock\n" {
		t.Errorf("sandwire start --attach = %s; want exit 7 and the container's output", r)
	}
}

// TestStartRefuses: a container sandwire did not wire, and one whose
// sandbox state was cleaned up, are refused (exit 2) and left stopped;
// with several names, the others are started all the same.
func TestStartRefuses(t *testing.T) {
	sb := newSandbox(t)
	const plain, gone, wired = "sw-start-plain", "sw-start-gone", "sw-start-wired"
	removeContainerAtEnd(t, plain)
	if _, err := svc.PodmanRemote("create", "--name", plain, svc.Image(), "true"); err != nil {
		t.Fatal(err)
	}
	sb.create(gone, []string{"--scope", "proj", "--no-shield"}, svc.Image(), "true")
	mustSucceed(t, sb.sandwire("cleanup", gone))
	sb.create(wired, []string{"--scope", "proj", "--no-shield"}, svc.Image(), "sleep", "300")

	for _, tc := range []struct {
		name, ctr string
		wantErr   []string
	}{
		{"a container sandwire did not wire", plain, []string{`container "` + plain + `" is not wired into this sandbox: it has no terok.sandbox.sidecar annotation`, "start others with 'podman start'"}},
		{"a container whose state was cleaned up", gone, []string{`the sandbox state of container "` + gone + `" was cleaned up`, "create it again"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := sb.sandwire("--url", svc.URL(), "start", tc.ctr)
			if r.code != 2 || r.stdout != "" {
				t.Errorf("sandwire start = %s; want exit 2 and nothing on stdout", r)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
				}
			}
			if s := containerStatus(t, tc.ctr); s == "running" || s == "exited" {
				t.Errorf("the refused container was started (%s)", s)
			}
		})
	}
	sb.assertNoState(gone)

	t.Run("several names start what can be started", func(t *testing.T) {
		r := sb.sandwire("--url", svc.URL(), "start", plain, wired)
		if r.code != 2 || r.stdout != wired+"\n" || strings.Count(r.stderr, "Error:") != 1 {
			t.Errorf("sandwire start %s %s = %s; want exit 2, the wired name on stdout and one error", plain, wired, r)
		}
		if s := containerStatus(t, wired); s != "running" {
			t.Errorf("%s is %s, want running", wired, s)
		}
	})
}

// TestStartOfARunningContainerIsANoOp: the container is not started again
// and nothing of its wiring is re-created.
func TestStartOfARunningContainerIsANoOp(t *testing.T) {
	sb := newSandbox(t)
	const name = "sw-start-running"
	sb.create(name, []string{"--scope", "proj", "--no-shield"}, svc.Image(), "sleep", "300")
	mustSucceed(t, sb.sandwire("--url", svc.URL(), "start", name))
	before := startedAt(t, name)
	if err := os.RemoveAll(sb.containerRuntimeDir(name)); err != nil {
		t.Fatal(err)
	}
	r := sb.sandwire("--url", svc.URL(), "start", name)
	if r.code != 0 || r.stdout != name+"\n" {
		t.Errorf("sandwire start of a running container = %s; want exit 0 and the name", r)
	}
	if after := startedAt(t, name); after != before || containerStatus(t, name) != "running" {
		t.Errorf("the running container was started again (started at %s, then %s)", before, after)
	}
	if _, err := os.Lstat(sb.containerRuntimeDir(name)); !os.IsNotExist(err) {
		t.Errorf("a start of a running container re-created its runtime dir (%v)", err)
	}
	sb.readSidecar(name)
}

func containerStatus(t *testing.T, name string) string {
	t.Helper()
	return inspectFormat(t, name, "{{.State.Status}}")
}

func startedAt(t *testing.T, name string) string {
	t.Helper()
	return inspectFormat(t, name, "{{.State.StartedAt}}")
}

func inspectFormat(t *testing.T, name, format string) string {
	t.Helper()
	out, err := svc.Podman("container", "inspect", "--format", format, name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}
