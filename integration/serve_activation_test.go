package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeTakesASocketFromSocketActivation: without --listen, serve
// answers on the socket systemd passes it, wires what is created there,
// and leaves the socket, which is systemd's, in place when it stops.
// systemd-socket-activate (Debian's systemd package) plays systemd.
func TestServeTakesASocketFromSocketActivation(t *testing.T) {
	activate, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Fatalf("systemd-socket-activate, from Debian's systemd package, is needed: %v", err)
	}
	sb := newSandbox(t)
	socket := filepath.Join(sb.root, "activated.sock")
	args := []string{"-l", socket}
	for _, kv := range sb.environ() {
		args = append(args, "-E", kv)
	}
	args = append(args, sandwireBin, "--url", svc.URL(), "serve", "--scope", "proj", "--no-shield")
	var stderr bytes.Buffer
	_, stop := startStopped(t, "sandwire serve under systemd-socket-activate", exec.Command(activate, args...), &stderr)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Lstat(socket); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("systemd-socket-activate made no socket:\n%s", &stderr)
		}
	}

	s := &served{sb: sb, socket: socket, stderr: &stderr}
	const name = "sw-serve-activated"
	removeContainerAtEnd(t, name)
	// The first connection makes systemd-socket-activate exec serve.
	if out := s.podman(t, "run", "--rm", "--name", name, svc.Image(), "sh", "-c", "echo gate=$TEROK_GATE_SOCKET"); !strings.Contains(out, "gate=/run/terok/gate/gate-server.sock") {
		t.Errorf("run through the activated socket printed %q, want the wired gate socket", out)
	}
	if !strings.Contains(stderr.String(), "Execing") {
		t.Errorf("serve was not started by socket activation:\n%s", &stderr)
	}
	eventually(t, "the --rm container's state is cleaned up", func() bool { return sb.noState(name) })
	stop()
	if st, err := os.Lstat(socket); err != nil || st.Mode().Type() != os.ModeSocket {
		t.Errorf("the activated socket after serve stopped: %v, %v; want it left to systemd", st, err)
	}
}
