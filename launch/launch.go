// Package launch creates sandboxed containers: it composes the sandbox's
// wiring, applies it to a caller's spec, and creates the container through
// the podman API, atomically: on any failure the tokens it minted are
// revoked, the state it wrote is removed and no half-made container is left.
//
// It is the library entry point for Go programs; the sandwire CLI is a thin
// front end over it.
package launch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/sandwire/sandwire/podmanapi"
	"github.com/sandwire/sandwire/specmutate"
	"github.com/sandwire/sandwire/wiring"
	"github.com/sirupsen/logrus"
)

// Options configure one launch.
type Options struct {
	// Config is where the sandbox keeps its state. Mandatory.
	Config wiring.Config
	// Request is what to wire (scope, subsystems, profiles).
	Request wiring.Request
	// Tokens stores phantom tokens; nil means the SQLite store in the
	// configured vault dir.
	Tokens wiring.TokenStore
	// Shield prepares the egress firewall; see wiring.ComposeOptions.
	Shield wiring.Shield
	// Notes receives messages for the user (skipped subsystems, warnings);
	// nil drops them.
	Notes func(string)
}

// Result is a created, wired container.
type Result struct {
	ID       string
	Name     string
	Plan     wiring.Plan
	Edits    *wiring.Edits
	Warnings []string
}

// Create wires spec as container name and creates it on client's server.
// The spec is the caller's: it must not touch what the sandbox owns
// (specmutate.Conflicts), and it is checked before anything is minted or
// written. On success the container exists and its state is committed; on
// failure nothing of this launch is left.
func Create(ctx context.Context, client *podmanapi.Client, name string, spec *specgen.SpecGenerator, opts Options) (*Result, error) {
	l, created, err := create(ctx, client, name, spec, opts)
	if err != nil {
		return nil, err
	}
	l.Commit()
	return &Result{ID: created.ID, Name: name, Plan: l.Plan, Edits: l.Edits, Warnings: created.Warnings}, nil
}

// Precheck runs every check of a launch that needs no disk or token
// writes: the name, the plan, the spec's conflicts with the sandbox, and
// whether the server can see this machine's paths.
func Precheck(client *podmanapi.Client, name string, spec *specgen.SpecGenerator, req wiring.Request) error {
	if err := wiring.ValidateName(name); err != nil {
		return err
	}
	if _, _, err := wiring.ResolvePlan(req); err != nil {
		return err
	}
	if err := specmutate.Conflicts(spec, &wiring.Edits{Name: name}); err != nil {
		return err
	}
	return client.RequireLocal("wiring a container into the sandbox")
}

func create(ctx context.Context, client *podmanapi.Client, name string, spec *specgen.SpecGenerator, opts Options) (*wiring.Launch, podmanapi.Created, error) {
	var none podmanapi.Created
	if err := Precheck(client, name, spec, opts.Request); err != nil {
		return nil, none, err
	}
	tokens := opts.Tokens
	if tokens == nil {
		store := wiring.NewSQLiteStore(opts.Config.DBPath())
		defer store.Close()
		tokens = store
	}
	l, err := wiring.Compose(ctx, opts.Config, name, opts.Request, wiring.ComposeOptions{
		Tokens: tokens, Shield: opts.Shield,
		ServerRootless: client.Facts().Rootless, ServerRootlessNetwork: client.Facts().RootlessNetwork,
	})
	if err != nil {
		return nil, none, err
	}
	if opts.Notes != nil {
		for _, n := range l.Notes {
			opts.Notes(n)
		}
	}
	rollback := func(cause error) error {
		if rbErr := l.Rollback(context.WithoutCancel(ctx)); rbErr != nil {
			logrus.Errorf("rolling back the launch of %q: %v", name, rbErr)
			return errors.Join(cause, rbErr)
		}
		return cause
	}
	// Apply to a copy so a failure leaves the caller's spec as it was.
	wired := *spec
	if err := specmutate.Apply(&wired, l.Edits); err != nil {
		return nil, none, rollback(err)
	}
	started := time.Now()
	created, err := client.Create(ctx, &wired)
	if err != nil {
		err = fmt.Errorf("creating container %q: %w", name, err)
		return nil, none, rollback(errors.Join(err, removeHalfMade(ctx, client, name, l.SidecarPath, started, err)))
	}
	return l, created, nil
}

// removeHalfMade removes the container this launch may have made when the
// create's outcome is unknown (the answer was lost or interrupted): a
// container of that name, carrying this launch's sidecar annotation and
// made since the launch began, is ours, and would otherwise point at the
// state the rollback removes.
func removeHalfMade(ctx context.Context, client *podmanapi.Client, name, sidecar string, since time.Time, cause error) error {
	var unreachable *podmanapi.UnreachableError
	var interrupted *podmanapi.InterruptedError
	if !errors.As(cause, &unreachable) && !errors.As(cause, &interrupted) {
		return nil // the server answered: it made nothing
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	data, err := client.Inspect(ctx, name)
	var gone *podmanapi.NoSuchContainerError
	switch {
	case errors.As(err, &gone):
		return nil
	case err != nil:
		return fmt.Errorf("container %q may have been made and could not be checked; remove it with 'podman rm -f %s' if it exists: %w", name, name, err)
	}
	if data.Config == nil || data.Config.Annotations[wiring.SidecarAnnotation] != sidecar || data.Created.Before(since.Add(-time.Second)) {
		return nil // someone else's container of that name
	}
	if err := client.Remove(ctx, data.ID, true); err != nil {
		return fmt.Errorf("removing the half-made container %q: %w", name, err)
	}
	logrus.Debugf("removed the half-made container %q after the create's answer was lost", name)
	return nil
}
