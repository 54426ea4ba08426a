package launch_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/containers/podman/v5/libpod/define"
	"github.com/sandwire/sandwire/launch"
	"github.com/sandwire/sandwire/podmanapi"
)

// created is a fixture with a wired container "web", created and stopped.
func created(t *testing.T) (fixture, *launch.Container) {
	t.Helper()
	f := newFixture(t)
	c, err := f.sb.Create(t.Context(), "web", spec(), proj, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

func TestStartRebuildsTheRuntimeDirARebootEmptied(t *testing.T) {
	for _, nameOrID := range []string{"web", "id"} {
		t.Run("started by "+nameOrID, func(t *testing.T) {
			f, c := created(t)
			if err := os.RemoveAll(f.cfg.RuntimeDir); err != nil {
				t.Fatal(err)
			}
			arg := nameOrID
			if arg == "id" {
				arg = c.ID
			}
			res, err := f.sb.Start(t.Context(), arg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.ID != c.ID || res.Name != "web" || !res.Plan.SSH || res.WasRunning {
				t.Errorf("Start = %+v", res)
			}
			if len(f.srv.started) != 1 || f.srv.started[0] != c.ID {
				t.Errorf("started %q, want the container by its ID", f.srv.started)
			}
			dir := f.cfg.ContainerRuntimeDir("web")
			if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
				t.Fatalf("the runtime dir after Start: %v, %v; want a dir with mode 0700", st, err)
			}
			if len(res.Restored) == 0 || res.Restored[0] != dir {
				t.Errorf("Restored = %q, want the runtime dir first", res.Restored)
			}
		})
	}
}

func TestStartOfARunningContainerDoesNothing(t *testing.T) {
	f, c := created(t)
	f.srv.ctrs["web"].State.Running = true
	if err := os.RemoveAll(f.cfg.RuntimeDir); err != nil {
		t.Fatal(err)
	}
	res, err := f.sb.Start(t.Context(), "web", nil)
	if err != nil || !res.WasRunning || res.ID != c.ID || len(res.Restored) != 0 {
		t.Fatalf("Start of a running container = %+v, %v; want it left running", res, err)
	}
	if len(f.srv.started) != 0 {
		t.Errorf("a running container was started again: %q", f.srv.started)
	}
	if _, err := os.Stat(f.cfg.RuntimeDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Start of a running container re-created its wiring (%v)", err)
	}
}

func TestStartAttachedReturnsTheExitCode(t *testing.T) {
	for _, running := range []bool{false, true} {
		f, _ := created(t)
		f.srv.exitCode = 3
		f.srv.ctrs["web"].State.Running = running
		res, err := f.sb.Start(t.Context(), "web", &launch.StartOptions{Attach: true})
		if err != nil || res.ExitCode != 3 || res.Detached || res.WasRunning != running {
			t.Errorf("running=%v: Start --attach = %+v, %v; want exit code 3", running, res, err)
		}
	}
}

// TestStartHoldsTheNameUntilTheContainerStarted: a cleanup cannot remove
// the wiring between its restore and the start.
func TestStartHoldsTheNameUntilTheContainerStarted(t *testing.T) {
	for _, attach := range []bool{false, true} {
		f, _ := created(t)
		var during error
		f.srv.onStart = func() { _, during = f.sb.Cleanup(t.Context(), "web") }
		if _, err := f.sb.Start(t.Context(), "web", &launch.StartOptions{Attach: attach}); err != nil {
			t.Fatalf("attach=%v: Start = %v", attach, err)
		}
		if !errors.Is(during, launch.ErrAlreadyExists) {
			t.Errorf("attach=%v: a cleanup during the start = %v, want the name busy", attach, during)
		}
		if found, err := f.sb.Cleanup(t.Context(), "web"); err != nil || !found {
			t.Errorf("attach=%v: a cleanup after Start = %v, %v; want the name free again", attach, found, err)
		}
	}
}

func TestStartRefuses(t *testing.T) {
	for _, tc := range []struct {
		name     string
		setup    func(t *testing.T, f fixture)
		arg      string
		category error
		wantType any
		wantMsg  string
	}{
		{name: "a container the sandbox did not wire",
			setup: func(_ *testing.T, f fixture) {
				f.srv.ctrs["plain"] = &define.InspectContainerData{ID: "plain-id", Name: "plain", Config: &define.InspectContainerConfig{}, State: &define.InspectContainerState{}}
			},
			arg: "plain", category: launch.ErrNotWired, wantMsg: "not wired"},
		{name: "a container whose sandbox state was cleaned up",
			setup: func(t *testing.T, f fixture) {
				if _, err := f.sb.Cleanup(t.Context(), "web"); err != nil {
					t.Fatal(err)
				}
			},
			arg: "web", category: launch.ErrCleanedUp, wantMsg: "cleaned up"},
		{name: "a container that does not exist", arg: "nobody",
			category: launch.ErrNotFound, wantType: new(*podmanapi.NoSuchContainerError), wantMsg: "no such container"},
		{name: "a server on another machine", setup: func(_ *testing.T, f fixture) { f.srv.remote = true },
			arg: "web", category: launch.ErrRemoteServer, wantMsg: "another machine"},
		{name: "an unsafe name before the server is asked", setup: func(_ *testing.T, f fixture) { f.srv.inspectErr = errors.New("asked") },
			arg: "../web", category: launch.ErrInvalidArgument, wantMsg: "invalid container name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := created(t)
			if tc.setup != nil {
				tc.setup(t, f)
			}
			res, err := f.sb.Start(t.Context(), tc.arg, nil)
			if err == nil {
				t.Fatalf("Start = %+v, want an error", res)
			}
			if !errors.Is(err, tc.category) {
				t.Errorf("error %v is not in category %v", err, tc.category)
			}
			if tc.wantType != nil && !errors.As(err, tc.wantType) {
				t.Errorf("error %v is not a %T", err, tc.wantType)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not say %q", err, tc.wantMsg)
			}
			if len(f.srv.started) != 0 {
				t.Errorf("a refused start started %q", f.srv.started)
			}
		})
	}
}

// TestStartThatTheServerRefusesKeepsTheWiring: unlike a failed run, a
// failed start leaves the container and its state to a later start.
func TestStartThatTheServerRefusesKeepsTheWiring(t *testing.T) {
	f, _ := created(t)
	f.srv.startErr = &podmanapi.APIError{Code: 500, Err: errors.New("runc create failed")}
	if _, err := f.sb.Start(t.Context(), "web", nil); err == nil || !strings.Contains(err.Error(), "runc create failed") {
		t.Fatalf("Start = %v, want the server's error", err)
	}
	if f.srv.find("web") == nil || f.tokens.count("web") != 1 {
		t.Error("a failed start removed the container or revoked its tokens")
	}
	for _, p := range []string{f.cfg.RunStateDir("web"), f.cfg.SidecarPath("web"), f.cfg.ContainerRuntimeDir("web")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("a failed start removed %s: %v", p, err)
		}
	}
}
