package podmanapi

import (
	"context"
	"fmt"
	"net"
	"net/url"

	"github.com/containers/podman/v5/pkg/bindings/system"
	"github.com/containers/podman/v5/pkg/domain/entities/types"
)

// Dial opens a raw connection to the service, for a proxy that forwards
// HTTP to it as it came. Only a service on this machine can be dialled: a
// unix socket, or TCP to a loopback address without TLS.
func (c *Client) Dial(ctx context.Context) (net.Conn, error) {
	u, err := url.Parse(c.dest.URI)
	if err != nil || !c.local() || c.dest.TLSCert != "" || c.dest.TLSCA != "" {
		return nil, &RemoteHostError{URI: c.dest.URI, What: "a proxy in front of the podman service"}
	}
	var d net.Dialer
	var conn net.Conn
	switch u.Scheme {
	case "unix":
		conn, err = d.DialContext(ctx, "unix", u.Path)
	case "tcp":
		conn, err = d.DialContext(ctx, "tcp", u.Host)
	default:
		err = fmt.Errorf("unsupported scheme %q", u.Scheme)
	}
	if err != nil {
		return nil, c.dest.unreachable(err)
	}
	return conn, nil
}

// Removals follows the server's event stream and calls removed with the
// name of every container the server removes, by any client, until ctx
// ends (it returns ctx's error) or the stream breaks.
func (c *Client) Removals(ctx context.Context, removed func(name string)) error {
	events := make(chan types.Event)
	cancel := make(chan bool, 1)
	filters := map[string][]string{"type": {"container"}, "event": {"remove"}}
	opts := new(system.EventsOptions).WithStream(true).WithFilters(filters)
	if err := system.Events(c.with(ctx), events, cancel, opts); err != nil {
		return c.apiError("following the server's events", err)
	}
	for {
		select {
		case e, ok := <-events:
			if !ok {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return c.dest.unreachable(fmt.Errorf("the event stream ended"))
			}
			if name := e.Actor.Attributes["name"]; name != "" {
				removed(name)
			}
		case <-ctx.Done():
			cancel <- true
			for range events { //nolint:revive // drain until the stream closes
			}
			return ctx.Err()
		}
	}
}
