package integration

import (
	"os"
	"strings"
	"testing"
)

// TestRefusedCreateWritesNothing covers creates that are refused: a usage
// or policy refusal (exit 2), the shield failing closed and an unreachable
// service (exit 1). No file may appear in the sandbox's dirs (but the
// name's lock, for a refusal after it was taken) and no container on the
// server.
func TestRefusedCreateWritesNothing(t *testing.T) {
	image := svc.Image()
	tests := []struct {
		name     string
		url      string // default: the test service
		config   string // configuration file contents
		args     []string
		wantCode int
		wantErr  []string // substrings of stderr
		// afterLock is set when the refusal comes after the launch took
		// the name's lock: its writes are rolled back, the lock stays.
		afterLock bool
	}{
		{
			name:     "privileged is refused",
			args:     []string{"--scope", "proj", "--no-shield", "sw-priv", "--", "--privileged", image},
			wantCode: 2, wantErr: []string{"--privileged"},
		},
		{
			name:     "security-opt is refused",
			args:     []string{"--no-shield", "sw-secopt", "--", "--security-opt", "seccomp=unconfined", image},
			wantCode: 2, wantErr: []string{"--security-opt"},
		},
		{
			name:     "volume over the runtime dir is refused",
			args:     []string{"--scope", "proj", "--no-shield", "sw-vol", "--", "-v", "/tmp:/run/terok", image},
			wantCode: 2, wantErr: []string{"/run/terok"},
		},
		{
			name:     "volume under the bridges dir is refused",
			args:     []string{"--scope", "proj", "--no-shield", "sw-vol2", "--", "--volume=/tmp:/usr/local/share/terok-sandbox/bridges/x:ro", image},
			wantCode: 2, wantErr: []string{"/usr/local/share/terok-sandbox/bridges/x"},
		},
		{
			name:     "tmpfs mount over the runtime dir is refused",
			args:     []string{"--scope", "proj", "--no-shield", "sw-mount", "--", "--mount", "type=tmpfs,destination=/run/terok", image},
			wantCode: 2, wantErr: []string{"/run/terok"},
		},
		{
			name:     "tmpfs flag over the runtime dir is refused",
			args:     []string{"--scope", "proj", "--no-shield", "sw-tmpfs", "--", "--tmpfs", "/run/terok/x", image},
			wantCode: 2, wantErr: []string{"/run/terok/x"},
		},
		{
			name:     "a sandbox variable is refused",
			args:     []string{"--scope", "proj", "--no-shield", "sw-env", "--", "-e", "TEROK_GATE_TOKEN=mine", image},
			wantCode: 2, wantErr: []string{"TEROK_GATE_TOKEN"},
		},
		{
			name:     "a sandbox annotation is refused",
			args:     []string{"--no-shield", "sw-annot", "--", "--annotation", "terok.sandbox.sidecar=/etc/passwd", image},
			wantCode: 2, wantErr: []string{"--annotation"},
		},
		{
			name:     "managed flags are all named at once",
			args:     []string{"--no-shield", "sw-managed", "--", "--name", "other", "--net", "host", "--cap-add", "NET_ADMIN", "--userns", "keep-id", image},
			wantCode: 2, wantErr: []string{"--name", "--net", "--cap-add", "--userns"},
		},
		{
			name:     "an unsafe name is refused",
			args:     []string{"--scope", "proj", "--no-shield", "../x", "--", image},
			wantCode: 2, wantErr: []string{"invalid container name", "../x"},
		},
		{
			name:     "a name with a slash is refused",
			args:     []string{"--no-shield", "a/b", "--", image},
			wantCode: 2, wantErr: []string{"invalid container name"},
		},
		{
			name:     "an unsafe scope is refused",
			args:     []string{"--scope", "../p", "--no-shield", "sw-scope", "--", image},
			wantCode: 2, wantErr: []string{"scope"},
		},
		{
			name:     "no image is a usage error",
			args:     []string{"--no-shield", "sw-noargs", "--"},
			wantCode: 2, wantErr: []string{"IMAGE"},
		},
		{
			name:     "the shield fails closed without its command",
			config:   `shield_command = "/nonexistent/terok-shield"` + "\n",
			args:     []string{"--scope", "proj", "sw-shield", "--", image, "true"},
			wantCode: 1, wantErr: []string{"shield", "--no-shield", "/nonexistent/terok-shield"},
			afterLock: true,
		},
		{
			name:     "an unreachable socket fails",
			url:      "unix:///nonexistent.sock",
			args:     []string{"--scope", "proj", "--no-shield", "sw-unreach", "--", image, "true"},
			wantCode: 1, wantErr: []string{"/nonexistent.sock"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sb := newSandbox(t)
			if tc.config != "" {
				sb.writeConfig(tc.config)
			}
			url := tc.url
			if url == "" {
				url = svc.URL()
			}
			r := sb.sandwire(append([]string{"--url", url, "create"}, tc.args...)...)
			if r.code != tc.wantCode {
				t.Errorf("exit %d, want %d:\n%s", r.code, tc.wantCode, r)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr does not name %q:\n%s", want, r.stderr)
				}
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
			if tc.afterLock {
				sb.assertOnlyLocks()
			} else {
				sb.assertUntouched()
			}
			name := launchName(tc.args)
			if !strings.Contains(name, "/") && containerExists(t, name) {
				removeContainerAtEnd(t, name)
				t.Errorf("container %q exists after a refused create", name)
			}
		})
	}
}

// launchName is the NAME before "--" in a create's arguments.
func launchName(args []string) string {
	for i, a := range args {
		if a == "--" && i > 0 {
			return args[i-1]
		}
	}
	return ""
}

// TestFailedCreateRollsBack covers creates that fail at the server, after
// tokens were minted and state was written: everything of the launch is
// rolled back.
func TestFailedCreateRollsBack(t *testing.T) {
	t.Run("missing image", func(t *testing.T) {
		sb := newSandbox(t)
		const name = "sw-noimage"
		const image = "localhost/sandwire-no-such-image:latest"
		// --pull=never: the create itself meets the missing image (a pull
		// would fail earlier, before anything is written).
		r := sb.sandwire("--url", svc.URL(), "create", "--scope", "proj", "--no-shield", name, "--", "--pull=never", image, "true")
		if r.code != 1 {
			t.Errorf("exit %d, want 1:\n%s", r.code, r)
		}
		if !strings.Contains(r.stderr, image) {
			t.Errorf("stderr does not name the image %s:\n%s", image, r.stderr)
		}
		sb.assertNoState(name)
		if containerExists(t, name) {
			removeContainerAtEnd(t, name)
			t.Errorf("container %q exists after a failed create", name)
		}
	})

	t.Run("name in use on the server", func(t *testing.T) {
		sb := newSandbox(t)
		const name = "sw-taken"
		removeContainerAtEnd(t, name)
		out, err := svc.Podman("create", "--name", name, "--env", "OWNER=someone-else", svc.Image(), "sleep", "300")
		if err != nil {
			t.Fatal(err)
		}
		otherID := strings.TrimSpace(out)

		r := sb.sandwire("--url", svc.URL(), "create", "--scope", "proj", "--no-shield", name, "--", svc.Image(), "true")
		if r.code != 1 {
			t.Errorf("exit %d, want 1:\n%s", r.code, r)
		}
		if !strings.Contains(r.stderr, "already in use") || !strings.Contains(r.stderr, name) {
			t.Errorf("stderr does not say %q is already in use:\n%s", name, r.stderr)
		}
		sb.assertNoState(name)

		c := inspect(t, name)
		if c.ID != otherID {
			t.Errorf("the other container %s was replaced by %s", otherID, c.ID)
		}
		if c.env()["OWNER"] != "someone-else" || len(c.terokEnv()) != 0 || c.Config.Annotations[sidecarAnnotation] != "" {
			t.Errorf("the other container was changed: env %v, annotations %v", c.Config.Env, c.Config.Annotations)
		}
	})

	t.Run("state of an earlier launch is never overwritten", func(t *testing.T) {
		sb := newSandbox(t)
		const name = "sw-stale"
		sb.create(name, []string{"--scope", "proj", "--no-shield"}, svc.Image(), "sleep", "300")
		before, err := os.ReadFile(sb.sidecarPath(name))
		if err != nil {
			t.Fatal(err)
		}
		// The container is removed behind sandwire's back; its state stays
		// until cleanup, and a new launch of the name must not take it over.
		if _, err := svc.Podman("rm", "--force", name); err != nil {
			t.Fatal(err)
		}
		r := sb.sandwire("--url", svc.URL(), "create", "--scope", "proj", "--no-shield", name, "--", svc.Image(), "true")
		if r.code != 1 || !strings.Contains(r.stderr, "sandwire cleanup "+name) {
			t.Errorf("a launch over earlier state: %s; want exit 1 pointing at 'sandwire cleanup %s'", r, name)
		}
		after, err := os.ReadFile(sb.sidecarPath(name))
		if err != nil || string(after) != string(before) {
			t.Errorf("the earlier launch's sidecar was changed or removed (err %v)", err)
		}
		if n := sb.tokenCount(name); n != 1 {
			t.Errorf("%d token rows, want the earlier launch's 1", n)
		}
		if containerExists(t, name) {
			t.Errorf("a container %q was created over earlier state", name)
		}
		mustSucceed(t, sb.sandwire("cleanup", name))
		sb.assertNoState(name)
	})
}
