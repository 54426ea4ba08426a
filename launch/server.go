package launch

import (
	"context"

	"github.com/containers/podman/v5/libpod/define"
	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/sandwire/sandwire/podmanapi"
)

// Server is what a Sandbox needs of the podman service. *podmanapi.Client
// is the real one; tests give fakes that fail at each step.
type Server interface {
	// Facts are the server's facts: rootless or not, its default
	// rootless network. Only the verbs that wire a container ask.
	Facts(ctx context.Context) (podmanapi.Facts, error)
	// RequireLocal refuses, naming what, when the server runs on another
	// machine, where the sandbox's host paths mean nothing.
	RequireLocal(what string) error
	// Create creates a container from a finished spec.
	Create(ctx context.Context, spec *specgen.SpecGenerator) (podmanapi.Created, error)
	// Start starts a created container.
	Start(ctx context.Context, nameOrID string) error
	// StartAttached attaches, starts and waits; it returns the exit code.
	StartAttached(ctx context.Context, id string, streams podmanapi.Streams) (int, error)
	// Inspect returns a container, or a *podmanapi.NoSuchContainerError.
	Inspect(ctx context.Context, nameOrID string) (*define.InspectContainerData, error)
	// Remove removes a container; one that is gone is not an error.
	Remove(ctx context.Context, nameOrID string, force bool) error
	// Names lists the names of all containers, in any state.
	Names(ctx context.Context) ([]string, error)
}

var _ Server = (*podmanapi.Client)(nil)
