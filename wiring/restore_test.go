package wiring_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sandwire/sandwire/wiring"
)

// restoreCase is a wired container, something that happened to its host
// state since it was created, and what Restore makes of it.
type restoreCase struct {
	name string
	mode wiring.ServicesMode
	req  wiring.Request
	// gone removes what a reboot (or an accident) removed.
	gone func(t *testing.T, cfg wiring.Config, rec wiring.Recorded)
	// wantDirs are the dirs Restore re-creates, relative to the runtime
	// dir, in order; wantBridges is whether it puts the bridges back.
	wantDirs    []string
	wantBridges bool
}

var (
	proj       = wiring.Request{Scope: "proj", NoShield: true}
	socketDirs = []string{"run/web", "run/web/vault", "run/web/signer", "run/web/gate"}
)

func restoreCases() []restoreCase {
	rebooted := func(t *testing.T, cfg wiring.Config, _ wiring.Recorded) { removeAll(t, cfg.RuntimeDir) }
	return []restoreCase{
		{name: "a reboot's empty runtime dir is rebuilt with the socket dirs", mode: wiring.ServicesSocket, req: proj,
			gone: rebooted, wantDirs: socketDirs},
		{name: "a runtime dir that lost only its leaf is rebuilt", mode: wiring.ServicesSocket, req: proj,
			gone:     func(t *testing.T, cfg wiring.Config, _ wiring.Recorded) { removeAll(t, runtimeDirOf(cfg, "web")) },
			wantDirs: socketDirs},
		{name: "socket dirs follow the plan", mode: wiring.ServicesSocket, req: wiring.Request{Scope: "proj", NoShield: true, NoGate: true, NoBroker: true},
			gone: rebooted, wantDirs: []string{"run/web", "run/web/signer"}},
		{name: "tcp mode rebuilds the runtime dir without socket dirs", mode: wiring.ServicesTCP, req: proj,
			gone: rebooted, wantDirs: []string{"run/web"}},
		{name: "a plan without services rebuilds only the runtime dir", mode: wiring.ServicesSocket, req: wiring.Request{NoShield: true, NoGate: true, NoBroker: true},
			gone: rebooted, wantDirs: []string{"run/web"}},
		{name: "removed bridge resources of this build are put back", mode: wiring.ServicesSocket, req: proj,
			gone:        func(t *testing.T, _ wiring.Config, rec wiring.Recorded) { removeAll(t, rec.Mounts[bridgesInContainer]) },
			wantBridges: true},
		{name: "wiring that is all there is left alone", mode: wiring.ServicesSocket, req: proj,
			gone: func(*testing.T, wiring.Config, wiring.Recorded) {}},
	}
}

func TestRestoreRebuildsWhatIsGone(t *testing.T) {
	for _, tc := range restoreCases() {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, tc.mode)
			rec := wiredContainer(t, cfg, "web", tc.req)
			tc.gone(t, cfg, rec)
			stateBefore := tree(t, cfg.StateDir)

			r, err := wiring.Restore(cfg, "web", rec)
			if err != nil {
				t.Fatalf("Restore = %v", err)
			}
			defer r.Release()
			var want []string
			for _, d := range tc.wantDirs {
				want = append(want, filepath.Join(cfg.RuntimeDir, d))
				assertMode(t, filepath.Join(cfg.RuntimeDir, d), os.ModeDir|0o700)
			}
			if tc.wantBridges {
				want = append(want, rec.Mounts[bridgesInContainer])
			}
			if !slices.Equal(r.Made, want) {
				t.Errorf("Made = %q, want %q", r.Made, want)
			}
			if bridges, ok := rec.Mounts[bridgesInContainer]; ok {
				assertBridgesIn(t, cfg, bridges)
			}
			if !tc.wantBridges && !slices.Equal(tree(t, cfg.StateDir), stateBefore) {
				t.Errorf("Restore changed the state dir, and the bridges were there")
			}
			if r.Plan.ScopeName() != tc.req.Scope || r.Sidecar.ContainerName != "web" {
				t.Errorf("Restore = plan %+v, sidecar of %q", r.Plan, r.Sidecar.ContainerName)
			}
		})
	}
}

func TestRestoreHoldsTheNameUntilRelease(t *testing.T) {
	cfg := testConfig(t, wiring.ServicesSocket)
	rec := wiredContainer(t, cfg, "web", proj)
	r, err := wiring.Restore(cfg, "web", rec)
	if err != nil {
		t.Fatal(err)
	}
	var busy *wiring.NameBusyError
	if _, err := wiring.Cleanup(t.Context(), cfg, "web", wiring.CleanupOptions{}); !errors.As(err, &busy) {
		t.Errorf("cleanup while a restore holds the name = %v, want a *NameBusyError", err)
	}
	if _, err := wiring.Restore(cfg, "web", rec); !errors.As(err, &busy) {
		t.Errorf("a second restore while the first holds the name = %v, want a *NameBusyError", err)
	}
	r.Release()
	r.Release()
	again, err := wiring.Restore(cfg, "web", rec)
	if err != nil {
		t.Fatalf("restore after Release = %v", err)
	}
	again.Release()
}

func TestRestoreRefusesAnUnsafeNameBeforeAnyWrite(t *testing.T) {
	cfg := testConfig(t, wiring.ServicesSocket)
	if _, err := wiring.Restore(cfg, "../web", wiring.Recorded{}); !errors.Is(err, wiring.ErrInvalidName) {
		t.Errorf("Restore(../web) = %v, want an invalid name", err)
	}
	if got := tree(t, cfg.StateDir); len(got) != 0 {
		t.Errorf("Restore of an unsafe name wrote %q", got)
	}
}

func TestCheckWiredWritesNothing(t *testing.T) {
	cfg := testConfig(t, wiring.ServicesSocket)
	rec := wiredContainer(t, cfg, "web", proj)
	removeAll(t, cfg.RuntimeDir)
	before := tree(t, cfg.StateDir)
	w, err := wiring.CheckWired(cfg, "web", rec)
	if err != nil || !w.Plan.SSH || w.Sidecar.ContainerName != "web" {
		t.Fatalf("CheckWired = %+v, %v", w, err)
	}
	if exists(t, cfg.RuntimeDir) || !slices.Equal(tree(t, cfg.StateDir), before) {
		t.Errorf("CheckWired wrote to the runtime or state dir")
	}
}
