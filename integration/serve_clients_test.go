package integration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sandwire/sandwire/internal/vaulttest"
	"golang.org/x/sys/unix"
)

// The real clients the serve tests point at serve, besides podman-remote
// 5.8.2 (podman5): Debian's own, as hack/install-deps.sh installs them.
// They are named by path, not looked up in PATH, where another docker may
// come first.
const (
	debianPodman  = "/usr/bin/podman"
	debianDocker  = "/usr/bin/docker"
	debianCompose = "/usr/bin/docker-compose"
)

// requireClient fails the test when a client it points at serve is not
// there: a client the matrix names must never be skipped.
func requireClient(t *testing.T, bin string) {
	t.Helper()
	st, err := os.Stat(bin)
	if err == nil && (st.IsDir() || st.Mode()&0o111 == 0) {
		err = errors.New("not an executable file")
	}
	if err != nil {
		t.Fatalf("the client %s is missing (%v): hack/install-deps.sh installs Debian's clients, hack/build-podman5.sh podman-remote 5.8.2", bin, err)
	}
}

// liveClient is a client command running beside the test, its output
// collected as it comes.
type liveClient struct {
	t    *testing.T
	what string
	cmd  *exec.Cmd
	// term is the pty's master side, when the client runs on a terminal.
	term *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	// exited is closed once the command exited and its output was read.
	exited chan struct{}
	code   int
}

func (c *liveClient) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}

func (c *liveClient) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

// startClient starts a client of serve; with onTerminal it runs on a pty
// of its own, as in a shell (its controlling terminal, 24x80), and its
// output is what the terminal shows.
func (s *served) startClient(t *testing.T, env []string, onTerminal bool, name string, args ...string) *liveClient {
	t.Helper()
	requireClient(t, name)
	c := &liveClient{t: t, what: fmt.Sprintf("%s %s", name, strings.Join(args, " ")), exited: make(chan struct{})}
	c.cmd = exec.Command(name, args...)
	c.cmd.Env = append(svc.Env(), env...)
	var tty *os.File
	if onTerminal {
		var err error
		if c.term, tty, err = vaulttest.OpenPTY(); err != nil {
			t.Fatal(err)
		}
		if err := unix.IoctlSetWinsize(int(c.term.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 80}); err != nil {
			t.Fatal(err)
		}
		c.cmd.Stdin, c.cmd.Stdout, c.cmd.Stderr = tty, tty, tty
		c.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	} else {
		c.cmd.Stdout, c.cmd.Stderr = c, c
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", c.what, err)
	}
	copied := make(chan struct{})
	if onTerminal {
		tty.Close() // the client holds the terminal now
		go func() {
			defer close(copied)
			_, _ = io.Copy(c, c.term) // ends with EIO once the client closed its side
		}()
	} else {
		close(copied)
	}
	go func() {
		c.code, _ = exitCode(c.cmd.Wait())
		select {
		case <-copied:
		case <-time.After(10 * time.Second):
		}
		close(c.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
		if c.term != nil {
			c.term.Close()
		}
	})
	return c
}

// waitFor waits until the client's output holds want.
func (c *liveClient) waitFor(want string) {
	c.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(c.output(), want); time.Sleep(50 * time.Millisecond) {
		select {
		case <-c.exited:
			if !strings.Contains(c.output(), want) {
				c.t.Fatalf("%s exited %d before it printed %q:\n%s", c.what, c.code, want, c.output())
			}
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s did not print %q within 30s:\n%s", c.what, want, c.output())
		}
	}
}

// typeIn writes input to the client's terminal, as typed.
func (c *liveClient) typeIn(input string) {
	c.t.Helper()
	if _, err := c.term.WriteString(input); err != nil {
		c.t.Fatal(err)
	}
}

// wait waits for the client to exit and returns its output and exit code.
func (c *liveClient) wait() (string, int) {
	c.t.Helper()
	select {
	case <-c.exited:
	case <-time.After(2 * time.Minute):
		c.t.Fatalf("%s did not exit within 2 minutes:\n%s", c.what, c.output())
	}
	return c.output(), c.code
}

// remotePodmans are the podman clients of the matrix, each used as a
// remote client of serve.
var remotePodmans = []struct {
	name string
	bin  func() string
}{
	{"podman-remote 5.8.2", podman5},
	{"Debian's podman 4.3.1 as a remote client", func() string { return debianPodman }},
}

// TestServePodmanClients points each podman client at serve with the verbs
// a user types — an attached run, run -d, exec -it on a terminal, logs -f,
// cp both ways, rm — and checks on the real server that every container
// they made is wired and that every removal leaves no state or token, and
// that a refusal reaches the client's output with its reason.
func TestServePodmanClients(t *testing.T) {
	for i, client := range remotePodmans {
		t.Run(client.name, func(t *testing.T) {
			bin := client.bin()
			requireClient(t, bin)
			sb := newSandbox(t)
			s := startServe(t, sb, "--scope", "proj", "--no-shield")
			podman := func(args ...string) string { t.Helper(); return s.podmanWith(t, bin, args...) }
			name := fmt.Sprintf("sw-clients-%d", i)
			attached, logged := name+"-run", name+"-logs"
			for _, n := range []string{name, attached, logged} {
				removeContainerAtEnd(t, n)
			}

			// An attached run: the container's output and exit code come
			// back through the hijacked attach.
			out, code := s.run(t, nil, bin, s.remoteArgs("run", "--name", attached, svc.Image(), "sh", "-c", "echo attached-$TEROK_GATE_SOCKET; exit 7")...)
			if code != 7 || !strings.Contains(out, "attached-/run/terok/gate/gate-server.sock") {
				t.Errorf("run exited %d, printed:\n%s\nwant 7 and the wired gate socket", code, out)
			}
			sb.assertWired(attached)
			podman("rm", attached)
			if containerExists(t, attached) {
				t.Errorf("rm left %s on the server", attached)
			}
			sb.assertNoState(attached)

			podman("run", "-d", "--name", name, svc.Image(), "sh", "-c", "echo started; sleep 300")
			sb.assertWired(name)

			// exec -it on a terminal: stdin, a tty in the container, the
			// exec's exit code.
			term := s.startClient(t, nil, true, bin, s.remoteArgs("exec", "-it", name, "sh", "-c", "echo ready; read line; echo got-$line-$TEROK_VAULT_SOCKET; tty; exit 3")...)
			term.waitFor("ready")
			term.typeIn("hello\n")
			if out, code := term.wait(); code != 3 || !strings.Contains(out, "got-hello-/run/terok/vault/vault.sock") || !strings.Contains(out, "/dev/pts/") {
				t.Errorf("exec -it exited %d, the terminal shows:\n%s\nwant 3, the typed line with the wired vault socket, and a pty in the container", code, out)
			}

			// cp into the container and out of it.
			dir := t.TempDir()
			in := filepath.Join(dir, "in.txt")
			if err := os.WriteFile(in, []byte("to-the-container\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			podman("cp", in, name+":/tmp/in.txt")
			if got := podman("exec", name, "cat", "/tmp/in.txt"); got != "to-the-container\n" {
				t.Errorf("the container's copy holds %q", got)
			}
			podman("exec", name, "sh", "-c", "echo from-$TEROK_GATE_SOCKET > /tmp/out.txt")
			podman("cp", name+":/tmp/out.txt", filepath.Join(dir, "out.txt"))
			if got, err := os.ReadFile(filepath.Join(dir, "out.txt")); err != nil || string(got) != "from-/run/terok/gate/gate-server.sock\n" {
				t.Errorf("the file copied out holds %q (%v), want the wired container's", got, err)
			}

			// logs -f follows: a line the container writes after the
			// client attached arrives, and the client ends with the
			// container.
			podman("run", "-d", "--name", logged, svc.Image(), "sh", "-c", "echo first; while [ ! -e /tmp/go ]; do sleep 1; done; echo second-$TEROK_GATE_SOCKET")
			sb.assertWired(logged)
			follow := s.startClient(t, nil, false, bin, s.remoteArgs("logs", "-f", logged)...)
			follow.waitFor("first")
			podman("exec", logged, "touch", "/tmp/go")
			if out, code := follow.wait(); code != 0 || !strings.Contains(out, "second-/run/terok/gate/gate-server.sock") {
				t.Errorf("logs -f exited %d, printed:\n%s\nwant 0 and the line written after it attached", code, out)
			}
			podman("rm", logged)
			sb.assertNoState(logged)

			// wait and events follow through serve: each ends, or goes on,
			// when the container dies (events from --since on, so that the
			// death is seen whenever the stream began).
			events := s.startClient(t, nil, false, bin, s.remoteArgs("events", "--since", "10m", "--filter", "container="+name, "--filter", "event=died")...)
			waiter := s.startClient(t, nil, false, bin, s.remoteArgs("wait", name)...)
			podman("kill", name)
			if out, code := waiter.wait(); code != 0 || strings.TrimSpace(out) != "137" {
				t.Errorf("wait exited %d, printed %q; want 0 and the killed container's 137", code, out)
			}
			events.waitFor(name)
			if err := events.cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
			events.wait()

			podman("rm", "-f", "-t", "0", name)
			if containerExists(t, name) {
				t.Errorf("rm -f left %s on the server", name)
			}
			sb.assertNoState(name)

			// A refusal reaches the client with its reason, and nothing is made.
			before := containerNames(t)
			out, code = s.run(t, nil, bin, s.remoteArgs("run", "--rm", "--privileged", svc.Image(), "true")...)
			if code == 0 || !strings.Contains(out, "privileged") {
				t.Errorf("run --privileged exited %d:\n%s\nwant a failure naming --privileged", code, out)
			}
			if after := containerNames(t); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("containers after the refusal %v, before %v", after, before)
			}
		})
	}
}

// A compose project of two long-running services. serve's creates keep
// the sandbox's network namespace, so each service says network_mode:
// default (the server's default network) rather than joining the
// project's own network, which compose makes otherwise.
const (
	composeWired = `version: "3"
services:
  web:
    image: %[1]s
    command: ["sh", "-c", "echo web-up; sleep 300"]
    environment:
      FOO: bar
    network_mode: default
  worker:
    image: %[1]s
    command: ["sh", "-c", "echo worker-up; sleep 300"]
    network_mode: default
`
	composeOwnNetwork = `version: "3"
services:
  web:
    image: %[1]s
    command: ["sleep", "300"]
  worker:
    image: %[1]s
    command: ["sleep", "300"]
`
)

// composeProject is one compose file and project against serve.
type composeProject struct {
	s             *served
	file, project string
}

// newComposeProject writes the compose file and brings the project down
// when the test ends, removing whatever it made (the project's network
// too).
func newComposeProject(t *testing.T, s *served, project, file string) *composeProject {
	t.Helper()
	requireClient(t, debianCompose)
	path := filepath.Join(t.TempDir(), "docker-compose.yml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(file, svc.Image())), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &composeProject{s: s, file: path, project: project}
	for _, svcName := range []string{"web", "worker"} {
		removeContainerAtEnd(t, c.container(svcName))
	}
	t.Cleanup(func() {
		if out, code := c.compose(t, "down", "-t", "0"); code != 0 {
			t.Errorf("docker-compose down at the end exited %d:\n%s", code, out)
		}
	})
	return c
}

// container is the name compose 1.29 gives a service's first container.
func (c *composeProject) container(service string) string {
	return c.project + "_" + service + "_1"
}

func (c *composeProject) args(args ...string) []string {
	return append([]string{"-f", c.file, "-p", c.project}, args...)
}

// compose runs docker-compose on the project against serve.
func (c *composeProject) compose(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return c.s.run(t, c.s.dockerEnv(), debianCompose, c.args(args...)...)
}

// assertNothingLeft checks that neither service has a container or any
// sandbox state.
func (c *composeProject) assertNothingLeft(t *testing.T) {
	t.Helper()
	for _, svcName := range []string{"web", "worker"} {
		name := c.container(svcName)
		if containerExists(t, name) {
			t.Errorf("%s was left on the server", name)
		}
		c.s.sb.assertNoState(name)
	}
}

// TestServeDockerCompose brings a two-service project up and down through
// serve with Debian's docker-compose: on podman 5 both containers are
// wired, exec reaches them, down leaves no state or token; on podman 4,
// which drops the annotations of Docker creates, the refusal reaches
// compose's output and nothing is left. A project on its own network is
// refused on both, with the reason in compose's output.
func TestServeDockerCompose(t *testing.T) {
	sb := newSandbox(t)
	s := startServe(t, sb, "--scope", "proj", "--no-shield")

	t.Run("a project on the default network", func(t *testing.T) {
		c := newComposeProject(t, s, "swcompose", composeWired)
		out, code := c.compose(t, "up", "-d")
		if serverMajor(t) < 5 {
			if code == 0 || strings.Count(out, "ignores the annotations") < 2 {
				t.Errorf("docker-compose up on podman 4 exited %d:\n%s\nwant both creates refused, saying why", code, out)
			}
			c.assertNothingLeft(t)
			return
		}
		if code != 0 {
			t.Fatalf("docker-compose up -d exited %d:\n%s\nserve stderr:\n%s", code, out, s.stderr)
		}
		web, worker := c.container("web"), c.container("worker")
		sb.assertWired(web)
		sb.assertWired(worker)
		if c := inspect(t, web); c.env()["FOO"] != "bar" || c.Config.Labels["com.docker.compose.project"] != "swcompose" {
			t.Errorf("%s: FOO = %q, compose project label %q; want the compose file's own", web, c.env()["FOO"], c.Config.Labels["com.docker.compose.project"])
		}
		if out := s.mustRun(t, s.dockerEnv(), debianCompose, c.args("exec", "-T", "web", "sh", "-c", "echo $TEROK_VAULT_SOCKET")...); strings.TrimSpace(out) != "/run/terok/vault/vault.sock" {
			t.Errorf("docker-compose exec -T printed %q, want the wired vault socket", out)
		}
		// compose's exec allocates a tty unless -T: on a terminal.
		term := s.startClient(t, s.dockerEnv(), true, debianCompose, c.args("exec", "worker", "sh", "-c", "tty; echo $TEROK_GATE_SOCKET; exit 5")...)
		if out, code := term.wait(); code != 5 || !strings.Contains(out, "/run/terok/gate/gate-server.sock") || !strings.Contains(out, "/dev/pts/") {
			t.Errorf("docker-compose exec on a terminal exited %d, the terminal shows:\n%s\nwant 5, a pty and the wired gate socket", code, out)
		}
		if out, code := c.compose(t, "down", "-t", "0"); code != 0 {
			t.Fatalf("docker-compose down exited %d:\n%s", code, out)
		}
		c.assertNothingLeft(t)
	})

	t.Run("a project on its own network is refused", func(t *testing.T) {
		c := newComposeProject(t, s, "swcomposenet", composeOwnNetwork)
		out, code := c.compose(t, "up", "-d")
		if code == 0 || !strings.Contains(out, "sandbox owns") || !strings.Contains(out, "swcomposenet_default") {
			t.Errorf("docker-compose up of a project on its own network exited %d:\n%s\nwant a refusal naming the network the sandbox owns", code, out)
		}
		c.assertNothingLeft(t)
	})
}
