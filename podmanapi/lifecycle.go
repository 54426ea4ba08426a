package podmanapi

import (
	"context"
	"errors"
	"io"

	"github.com/containers/podman/v5/libpod/define"
	"github.com/containers/podman/v5/pkg/bindings/containers"
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
}

// ErrDetached is returned by StartAttached when the user detached.
var ErrDetached = errors.New("detached from the container")

// StartAttached attaches to a created container, starts it once the
// attach is ready (so no output is lost), and waits for it to exit. It
// returns the container's exit code. When ctx is cancelled (Ctrl-C), the
// container is stopped rather than left running, and its exit code is
// still returned.
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
