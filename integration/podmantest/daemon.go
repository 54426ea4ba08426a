package podmantest

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// daemon is a server process the harness runs for the tests (the podman
// service, the registry): in its own process group, logging to a file,
// and killed should the test binary die, so none outlives the run.
type daemon struct {
	// what names the daemon in messages.
	what    string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has exited
	waitErr error

	stopOnce sync.Once
	stopErr  error
}

// stopped runs stop the first time it is called, and returns stop's
// error every time.
func (d *daemon) stopped(stop func() error) error {
	d.stopOnce.Do(func() { d.stopErr = stop() })
	return d.stopErr
}

// start starts the daemon's command, its output appended to log.
func (d *daemon) start(what, log string, env []string, name string, args ...string) error {
	logFile, err := os.OpenFile(log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	d.what, d.exited = what, make(chan struct{})
	d.cmd = exec.Command(name, args...)
	d.cmd.Env = env
	d.cmd.Stdout, d.cmd.Stderr = logFile, logFile
	// Its own process group, so stop can signal the daemon and whatever it
	// spawned; and SIGKILL when the test binary dies (a timeout panic).
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that forked the child exits, so
		// the thread is locked to this goroutine and only ends (with it)
		// after the daemon has exited.
		runtime.LockOSThread()
		if err := d.cmd.Start(); err != nil {
			started <- err
			close(d.exited)
			return
		}
		started <- nil
		d.waitErr = d.cmd.Wait()
		close(d.exited)
	}()
	if err := <-started; err != nil {
		d.cmd = nil
		return fmt.Errorf("starting %s: %w", what, err)
	}
	return nil
}

// startFor starts a daemon with start for tb and stops it when tb's test
// ends; a daemon that does not come up fails tb.
func startFor[T interface{ Stop() error }](tb testing.TB, what string, start func() (T, error)) T {
	tb.Helper()
	d, err := start()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := d.Stop(); err != nil {
			tb.Errorf("stopping %s: %v", what, err)
		}
	})
	return d
}

// waitReady polls the daemon at url with client until it answers 200 OK,
// the daemon exits, or timeout passes; the error then carries its log.
func (d *daemon) waitReady(timeout time.Duration, client *http.Client, url string, log func() string) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if err := d.hasExited(); err != nil {
			return fmt.Errorf("%w before it answered; its log:\n%s", err, log())
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s answered %s", url, resp.Status)
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer %s within %s (last: %v); its log:\n%s", d.what, url, timeout, last, log())
}

// running reports whether the daemon was started.
func (d *daemon) running() bool { return d.cmd != nil && d.cmd.Process != nil }

// hasExited returns an error saying so once the daemon has exited.
func (d *daemon) hasExited() error {
	select {
	case <-d.exited:
		return fmt.Errorf("%s exited (%v)", d.what, d.waitErr)
	default:
		return nil
	}
}

// kill ends the daemon abruptly, as a crash would: SIGKILL to its process
// group, then a wait until it has exited.
func (d *daemon) kill() error {
	if !d.running() {
		return fmt.Errorf("%s is not running", d.what)
	}
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-d.exited:
		return nil
	case <-time.After(stopTimeout):
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", d.what, d.cmd.Process.Pid)
	}
}

// terminate stops the daemon: SIGTERM to its group, SIGKILL after
// stopTimeout, then SIGKILL to anything else still in the group.
func (d *daemon) terminate() error {
	if !d.running() {
		return nil
	}
	pgid := d.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(stopTimeout):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		select {
		case <-d.exited:
		case <-time.After(5 * time.Second):
			return errors.New(d.what + " did not exit after SIGKILL")
		}
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return nil
}
