package integration

import (
	"strings"
	"testing"
)

// TestRunBehavesLikePodmanRun: run exits with the container's own code
// once it ran, 125 when sandwire failed or refused before it did, and with
// --rm leaves neither the container nor its sandbox state.
func TestRunBehavesLikePodmanRun(t *testing.T) {
	image := svc.Image()
	tests := []struct {
		name       string
		ctrName    string
		args       []string // after NAME --
		wantCode   int
		wantStdout string
		wantErr    string
		// kept is whether the container and its state outlive the run.
		kept bool
	}{
		{
			name: "the container's output and exit code come through", ctrName: "sw-run-code",
			args:     []string{"--rm", image, "sh", "-c", `echo "$TEROK_GATE_SOCKET"; exit 3`},
			wantCode: 3, wantStdout: "/run/terok/gate/gate-server.sock\n",
		},
		{
			name: "without --rm the container and its state stay", ctrName: "sw-run-keep",
			args:     []string{image, "true"},
			wantCode: 0, kept: true,
		},
		{
			name: "a missing image that cannot be pulled exits 125", ctrName: "sw-run-noimage",
			args:     []string{"--rm", "--retry=0", "localhost/sandwire-no-such-image:latest", "true"},
			wantCode: 125, wantErr: "localhost/sandwire-no-such-image:latest",
		},
		{
			name: "a policy refusal exits 125", ctrName: "sw-run-priv",
			args:     []string{"--rm", "--privileged", image, "true"},
			wantCode: 125, wantErr: "--privileged",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sb := newSandbox(t)
			removeContainerAtEnd(t, tc.ctrName)
			args := append([]string{"--url", svc.URL(), "run", "--scope", "proj", "--no-shield", tc.ctrName, "--"}, tc.args...)
			r := sb.sandwire(args...)
			if r.code != tc.wantCode {
				t.Errorf("exit %d, want %d:\n%s", r.code, tc.wantCode, r)
			}
			if tc.wantStdout != "" && r.stdout != tc.wantStdout {
				t.Errorf("stdout = %q, want %q", r.stdout, tc.wantStdout)
			}
			if tc.wantErr != "" && !strings.Contains(r.stderr, tc.wantErr) {
				t.Errorf("stderr does not name %q:\n%s", tc.wantErr, r.stderr)
			}
			if tc.kept {
				if !containerExists(t, tc.ctrName) {
					t.Errorf("container %q is gone after a run without --rm", tc.ctrName)
				}
				sb.readSidecar(tc.ctrName)
				mustSucceed(t, sb.sandwire("cleanup", tc.ctrName))
				return
			}
			if containerExists(t, tc.ctrName) {
				t.Errorf("container %q is left after the run", tc.ctrName)
			}
			sb.assertNoState(tc.ctrName)
		})
	}
}

// TestRunDetached: run -d prints the ID of a started container and keeps
// its state for cleanup.
func TestRunDetached(t *testing.T) {
	sb := newSandbox(t)
	const name = "sw-run-d"
	removeContainerAtEnd(t, name)
	r := sb.sandwire("--url", svc.URL(), "run", "--scope", "proj", "--no-shield", name, "--", "-d", svc.Image(), "sleep", "300")
	mustSucceed(t, r)
	id := strings.TrimSpace(r.stdout)
	if !containerIDRE.MatchString(id) {
		t.Fatalf("run -d printed %q, want a container ID", r.stdout)
	}
	out, err := svc.Podman("container", "inspect", "--format", "{{.State.Status}}", name)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != "running" {
		t.Errorf("state after run -d = %q, want running", out)
	}
	if n := sb.tokenCount(name); n != 1 {
		t.Errorf("%d token rows, want 1", n)
	}
	if _, err := svc.Podman("rm", "--force", "--time", "0", name); err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, sb.sandwire("--url", svc.URL(), "cleanup", name))
	sb.assertNoState(name)
}
