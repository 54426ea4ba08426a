package integration

import (
	"context"
	"encoding/binary"
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
	"testing"
	"time"

	"github.com/sandwire/sandwire/wiring"
)

// agentProbe is a static program run inside the container: it asks the
// SSH agent at $SSH_AUTH_SOCK for its identities, as ssh-add -l would.
const agentProbe = `package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
)

func fail(format string, args ...any) {
	fmt.Printf("agent-refused: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	c, err := net.Dial("unix", os.Getenv("SSH_AUTH_SOCK"))
	if err != nil {
		fail("dial: %v", err)
	}
	c.Write([]byte{0, 0, 0, 1, 11}) // SSH2_AGENTC_REQUEST_IDENTITIES
	var n uint32
	if err := binary.Read(c, binary.BigEndian, &n); err != nil {
		fail("no answer: %v", err)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c, body); err != nil || len(body) < 5 || body[0] != 12 {
		fail("bad answer %v", err)
	}
	keys := binary.BigEndian.Uint32(body[1:5])
	rest := body[5:]
	var comments []string
	for range keys {
		for i := 0; i < 2; i++ { // key blob, then comment
			l := binary.BigEndian.Uint32(rest)
			if i == 1 {
				comments = append(comments, string(rest[4:4+l]))
			}
			rest = rest[4+l:]
		}
	}
	fmt.Printf("identities: %d %v\n", keys, comments)
}
`

// buildAgentProbe compiles the probe statically into a fresh dir.
func buildAgentProbe(t *testing.T) string {
	t.Helper()
	src := t.TempDir()
	for name, data := range map[string]string{"go.mod": "module agentprobe\n\ngo 1.22\n", "main.go": agentProbe} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := os.MkdirTemp("", "probe")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(out) })
	cmd := exec.Command("go", "build", "-o", filepath.Join(out, "agentprobe"), ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GOWORK=off")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the agent probe: %v\n%s", err, msg)
	}
	if err := os.Chmod(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

// hostServices are fakes of the vault, the gate and the SSH signer, as
// the supervisor would run them for one container.
type hostServices struct {
	t         *testing.T
	name      string
	gateToken string
	store     *wiring.VaultStore
	closers   []io.Closer
	wg        sync.WaitGroup
}

// newHostServices are the fakes of the wired container name's host
// services, which share its sidecar's gate token and the sandbox's token
// store; they close when the test ends. The sidecar comes with them.
func newHostServices(t *testing.T, sb *sandbox, name string) (*hostServices, map[string]any) {
	t.Helper()
	sc := sb.readSidecar(name)
	gateToken, _ := sc["gate_token"].(string)
	store := sb.vault()
	h := &hostServices{t: t, name: name, gateToken: gateToken, store: store}
	t.Cleanup(func() {
		h.close()
		store.Close()
	})
	return h, sc
}

func (h *hostServices) close() {
	for _, c := range h.closers {
		c.Close()
	}
	h.wg.Wait()
	h.closers = nil
}

func (h *hostServices) serveHTTP(l net.Listener, handler http.HandlerFunc) {
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	h.closers = append(h.closers, srv)
	h.wg.Add(1)
	go func() { defer h.wg.Done(); srv.Serve(l) }()
}

func (h *hostServices) vault(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "vault-ok") }

// gate answers only requests whose basic-auth user is the container's
// gate token.
func (h *hostServices) gate(w http.ResponseWriter, r *http.Request) {
	if user, _, ok := r.BasicAuth(); !ok || user != h.gateToken {
		http.Error(w, "bad gate token", http.StatusUnauthorized)
		return
	}
	fmt.Fprint(w, "gate-ok")
}

// signer reads the phantom-token handshake, checks the token in the
// store, and only then answers an identities request with one key.
func (h *hostServices) serveSigner(l net.Listener) {
	h.closers = append(h.closers, l)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			h.wg.Add(1)
			go func() { defer h.wg.Done(); defer c.Close(); h.signer(c) }()
		}
	}()
}

func (h *hostServices) signer(c net.Conn) {
	c.SetDeadline(time.Now().Add(30 * time.Second))
	var n uint32
	if binary.Read(c, binary.BigEndian, &n) != nil || n == 0 || n > 256 {
		return
	}
	token := make([]byte, n)
	if _, err := io.ReadFull(c, token); err != nil {
		return
	}
	rec, ok, err := h.store.Lookup(context.Background(), string(token))
	if err != nil || !ok || rec.Provider != wiring.SSHProvider || rec.Subject != h.name {
		return // refused: the connection closes
	}
	var reqLen uint32
	if binary.Read(c, binary.BigEndian, &reqLen) != nil || reqLen != 1 {
		return
	}
	req := make([]byte, 1)
	if _, err := io.ReadFull(c, req); err != nil || req[0] != 11 {
		return
	}
	str := func(s string) []byte { return binary.BigEndian.AppendUint32(nil, uint32(len(s))) }
	body := []byte{12, 0, 0, 0, 1}
	body = append(append(body, str("fake-key-blob")...), "fake-key-blob"...)
	body = append(append(body, str("sandwire-e2e")...), "sandwire-e2e"...)
	c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...))
}

// startSocketServices binds the three services' sockets in the
// container's runtime dir, where the contract puts them.
func (h *hostServices) startSocketServices(runtimeDir string) {
	listen := func(rel string) net.Listener {
		p := filepath.Join(runtimeDir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			h.t.Fatal(err)
		}
		os.Remove(p)
		l, err := net.Listen("unix", p)
		if err != nil {
			h.t.Fatal(err)
		}
		return l
	}
	h.serveHTTP(listen("vault/vault.sock"), h.vault)
	h.serveHTTP(listen("gate/gate-server.sock"), h.gate)
	h.serveSigner(listen("signer/ssh-agent.sock"))
}

// startTCPServices listens on the container's ports. The container dials
// host.containers.internal, the host's address on the container network,
// so the fakes listen on every address of the host.
func (h *hostServices) startTCPServices(broker, signer, gate int) {
	listen := func(port int) net.Listener {
		l, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			h.t.Fatal(err)
		}
		return l
	}
	h.serveHTTP(listen(broker), h.vault)
	h.serveHTTP(listen(gate), h.gate)
	h.serveSigner(listen(signer))
}

// bridgeScript runs in the container: it sources the bridges and asks
// every host service through them.
const bridgeScript = `. /usr/local/share/terok-sandbox/bridges/ensure-bridges.sh
echo "vault=$(wget -q -O - http://127.0.0.1:9419/ 2>&1)"
echo "gate=$(wget -q -O - "http://$TEROK_GATE_TOKEN:x@127.0.0.1:9418/" 2>&1)"
echo "badgate=$(wget -q -O - http://terok-g-00000000000000000000000000000000:x@127.0.0.1:9418/ 2>&1 || echo refused)"
echo "agent=$(/probe/agentprobe 2>&1)"
`

func TestE2EBridgesReachEveryHostService(t *testing.T) {
	if out, err := svc.PodmanRemote("run", "--rm", svc.Image(), "sh", "-c", "command -v socat"); err == nil {
		t.Fatalf("the test image has socat (%q): the bridges must work without it", out)
	}
	probe := buildAgentProbe(t)
	for _, mode := range []string{"socket", "tcp"} {
		t.Run(mode+" mode", func(t *testing.T) {
			sb := newSandbox(t)
			sb.env[wiring.EnvServicesMode] = mode
			name := "sw-e2e-" + mode
			sb.create(name, []string{"--scope", "proj", "--no-shield"},
				"-v", probe+":/probe:ro", svc.Image(), "sh", "-c", bridgeScript)
			h, sc := newHostServices(t, sb, name)
			start := func() {
				if mode == "socket" {
					h.startSocketServices(sb.containerRuntimeDir(name))
					return
				}
				port := func(k string) int { f, _ := sc[k].(float64); return int(f) }
				h.startTCPServices(port("tcp_port"), port("ssh_signer_port"), port("gate_port"))
			}
			start()

			out := startAttached(t, name)
			for _, want := range []string{"vault=vault-ok", "gate=gate-ok", "agent=identities: 1 [sandwire-e2e]"} {
				if !strings.Contains(out, want) {
					t.Errorf("the container did not get %q through its bridges; it printed:\n%s", want, out)
				}
			}
			if !strings.Contains(out, "badgate=") || !strings.Contains(out, "401") {
				t.Errorf("the gate did not refuse a wrong token with 401; the container printed:\n%s", out)
			}

			// Cleanup revokes the SSH token: the same container, started
			// again, is refused by the signer. (Socket mode: the supervisor
			// would recreate the runtime dir on start; the fakes do.)
			mustSucceed(t, sb.sandwire("cleanup", name))
			if n := sb.tokenCount(name); n != 0 {
				t.Fatalf("%d token rows after cleanup", n)
			}
			if mode == "socket" {
				h.close()
				if err := os.MkdirAll(sb.containerRuntimeDir(name), 0o700); err != nil {
					t.Fatal(err)
				}
				start()
			}
			out = startAttached(t, name)
			if !strings.Contains(out, "agent=agent-refused") || strings.Contains(out, "identities:") {
				t.Errorf("after cleanup the signer still answered the container:\n%s", out)
			}
			if !strings.Contains(out, "vault=vault-ok") {
				t.Errorf("after cleanup the restarted container lost its other bridges too; want only the signer to refuse:\n%s", out)
			}
		})
	}
}

// startAttached starts a created container through the service and
// returns what it printed.
func startAttached(t *testing.T, name string) string {
	t.Helper()
	out, err := svc.PodmanRemote("start", "--attach", name)
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) && !strings.Contains(err.Error(), "exit status") {
		t.Fatalf("starting %s: %v", name, err)
	}
	return out
}
