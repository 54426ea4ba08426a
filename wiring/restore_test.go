package wiring_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/sandwire/sandwire/wiring"
)

// wiredContainer composes and commits a launch of name and returns what a
// podman server records of the container made from its edits.
func wiredContainer(t *testing.T, cfg wiring.Config, name string, req wiring.Request) wiring.Recorded {
	t.Helper()
	l, err := compose(context.Background(), cfg, name, req, wiring.ComposeOptions{Tokens: testStore(t, cfg)})
	if err != nil {
		t.Fatalf("Compose(%s) = %v", name, err)
	}
	l.Commit()
	rec := wiring.Recorded{Annotations: l.Edits.Annotations, Mounts: map[string]string{}}
	for _, m := range l.Edits.Mounts {
		rec.Mounts[m.Destination] = m.Source
	}
	return rec
}

// restoreCase is a wired container, something that happened to its host
// state since it was created, and what Restore makes of it.
type restoreCase struct {
	name string
	mode wiring.ServicesMode
	req  wiring.Request
	// gone removes what a reboot (or an accident) removed.
	gone func(t *testing.T, cfg wiring.Config, rec wiring.Recorded)
	// wantMade are the paths Restore re-creates, relative to the
	// runtime dir ("rt:") or to the state dir ("state:").
	wantMade []string
}

var proj = wiring.Request{Scope: "proj", NoShield: true}

func restoreCases() []restoreCase {
	return []restoreCase{
		{name: "a reboot's empty runtime dir is rebuilt with the socket dirs", mode: wiring.ServicesSocket, req: proj,
			gone:     func(t *testing.T, cfg wiring.Config, _ wiring.Recorded) { removeAll(t, cfg.RuntimeDir) },
			wantMade: []string{"rt:run/web", "rt:run/web/vault", "rt:run/web/signer", "rt:run/web/gate"}},
		{name: "a runtime dir that lost only its leaf is rebuilt", mode: wiring.ServicesSocket, req: proj,
			gone:     func(t *testing.T, cfg wiring.Config, _ wiring.Recorded) { removeAll(t, runtimeDirOf(cfg, "web")) },
			wantMade: []string{"rt:run/web", "rt:run/web/vault", "rt:run/web/signer", "rt:run/web/gate"}},
		{name: "socket dirs follow the plan", mode: wiring.ServicesSocket, req: wiring.Request{Scope: "proj", NoShield: true, NoGate: true, NoBroker: true},
			gone:     func(t *testing.T, cfg wiring.Config, _ wiring.Recorded) { removeAll(t, cfg.RuntimeDir) },
			wantMade: []string{"rt:run/web", "rt:run/web/signer"}},
		{name: "tcp mode rebuilds the runtime dir without socket dirs", mode: wiring.ServicesTCP, req: proj,
			gone:     func(t *testing.T, cfg wiring.Config, _ wiring.Recorded) { removeAll(t, cfg.RuntimeDir) },
			wantMade: []string{"rt:run/web"}},
		{name: "a plan without services rebuilds only the runtime dir", mode: wiring.ServicesSocket, req: wiring.Request{NoShield: true, NoGate: true, NoBroker: true},
			gone:     func(t *testing.T, cfg wiring.Config, _ wiring.Recorded) { removeAll(t, cfg.RuntimeDir) },
			wantMade: []string{"rt:run/web"}},
		{name: "removed bridge resources of this build are put back", mode: wiring.ServicesSocket, req: proj,
			gone: func(t *testing.T, cfg wiring.Config, rec wiring.Recorded) {
				removeAll(t, rec.Mounts[bridgesInContainer])
			},
			wantMade: []string{"state:bridges/"}},
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
			if got, want := relMade(cfg, r.Made), tc.wantMade; !slices.Equal(got, want) {
				t.Errorf("Made = %q, want %q", got, want)
			}
			for _, p := range r.Made {
				st, err := os.Lstat(p)
				if err != nil || !st.IsDir() || strings.HasPrefix(p, cfg.RuntimeDir) && st.Mode().Perm() != 0o700 {
					t.Errorf("%s is not a dir (mode 0700 in the runtime dir): %v, %v", p, st.Mode(), err)
				}
			}
			if !exists(t, runtimeDirOf(cfg, "web")) {
				t.Errorf("the runtime dir is missing after Restore")
			}
			if bridges, ok := rec.Mounts[bridgesInContainer]; ok {
				assertBridgesIn(t, cfg, bridges)
			}
			if len(tc.wantMade) == 0 && !slices.Equal(tree(t, cfg.StateDir), stateBefore) {
				t.Errorf("Restore changed the state dir when nothing was gone")
			}
			if r.Plan.ScopeName() != tc.req.Scope || r.Sidecar.ContainerName != "web" {
				t.Errorf("Restore = plan %+v, sidecar of %q", r.Plan, r.Sidecar.ContainerName)
			}
		})
	}
}

// relMade spells paths under the runtime and state dirs as restoreCase
// does; a versioned bridges dir is spelled "state:bridges/".
func relMade(cfg wiring.Config, made []string) []string {
	var out []string
	for _, p := range made {
		if rel, err := filepath.Rel(cfg.RuntimeDir, p); err == nil && !strings.HasPrefix(rel, "..") {
			out = append(out, "rt:"+rel)
			continue
		}
		rel, _ := filepath.Rel(cfg.StateDir, p)
		out = append(out, "state:"+filepath.Dir(rel)+"/")
	}
	return out
}

func assertBridgesIn(t *testing.T, cfg wiring.Config, dir string) {
	t.Helper()
	if got, want := readFile(t, filepath.Join(dir, wiring.BridgeBinaryName)), readFile(t, cfg.BridgeBinary); got != want {
		t.Errorf("the bridge program in %s is %q, want %q", dir, got, want)
	}
	if !exists(t, filepath.Join(dir, "ensure-bridges.sh")) {
		t.Errorf("ensure-bridges.sh is missing from %s", dir)
	}
}

// refusalCase is a container Restore must refuse, and how it says so.
type refusalCase struct {
	name string
	// spoil changes the container's record or its state on disk.
	spoil    func(t *testing.T, cfg wiring.Config, rec *wiring.Recorded)
	category error
	wantType any
	wantMsg  string
}

func refusalCases() []refusalCase {
	return []refusalCase{
		{name: "a container without the sidecar annotation is not wired",
			spoil:    func(_ *testing.T, _ wiring.Config, rec *wiring.Recorded) { rec.Annotations = nil },
			category: errdefs.ErrFailedPrecondition, wantType: new(*wiring.NotWiredError), wantMsg: "has no terok.sandbox.sidecar annotation"},
		{name: "a renamed container names another sidecar and is not wired",
			spoil: func(_ *testing.T, cfg wiring.Config, rec *wiring.Recorded) {
				rec.Annotations = map[string]string{sidecarAnnotation: sidecarPathOf(cfg, "old")}
			},
			category: errdefs.ErrFailedPrecondition, wantType: new(*wiring.NotWiredError), wantMsg: `names the sidecar`},
		{name: "a container whose state was cleaned up is refused",
			spoil: func(t *testing.T, cfg wiring.Config, _ *wiring.Recorded) {
				if _, err := wiring.Cleanup(context.Background(), cfg, "web", wiring.CleanupOptions{Tokens: testStore(t, cfg)}); err != nil {
					t.Fatal(err)
				}
			},
			category: errdefs.ErrFailedPrecondition, wantType: new(*wiring.StateGoneError), wantMsg: "was cleaned up"},
		{name: "a container whose sidecar is gone is refused",
			spoil:    func(t *testing.T, cfg wiring.Config, _ *wiring.Recorded) { removeAll(t, sidecarPathOf(cfg, "web")) },
			category: errdefs.ErrFailedPrecondition, wantType: new(*wiring.StateGoneError), wantMsg: "sidecar/web.json is gone"},
		{name: "a sidecar that names another container is refused",
			spoil: func(t *testing.T, cfg wiring.Config, _ *wiring.Recorded) {
				sc, err := wiring.ReadSidecar(sidecarPathOf(cfg, "web"))
				if err != nil {
					t.Fatal(err)
				}
				sc.ContainerName = "db"
				if err := wiring.WriteSidecar(sidecarPathOf(cfg, "web"), sc); err != nil {
					t.Fatal(err)
				}
			},
			category: errdefs.ErrFailedPrecondition, wantType: new(*wiring.NotWiredError), wantMsg: `names container "db"`},
		{name: "a runtime dir mount from elsewhere is refused",
			spoil: func(_ *testing.T, _ wiring.Config, rec *wiring.Recorded) {
				rec.Mounts[runtimeInContainer] = "/elsewhere/run/web"
			},
			category: errdefs.ErrFailedPrecondition, wantType: new(*wiring.NotWiredError), wantMsg: `"/elsewhere/run/web"`},
		{name: "bridge resources of another version cannot be put back",
			spoil: func(t *testing.T, cfg wiring.Config, rec *wiring.Recorded) {
				removeAll(t, rec.Mounts[bridgesInContainer])
				writeFile(t, cfg.BridgeBinary, "#!/bin/sh\necho a newer bridge\n")
			},
			category: errdefs.ErrFailedPrecondition, wantType: new(*wiring.BridgesGoneError), wantMsg: "another version"},
		{name: "a symlink in place of the runtime dir is refused and not followed",
			spoil: func(t *testing.T, cfg wiring.Config, _ *wiring.Recorded) {
				if err := os.MkdirAll(filepath.Dir(runtimeDirOf(cfg, "web")), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(t.TempDir(), runtimeDirOf(cfg, "web")); err != nil {
					t.Fatal(err)
				}
			},
			wantMsg: "a symlink is there"},
	}
}

func TestRestoreRefuses(t *testing.T) {
	for _, tc := range refusalCases() {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, wiring.ServicesSocket)
			rec := wiredContainer(t, cfg, "web", proj)
			removeAll(t, cfg.RuntimeDir)
			tc.spoil(t, cfg, &rec)
			runtimeBefore := exists(t, runtimeDirOf(cfg, "web"))

			r, err := wiring.Restore(cfg, "web", rec)
			if err == nil {
				r.Release()
				t.Fatalf("Restore = %+v, want an error", r)
			}
			if tc.category != nil && !errors.Is(err, tc.category) {
				t.Errorf("error %v is not in category %v", err, tc.category)
			}
			if tc.wantType != nil && !errors.As(err, tc.wantType) {
				t.Errorf("error %v is not a %T", err, tc.wantType)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not say %q", err, tc.wantMsg)
			}
			if tc.category != nil && exists(t, runtimeDirOf(cfg, "web")) != runtimeBefore {
				t.Errorf("a refused restore re-created the runtime dir")
			}
			// The name is free again: a cleanup can go on.
			if _, err := wiring.Cleanup(context.Background(), cfg, "web", wiring.CleanupOptions{}); err != nil {
				t.Errorf("cleanup after a refused restore = %v", err)
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
	if _, err := wiring.Cleanup(context.Background(), cfg, "web", wiring.CleanupOptions{}); !errors.As(err, &busy) {
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

func removeAll(t *testing.T, p string) {
	t.Helper()
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
}
