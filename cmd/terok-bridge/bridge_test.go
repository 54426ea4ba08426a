package main

import (
	"bytes"
	"errors"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// shortTempDir returns a fresh directory with a short path: t.TempDir()
// paths can exceed sun_path's 107 bytes once a socket name is added.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// listenOn listens on a (a unix socket path or a loopback tcp port chosen
// by the kernel) and closes the listener when the test ends.
func listenOn(t *testing.T, network, path string) (net.Listener, address) {
	t.Helper()
	addr := path
	if network == "tcp" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln, address{network, ln.Addr().String()}
}

// serveUpstream answers each connection on ln with "re:" and everything
// the connection sent up to its end, then closes it. got receives the
// bytes each connection sent.
func serveUpstream(ln net.Listener, got chan<- []byte) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			b, _ := io.ReadAll(c)
			if got != nil {
				got <- b
			}
			c.Write(append([]byte("re:"), b...))
		}()
	}
}

// startBridge serves a bridge to upstream on a listener on listenNet and
// returns the listener's address and the bridge's log.
func startBridge(t *testing.T, listenNet, listenPath string, upstream address, token string, retry time.Duration) (address, *syncBuffer) {
	t.Helper()
	ln, addr := listenOn(t, listenNet, listenPath)
	logs := &syncBuffer{}
	b := &bridge{upstream: upstream, retry: retry, log: log.New(logs, "terok-bridge: ", 0)}
	if token != "" {
		b.handshake = handshake(token)
	}
	go b.serve(ln)
	return addr, logs
}

// request sends req on a new connection to a, ends its side of the
// stream, and returns everything it reads back until the bridge closes.
func request(t *testing.T, a address, req string) string {
	t.Helper()
	c, err := net.Dial(a.network, a.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	return string(resp)
}

func TestRelay(t *testing.T) {
	tests := []struct {
		name               string
		listenNet, upstNet string
	}{
		{"tcp listener relays to a unix upstream", "tcp", "unix"},
		{"unix listener relays to a tcp upstream", "unix", "tcp"},
		{"unix listener relays to a unix upstream", "unix", "unix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := shortTempDir(t)
			upLn, up := listenOn(t, tt.upstNet, filepath.Join(dir, "up.sock"))
			go serveUpstream(upLn, nil)
			addr, logs := startBridge(t, tt.listenNet, filepath.Join(dir, "in.sock"), up, "", time.Second)

			for _, req := range []string{"hello", strings.Repeat("x", 1<<20)} {
				if got, want := request(t, addr, req), "re:"+req; got != want {
					t.Errorf("response = %.40q (%d bytes), want %.40q (%d bytes)", got, len(got), want, len(want))
				}
			}
			if logs.String() != "" {
				t.Errorf("the bridge logged %q", logs)
			}
		})
	}
}

func TestHandshakeComesFirstAndBytesPassUnchanged(t *testing.T) {
	dir := shortTempDir(t)
	upLn, up := listenOn(t, "unix", filepath.Join(dir, "up.sock"))
	got := make(chan []byte, 1)
	go serveUpstream(upLn, got)
	const token = "terok-p-0123456789abcdef0123456789abcdef"
	addr, _ := startBridge(t, "tcp", "", up, token, time.Second)

	req := "\x00\x00\x00\x05\x0bagent\xffbytes"
	resp := request(t, addr, req)
	want := append([]byte{0, 0, 0, byte(len(token))}, token+req...)
	if b := <-got; !bytes.Equal(b, want) {
		t.Errorf("upstream received\n%q\nwant\n%q", b, want)
	}
	// The upstream echoes all it received, handshake included.
	if want := "re:" + string(want); resp != want {
		t.Errorf("response = %q, want %q", resp, want)
	}
}

func TestUpstreamThatBindsLateIsReached(t *testing.T) {
	dir := shortTempDir(t)
	upPath := filepath.Join(dir, "up.sock")
	addr, logs := startBridge(t, "tcp", "", address{"unix", upPath}, "", 10*time.Second)
	go func() {
		time.Sleep(300 * time.Millisecond)
		ln, err := net.Listen("unix", upPath)
		if err != nil {
			t.Error(err)
			return
		}
		t.Cleanup(func() { ln.Close() })
		serveUpstream(ln, nil)
	}()

	if got := request(t, addr, "early"); got != "re:early" {
		t.Errorf("response = %q, want %q", got, "re:early")
	}
	if logs.String() != "" {
		t.Errorf("the bridge logged %q", logs)
	}
}

func TestUpstreamThatNeverAppearsClosesTheClientAndIsLogged(t *testing.T) {
	dir := shortTempDir(t)
	upPath := filepath.Join(dir, "never.sock")
	addr, logs := startBridge(t, "tcp", "", address{"unix", upPath}, "", 200*time.Millisecond)

	c, err := net.Dial(addr.network, addr.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	c.SetDeadline(start.Add(20 * time.Second))
	io.WriteString(c, "anyone?")
	// The bridge closes without reading: the close may come as a reset.
	if n, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("read = %d, %v; want the connection closed", n, err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("the connection was closed after %v, before the retry time", d)
	}
	lines := strings.Split(strings.TrimSuffix(logs.String(), "\n"), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "unix:"+upPath) {
		t.Errorf("log = %q, want one line naming unix:%s", logs, upPath)
	}

	// The bridge keeps serving: once the upstream is there, it is reached.
	upLn, err := net.Listen("unix", upPath)
	if err != nil {
		t.Fatal(err)
	}
	defer upLn.Close()
	go serveUpstream(upLn, nil)
	if got := request(t, addr, "now?"); got != "re:now?" {
		t.Errorf("response after the upstream appeared = %q, want %q", got, "re:now?")
	}
}

func TestResponseAfterClientHalfCloseIsRelayed(t *testing.T) {
	// The upstream answers only once it has seen the client's end of
	// stream, and slowly: the bridge must keep the other direction open.
	dir := shortTempDir(t)
	upLn, up := listenOn(t, "unix", filepath.Join(dir, "up.sock"))
	go func() {
		c, err := upLn.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(io.Discard, c)
		time.Sleep(100 * time.Millisecond)
		io.WriteString(c, "late answer")
	}()
	addr, _ := startBridge(t, "unix", filepath.Join(dir, "in.sock"), up, "", time.Second)
	if got := request(t, addr, "question"); got != "late answer" {
		t.Errorf("response = %q, want %q", got, "late answer")
	}
}

func TestListenUnix(t *testing.T) {
	t.Run("socket is created with mode 0600", func(t *testing.T) {
		path := filepath.Join(shortTempDir(t), "s.sock")
		ln, err := listen(address{"unix", path})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("mode = %v, want 0600", st.Mode().Perm())
		}
	})
	t.Run("stale socket file is replaced", func(t *testing.T) {
		path := filepath.Join(shortTempDir(t), "s.sock")
		old, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		old.SetUnlinkOnClose(false)
		old.Close()
		ln, err := listen(address{"unix", path})
		if err != nil {
			t.Fatalf("listening over a stale socket: %v", err)
		}
		ln.Close()
	})
	t.Run("live socket is left alone", func(t *testing.T) {
		path := filepath.Join(shortTempDir(t), "s.sock")
		live, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer live.Close()
		if ln, err := listen(address{"unix", path}); err == nil {
			ln.Close()
			t.Fatal("listening over a live socket succeeded")
		}
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatalf("the live socket no longer answers: %v", err)
		}
		c.Close()
	})
	t.Run("file that is not a socket is left alone", func(t *testing.T) {
		path := filepath.Join(shortTempDir(t), "s.sock")
		if err := os.WriteFile(path, []byte("data"), 0o600); err != nil {
			t.Fatal(err)
		}
		if ln, err := listen(address{"unix", path}); err == nil {
			ln.Close()
			t.Fatal("listening over a regular file succeeded")
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != "data" {
			t.Errorf("the file was changed: %q, %v", b, err)
		}
	})
}

func TestParseArgs(t *testing.T) {
	good := []struct {
		name string
		args []string
		want options
	}{
		{"tcp to unix with defaults", []string{"tcp:127.0.0.1:9419", "unix:/run/terok/vault/vault.sock"},
			options{listen: address{"tcp", "127.0.0.1:9419"}, upstream: address{"unix", "/run/terok/vault/vault.sock"}, retry: 10 * time.Second}},
		{"double-dash flags", []string{"--token-env", "TOK", "--retry", "2s", "unix:/tmp/a.sock", "tcp:host.containers.internal:40000"},
			options{listen: address{"unix", "/tmp/a.sock"}, upstream: address{"tcp", "host.containers.internal:40000"}, tokenEnv: "TOK", retry: 2 * time.Second}},
		{"ipv6 upstream", []string{"-retry=0s", "tcp:localhost:1", "tcp:[::1]:2"},
			options{listen: address{"tcp", "localhost:1"}, upstream: address{"tcp", "[::1]:2"}}},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseArgs(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("parseArgs = %+v, want %+v", got, tt.want)
			}
		})
	}

	bad := []struct {
		name string
		args []string
	}{
		{"no arguments", nil},
		{"one address", []string{"tcp:127.0.0.1:1"}},
		{"three addresses", []string{"tcp:127.0.0.1:1", "tcp:127.0.0.1:2", "tcp:127.0.0.1:3"}},
		{"unknown scheme", []string{"udp:127.0.0.1:1", "tcp:127.0.0.1:2"}},
		{"no scheme", []string{"/tmp/a.sock", "tcp:127.0.0.1:2"}},
		{"tcp without port", []string{"tcp:127.0.0.1", "tcp:127.0.0.1:2"}},
		{"tcp without host", []string{"tcp::1", "tcp:127.0.0.1:2"}},
		{"named port", []string{"tcp:127.0.0.1:ssh", "tcp:127.0.0.1:2"}},
		{"port out of range", []string{"tcp:127.0.0.1:65536", "tcp:127.0.0.1:2"}},
		{"empty socket path", []string{"unix:", "tcp:127.0.0.1:2"}},
		{"socket path too long", []string{"unix:/" + strings.Repeat("a", 107), "tcp:127.0.0.1:2"}},
		{"unknown flag", []string{"--fork", "tcp:127.0.0.1:1", "tcp:127.0.0.1:2"}},
		{"bad duration", []string{"--retry", "soon", "tcp:127.0.0.1:1", "tcp:127.0.0.1:2"}},
		{"negative duration", []string{"--retry", "-1s", "tcp:127.0.0.1:1", "tcp:127.0.0.1:2"}},
		{"flag after the addresses", []string{"tcp:127.0.0.1:1", "tcp:127.0.0.1:2", "--token-env", "T"}},
		{"flag without value", []string{"tcp:127.0.0.1:1", "--retry"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := parseArgs(tt.args); err == nil {
				t.Errorf("parseArgs(%q) = %+v, want an error", tt.args, got)
			}
		})
	}
}
