package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunInterruptStopsTheContainer: Ctrl-C on an attached run stops the
// container instead of orphaning it, and run exits with its exit code.
func TestRunInterruptStopsTheContainer(t *testing.T) {
	sb := newSandbox(t)
	const name = "sw-run-sigint"
	removeContainerAtEnd(t, name)
	cmd := exec.Command(sandwireBin, "--url", svc.URL(), "run", "--no-shield", name, "--",
		"--stop-timeout", "2", svc.Image(), "sleep", "300")
	cmd.Env = sb.environ()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	deadline := time.Now().Add(60 * time.Second)
	for !containerRunning(t, name) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the container never ran; stderr: %s", stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 125 || exit.ExitCode() == 0 {
			t.Errorf("run exited with %v after Ctrl-C, want the stopped container's non-zero code; stderr: %s", err, stderr.String())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("run did not return within 60s of Ctrl-C; stderr: %s", stderr.String())
	}
	if containerRunning(t, name) {
		t.Errorf("the container still runs after Ctrl-C: orphaned")
	}
	mustSucceed(t, sb.sandwire("cleanup", name))
}

func containerRunning(t *testing.T, name string) bool {
	t.Helper()
	out, err := svc.Podman("container", "inspect", name)
	if err != nil {
		if strings.Contains(err.Error(), "no such") {
			return false
		}
		t.Fatal(err)
	}
	var list []struct {
		State struct{ Running bool }
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
		t.Fatalf("decoding inspect: %v", err)
	}
	return list[0].State.Running
}
