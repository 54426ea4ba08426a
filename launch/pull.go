package launch

import (
	"context"
	"fmt"

	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/sandwire/sandwire/podmanapi"
)

// CreateOptions are how Create creates a container; nil means podman's
// defaults: pull the image when the server has none, showing no progress.
type CreateOptions struct {
	// Pull is how the image is pulled before the create; nil is the zero
	// PullOptions (PullMissing).
	Pull *PullOptions
}

func (o *CreateOptions) pull() PullOptions {
	if o == nil || o.Pull == nil {
		return PullOptions{}
	}
	return *o.Pull
}

// checkPull settles the pull policy, refusing one podman does not know.
func checkPull(o PullOptions) (PullOptions, error) {
	policy, err := podmanapi.ParsePullPolicy(string(o.Policy))
	if err != nil {
		return o, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	o.Policy = policy
	return o, nil
}

// pullStep is what a launch asks of the server before its create.
type pullStep int

const (
	// pullNothing: the create finds the image or reports it missing.
	pullNothing pullStep = iota
	// pullIfAbsent: ask whether the server has the image; pull if not.
	pullIfAbsent
	// pullByPolicy: send the pull; the server applies the policy (it
	// compares digests for newer, and for a platform of the caller's).
	pullByPolicy
)

// decidePull is podman's policy before a create of image: never pull for
// PullNever or a rootfs (no image); for PullMissing, pull only what the
// server lacks — unless a platform is asked for, when the server must ask
// the registry, since a local image may claim the wrong platform (podman's
// libimage does the same); otherwise the server decides.
func decidePull(image string, o PullOptions) pullStep {
	switch {
	case image == "" || o.Policy == PullNever:
		return pullNothing
	case o.Policy == PullMissing && !o.CustomPlatform():
		return pullIfAbsent
	}
	return pullByPolicy
}

// pull makes spec's image available on the server as podman run and create
// do before their create, and returns the spec to create from: spec, or a
// copy naming the pulled image's ID when spec's image names a transport.
// It writes nothing of the launch.
func pull(ctx context.Context, srv Server, spec *specgen.SpecGenerator, o PullOptions) (*specgen.SpecGenerator, error) {
	switch decidePull(spec.Image, o) {
	case pullNothing:
		return spec, nil
	case pullIfAbsent:
		if ok, err := srv.ImageExists(ctx, spec.Image); err != nil || ok {
			return spec, err
		}
	}
	name, err := srv.Pull(ctx, spec.Image, o)
	if err != nil || name == spec.Image {
		return spec, err
	}
	pulled := *spec
	pulled.Image = name
	return &pulled, nil
}
