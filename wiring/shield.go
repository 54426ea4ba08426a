package wiring

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
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
	// ServerRootless and RootlessNetwork are the podman server's facts:
	// they, not the client's uid, decide the container's network.
	ServerRootless  bool
	RootlessNetwork string
}

// Link-local addresses at which a rootless container reaches the host's
// loopback: pasta maps this address with --map-host-loopback, and
// slirp4netns's gateway forwards to it with allow_host_loopback.
const (
	PastaHostLoopback = "169.254.1.2"
	SlirpGateway      = "10.0.2.2"
	// HostAlias is the name a container uses for the host.
	HostAlias = "host.containers.internal"
)

// ShieldNetwork returns the network a shielded container needs so the
// firewall can let it reach the host's loopback services: none of its own
// on a rootful server (the default bridge), and pasta or slirp4netns with
// host-loopback mapping on a rootless one, as the server's default
// rootless network says.
func ShieldNetwork(serverRootless bool, rootlessNetwork string) *Edits {
	if !serverRootless {
		return nil
	}
	if rootlessNetwork == "slirp4netns" {
		return &Edits{
			Network: &Network{Mode: "slirp4netns", Options: []string{"allow_host_loopback=true"}},
			Hosts:   []string{HostAlias + ":" + SlirpGateway},
		}
	}
	return &Edits{
		Network: &Network{Mode: "pasta", Options: []string{"--map-host-loopback", PastaHostLoopback}},
		Hosts:   []string{HostAlias + ":" + PastaHostLoopback},
	}
}

// ShieldResult is the shield's contribution to one launch.
type ShieldResult struct {
	// Edits is what the firewall adds to the container's spec.
	Edits *Edits
	// Notes are messages for the user, such as a network the shield asked
	// for and was not given.
	Notes []string
}

// Shield is the egress firewall's side of a launch: it prepares the
// firewall for one container and says what that adds to its spec, and it
// tears the firewall down again.
type Shield interface {
	// Prepare readies the firewall and returns its contribution.
	Prepare(ctx context.Context, req ShieldRequest) (ShieldResult, error)
	// Down tears the firewall of a container down; a container that no
	// longer exists is not an error.
	Down(ctx context.Context, name, containerID string) error
}

// ErrShieldUnavailable is returned when the shield is on but no shield is
// configured to prepare it. The launch fails closed: nothing is written.
var ErrShieldUnavailable = newSentinel(errdefs.ErrUnavailable,
	"the egress firewall (shield) is on but no shield is configured to prepare it; nothing was launched")

// ShieldError reports that the shield could not prepare a container's
// firewall. The launch failed closed: nothing of it is left.
type ShieldError struct {
	Name string
	Err  error
}

func (e *ShieldError) Error() string {
	return fmt.Sprintf("the egress firewall (shield) could not be prepared for %q, so nothing was launched: %v", e.Name, e.Err)
}

func (e *ShieldError) Unwrap() error { return e.Err }
