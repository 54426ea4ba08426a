package wiring_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sandwire/sandwire/wiring"
)

// refusalCase is a container Restore must refuse, and how it says so.
type refusalCase struct {
	name string
	// spoil changes the container's record or its state on disk.
	spoil func(t *testing.T, cfg wiring.Config, rec *wiring.Recorded)
	// want is the refusal's sentinel, which the error wraps; nil for an
	// error that is no refusal.
	want    error
	wantMsg string
}

func refusalCases() []refusalCase {
	return []refusalCase{
		{name: "a container without the sidecar annotation is not wired",
			spoil: func(_ *testing.T, _ wiring.Config, rec *wiring.Recorded) { rec.Annotations = nil },
			want:  wiring.ErrNotWired, wantMsg: "has no terok.sandbox.sidecar annotation"},
		{name: "a renamed container names another sidecar and is not wired",
			spoil: func(_ *testing.T, cfg wiring.Config, rec *wiring.Recorded) {
				rec.Annotations = map[string]string{sidecarAnnotation: sidecarPathOf(cfg, "old")}
			},
			want: wiring.ErrNotWired, wantMsg: `names the sidecar`},
		{name: "a container whose state was cleaned up is refused",
			spoil: func(t *testing.T, cfg wiring.Config, _ *wiring.Recorded) {
				if _, err := wiring.Cleanup(t.Context(), cfg, "web", wiring.CleanupOptions{Tokens: testStore(t, cfg)}); err != nil {
					t.Fatal(err)
				}
			},
			want: wiring.ErrCleanedUp, wantMsg: "was cleaned up"},
		{name: "a container whose sidecar is gone is refused",
			spoil: func(t *testing.T, cfg wiring.Config, _ *wiring.Recorded) { removeAll(t, sidecarPathOf(cfg, "web")) },
			want:  wiring.ErrCleanedUp, wantMsg: "sidecar/web.json is gone"},
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
			want: wiring.ErrNotWired, wantMsg: `names container "db"`},
		{name: "a runtime dir mount from elsewhere is refused",
			spoil: func(_ *testing.T, _ wiring.Config, rec *wiring.Recorded) {
				rec.Mounts[runtimeInContainer] = "/elsewhere/run/web"
			},
			want: wiring.ErrNotWired, wantMsg: `"/elsewhere/run/web"`},
		{name: "bridge resources of another version cannot be put back",
			spoil: func(t *testing.T, cfg wiring.Config, rec *wiring.Recorded) {
				removeAll(t, rec.Mounts[bridgesInContainer])
				writeFile(t, cfg.BridgeBinary, "#!/bin/sh\necho a newer bridge\n")
			},
			want: wiring.ErrBridgesGone, wantMsg: "another version"},
		{name: "a symlink in place of the runtime dir is refused",
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
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %v does not wrap %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not say %q", err, tc.wantMsg)
			}
			if tc.want != nil && exists(t, runtimeDirOf(cfg, "web")) != runtimeBefore {
				t.Errorf("a refused restore re-created the runtime dir")
			}
			// The name is free again: a cleanup can go on.
			if _, err := wiring.Cleanup(t.Context(), cfg, "web", wiring.CleanupOptions{}); err != nil {
				t.Errorf("cleanup after a refused restore = %v", err)
			}
		})
	}
}
