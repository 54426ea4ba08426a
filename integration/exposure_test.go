package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExposingPassthroughIsRefused: every spelling of a host path that
// would show the container the sandbox's state, runtime or vault dir, and
// every shared PID or IPC namespace, is refused with exit 2 (125 from run)
// naming the flag, and leaves nothing: no state, no token, no container.
func TestExposingPassthroughIsRefused(t *testing.T) {
	sb := newSandbox(t)
	for _, d := range []string{sb.stateDir() + "/sidecar", sb.runtimeDir(), sb.vaultDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(sb.stateDir(), "sidecar", "other.json"), []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "home-link")
	if err := os.Symlink(sb.stateDir(), link); err != nil {
		t.Fatal(err)
	}
	// A named volume of the local driver that binds the vault dir: only
	// the server knows where it points.
	volume := fmt.Sprintf("sw-bound-%d", os.Getpid())
	if out, err := svc.Podman("volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt", "device="+sb.vaultDir(), volume); err != nil {
		t.Fatalf("podman volume create: %v: %s", err, out)
	}
	t.Cleanup(func() { svc.Podman("volume", "rm", "--force", volume) })

	image := svc.Image()
	for i, tc := range []struct {
		name string
		args []string
		want string // what stderr must name
	}{
		{"a bind of the state dir", []string{"-v", sb.stateDir() + ":/x", image}, "state dir"},
		{"a bind of the dir that holds every sandbox dir", []string{"-v", sb.root + ":/x:ro", image}, "--volume " + sb.root},
		{"a bind of the host's root", []string{"-v", "/:/host", image}, "--volume /"},
		{"a bind spelled with repeated slashes", []string{"--volume=" + sb.stateDir() + "//sidecar/:/x:ro", image}, "state dir"},
		{"a --mount bind spelled with ..", []string{"--mount", "type=bind,src=" + sb.runtimeDir() + "/../vault,dst=/x", image}, "vault dir"},
		{"a bind through a symlink", []string{"-v", link + ":/x", image}, "state dir"},
		{"an overlay of the runtime dir", []string{"-v", sb.runtimeDir() + ":/x:O", image}, "runtime dir"},
		{"a glob of the sidecars", []string{"--mount", "type=glob,src=" + sb.stateDir() + "/sidecar/*.json,dst=/x", image}, "state dir"},
		{"a named volume bound to the vault dir", []string{"-v", volume + ":/x", image}, "vault dir"},
		{"the host's PID namespace", []string{"--pid", "host", image}, "--pid"},
		{"another container's IPC namespace", []string{"--ipc", "container:other", image}, "--ipc"},
		{"unsetting a sandbox variable", []string{"--unsetenv", "TEROK_GATE_TOKEN", image}, "--unsetenv"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			verb, wantCode := "create", 2
			if i%2 == 1 {
				verb, wantCode = "run", 125
			}
			name := fmt.Sprintf("sw-expose-%d", i)
			removeContainerAtEnd(t, name)
			r := sb.sandwire(append([]string{"--url", svc.URL(), verb, "--scope", "proj", "--no-shield", name, "--"}, append(tc.args, "true")...)...)
			if r.code != wantCode || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("%s: %s; want exit %d naming %q", verb, r, wantCode, tc.want)
			}
			sb.assertNoState(name)
			if containerExists(t, name) {
				t.Errorf("a container %s was made although the spec was refused", name)
			}
		})
	}
	if got, err := os.ReadFile(filepath.Join(sb.stateDir(), "sidecar", "other.json")); err != nil || string(got) != "{}\n" {
		t.Errorf("the other container's sidecar changed: %q, %v", got, err)
	}
}

// TestUnrelatedBindMountsKeepPodmansMeaning: a bind of a dir beside the
// sandbox dirs, even one whose name begins with theirs, is accepted and
// shows the container what podman would show it.
func TestUnrelatedBindMountsKeepPodmansMeaning(t *testing.T) {
	sb := newSandbox(t)
	for i, dir := range []string{filepath.Join(sb.root, "shared"), sb.stateDir() + "-sibling"} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "f"), []byte("hello\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("sw-bind-%d", i)
		r := sb.sandwire("--url", svc.URL(), "run", "--scope", "proj", "--no-shield", name, "--",
			"--rm", "-v", dir+":/data:ro,z", svc.Image(), "cat", "/data/f")
		if r.code != 0 || strings.TrimSpace(r.stdout) != "hello" {
			t.Errorf("a bind of %s: %s; want the file's content", dir, r)
		}
		sb.assertNoState(name)
	}
}
