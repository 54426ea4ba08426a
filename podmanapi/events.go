package podmanapi

import (
	"context"
	"errors"
	"time"

	"github.com/containers/podman/v5/pkg/bindings/system"
	"github.com/containers/podman/v5/pkg/domain/entities/types"
)

// Event is one event of the server's stream, as sandwire reads it.
type Event struct {
	// Type is what the event is about: "container", "image", "pod", ...
	Type string
	// Action is what happened: "create", "died", "stop", "remove", ...
	Action string
	// ID and Name are the container's (the image's, the pod's).
	ID, Name string
	// Time is when it happened, to the nanosecond.
	Time time.Time
	// Attributes are, for a container, its labels (never its
	// annotations), with podman's own keys mixed in: image, name, podId,
	// containerExitCode.
	Attributes map[string]string
}

// EventsOptions say which events to follow; nil means all, from now on.
type EventsOptions struct {
	// Since replays the events after this time (the server's "since",
	// which keeps only later events) before new ones; zero starts now.
	Since time.Time
	// Filters are podman's event filters: type, event, label, container,
	// ... Values under one key are alternatives; every key must match.
	Filters map[string][]string
}

// ErrStreamEnded is what Events returns, wrapped in an *UnreachableError,
// when the server closed the stream or the connection dropped.
var ErrStreamEnded = errors.New("the event stream ended")

// Events follows the server's event stream and calls handle for each
// event, in order, until ctx ends (an *InterruptedError), handle fails
// (its error), or the stream ends (an *UnreachableError wrapping
// ErrStreamEnded: the server stopped, or the connection dropped). It
// never returns nil.
func (c *Client) Events(ctx context.Context, handle func(Event) error, opts *EventsOptions) error {
	if opts == nil {
		opts = &EventsOptions{}
	}
	req := new(system.EventsOptions).WithStream(true)
	if len(opts.Filters) > 0 {
		req.WithFilters(opts.Filters)
	}
	if !opts.Since.IsZero() {
		req.WithSince(opts.Since.UTC().Format(time.RFC3339Nano))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan types.Event)
	if err := system.Events(c.with(ctx), events, nil, req); err != nil {
		return c.apiError("following the event stream", err)
	}
	defer func() {
		// The bindings' reader stops at the body's end, which the cancel
		// brings about; until then it may be sending.
		cancel()
		for range events {
		}
	}()
	for e := range events {
		if err := handle(event(e)); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return &InterruptedError{Op: "following the event stream", Err: err}
	}
	return c.dest.unreachable(ErrStreamEnded)
}

func event(e types.Event) Event {
	at := time.Unix(0, e.TimeNano)
	if e.TimeNano == 0 {
		at = time.Unix(e.Time, 0)
	}
	return Event{
		Type: string(e.Type), Action: string(e.Action), ID: e.Actor.ID, Name: e.Actor.Attributes["name"],
		Time: at, Attributes: e.Actor.Attributes,
	}
}
