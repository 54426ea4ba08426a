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
	var image string // what the container is made from, once pulled
	c, err := s.launchChecked(ctx, name, spec, req, func(ctx context.Context, srv Server) (sender, error) {
		pulled, err := pull(ctx, srv, spec, pullOpts)
		if err != nil {
			return nil, err
		}
		image = pulled.Image
		return applyAndCreate(srv, pulled), nil
	})
	if err != nil {
		return nil, err
	}
	c.Image = image
	return c, nil
}

// launchChecked is a create whose request the caller sends itself: check
// is the spec the checks decide on; once they pass, prepare readies the
// request (the pull, for a spec) and returns what puts the edits on it and
// creates the container on the server. Nothing is minted or written
// before prepare has succeeded.
func (s *Sandbox) launchChecked(ctx context.Context, name string, check *specgen.SpecGenerator, req Request, prepare func(context.Context, Server) (sender, error)) (*Container, error) {
	srv, in, err := s.check(ctx, name, check, req)
	if err != nil {
		return nil, err
	}
	send, err := prepare(ctx, srv)
	if err != nil {
		return nil, err
	}
	l, id, err := s.createWith(ctx, srv, in, send)
	if err != nil {
		return nil, err
	}
	l.Commit()
	return &Container{ID: id, Name: name, Image: check.Image, Plan: l.Plan, Edits: l.Edits}, nil
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
	if in.Plan().SSH {
		s.prefetchTokens(ctx)
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

// prefetchTokens starts unlocking a token store that can do so unasked
// (the vault), once the checks that need no server have passed: its
// passphrase tiers and its key run while the server is asked, and the
// launch's Unlock waits for it.
func (s *Sandbox) prefetchTokens(ctx context.Context) {
	if p, ok := s.tokens.(interface{ Prefetch(context.Context) }); ok {
		go p.Prefetch(ctx)
	}
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

// applyAndCreate applies a launch's edits to a copy of spec, so that a
// failure leaves the caller's spec as it was, and creates the container.
func applyAndCreate(srv Server, spec *specgen.SpecGenerator) sender {
	return func(ctx context.Context, l *wiring.Launch) (podmanapi.Created, error) {
		wired := *spec
		if err := specmutate.Apply(&wired, l.Edits); err != nil {
			return podmanapi.Created{}, err
		}
		return srv.Create(ctx, &wired)
	}
}

// sender puts a launch's edits on the caller's request and creates the
// container: on a SpecGenerator (create), or on Docker's create body
// (serve's compat endpoint).
type sender func(ctx context.Context, l *wiring.Launch) (podmanapi.Created, error)

// createWith composes the launch and has send create the container. On
// failure everything the launch made is undone, a half-made container
// included; on success the caller commits or discards the launch.
func (s *Sandbox) createWith(ctx context.Context, srv Server, in *wiring.Intent, send sender) (*wiring.Launch, string, error) {
	facts, err := srv.Facts(ctx)
	if err != nil {
		return nil, "", err
	}
	l, err := s.compose(ctx, in, facts)
	if err != nil {
		return nil, "", err
	}
	started := time.Now()
	created, err := send(ctx, l)
	if err != nil {
		var missing *podmanapi.ImageNotFoundError
		if !errors.As(err, &missing) { // which says what it is, as podman does
			err = fmt.Errorf("creating container %q: %w", l.Name, err)
		}
		err = errors.Join(err, removeHalfMade(ctx, srv, l.Name, l.SidecarPath, started, err))
		return nil, "", errors.Join(err, l.Rollback(context.WithoutCancel(ctx)))
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
