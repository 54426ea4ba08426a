package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/sandwire/sandwire/podmanapi"
	"github.com/sandwire/sandwire/wiring"
	"github.com/sirupsen/logrus"
)

// RunOptions are how Run runs a container; nil means pulling a missing
// image, attached to no stream, waiting for the exit, and keeping the
// container.
type RunOptions struct {
	// Detach starts the container and returns at once (podman's -d).
	Detach bool
	// Remove removes the container and its sandbox state once it exited,
	// or once its start failed (podman's --rm). A detached container that
	// started is left to its user.
	Remove bool
	// RemoveImage removes the image once the container exited and was
	// removed (podman's --rmi, which implies --rm); an image that other
	// containers use, or that cannot be removed, is kept with a warning.
	RemoveImage bool
	// CIDFile, when set, is written with the container's ID once it is
	// created, as podman's --cidfile (an existing file is overwritten, as
	// podman 5 does), and removed with the container.
	CIDFile string
	// Created, when set, is called once the container is created (and its
	// CIDFile written), before it starts.
	Created func(*Container)
	// Stdin, Stdout and Stderr are attached when set.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// DetachKeys overrides the server's key sequence that detaches.
	DetachKeys string
	// Signals, when set, are forwarded to the container from its start
	// until it exited, as podman run's --sig-proxy (on by default)
	// forwards the signals its client receives: the container decides
	// what each means. One the server cannot deliver (the container does
	// not run yet, or no more) is lost, as with podman. Run catches no
	// signal itself; CatchProxiedSignals fills such a channel with
	// podman's set.
	Signals <-chan os.Signal
	// Pull is how the image is pulled before the create, as podman run
	// pulls it; nil pulls a missing image, showing no progress.
	Pull *PullOptions
}

// RunResult is a wired container that ran, or runs on.
type RunResult struct {
	Container
	// ExitCode is the container's exit code, when Run waited for it, or
	// podman run's code for a start that failed (see StartError).
	ExitCode int
	// Detached is set when Run returned with the container still running:
	// started detached, or the user detached from it.
	Detached bool
	// Removed is set when Run removed the container (Remove).
	Removed bool
}

// Run creates a wired container as Create does, starts it and, unless
// Detach is set, attaches to it and waits for it to exit, forwarding
// opts.Signals to it. A cancelled ctx stops the container rather than
// leaving it running.
//
// An error before the container exists means that nothing of the launch
// is left. A container that was created but could not be started is kept
// with its sandbox state, as podman keeps it, unless Remove is set: Run
// then returns both the result (ExitCode 126 or 127, as podman run exits)
// and a *StartError. Once the container ran, its exit code is in the
// result.
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
	res := &RunResult{Container: *c}
	if err := s.created(ctx, srv, c, opts); err != nil {
		return nil, err
	}
	if opts.Detach {
		err := srv.Start(ctx, c.ID)
		res.Detached = err == nil
		return s.finish(ctx, srv, res, opts, err)
	}
	streams := podmanapi.Streams{Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr, DetachKeys: opts.DetachKeys, Signals: opts.Signals}
	res.ExitCode, res.Detached, err = startAttached(ctx, srv, c.ID, streams)
	if err == nil && !res.Detached && opts.RemoveImage {
		defer s.removeImage(context.WithoutCancel(ctx), srv, c.Image)
	}
	return s.finish(ctx, srv, res, opts, err)
}

// SignalBuffer is how many signals a channel given to CatchProxiedSignals
// should hold, as podman's own.
const SignalBuffer = podmanapi.SignalBuffer

// CatchProxiedSignals relays to c, as signal.Notify does, the signals
// podman run's --sig-proxy forwards to a container: every signal but
// SIGCHLD, SIGPIPE and SIGURG, which are the client's own, and SIGSTOP and
// SIGKILL, which no process can catch. Give c to RunOptions.Signals;
// signal.Stop(c) ends it.
func CatchProxiedSignals(c chan os.Signal) { podmanapi.CatchProxiedSignals(c) }

// created writes the container's ID file and tells the caller; a file
// that cannot be written removes the container, as podman does.
func (s *Sandbox) created(ctx context.Context, srv Server, c *Container, opts *RunOptions) error {
	if opts.CIDFile != "" {
		if err := writeIDFile(opts.CIDFile, c.ID); err != nil {
			return errors.Join(err, s.removeWired(context.WithoutCancel(ctx), srv, c.Name, c.ID, ""))
		}
	}
	if opts.Created != nil {
		opts.Created(c)
	}
	return nil
}

// writeIDFile writes id to path, as podman's --cidfile does.
func writeIDFile(path, id string) error {
	if err := os.WriteFile(path, []byte(id), 0o644); err != nil {
		return fmt.Errorf("creating idfile: %w", err)
	}
	return nil
}

// finish settles a run that returned: a start that failed gets podman's
// exit code, and with Remove a container that is no longer running goes,
// with its sandbox state and ID file.
func (s *Sandbox) finish(ctx context.Context, srv Server, res *RunResult, opts *RunOptions, runErr error) (*RunResult, error) {
	var start *StartError
	failedStart := errors.As(runErr, &start)
	if runErr != nil && !failedStart {
		return nil, runErr // the server could not be asked; nothing is known
	}
	if failedStart {
		res.ExitCode = start.ExitCode()
	}
	if opts.Remove && !res.Detached {
		if err := s.removeWired(context.WithoutCancel(ctx), srv, res.Name, res.ID, opts.CIDFile); err != nil {
			s.note(fmt.Sprintf("Error: removing %q after it exited: %v", res.Name, err))
		} else {
			res.Removed = true
		}
	}
	return res, runErr
}

// removeImage removes the image a --rmi run ran, as podman does: an image
// that cannot be removed is kept with a warning.
func (s *Sandbox) removeImage(ctx context.Context, srv Server, image string) {
	if err := srv.RemoveImage(ctx, image); err != nil {
		logrus.Warnf("Failed to remove image: %v", err)
	}
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

// removeWired force-removes a wired container, its ID file (when
// cidfile is set) and its sandbox state.
func (s *Sandbox) removeWired(ctx context.Context, srv Server, name, id, cidfile string) error {
	var cidErr error
	if cidfile != "" {
		if err := os.Remove(cidfile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			cidErr = fmt.Errorf("cleaning up CID file: %w", err)
		}
	}
	removeErr := srv.Remove(ctx, id, true)
	return errors.Join(cidErr, removeErr, s.cleanupOnceFree(ctx, name, nil))
}

// nameBusyWait bounds how long cleanupOnceFree waits for a name.
const nameBusyWait = 5 * time.Second

// cleanupOnceFree cleans up name, waiting a little while another cleanup
// holds it: a watch sees the removal this process just made and cleans
// up at the same moment, and one of the two then finds the name held.
// When keep is not nil it is asked under the name's lock on each attempt,
// and a name it says holds a container again (a launch held the name
// meanwhile) is left alone.
func (s *Sandbox) cleanupOnceFree(ctx context.Context, name string, keep func() (bool, error)) error {
	deadline := time.Now().Add(nameBusyWait)
	for {
		_, err := s.cleanup(ctx, name, keep)
		var busy *wiring.NameBusyError
		if !errors.As(err, &busy) || time.Now().After(deadline) || !sleep(ctx, 50*time.Millisecond) {
			return err
		}
	}
}
