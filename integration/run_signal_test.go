package integration

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containers/podman/v5/pkg/specgen"
	"golang.org/x/sys/unix"

	"github.com/sandwire/sandwire/launch"
	"github.com/sandwire/sandwire/wiring"
)

// trapScript is a container that reports each signal it traps, once, and
// exits 3 on SIGTERM; SIGINT, SIGHUP and SIGUSR1 it only reports. Once:
// podman-remote 5.8.2's run sets its signal proxy up twice (ContainerRun
// and startAndAttach each start one), so each signal may reach the
// container twice, and in either order with the next; a script that
// reported each arrival would make podman's side of the comparison a
// matter of chance. That sandwire sends each signal exactly once is
// checked on the server's kill events instead.
const trapScript = `report() { case " $seen " in *" $1 "*) ;; *) seen="$seen $1"; echo "got $1";; esac; }; ` +
	`trap "report INT" INT; trap "report USR1" USR1; trap "report HUP" HUP; trap "report TERM; exit 3" TERM; ` +
	`echo ready; while :; do sleep 0.1; done`

// signalOutcome is what a script sees of a run it sent signals to.
type signalOutcome struct {
	// Exit is how the client ended: "exit status 3", "signal: interrupt".
	Exit   string
	Stdout string
	// Container is the container's state afterwards, or "absent".
	Container string
}

// TestRunSignalsAsPodman: the signals `sandwire run` receives while
// attached go to the container, which decides what they mean, as
// `podman --remote run` forwards them with --sig-proxy (the default); with
// --sig-proxy=false they are not forwarded, and SIGINT ends the client as
// it ends podman's, leaving the container running. The same signals are
// sent to both clients, and what each left is compared.
func TestRunSignalsAsPodman(t *testing.T) {
	tests := []struct {
		name    string
		flags   []string
		signals []syscall.Signal
		want    signalOutcome
		// kills is how many signals sandwire must have sent the container.
		kills int
	}{
		{
			name:    "each signal is forwarded and the container decides",
			signals: []syscall.Signal{syscall.SIGUSR1, syscall.SIGINT, syscall.SIGHUP, syscall.SIGTERM},
			want:    signalOutcome{Exit: "exit status 3", Stdout: "ready\ngot USR1\ngot INT\ngot HUP\ngot TERM\n", Container: "exited"},
			kills:   4,
		},
		{
			name:    "a container a forwarded signal ended is removed with --rm",
			flags:   []string{"--rm"},
			signals: []syscall.Signal{syscall.SIGINT, syscall.SIGTERM},
			want:    signalOutcome{Exit: "exit status 3", Stdout: "ready\ngot INT\ngot TERM\n", Container: "absent"},
			kills:   2,
		},
		{
			name:    "without --sig-proxy nothing is forwarded and SIGINT ends the client alone",
			flags:   []string{"--sig-proxy=false"},
			signals: []syscall.Signal{syscall.SIGUSR1, syscall.SIGINT},
			want:    signalOutcome{Exit: "signal: interrupt", Stdout: "ready\n", Container: "running"},
		},
	}
	sb := newSandbox(t)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{}, tc.flags...), svc.Image(), "sh", "-c", trapScript)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()

			since := time.Now()
			podmanName := fmt.Sprintf("sig-podman-%d", i)
			podman := signalRun(t, podmanName, podmanRemoteRunCommand(ctx, t, svc.URL(), podmanName, args), tc.signals)

			name := fmt.Sprintf("sig-sandwire-%d", i)
			cmd := exec.CommandContext(ctx, sandwireBin, append([]string{"--url", svc.URL(), "run", "--no-shield", name, "--"}, args...)...)
			cmd.Env = sb.environ()
			sandwire := signalRun(t, name, cmd, tc.signals)
			t.Cleanup(func() { mustSucceed(t, sb.sandwire("cleanup", name)) })

			if podman != tc.want {
				t.Errorf("podman --remote run: %+v, want %+v", podman, tc.want)
			}
			if sandwire != podman {
				t.Errorf("sandwire run differs from podman --remote run:\n  podman:   %+v\n  sandwire: %+v", podman, sandwire)
			}
			kills := killEvents(t, name, since)
			if kills != tc.kills {
				t.Errorf("sandwire sent the container %d signals, want %d", kills, tc.kills)
			}
			t.Logf("signals delivered: %d from podman --remote run, %d from sandwire run", killEvents(t, podmanName, since), kills)
		})
	}
}

// TestRunLibraryCancelStopsTheContainer: a Go caller that catches no
// signal and cancels Run's context once its container runs has the
// container stopped, not orphaned, and gets its exit code.
func TestRunLibraryCancelStopsTheContainer(t *testing.T) {
	sb := newSandbox(t)
	ctx, client := connect(t)
	const name = "sw-run-cancel"
	removeContainerAtEnd(t, name)
	lib, err := launch.New(libraryConfig(sb), launch.WithServer(client), launch.WithShield(nil), launch.WithNotes(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer lib.Close()
	spec := specgen.NewSpecGenerator(svc.Image(), false)
	spec.Command = []string{"sleep", "300"}
	stopTimeout := uint(2)
	spec.StopTimeout = &stopTimeout

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	started := make(chan struct{})
	opts := &launch.RunOptions{Created: func(*launch.Container) {
		go func() {
			defer close(started)
			defer cancel() // once it runs, or after a minute all the same
			for range 600 {
				if data, err := client.Inspect(ctx, name); err == nil && data.State != nil && data.State.Running {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}}
	res, err := lib.Run(runCtx, name, spec, wiring.Request{NoShield: true}, opts)
	<-started
	if err != nil || res.ExitCode == 0 {
		t.Fatalf("Run after a cancel = %+v, %v; want the stopped container's non-zero exit code", res, err)
	}
	if data, err := client.Inspect(ctx, name); err != nil || data.State.Running {
		t.Errorf("the container runs on after Run's context was cancelled (inspect error %v)", err)
	}
	if _, err := lib.Cleanup(ctx, name); err != nil {
		t.Error(err)
	}
}

// signalRun starts cmd, a run of trapScript as container name, sends it
// each signal once the container is ready, waiting for the container to
// report each (or a moment, for one it never gets), and returns what the
// run left once the client ended.
func signalRun(t *testing.T, name string, cmd *exec.Cmd, signals []syscall.Signal) signalOutcome {
	t.Helper()
	removeContainerAtEnd(t, name)
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stdout := readLines(pipe)
	if !stdout.await("ready", 60*time.Second) {
		_ = cmd.Process.Kill()
		stdout.await("", time.Minute)
		_ = cmd.Wait()
		t.Fatalf("%s: the container never got ready; stdout %q, stderr: %s", name, stdout.text(), stderr.String())
	}
	for _, sig := range signals {
		if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Fatal(err)
		}
		stdout.await("got "+unix.SignalName(sig)[len("SIG"):], 2*time.Second)
	}
	if stdout.await("", 60*time.Second); !stdout.closed {
		_ = cmd.Process.Kill()
		stdout.await("", time.Minute)
		t.Errorf("%s: the client did not end within 60s of its last signal", name)
	}
	_ = cmd.Wait()
	out := signalOutcome{Exit: cmd.ProcessState.String(), Stdout: stdout.text(), Container: "absent"}
	if state, err := svc.Podman("container", "inspect", "--format", "{{.State.Status}}", name); err == nil {
		out.Container = strings.Replace(strings.TrimSpace(state), "stopped", "exited", 1)
	}
	t.Logf("%s: %+v\nstderr: %s", name, out, stderr.String())
	return out
}

// lines are what a process wrote to a pipe, line by line, as the test
// reads them.
type lines struct {
	next   <-chan string
	read   []string
	closed bool // the process closed its end
}

// readLines reads r's lines until it ends.
func readLines(r io.Reader) *lines {
	next := make(chan string)
	go func() {
		defer close(next)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			next <- sc.Text()
		}
	}()
	return &lines{next: next}
}

// await reads lines until one is want, the pipe closes, or timeout
// passes, and reports whether want came; with want empty it reads until
// the pipe closes.
func (l *lines) await(want string, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for !l.closed {
		select {
		case line, ok := <-l.next:
			if !ok {
				l.closed = true
				return false
			}
			l.read = append(l.read, line)
			if want != "" && line == want {
				return true
			}
		case <-deadline:
			return false
		}
	}
	return false
}

// text is what was read, each line ended.
func (l *lines) text() string {
	var b strings.Builder
	for _, line := range l.read {
		b.WriteString(line + "\n")
	}
	return b.String()
}

// killEvents counts the signals the server delivered to container name
// since then, by its events.
func killEvents(t *testing.T, name string, since time.Time) int {
	t.Helper()
	out, err := svc.Podman("events", "--stream=false", "--since", since.UTC().Format(time.RFC3339Nano),
		"--filter", "container="+name, "--filter", "event=kill", "--format", "{{.Status}}")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(out, "kill")
}

// TestStartAttachedSignalsAsPodman: `sandwire start --attach` forwards the
// signals it receives to the container, as `podman --remote start
// --attach` does (its --sig-proxy is on when attaching); with
// --sig-proxy=false SIGINT ends the client alone and the container runs
// on. The same signals go to both clients, and what each left is compared.
func TestStartAttachedSignalsAsPodman(t *testing.T) {
	tests := []struct {
		name    string
		flags   []string
		signals []syscall.Signal
		want    signalOutcome
	}{
		{"each signal is forwarded and the container decides", nil,
			[]syscall.Signal{syscall.SIGUSR1, syscall.SIGINT, syscall.SIGTERM},
			signalOutcome{Exit: "exit status 3", Stdout: "ready\ngot USR1\ngot INT\ngot TERM\n", Container: "exited"}},
		{"without --sig-proxy nothing is forwarded and SIGINT ends the client alone", []string{"--sig-proxy=false"},
			[]syscall.Signal{syscall.SIGINT},
			signalOutcome{Exit: "signal: interrupt", Stdout: "ready\n", Container: "running"}},
	}
	bin := os.Getenv("SANDWIRE_PODMAN5")
	if bin == "" {
		t.Fatal("SANDWIRE_PODMAN5 is not set: build podman 5.8.2 with hack/build-podman5.sh and name it there")
	}
	sb := newSandbox(t)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			image := []string{svc.Image(), "sh", "-c", trapScript}

			podmanName := fmt.Sprintf("sig-start-podman-%d", i)
			removeContainerAtEnd(t, podmanName)
			create := append([]string{"--remote", "--url", svc.URL(), "create", "--name", podmanName}, image...)
			pc := exec.CommandContext(ctx, bin, create...)
			pc.Env = svc.Env()
			if out, err := pc.CombinedOutput(); err != nil {
				t.Fatalf("podman --remote create: %v\n%s", err, out)
			}
			start := exec.CommandContext(ctx, bin, append(append([]string{"--remote", "--url", svc.URL(), "start", "--attach"}, tc.flags...), podmanName)...)
			start.Env = svc.Env()
			podman := signalRun(t, podmanName, start, tc.signals)

			name := fmt.Sprintf("sig-start-sandwire-%d", i)
			removeContainerAtEnd(t, name)
			mustSucceed(t, sb.sandwire(append([]string{"--url", svc.URL(), "create", "--no-shield", name, "--"}, image...)...))
			t.Cleanup(func() { mustSucceed(t, sb.sandwire("cleanup", name)) })
			cmd := exec.CommandContext(ctx, sandwireBin, append(append([]string{"--url", svc.URL(), "start", "--attach"}, tc.flags...), name)...)
			cmd.Env = sb.environ()
			sandwire := signalRun(t, name, cmd, tc.signals)

			if podman != tc.want {
				t.Errorf("podman --remote start --attach: %+v, want %+v", podman, tc.want)
			}
			if sandwire != podman {
				t.Errorf("sandwire start --attach differs from podman --remote start --attach:\n  podman:   %+v\n  sandwire: %+v", podman, sandwire)
			}
		})
	}
}
