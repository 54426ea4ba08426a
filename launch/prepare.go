package launch

import (
	"context"
	"errors"
	"os"

	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/sandwire/sandwire/podmanapi"
	"github.com/sandwire/sandwire/specmutate"
	"github.com/sandwire/sandwire/wiring"
)

// Prepared is the sandbox state laid down for a container that the caller
// will create itself, and the ways to wire it in.
type Prepared struct {
	Name  string
	Plan  Plan
	Edits *Edits
	// Spec is the spec Create would send for the spec given to Prepare,
	// wired; nil when none was given.
	Spec *specgen.SpecGenerator
}

// Flags are the podman run flags that wire the container, one argument
// each: the same Edits that Create applies to a spec.
func (p *Prepared) Flags() []string { return p.Edits.Flags() }

// ShellFlags are Flags quoted for a POSIX shell, on one line.
func (p *Prepared) ShellFlags() string { return wiring.ShellQuote(p.Flags()) }

// Prepare lays down the sandbox state for container name (tokens,
// sidecar, runtime dir) and returns what wires a container into it, for
// a caller that runs podman itself. Given a spec (it may be nil), it also
// returns the spec Create would send for it; the spec is checked
// (CheckSpec) and left as it was. The user namespace and network follow the podman service the
// sandbox was told to use (WithServer, WithConnection, CONTAINER_HOST,
// CONTAINER_CONNECTION), else this machine's own podman for this user.
func (s *Sandbox) Prepare(ctx context.Context, name string, spec *specgen.SpecGenerator, req Request) (*Prepared, error) {
	in, err := wiring.Check(s.cfg, name, req)
	if err != nil {
		return nil, err
	}
	if spec != nil {
		if err := s.CheckSpec(name, spec); err != nil {
			return nil, err
		}
	}
	facts, err := s.targetFacts(ctx)
	if err != nil {
		return nil, err
	}
	l, err := s.compose(ctx, in, facts)
	if err != nil {
		return nil, err
	}
	p := &Prepared{Name: name, Plan: l.Plan, Edits: l.Edits}
	if spec != nil {
		wired := *spec
		if err := specmutate.Apply(&wired, l.Edits); err != nil {
			return nil, errors.Join(err, l.Rollback(context.WithoutCancel(ctx)))
		}
		p.Spec = &wired
	}
	l.Commit()
	return p, nil
}

// targetFacts are the facts of the podman that will run a prepared
// container: the named service's, which must be on this machine, or
// those of this user's local podman.
func (s *Sandbox) targetFacts(ctx context.Context) (podmanapi.Facts, error) {
	if s.serverNamed() {
		srv, err := s.connect(ctx)
		if err != nil {
			return podmanapi.Facts{}, err
		}
		if err := srv.RequireLocal("prepare"); err != nil {
			return podmanapi.Facts{}, err
		}
		return srv.Facts(ctx)
	}
	s.localOnce.Do(func() {
		local, err := podmanapi.ReadLocalConfig()
		s.localFacts, s.localErr = podmanapi.Facts{Rootless: os.Geteuid() != 0, RootlessNetwork: local.RootlessNetwork}, err
	})
	return s.localFacts, s.localErr
}
