package wiring

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/containerd/errdefs"
)

// Recorded is what the podman server recorded of a container when it was
// created, as far as the sandbox's checks need it. The server's record,
// not the state on disk, says what the container will mount when it
// starts.
type Recorded struct {
	// Annotations are the container's annotations.
	Annotations map[string]string
	// Mounts maps each mount destination in the container to its host
	// source.
	Mounts map[string]string
}

// Wired is a container of this sandbox whose state is on disk.
type Wired struct {
	Name string
	// Plan is what was wired, from the run state.
	Plan Plan
	// Sidecar is the container's sidecar.
	Sidecar Sidecar
}

// ErrNotWired is wrapped when a container is not wired into this sandbox:
// it carries no sidecar annotation, or its annotation, sidecar or mounts
// point elsewhere than this sandbox's state for its name (another
// configuration, or a container renamed since it was created).
var ErrNotWired = newSentinel(errdefs.ErrFailedPrecondition, "not wired into this sandbox")

// ErrCleanedUp is wrapped when the sandbox state of a wired container was
// cleaned up: its tokens were revoked and its sidecar or run state is
// gone, so it cannot be wired again.
var ErrCleanedUp = newSentinel(errdefs.ErrFailedPrecondition, "cleaned up")

// notWired says why container name is not wired into this sandbox.
func notWired(name, format string, args ...any) error {
	return fmt.Errorf("container %q is %w: %s", name, ErrNotWired, fmt.Sprintf(format, args...))
}

// cleanedUp says which piece of name's state is gone.
func cleanedUp(name, path string) error {
	return fmt.Errorf("the sandbox state of container %q was %w: %s is gone", name, ErrCleanedUp, path)
}

// CheckWired checks that the container called name, as the server recorded
// it, is wired into this sandbox and that its state is still on disk: its
// sidecar annotation names this sandbox's sidecar of that name, the run
// state holds its plan, the sidecar names the container and this runtime
// dir, and its /run/terok mount (socket mode) comes from this sandbox's
// runtime dir for it. It writes nothing.
func CheckWired(cfg Config, name string, rec Recorded) (*Wired, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if err := checkAnnotation(cfg, name, rec); err != nil {
		return nil, err
	}
	plan, ok, err := ReadPlan(cfg, name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, cleanedUp(name, cfg.RunStateDir(name))
	}
	sc, err := readWiredSidecar(cfg, name)
	if err != nil {
		return nil, err
	}
	if err := checkRuntimeDir(cfg, name, sc, rec); err != nil {
		return nil, err
	}
	return &Wired{Name: name, Plan: plan, Sidecar: sc}, nil
}

// checkAnnotation requires the sidecar annotation to name this sandbox's
// sidecar of name.
func checkAnnotation(cfg Config, name string, rec Recorded) error {
	got, want := rec.Annotations[SidecarAnnotation], cfg.SidecarPath(name)
	switch {
	case got == "":
		return notWired(name, "it has no %s annotation", SidecarAnnotation)
	case got != want:
		return notWired(name, "its %s annotation names the sidecar %q, not %q", SidecarAnnotation, got, want)
	}
	return nil
}

// readWiredSidecar reads the sidecar of name and requires it to name the
// container.
func readWiredSidecar(cfg Config, name string) (Sidecar, error) {
	path := cfg.SidecarPath(name)
	sc, err := cfg.readSidecar(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Sidecar{}, cleanedUp(name, path)
	case err != nil:
		return Sidecar{}, fmt.Errorf("reading the sidecar of %q: %w", name, err)
	case sc.ContainerName != name:
		return Sidecar{}, notWired(name, "its sidecar %s names container %q", path, sc.ContainerName)
	}
	return sc, nil
}

// checkRuntimeDir requires the sidecar and the container's /run/terok
// mount, if any, to name this sandbox's runtime dir: that is where the
// services bind their sockets and what a restore re-creates.
func checkRuntimeDir(cfg Config, name string, sc Sidecar, rec Recorded) error {
	if filepath.Clean(sc.RuntimeDir) != filepath.Clean(cfg.RuntimeDir) {
		return notWired(name, "its sidecar's runtime dir is %q, not %q", sc.RuntimeDir, cfg.RuntimeDir)
	}
	src, mounted := rec.Mounts[ContainerRuntimeDir]
	if want := cfg.ContainerRuntimeDir(name); mounted && filepath.Clean(src) != want {
		return notWired(name, "its %s mount comes from %q, not %q", ContainerRuntimeDir, src, want)
	}
	return nil
}
