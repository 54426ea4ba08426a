package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests in this file and in script_test.go run the real program,
// built once, the way the Makefile builds it, into binDir.
var (
	binDir   string
	binOnce  sync.Once
	binError error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tbbin")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// bridgeBinary returns the path of the built terok-bridge.
func bridgeBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(binDir, "terok-bridge")
	binOnce.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			binError = err
			return
		}
		cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binError = errors.New("go build: " + err.Error() + ": " + string(out))
		}
	})
	if binError != nil {
		t.Fatal(binError)
	}
	return bin
}

// runBinary runs terok-bridge to completion and returns its exit code,
// stdout and stderr.
func runBinary(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bridgeBinary(t), args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

func TestBadArgumentsExitWithUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"no arguments", nil},
		{"one address", []string{"tcp:127.0.0.1:1"}},
		{"bad address", []string{"tcp:127.0.0.1:1", "localhost:2"}},
		{"unknown flag", []string{"--fork", "tcp:127.0.0.1:1", "tcp:127.0.0.1:2"}},
		{"bad duration", []string{"--retry", "soon", "tcp:127.0.0.1:1", "tcp:127.0.0.1:2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runBinary(t, nil, tt.args...)
			if code != 2 {
				t.Errorf("exit code = %d, want 2", code)
			}
			if !strings.HasPrefix(stderr, "terok-bridge: ") || !strings.Contains(stderr, "\nusage: terok-bridge") {
				t.Errorf("stderr = %q, want the error and the usage", stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
		})
	}
}

func TestEmptyTokenVariableRefusesToStart(t *testing.T) {
	dir := shortTempDir(t)
	for _, env := range [][]string{{}, {"TOK="}} {
		code, _, stderr := runBinary(t, env, "--token-env", "TOK", "unix:"+filepath.Join(dir, "in.sock"), "unix:"+filepath.Join(dir, "up.sock"))
		if code != 2 || !strings.Contains(stderr, "TOK") {
			t.Errorf("with env %q: exit code %d, stderr %q; want 2 and a message naming TOK", env, code, stderr)
		}
		if _, err := os.Lstat(filepath.Join(dir, "in.sock")); err == nil {
			t.Errorf("with env %q: the listening socket was created", env)
		}
	}
}

func TestHelpGoesToStdout(t *testing.T) {
	code, stdout, stderr := runBinary(t, nil, "--help")
	if code != 0 || !strings.HasPrefix(stdout, "usage: terok-bridge") || stderr != "" {
		t.Errorf("exit code %d, stdout %q, stderr %q; want 0 and the usage on stdout", code, stdout, stderr)
	}
}

func TestListenFailureExits1(t *testing.T) {
	path := filepath.Join(shortTempDir(t), "no", "such", "dir.sock")
	code, _, stderr := runBinary(t, nil, "unix:"+path, "tcp:127.0.0.1:1")
	if code != 1 || !strings.Contains(stderr, path) {
		t.Errorf("exit code %d, stderr %q; want 1 and a message naming %s", code, stderr, path)
	}
}

// startBinary starts terok-bridge and returns once it listens (it closes
// its stdout then), with its stderr. The test's end stops it.
func startBinary(t *testing.T, env []string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(bridgeBinary(t), args...)
	cmd.Env = env
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	if out, err := io.ReadAll(stdout); err != nil || len(out) != 0 {
		t.Fatalf("waiting for the bridge to listen: read %q, %v", out, err)
	}
	return cmd, stderr
}

func TestBinaryServesUntilSIGTERMAndNeverPrintsTheToken(t *testing.T) {
	const token = "terok-p-5ec2e75ec2e75ec2e75ec2e75ec2e7ab"
	dir := shortTempDir(t)
	in, up := filepath.Join(dir, "in.sock"), filepath.Join(dir, "up.sock")
	cmd, stderr := startBinary(t, []string{"TOK=" + token}, "--token-env", "TOK", "--retry", "100ms", "unix:"+in, "unix:"+up)

	if st, err := os.Stat(in); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("listening socket: %v, %v; want mode 0600", st, err)
	}
	// No upstream yet: the connection is closed and the failure logged.
	c, err := net.Dial("unix", in)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if n, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("read = %d, %v; want the connection closed", n, err)
	}
	c.Close()
	// Then with the upstream: the handshake carries the token.
	upLn, err := net.Listen("unix", up)
	if err != nil {
		t.Fatal(err)
	}
	defer upLn.Close()
	got := make(chan []byte, 1)
	go serveUpstream(upLn, got)
	request(t, address{"unix", in}, "hi")
	if b := <-got; !bytes.Equal(b, append(handshake(token), "hi"...)) {
		t.Errorf("upstream received %q", b)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM: %v, want exit code 0", err)
	}
	if _, err := os.Lstat(in); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the listening socket is still there after SIGTERM: %v", err)
	}
	logged := stderr.String()
	if lines := strings.Count(logged, "\n"); lines != 1 || !strings.Contains(logged, "unix:"+up) {
		t.Errorf("stderr = %q, want one line naming unix:%s", logged, up)
	}
	if strings.Contains(logged, token) || strings.Contains(logged, token[8:]) {
		t.Errorf("stderr contains the token: %q", logged)
	}
}
