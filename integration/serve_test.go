package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// served is one sandwire serve process in front of the test service.
type served struct {
	sb     *sandbox
	socket string
	stderr *bytes.Buffer
}

// startServe runs `sandwire serve` in the sandbox with wiringArgs and
// waits until its socket answers; it is stopped with SIGTERM when the test
// ends, and must exit 0 and take its socket away.
func startServe(t *testing.T, sb *sandbox, wiringArgs ...string) *served {
	t.Helper()
	socket := filepath.Join(sb.root, "serve.sock")
	args := append([]string{"--url", svc.URL(), "serve", "--listen", "unix://" + socket}, wiringArgs...)
	cmd := exec.Command(sandwireBin, args...)
	cmd.Env = sb.environ()
	s := &served{sb: sb, socket: socket, stderr: &bytes.Buffer{}}
	done, stop := startStopped(t, "sandwire serve", cmd, s.stderr)
	t.Cleanup(func() {
		stop()
		if _, err := os.Lstat(socket); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("serve left its socket %s behind (%v)", socket, err)
		}
		if tok := anyTokenRE.FindString(s.stderr.String()); tok != "" {
			t.Errorf("serve printed a token on stderr:\n%s", s.stderr)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := s.client().Get("http://d/_ping")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case err := <-done:
			t.Fatalf("sandwire serve exited: %v\n%s", err, s.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sandwire serve never answered: %v\n%s", err, s.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st, err := os.Stat(socket); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("serve socket %s: %v, %v; want mode 0600", socket, st.Mode(), err)
	}
	return s
}

// startStopped starts cmd with its stderr in stderr and returns its exit
// (the error of Wait) and stop, which sends SIGTERM and requires the
// process to exit 0 within 30s; stop does that once, however often it is
// called, and the test calls it at the latest when it ends.
func startStopped(t *testing.T, what string, cmd *exec.Cmd, stderr *bytes.Buffer) (<-chan error, func()) {
	t.Helper()
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s exited with %v after SIGTERM; stderr:\n%s", what, err, stderr)
				}
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				t.Errorf("%s did not stop within 30s of SIGTERM", what)
			}
		})
	}
	t.Cleanup(stop)
	return done, stop
}

// client is an HTTP client of the serve socket.
func (s *served) client() *http.Client {
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", s.socket)
		},
	}}
}

// podman5 is podman-remote 5.8.2, the client the tests point at serve:
// the client-only build (hack/build-podman5.sh remote) when it is named,
// else the full 5.8.2 binary, whose --remote runs the same client code.
func podman5() string {
	for _, env := range []string{"SANDWIRE_PODMAN_REMOTE5", "SANDWIRE_PODMAN5"} {
		if p := os.Getenv(env); p != "" {
			return p
		}
	}
	return "/root/.cache/sandwire/podman-5.8.2/podman"
}

// run runs a client command against serve and returns its combined
// output and exit code.
func (s *served) run(t *testing.T, env []string, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(svc.Env(), env...)
	out, err := cmd.CombinedOutput()
	code, ran := exitCode(err)
	if !ran {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out), code
}

// podman runs podman-remote 5.8.2 against serve and requires success.
func (s *served) podman(t *testing.T, args ...string) string {
	t.Helper()
	return s.podmanWith(t, podman5(), args...)
}

// podmanWith runs the podman binary as a remote client of serve and
// requires success.
func (s *served) podmanWith(t *testing.T, bin string, args ...string) string {
	t.Helper()
	return s.mustRun(t, nil, bin, s.remoteArgs(args...)...)
}

// remoteArgs are podman's arguments for a remote call through serve.
func (s *served) remoteArgs(args ...string) []string {
	return append([]string{"--remote", "--url", "unix://" + s.socket}, args...)
}

// mustRun is run that requires success.
func (s *served) mustRun(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	out, code := s.run(t, env, name, args...)
	if code != 0 {
		t.Fatalf("%s %v through serve exited %d:\n%s\nserve stderr:\n%s", name, args, code, out, s.stderr)
	}
	return out
}

// dockerEnv points Debian's docker CLI and docker-compose at serve, with a
// client configuration of the test's own.
func (s *served) dockerEnv() []string {
	return []string{"DOCKER_HOST=unix://" + s.socket, "DOCKER_CONFIG=" + filepath.Join(s.sb.root, "docker")}
}

// docker runs Debian's docker CLI against serve and requires success.
func (s *served) docker(t *testing.T, args ...string) string {
	t.Helper()
	requireClient(t, debianDocker)
	return s.mustRun(t, s.dockerEnv(), debianDocker, args...)
}

// assertWired checks on the real server that the container is wired:
// the sidecar annotation, the TEROK_* variables, the bridge mount, the
// sidecar file and its token rows.
func (sb *sandbox) assertWired(name string) {
	sb.t.Helper()
	c := inspect(sb.t, name)
	if got := c.Config.Annotations[sidecarAnnotation]; got != sb.sidecarPath(name) {
		sb.t.Errorf("%s: annotation %s = %q, want %q", name, sidecarAnnotation, got, sb.sidecarPath(name))
	}
	env := c.terokEnv()
	if !gateTokenRE.MatchString(env["TEROK_GATE_TOKEN"]) || env["TEROK_VAULT_SOCKET"] != "/run/terok/vault/vault.sock" {
		sb.t.Errorf("%s: TEROK_* variables %d, gate token well-formed %v", name, len(env), gateTokenRE.MatchString(env["TEROK_GATE_TOKEN"]))
	}
	mounts := c.mounts()
	for _, dest := range []string{containerBridgesDir, containerRuntimeDir} {
		if m, ok := mounts[dest]; !ok || m.RW || m.Type != "bind" {
			sb.t.Errorf("%s: mount at %s = %+v (present %v), want a read-only bind", name, dest, m, ok)
		}
	}
	if sc := sb.readSidecar(name); sc["container_name"] != name {
		sb.t.Errorf("%s: sidecar container_name = %v", name, sc["container_name"])
	}
	if n := sb.tokenCount(name); n != 1 {
		sb.t.Errorf("%s: %d token rows, want 1", name, n)
	}
}

// eventually polls cond for up to 30s: removals by the server itself
// (--rm) reach serve as events.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
	}
}

func (sb *sandbox) noState(name string) bool {
	for _, p := range []string{sb.sidecarPath(name), sb.runStateDir(name), sb.containerRuntimeDir(name)} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			return false
		}
	}
	return sb.tokenCount(name) == 0
}

func TestServePodmanRemoteCreatesAreWired(t *testing.T) {
	sb := newSandbox(t)
	s := startServe(t, sb, "--scope", "proj", "--no-shield")
	const name = "sw-serve-podman"
	removeContainerAtEnd(t, name)

	s.podman(t, "run", "-d", "--name", name, svc.Image(), "sh", "-c", "echo started; sleep 300")
	sb.assertWired(name)
	if out := s.podman(t, "exec", name, "sh", "-c", "echo $TEROK_VAULT_SOCKET"); strings.TrimSpace(out) != "/run/terok/vault/vault.sock" {
		t.Errorf("exec printed %q, want the wired vault socket", out)
	}
	eventually(t, "logs show the container's output", func() bool {
		return strings.Contains(s.podman(t, "logs", name), "started")
	})
	s.podman(t, "rm", "-f", "-t", "0", name)
	sb.assertNoState(name)

	// An attached run with --rm: the hijacked stream, then the server's
	// own removal, which serve follows.
	if out := s.podman(t, "run", "--rm", "--name", name, svc.Image(), "sh", "-c", "echo attached-$TEROK_GATE_SOCKET"); !strings.Contains(out, "attached-/run/terok/gate/gate-server.sock") {
		t.Errorf("run --rm printed %q, want the wired gate socket", out)
	}
	eventually(t, "the --rm container's state is cleaned up", func() bool { return sb.noState(name) })
}

func TestServeCreateWithoutNameGetsAName(t *testing.T) {
	sb := newSandbox(t)
	s := startServe(t, sb, "--no-shield")
	id := strings.TrimSpace(s.podman(t, "create", svc.Image(), "true"))
	c := inspect(t, id)
	name := strings.TrimPrefix(c.Name, "/")
	removeContainerAtEnd(t, name)
	if !strings.Contains(name, "_") {
		t.Errorf("generated name %q, want podman's adjective_name form", name)
	}
	if got := c.Config.Annotations[sidecarAnnotation]; got != sb.sidecarPath(name) {
		t.Errorf("annotation %s = %q, want %q", sidecarAnnotation, got, sb.sidecarPath(name))
	}
	s.podman(t, "rm", name)
	sb.assertNoState(name)
}

// TestServeDockerCLI points Debian's docker CLI at serve. On podman 5 its
// creates are wired (run -d, run --rm), exec (also -it on a terminal) and
// logs reach the container, and rm cleans up. On podman 4, which drops the
// annotations of Docker creates, its creates are refused with the reason
// and leave nothing, while its exec, logs and rm work on a wired container
// podman-remote made through serve.
func TestServeDockerCLI(t *testing.T) {
	sb := newSandbox(t)
	s := startServe(t, sb, "--scope", "proj", "--no-shield")
	requireClient(t, debianDocker)
	const name = "sw-serve-docker"
	removeContainerAtEnd(t, name)

	podman4 := serverMajor(t) < 5
	if podman4 {
		// serve refuses rather than leave a container without its sidecar
		// annotation.
		for _, run := range [][]string{{"run", "-d"}, {"run", "--rm"}} {
			out, code := s.run(t, s.dockerEnv(), debianDocker, append(run, "--name", name, svc.Image(), "true")...)
			if code == 0 || !strings.Contains(out, "ignores the annotations") {
				t.Errorf("docker %v on podman 4 exited %d:\n%s\nwant a refusal that says why", run, code, out)
			}
			if containerExists(t, name) {
				t.Errorf("docker %v left the unannotated container %s on the server", run, name)
			}
			sb.assertNoState(name)
		}
		s.podman(t, "run", "-d", "--name", name, svc.Image(), "sh", "-c", "echo started; sleep 300")
	} else {
		s.docker(t, "run", "-d", "--name", name, "-e", "FOO=bar", svc.Image(), "sh", "-c", "echo started; sleep 300")
		if env := inspect(t, name).env(); env["FOO"] != "bar" {
			t.Errorf("FOO = %q, want the client's own bar", env["FOO"])
		}
	}
	sb.assertWired(name)
	if out := s.docker(t, "exec", name, "sh", "-c", "echo $TEROK_VAULT_SOCKET"); strings.TrimSpace(out) != "/run/terok/vault/vault.sock" {
		t.Errorf("docker exec printed %q, want the wired vault socket", out)
	}
	term := s.startClient(t, s.dockerEnv(), true, debianDocker, "exec", "-it", name, "sh", "-c", "tty; echo $TEROK_GATE_SOCKET; exit 6")
	if out, code := term.wait(); code != 6 || !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "/run/terok/gate/gate-server.sock") {
		t.Errorf("docker exec -it exited %d, the terminal shows:\n%s\nwant 6, a pty and the wired gate socket", code, out)
	}
	eventually(t, "docker logs show the container's output", func() bool {
		return strings.Contains(s.docker(t, "logs", name), "started")
	})
	s.docker(t, "rm", "-f", name)
	if containerExists(t, name) {
		t.Errorf("docker rm -f left %s on the server", name)
	}
	sb.assertNoState(name)
	if podman4 {
		return
	}

	if out := s.docker(t, "run", "--rm", "--name", name, svc.Image(), "sh", "-c", "echo attached-$TEROK_GATE_SOCKET"); !strings.Contains(out, "attached-/run/terok/gate/gate-server.sock") {
		t.Errorf("docker run --rm printed %q, want the wired gate socket", out)
	}
	eventually(t, "the --rm container's state is cleaned up", func() bool { return sb.noState(name) })
}

// refusal is podman's error body.
type refusal struct {
	Cause    string `json:"cause"`
	Message  string `json:"message"`
	Response int    `json:"response"`
}

// TestServeRefusesBypasses sends each form that would bypass or undo the
// wiring by hand and checks the answer and the server afterwards.
func TestServeRefusesBypasses(t *testing.T) {
	sb := newSandbox(t)
	s := startServe(t, sb, "--no-shield")
	const wired = "sw-serve-wired"
	removeContainerAtEnd(t, wired)
	s.podman(t, "create", "--name", wired, svc.Image(), "sleep", "300")
	before := containerNames(t)

	state := sb.stateDir()
	cases := []struct {
		name, method, path, body, want string
	}{
		{"libpod create with a mount at /run/terok", "POST", "/v5.0.0/libpod/containers/create",
			`{"image":"` + svc.Image() + `","name":"sw-serve-bad1","mounts":[{"destination":"/run/terok","type":"tmpfs","source":"tmpfs"}]}`, "/run/terok"},
		{"libpod create with env_host", "POST", "/v5.0.0/libpod/containers/create",
			`{"image":"` + svc.Image() + `","name":"sw-serve-bad2","env_host":true}`, "env_host"},
		{"libpod create setting a TEROK variable in another key case", "POST", "/v5.0.0/libpod/containers/create",
			`{"image":"` + svc.Image() + `","name":"sw-serve-bad3","ENV":{"TEROK_GATE_TOKEN":"x"}}`, "TEROK_GATE_TOKEN"},
		{"libpod create whose duplicate key privileges it", "POST", "/v5.0.0/libpod/containers/create",
			`{"image":"` + svc.Image() + `","name":"sw-serve-bad4","privileged":false,"privileged":true}`, "privileged"},
		{"docker create binding the state dir", "POST", "/v1.41/containers/create?name=sw-serve-bad5",
			`{"Image":"` + svc.Image() + `","HostConfig":{"Binds":["` + state + `/../state:/x"]}}`, "state dir"},
		{"docker create privileged", "POST", "/v1.41/containers/create?name=sw-serve-bad6",
			`{"Image":"` + svc.Image() + `","HostConfig":{"Privileged":true}}`, "privileged"},
		{"docker create with host PID", "POST", "/containers/create?name=sw-serve-bad7",
			`{"Image":"` + svc.Image() + `","HostConfig":{"PidMode":"host"}}`, "--pid"},
		{"docker create with a mount at the bridge dir", "POST", "/v1.41/containers/create?name=sw-serve-bad8",
			`{"Image":"` + svc.Image() + `","HostConfig":{"Mounts":[{"Type":"tmpfs","Target":"/usr/local/share/terok-sandbox/bridges"}]}}`, "bridges"},
		{"play kube", "POST", "/v5.0.0/libpod/play/kube", "apiVersion: v1\nkind: Pod\n", "kube"},
		{"kube play", "POST", "/v5.0.0/libpod/kube/play", "apiVersion: v1\nkind: Pod\n", "kube"},
		{"quadlet install", "POST", "/v5.0.0/libpod/quadlets", "", "systemd units"},
		{"checkpoint restore with import", "POST", "/v5.0.0/libpod/containers/x/restore?Import=1", "", "archive"},
		{"privileged exec", "POST", "/v1.41/containers/" + wired + "/exec", `{"Cmd":["true"],"Privileged":true}`, "privileged"},
		{"rename of a wired container", "POST", "/v5.0.0/libpod/containers/" + wired + "/rename?name=other", "", "name keys"},
		{"commit of a wired container", "POST", "/v1.41/commit?CONTAINER=" + wired, "", "tokens"},
		{"network connect of a wired container", "POST", "/v1.41/networks/podman/connect", `{"Container":"` + wired + `"}`, "network"},
		{"network disconnect of a wired container", "POST", "/v5.0.0/libpod/networks/podman/disconnect", `{"container":"` + wired + `"}`, "network"},
		{"update of a wired container's env", "POST", "/v5.0.0/libpod/containers/" + wired + "/update", `{"Env":["TEROK_GATE_TOKEN=x"]}`, "environment"},
		{"volume binding the state dir", "POST", "/v5.0.0/libpod/volumes/create", `{"Name":"sw-serve-vol","Options":{"o":"bind","device":"` + state + `"}}`, "state dir"},
		{"pod sharing a wired container's network", "POST", "/v5.0.0/libpod/pods/create", `{"name":"sw-serve-pod","netns":{"nsmode":"container","value":"` + wired + `"}}`, "pod"},
		{"an endpoint podman does not have", "POST", "/v5.0.0/libpod/containers/" + wired + "/clone", "", "decided"},
		{"a path that is not clean", "POST", "/v1.41/containers//create", `{"Image":"x"}`, "clean"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, "http://d"+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := s.client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var body refusal
			if err := json.Unmarshal(data, &body); err != nil || resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Fatalf("answer %d %s, want a 4xx with podman's error body", resp.StatusCode, data)
			}
			if body.Response != resp.StatusCode || body.Cause == "" || !strings.Contains(strings.ToLower(body.Message), strings.ToLower(tc.want)) {
				t.Errorf("error body %+v, want response %d, a cause and a message naming %q", body, resp.StatusCode, tc.want)
			}
		})
	}
	if after := containerNames(t); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("containers after the refusals %v, before %v", after, before)
	}
	if out, _ := svc.Podman("volume", "ls", "-q"); strings.Contains(out, "sw-serve-vol") {
		t.Errorf("a refused volume was made")
	}
	if out, _ := svc.Podman("pod", "ls", "-q", "--filter", "name=sw-serve-pod"); strings.TrimSpace(out) != "" {
		t.Errorf("a refused pod was made")
	}
	if c := inspect(t, wired); c.Name != wired {
		t.Errorf("the wired container is now %q", c.Name)
	}

	// The clients print the reason.
	out, code := s.run(t, nil, podman5(), s.remoteArgs("run", "--rm", "-v", state+":/s", svc.Image(), "true")...)
	if code == 0 || !strings.Contains(out, "state dir") {
		t.Errorf("podman run -v STATE exited %d:\n%s\nwant a failure naming the state dir", code, out)
	}
	requireClient(t, debianDocker)
	out, code = s.run(t, s.dockerEnv(), debianDocker, "run", "--rm", "--privileged", svc.Image(), "true")
	if code == 0 || !strings.Contains(out, "privileged") {
		t.Errorf("docker run --privileged exited %d:\n%s\nwant a failure naming --privileged", code, out)
	}
}

// containerNames lists the server's containers.
func containerNames(t *testing.T) []string {
	t.Helper()
	out, err := svc.Podman("ps", "-a", "--format", "{{.Names}}", "--sort", "names")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(out)
}

// serverMajor is the test service's podman major version.
func serverMajor(t *testing.T) int {
	t.Helper()
	out, err := svc.Podman("--version")
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(out)
	var major int
	if _, err := fmt.Sscanf(fields[len(fields)-1], "%d.", &major); err != nil {
		t.Fatalf("podman --version %q: %v", out, err)
	}
	return major
}
