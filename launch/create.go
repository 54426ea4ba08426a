package launch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/containers/podman/v5/libpod/define"
	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/sandwire/sandwire/podmanapi"
	"github.com/sandwire/sandwire/specmutate"
	"github.com/sandwire/sandwire/wiring"
	"github.com/sirupsen/logrus"
)

// Container is a created, wired container.
type Container struct {
	ID   string
	Name string
	// Image is the image the container was created from, as the server
	// named it after the pull.
	Image string
	// Plan is what was wired; Edits what the sandbox added to the spec.
	Plan  Plan
	Edits *Edits
}

// CheckSpec is gate 2: it reports, in one *specmutate.ConflictError,
// every place where spec touches what the sandbox owns for a container
// called name, and every way it would let the container see the
// sandbox's host state (its dirs, other processes' namespaces). Every verb
// that takes a spec runs it before anything is minted or written; a front
// end with checks of its own (the CLI's flag policy) calls it to report
// all refusals at once. Named volumes that bind host paths are known only
// to the server: the verbs check those too, once connected.
func (s *Sandbox) CheckSpec(name string, spec *specgen.SpecGenerator) error {
	return s.checkSpec(name, spec, nil)
}

func (s *Sandbox) checkSpec(name string, spec *specgen.SpecGenerator, bound map[string]string) error {
	if spec == nil {
		return fmt.Errorf("%w: the container spec is nil", ErrInvalidArgument)
	}
	edits := &wiring.Edits{Name: name}
	owned := specmutate.Conflicts(spec, edits)
	exposed := specmutate.Exposures(spec, edits, specmutate.ExposureDirs(s.cfg), bound)
	var a, b *specmutate.ConflictError
	switch {
	case errors.As(owned, &a) && errors.As(exposed, &b):
		return &specmutate.ConflictError{Conflicts: append(a.Conflicts, b.Conflicts...)}
	case owned != nil:
		return owned
	}
	return exposed
}

// boundVolumes asks the server which of spec's named volumes bind a host
// path, and where.
func boundVolumes(ctx context.Context, srv Server, spec *specgen.SpecGenerator) (map[string]string, error) {
	bound := map[string]string{}
	for _, v := range spec.Volumes {
		if v.Name == "" {
			continue
		}
		dev, ok, err := srv.BoundDevice(ctx, v.Name)
		if err != nil {
			return nil, err
		}
		if ok {
			bound[v.Name] = dev
		}
	}
	return bound, nil
}

// Create wires spec as container name and creates it on the podman
// service, pulling its image first as podman create does (opts.Pull; nil
// opts pull a missing image). The spec is the caller's and is left as it
// was; it must not touch what the sandbox owns (CheckSpec). The name, the
// request, the spec and the pull options are checked once, then the image
// is pulled, all before anything is minted or written: a failed pull (a
// *PullError) leaves nothing. On success the container exists and its
// sandbox state is kept; on failure nothing of this launch is left: tokens
// revoked, state removed, and a container whose create answer was lost
// removed too.
func (s *Sandbox) Create(ctx context.Context, name string, spec *specgen.SpecGenerator, req Request, opts *CreateOptions) (*Container, error) {
	pullOpts, err := checkPull(opts.pull())
	if err != nil {
		return nil, err
	}
	srv, in, err := s.check(ctx, name, spec, req)
	if err != nil {
		return nil, err
	}
	if spec, err = pull(ctx, srv, spec, pullOpts); err != nil {
		return nil, err
	}
	l, id, err := s.create(ctx, srv, in, spec)
	if err != nil {
		return nil, err
	}
	l.Commit()
	return &Container{ID: id, Name: name, Image: spec.Image, Plan: l.Plan, Edits: l.Edits}, nil
}

// check is the launch's one validation boundary: the name, configuration
// and plan (wiring.Check), gate 2 on the spec, and whether the server can
// see this machine's paths. It writes nothing.
func (s *Sandbox) check(ctx context.Context, name string, spec *specgen.SpecGenerator, req Request) (Server, *wiring.Intent, error) {
	in, err := wiring.Check(s.cfg, name, req)
	if err != nil {
		return nil, nil, err
	}
	if err := s.CheckSpec(name, spec); err != nil {
		return nil, nil, err
	}
	srv, err := s.connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := srv.RequireLocal("wiring a container into the sandbox"); err != nil {
		return nil, nil, err
	}
	bound, err := boundVolumes(ctx, srv, spec)
	if err != nil {
		return nil, nil, err
	}
	if len(bound) > 0 {
		if err := s.checkSpec(name, spec, bound); err != nil {
			return nil, nil, err
		}
	}
	return srv, in, nil
}

// compose lays down the launch's host state for a server with facts, and
// passes the launch's notes on to the user.
func (s *Sandbox) compose(ctx context.Context, in *wiring.Intent, facts podmanapi.Facts) (*wiring.Launch, error) {
	opts := wiring.ComposeOptions{Tokens: s.tokens, ServerRootless: facts.Rootless, ServerRootlessNetwork: facts.RootlessNetwork}
	if in.Plan().Shield {
		sh, err := s.firewall()
		if err != nil {
			return nil, err
		}
		opts.Shield = sh
	}
	// The check's notes are the user's whether or not the launch goes on;
	// the launch's own (the shield's) follow them in l.Notes.
	s.note(in.Notes()...)
	l, err := wiring.Compose(ctx, in, opts)
	if err != nil {
		return nil, err
	}
	s.note(l.Notes[len(in.Notes()):]...)
	return l, nil
}

// create composes the launch, applies its edits to a copy of spec and
// creates the container. On failure everything the launch made is undone;
// on success the caller commits or, if it cannot use the container,
// discards it.
func (s *Sandbox) create(ctx context.Context, srv Server, in *wiring.Intent, spec *specgen.SpecGenerator) (*wiring.Launch, string, error) {
	l, err := s.compose(ctx, in, srv.Facts())
	if err != nil {
		return nil, "", err
	}
	rollback := func(cause error) error {
		return errors.Join(cause, l.Rollback(context.WithoutCancel(ctx)))
	}
	// A copy, so that a failure leaves the caller's spec as it was.
	wired := *spec
	if err := specmutate.Apply(&wired, l.Edits); err != nil {
		return nil, "", rollback(err)
	}
	started := time.Now()
	created, err := srv.Create(ctx, &wired)
	if err != nil {
		var missing *podmanapi.ImageNotFoundError
		if !errors.As(err, &missing) { // which says what it is, as podman does
			err = fmt.Errorf("creating container %q: %w", l.Name, err)
		}
		return nil, "", rollback(errors.Join(err, removeHalfMade(ctx, srv, l.Name, l.SidecarPath, started, err)))
	}
	s.warn(created.Warnings...)
	logrus.Debugf("created %q (%s): plan %+v", l.Name, created.ID, l.Plan)
	return l, created.ID, nil
}

// removeHalfMade removes the container this launch may have made when the
// create's outcome is unknown (the answer was lost or interrupted): a
// container of that name, carrying this launch's sidecar annotation and
// made since the launch began, is ours, and would otherwise point at the
// state the rollback removes.
func removeHalfMade(ctx context.Context, srv Server, name, sidecar string, since time.Time, cause error) error {
	var unreachable *podmanapi.UnreachableError
	var interrupted *podmanapi.InterruptedError
	if !errors.As(cause, &unreachable) && !errors.As(cause, &interrupted) {
		return nil // the server answered: it made nothing
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	data, err := inspect(ctx, srv, name)
	switch {
	case err != nil:
		return fmt.Errorf("container %q may have been made and could not be checked; remove it with 'podman rm -f %s' if it exists: %w", name, name, err)
	case data == nil:
		return nil
	case data.Config == nil || data.Config.Annotations[wiring.SidecarAnnotation] != sidecar || data.Created.Before(since.Add(-time.Second)):
		return nil // someone else's container of that name
	}
	if err := srv.Remove(ctx, data.ID, true); err != nil {
		return fmt.Errorf("removing the half-made container %q: %w", name, err)
	}
	logrus.Debugf("removed the half-made container %q after the create's answer was lost", name)
	return nil
}

// inspect returns the server's view of a container, or nil when the
// server has no container of that name.
func inspect(ctx context.Context, srv Server, nameOrID string) (*define.InspectContainerData, error) {
	data, err := srv.Inspect(ctx, nameOrID)
	var gone *podmanapi.NoSuchContainerError
	if errors.As(err, &gone) {
		return nil, nil
	}
	return data, err
}
