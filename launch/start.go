package launch

import (
	"context"
	"io"
	"os"
	"strings"

	"github.com/containers/podman/v5/libpod/define"
	"github.com/sandwire/sandwire/podmanapi"
	"github.com/sandwire/sandwire/wiring"
	"github.com/sirupsen/logrus"
)

// StartOptions are how Start starts a container; nil means detached, as
// podman start without --attach.
type StartOptions struct {
	// Attach attaches to the container and waits for it to exit
	// (podman's --attach).
	Attach bool
	// Stdin, Stdout and Stderr are attached when set and Attach is.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// DetachKeys overrides the server's key sequence that detaches.
	DetachKeys string
	// Signals, when set and Attach is, are forwarded to the container
	// while it runs, as RunOptions.Signals are (podman start's
	// --sig-proxy).
	Signals <-chan os.Signal
}

// StartResult is a wired container that was started, or was running
// already.
type StartResult struct {
	ID   string
	Name string
	// Plan is what the container was wired with.
	Plan Plan
	// WasRunning is set when the container was running already: Start
	// started nothing and re-created nothing (with Attach, it attached).
	WasRunning bool
	// Restored lists the host paths that were gone and were re-created
	// before the start (the runtime dir after a reboot, say).
	Restored []string
	// ExitCode is the container's exit code, when Start attached and
	// waited for it.
	ExitCode int
	// Detached is set when the user detached from an attached container.
	Detached bool
}

// Start starts the wired container nameOrID, as podman start does, once
// its host-side wiring is back: a reboot empties the runtime dir under
// /run, and without it the container's /run/terok mount has no source.
// The container must be one this sandbox wired and whose state is still
// on disk; any other is refused (ErrFailedPrecondition), and so is a
// podman service on another machine. What of the wiring is gone — the
// runtime dir, its socket dirs, the bridge resources — is re-created under
// the name's lock, which is held until the container has started, so no
// cleanup can remove it in between. Starting a running container starts
// and re-creates nothing; with Attach it attaches to it, as podman does. A
// cancelled ctx (Ctrl-C) stops an attached container.
func (s *Sandbox) Start(ctx context.Context, nameOrID string, opts *StartOptions) (*StartResult, error) {
	if opts == nil {
		opts = &StartOptions{}
	}
	if err := wiring.ValidateName(nameOrID); err != nil {
		return nil, err
	}
	srv, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	if err := srv.RequireLocal("starting a wired container"); err != nil {
		return nil, err
	}
	data, err := srv.Inspect(ctx, nameOrID)
	if err != nil {
		return nil, err
	}
	res := &StartResult{ID: data.ID, Name: strings.TrimPrefix(data.Name, "/")}
	if data.State != nil && data.State.Running {
		return s.startRunning(ctx, srv, res, recorded(data), opts)
	}
	held, err := wiring.Restore(s.cfg, res.Name, recorded(data))
	if err != nil {
		return nil, err
	}
	defer held.Release()
	res.Plan, res.Restored = held.Plan, held.Made
	if len(held.Made) > 0 {
		logrus.Debugf("re-created the wiring of %q that was gone: %v", res.Name, held.Made)
	}
	if opts.Attach {
		return s.attach(ctx, srv, res, opts, held.Release)
	}
	if err := srv.Start(ctx, res.ID); err != nil {
		return nil, err
	}
	return res, nil
}

// startRunning is Start of a running container: it checks that the
// container is wired, then does nothing or, with Attach, attaches.
func (s *Sandbox) startRunning(ctx context.Context, srv Server, res *StartResult, rec wiring.Recorded, opts *StartOptions) (*StartResult, error) {
	w, err := wiring.CheckWired(s.cfg, res.Name, rec)
	if err != nil {
		return nil, err
	}
	res.Plan, res.WasRunning = w.Plan, true
	if !opts.Attach {
		return res, nil
	}
	return s.attach(ctx, srv, res, opts, nil)
}

// attach starts the container attached to opts' streams and waits for it;
// started runs once it is running.
func (s *Sandbox) attach(ctx context.Context, srv Server, res *StartResult, opts *StartOptions, started func()) (*StartResult, error) {
	streams := podmanapi.Streams{Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr, DetachKeys: opts.DetachKeys, Started: started, Signals: opts.Signals}
	code, detached, err := startAttached(ctx, srv, res.ID, streams)
	if err != nil {
		return nil, err
	}
	res.ExitCode, res.Detached = code, detached
	return res, nil
}

// recorded is what the server recorded of a container that Start's
// checks and restore need: its annotations and its mounts' sources.
func recorded(data *define.InspectContainerData) wiring.Recorded {
	rec := wiring.Recorded{Mounts: map[string]string{}}
	if data.Config != nil {
		rec.Annotations = data.Config.Annotations
	}
	for _, m := range data.Mounts {
		rec.Mounts[m.Destination] = m.Source
	}
	return rec
}
