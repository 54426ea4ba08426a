package podmanapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"

	"github.com/containers/podman/v5/libpod/define"
	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/signal"
	"github.com/sirupsen/logrus"
)

// Streams are the client ends of an attached container's stdio. A nil
// field is not attached.
type Streams struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// DetachKeys overrides the key sequence that detaches; empty keeps
	// the server's default.
	DetachKeys string
	// Started, when set, is called once the container has started, before
	// StartAttached waits for it to exit.
	Started func()
	// Signals, when set, are sent to the container from its start until
	// it exited, as podman's --sig-proxy sends the signals its client
	// receives (CatchProxiedSignals fills such a channel): the container
	// decides what each means. One the server cannot deliver (the
	// container does not run yet, or no more) is lost, as with podman.
	Signals <-chan os.Signal
}

// SignalBuffer is how many signals a channel given to CatchProxiedSignals
// should hold: podman's own buffer.
const SignalBuffer = signal.SignalBufferSize

// CatchProxiedSignals relays to c, as signal.Notify does, every signal
// podman's --sig-proxy forwards to a container: all but SIGCHLD, SIGPIPE
// and SIGURG, which are the client's own, and SIGSTOP and SIGKILL, which
// no process can catch. It is podman's own list. signal.Stop(c) ends it.
func CatchProxiedSignals(c chan os.Signal) { signal.CatchAll(c) }

// ErrDetached is returned by StartAttached when the user detached.
var ErrDetached = errors.New("detached from the container")

// StartAttached attaches to a created container, starts it once the
// attach is ready (so no output is lost), and waits for it to exit,
// forwarding s.Signals to it meanwhile. It returns the container's exit
// code. When ctx is cancelled, the container is stopped rather than left
// running, and its exit code is still returned.
func (c *Client) StartAttached(ctx context.Context, id string, s Streams) (int, error) {
	opts := new(containers.AttachOptions).WithStream(true)
	if s.DetachKeys != "" {
		opts.WithDetachKeys(s.DetachKeys)
	}
	// The attach and wait calls outlive ctx: after a cancel they must
	// still see the container stop.
	bg := c.with(context.WithoutCancel(ctx))
	ready := make(chan bool, 1)
	attachErr := make(chan error, 1)
	go func() {
		attachErr <- containers.Attach(bg, id, s.Stdin, s.Stdout, s.Stderr, ready, opts)
	}()
	select {
	case <-ready:
	case err := <-attachErr:
		return -1, c.startError("attaching to container "+id, id, err)
	}
	defer c.forwardSignals(bg, id, s.Signals)()
	if err := c.Start(ctx, id); err != nil {
		return -1, err
	}
	if s.Started != nil {
		s.Started()
	}
	waitErr := make(chan error, 1)
	var code int32
	go func() {
		var err error
		code, err = containers.Wait(bg, id, new(containers.WaitOptions).WithCondition([]define.ContainerStatus{define.ContainerStateExited, define.ContainerStateStopped}))
		waitErr <- err
	}()
	for {
		select {
		case <-ctx.Done():
			if err := c.Stop(context.WithoutCancel(ctx), id); err != nil {
				return -1, err
			}
			ctx = context.Background() // stop once, then wait for the exit
		case err := <-attachErr:
			if errors.Is(err, define.ErrDetach) {
				return 0, ErrDetached
			}
			attachErr = nil // stream closed; the exit code comes from wait
		case err := <-waitErr:
			if err != nil {
				return -1, c.containerError("waiting for container "+id, id, err)
			}
			if attachErr != nil {
				// Drain the output the container wrote before it exited.
				<-attachErr
			}
			return int(code), nil
		}
	}
}

// Stop stops a running container: SIGTERM, then SIGKILL after the
// container's stop timeout. A container that is already stopped or gone
// is not an error.
func (c *Client) Stop(ctx context.Context, nameOrID string) error {
	if err := containers.Stop(c.with(ctx), nameOrID, new(containers.StopOptions).WithIgnore(true)); err != nil {
		return c.containerError("stopping container "+nameOrID, nameOrID, err)
	}
	return nil
}

// Kill sends sig to a container's main process. A container that is not
// running is an *APIError of status 409 (errdefs.ErrConflict), one that
// does not exist a *NoSuchContainerError.
func (c *Client) Kill(ctx context.Context, nameOrID string, sig syscall.Signal) error {
	name := signalName(sig)
	if err := containers.Kill(c.with(ctx), nameOrID, new(containers.KillOptions).WithSignal(name)); err != nil {
		return c.containerError(fmt.Sprintf("sending signal %s to container %s", name, nameOrID), nameOrID, err)
	}
	return nil
}

// signalName is sig as podman's client names it to the server: podman's
// name for it (INT, RTMIN+3), or its number when podman has none.
func signalName(sig syscall.Signal) string {
	if name, err := signal.ParseSysSignalToName(sig); err == nil {
		return name
	}
	return strconv.Itoa(int(sig))
}

// forwardSignals sends each of signals to container id until the returned
// stop is called, as podman's signal proxy does from before the start. As
// podman's, it goes on past a signal the server cannot deliver (the
// container does not run yet, or no more): that is logged at debug level.
func (c *Client) forwardSignals(ctx context.Context, id string, signals <-chan os.Signal) (stop func()) {
	if signals == nil {
		return func() {}
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case sig := <-signals:
				if s, ok := sig.(syscall.Signal); ok {
					if err := c.Kill(ctx, id, s); err != nil {
						logrus.Debugf("forwarding signal %s to container %s: %v", signalName(s), id, err)
					}
				}
			case <-done:
				return
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
