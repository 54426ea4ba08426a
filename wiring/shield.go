package wiring

import (
	"context"
	"errors"
)

// ShieldRequest is what the egress firewall needs to prepare a container.
type ShieldRequest struct {
	// Name is the container name.
	Name string
	// StateDir is the launch's run state dir; the shield keeps its state there.
	StateDir string
	// Profiles are the firewall profiles to apply.
	Profiles []string
	// LoopbackPorts are host loopback ports the container must reach
	// (the services' ports in tcp mode).
	LoopbackPorts []int
}

// Shield is the egress firewall's side of a launch: it prepares the
// firewall for one container and says what that adds to its spec, and it
// tears the firewall down again.
type Shield interface {
	// Prepare readies the firewall and returns its contribution.
	Prepare(ctx context.Context, req ShieldRequest) (*Edits, error)
	// Down tears the firewall of a container down; a container that no
	// longer exists is not an error.
	Down(ctx context.Context, name, containerID string) error
}

// ErrShieldUnavailable is returned when the shield is on but no shield is
// configured to prepare it. The launch fails closed: nothing is written.
var ErrShieldUnavailable = errors.New("the egress firewall (shield) is on but sandwire cannot prepare it here " +
	"(no shield is configured); nothing was launched. Pass --no-shield to launch without the firewall")
