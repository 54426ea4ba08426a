package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/sandwire/sandwire/podmanapi"
	"github.com/sandwire/sandwire/wiring"
)

// RunOptions are how Run runs a container; nil means pulling a missing
// image, attached to no stream, waiting for the exit, and keeping the
// container.
type RunOptions struct {
	// Detach starts the container and returns at once (podman's -d).
	Detach bool
	// Remove removes the container and its sandbox state once it exited
	// (podman's --rm). A detached container is left to its user.
	Remove bool
	// Stdin, Stdout and Stderr are attached when set.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// DetachKeys overrides the server's key sequence that detaches.
	DetachKeys string
	// Pull is how the image is pulled before the create, as podman run
	// pulls it; nil pulls a missing image, showing no progress.
	Pull *PullOptions
}

// RunResult is a wired container that ran, or runs on.
type RunResult struct {
	Container
	// ExitCode is the container's exit code, when Run waited for it.
	ExitCode int
	// Detached is set when Run returned with the container still running:
	// started detached, or the user detached from it.
	Detached bool
}

// Run creates a wired container as Create does, starts it and, unless
// Detach is set, attaches to it and waits for it to exit. A cancelled ctx
// (Ctrl-C) stops the container rather than leaving it running. A container
// that was created but could not be started is removed with its sandbox
// state, so an error from Run means that nothing of the launch is left;
// once the container ran, its exit code is in the result.
func (s *Sandbox) Run(ctx context.Context, name string, spec *specgen.SpecGenerator, req Request, opts *RunOptions) (*RunResult, error) {
	if opts == nil {
		opts = &RunOptions{}
	}
	c, err := s.Create(ctx, name, spec, req, &CreateOptions{Pull: opts.Pull})
	if err != nil {
		return nil, err
	}
	srv, err := s.connect(ctx) // the connection Create made
	if err != nil {
		return nil, err
	}
	id, res := c.ID, &RunResult{Container: *c}
	if opts.Detach {
		if err := srv.Start(ctx, id); err != nil {
			return nil, s.discard(srv, name, id, err)
		}
		res.Detached = true
		return res, nil
	}
	streams := podmanapi.Streams{Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr, DetachKeys: opts.DetachKeys}
	code, detached, err := startAttached(ctx, srv, id, streams)
	if err != nil {
		return nil, s.discard(srv, name, id, err)
	}
	if res.ExitCode, res.Detached = code, detached; detached {
		return res, nil
	}
	if opts.Remove {
		if err := s.removeWired(context.WithoutCancel(ctx), srv, name, id); err != nil {
			s.note(fmt.Sprintf("Error: removing %q after it exited: %v", name, err))
		}
	}
	return res, nil
}

// startAttached starts container id attached to streams and waits for it
// to exit: its exit code, or detached when the user detached from it.
func startAttached(ctx context.Context, srv Server, id string, streams podmanapi.Streams) (code int, detached bool, err error) {
	code, err = srv.StartAttached(ctx, id, streams)
	if errors.Is(err, podmanapi.ErrDetached) {
		return 0, true, nil
	}
	return code, false, err
}

// discard removes a container that was created but could not be run,
// with its sandbox state, so a failed run leaves nothing behind.
func (s *Sandbox) discard(srv Server, name, id string, cause error) error {
	return errors.Join(cause, s.removeWired(context.Background(), srv, name, id))
}

// removeWired force-removes a wired container and cleans up its state.
func (s *Sandbox) removeWired(ctx context.Context, srv Server, name, id string) error {
	removeErr := srv.Remove(ctx, id, true)
	return errors.Join(removeErr, s.cleanupOnceFree(ctx, name))
}

// nameBusyWait bounds how long cleanupOnceFree waits for a name.
const nameBusyWait = 5 * time.Second

// cleanupOnceFree cleans up name, waiting a little while another cleanup
// holds it: a watch sees the removal this process just made and cleans
// up at the same moment, and one of the two then finds the name held.
func (s *Sandbox) cleanupOnceFree(ctx context.Context, name string) error {
	deadline := time.Now().Add(nameBusyWait)
	for {
		_, err := s.Cleanup(ctx, name)
		var busy *wiring.NameBusyError
		if !errors.As(err, &busy) || time.Now().After(deadline) || !sleep(ctx, 50*time.Millisecond) {
			return err
		}
	}
}
