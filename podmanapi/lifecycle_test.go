package podmanapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containers/podman/v5/libpod/define"

	"github.com/sandwire/sandwire/podmanapi"
)

func TestKillNamesTheSignalAsPodmansClient(t *testing.T) {
	f := &fakePodman{}
	client, _ := connectTo(t, f, socketPath(t.TempDir(), 0))
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1, syscall.Signal(34 + 3)} {
		if err := client.Kill(context.Background(), testName, sig); err != nil {
			t.Fatalf("Kill(%v): %v", sig, err)
		}
	}
	if want := []string{"INT", "TERM", "USR1", "RTMIN+3"}; !reflect.DeepEqual(f.kills, want) {
		t.Errorf("the server was sent %q, want %q", f.kills, want)
	}
}

func TestKillClassifiesTheServersRefusal(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		answer int
		cause  error
		check  func(error) bool
	}{
		{"a container that is not running is a conflict", http.StatusConflict,
			fmt.Errorf("can only kill running containers: %w", define.ErrCtrStateInvalid),
			func(err error) bool { return errors.Is(err, errdefs.ErrConflict) }},
		{"a container that is gone is no such container", http.StatusNotFound,
			fmt.Errorf("no container with name or ID %q found: %w", testName, define.ErrNoSuchCtr),
			func(err error) bool { var gone *podmanapi.NoSuchContainerError; return errors.As(err, &gone) }},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakePodman{kill: func(w http.ResponseWriter, _ *http.Request) { writeError(w, tc.answer, tc.cause) }}
			client, _ := connectTo(t, f, socketPath(dir, i))
			err := client.Kill(context.Background(), testName, syscall.SIGINT)
			if err == nil || !tc.check(err) {
				t.Errorf("Kill = %v, want it classified as %s", err, tc.name)
			}
		})
	}
}

// TestCatchProxiedSignals: the signals podman's --sig-proxy forwards reach
// the channel; those podman keeps for its client do not.
func TestCatchProxiedSignals(t *testing.T) {
	c := make(chan os.Signal, podmanapi.SignalBuffer)
	podmanapi.CatchProxiedSignals(c)
	defer signal.Stop(c)
	for _, sig := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGHUP, syscall.SIGWINCH} {
		if err := syscall.Kill(os.Getpid(), sig); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-c:
			if got != sig {
				t.Errorf("caught %v, want %v", got, sig)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%v was not caught", sig)
		}
	}
	for _, sig := range []syscall.Signal{syscall.SIGCHLD, syscall.SIGURG} {
		if err := syscall.Kill(os.Getpid(), sig); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case got := <-c:
		t.Errorf("caught %v, which podman does not forward", got)
	case <-time.After(200 * time.Millisecond):
	}
}
