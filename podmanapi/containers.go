package podmanapi

import (
	"context"
	"net/http"

	"github.com/containers/podman/v5/libpod/define"
	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/bindings/images"
	"github.com/containers/podman/v5/pkg/specgen"
)

// oldRootlessCreate lets one create at a time through, process-wide, to a
// server whose creates must not overlap (see Facts.createsOneAtATime).
var oldRootlessCreate = make(chan struct{}, 1)

// createsOneAtATime reports whether creates must not overlap on this
// server. Rootless podman before 5 reads the user's subordinate ID ranges
// through libsubid, which is not thread-safe, for every keep-id user
// namespace (the one sandwire asks for on a rootless server); two such
// creates at once crash the service with SIGSEGV in subid_get_uid_ranges
// (seen with Debian 12's podman 4.3.1). Other clients of the server are
// beyond reach; this process's launches at least never overlap.
func (f Facts) createsOneAtATime() bool {
	if !f.Rootless {
		return false
	}
	major, ok := majorVersion(f.Version)
	return ok && major < 5
}

// CreateTurn waits, on a server whose creates must not overlap, until no
// other create of this process is under way, and returns the function
// that ends this one's turn; elsewhere it returns at once. Create takes
// its turn itself; a caller that sends a create another way (a
// Docker-compatible create) takes one around it.
func (c *Client) CreateTurn(ctx context.Context) (done func(), err error) {
	facts, err := c.Facts(ctx)
	if err != nil {
		return nil, err
	}
	if !facts.createsOneAtATime() {
		return func() {}, nil
	}
	select {
	case oldRootlessCreate <- struct{}{}:
		return func() { <-oldRootlessCreate }, nil
	case <-ctx.Done():
		return nil, &InterruptedError{Op: "waiting to create the container", Err: ctx.Err()}
	}
}

// Created is the server's answer to a create.
type Created struct {
	ID       string
	Warnings []string
}

// Create creates a container from s. A missing image comes back as an
// *ImageNotFoundError and a taken name as a *NameInUseError; the server is
// asked which it was rather than its message parsed.
func (c *Client) Create(ctx context.Context, s *specgen.SpecGenerator) (Created, error) {
	done, err := c.CreateTurn(ctx)
	if err != nil {
		return Created{}, err
	}
	defer done()
	resp, err := containers.CreateWithSpec(c.with(ctx), s, nil)
	if err == nil {
		return Created{ID: resp.ID, Warnings: resp.Warnings}, nil
	}
	code := responseCode(err)
	if code == 0 {
		return Created{}, c.transportError("creating the container", err)
	}
	if code == http.StatusConflict {
		return Created{}, &NameInUseError{Name: s.Name, Err: err}
	}
	if s.Image != "" {
		if ok, exErr := images.Exists(c.with(ctx), s.Image, nil); exErr == nil && !ok {
			return Created{}, &ImageNotFoundError{Image: s.Image, Err: err}
		}
	}
	if s.Name != "" && code != http.StatusNotFound {
		if ok, exErr := containers.Exists(c.with(ctx), s.Name, nil); exErr == nil && ok {
			return Created{}, &NameInUseError{Name: s.Name, Err: err}
		}
	}
	return Created{}, &APIError{Code: code, Err: err}
}

// Start starts a created container. A refusal by the server is a
// *StartError.
func (c *Client) Start(ctx context.Context, nameOrID string) error {
	if err := containers.Start(c.with(ctx), nameOrID, nil); err != nil {
		return c.startError("starting container "+nameOrID, nameOrID, err)
	}
	return nil
}

// Inspect returns the server's view of a container.
func (c *Client) Inspect(ctx context.Context, nameOrID string) (*define.InspectContainerData, error) {
	data, err := containers.Inspect(c.with(ctx), nameOrID, nil)
	if err != nil {
		return nil, c.containerError("inspecting container "+nameOrID, nameOrID, err)
	}
	return data, nil
}

// Remove removes a container, stopping it first when force is set. A
// container that does not exist is not an error.
func (c *Client) Remove(ctx context.Context, nameOrID string, force bool) error {
	_, err := containers.Remove(c.with(ctx), nameOrID, new(containers.RemoveOptions).WithForce(force).WithIgnore(true))
	if err != nil {
		return c.containerError("removing container "+nameOrID, nameOrID, err)
	}
	return nil
}

// Names lists the names of every container the server knows, in any state.
func (c *Client) Names(ctx context.Context) ([]string, error) {
	list, err := containers.List(c.with(ctx), new(containers.ListOptions).WithAll(true))
	if err != nil {
		return nil, c.apiError("listing containers", err)
	}
	var names []string
	for _, ctr := range list {
		names = append(names, ctr.Names...)
	}
	return names, nil
}

func (c *Client) containerError(op, name string, err error) error {
	if responseCode(err) == http.StatusNotFound {
		return &NoSuchContainerError{Name: name, Err: err}
	}
	return c.apiError(op, err)
}

// with carries the connection in ctx, keeping ctx's deadline and values.
func (c *Client) with(ctx context.Context) context.Context {
	return connContext{Context: ctx, conn: c.conn}
}

// connContext is ctx with the bindings' connection values looked up in
// conn: the bindings keep the connection in a context, and sandwire's
// callers keep their own deadlines and cancellation in theirs.
type connContext struct {
	context.Context
	conn context.Context
}

func (c connContext) Value(key any) any {
	if v := c.conn.Value(key); v != nil {
		return v
	}
	return c.Context.Value(key)
}
