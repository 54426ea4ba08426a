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
	// ImageExists reports whether the server has an image.
	ImageExists(ctx context.Context, ref string) (bool, error)
	// Pull has the server pull an image and returns the name to create
	// from; the registry's refusal is a *podmanapi.PullError.
	Pull(ctx context.Context, ref string, opts podmanapi.PullOptions) (string, error)
	// Create creates a container from a finished spec.
	Create(ctx context.Context, spec *specgen.SpecGenerator) (podmanapi.Created, error)
	// Start starts a created container; a refusal is a
	// *podmanapi.StartError.
	Start(ctx context.Context, nameOrID string) error
	// StartAttached attaches, starts and waits; it returns the exit code,
	// or a *podmanapi.StartError when the container could not start.
	StartAttached(ctx context.Context, id string, streams podmanapi.Streams) (int, error)
	// RemoveImage removes an image unless containers use it; one that is
	// gone is not an error.
	RemoveImage(ctx context.Context, ref string) error
	// Inspect returns a container, or a *podmanapi.NoSuchContainerError.
	Inspect(ctx context.Context, nameOrID string) (*define.InspectContainerData, error)
	// Remove removes a container; one that is gone is not an error.
	Remove(ctx context.Context, nameOrID string, force bool) error
	// Names lists the names of all containers, in any state.
	Names(ctx context.Context) ([]string, error)
	// BoundDevice is the host path a named volume binds (a local volume
	// made with o=bind), if it is one.
	BoundDevice(ctx context.Context, volume string) (string, bool, error)
	// Events follows the server's event stream, calling handle for each
	// event in order, until ctx ends, handle fails or the stream ends
	// (an error wrapping podmanapi.ErrStreamEnded). It never returns nil.
	Events(ctx context.Context, handle func(podmanapi.Event) error, opts *podmanapi.EventsOptions) error
}

var _ Server = (*podmanapi.Client)(nil)
