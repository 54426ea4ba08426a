package launch

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sandwire/sandwire/wiring"
)

// Cleanup undoes the sandbox's side of container name: it revokes the
// container's tokens, tears its firewall down (looking the container up
// for the ID the shield keys its state by) and removes its sidecar,
// runtime dir and run state. It reports whether there was anything to
// undo. It never removes the container, which belongs to its user, and is
// safe to repeat and on names that were never launched.
func (s *Sandbox) Cleanup(ctx context.Context, name string) (found bool, err error) {
	return s.cleanup(ctx, name, nil)
}

// cleanup is Cleanup, leaving name alone when keep, asked under the name's
// lock, says so (wiring.CleanupOptions.Keep).
func (s *Sandbox) cleanup(ctx context.Context, name string, keep func() (bool, error)) (found bool, err error) {
	opts := wiring.CleanupOptions{Tokens: s.tokens, Keep: keep}
	if plan, ok, _ := wiring.ReadPlan(s.cfg, name); ok && plan.Shield {
		if opts.Shield, err = s.firewall(); err != nil {
			return false, err
		}
		opts.ContainerID = s.containerID(ctx, name)
	}
	return wiring.Cleanup(ctx, s.cfg, name, opts)
}

// containerID resolves name to the container's ID for the shield's
// teardown. A container that is gone needs none (its hook already ran at
// poststop), so it yields "", as does a server that cannot be asked.
func (s *Sandbox) containerID(ctx context.Context, name string) string {
	id, err := s.lookupID(ctx, name)
	if err != nil {
		s.note(fmt.Sprintf("WARNING: cannot resolve container %q to tear its shield down: %v", name, err))
	}
	return id
}

// lookupID is the ID of the container called name, or "" when there is none.
func (s *Sandbox) lookupID(ctx context.Context, name string) (string, error) {
	srv, err := s.connect(ctx)
	if err != nil {
		return "", err
	}
	data, err := inspect(ctx, srv, name)
	if err != nil || data == nil {
		return "", err
	}
	return data.ID, nil
}

// Sweep removes the sandbox state and tokens of every name whose container
// the podman service no longer knows, once the state is older than grace
// (zero means DefaultSweepGrace): prepare writes state before the
// caller's own podman creates the container. When the service cannot be
// asked, nothing is removed.
func (s *Sandbox) Sweep(ctx context.Context, grace time.Duration) (SweepReport, error) {
	if grace < 0 {
		return SweepReport{}, fmt.Errorf("%w: the sweep's grace period %s is negative", ErrInvalidArgument, grace)
	}
	if grace == 0 {
		grace = DefaultSweepGrace
	}
	live, err := s.liveNames(ctx)
	if err != nil {
		return SweepReport{}, fmt.Errorf("nothing was swept: without the podman service, live and stray state cannot be told apart: %w", err)
	}
	return wiring.Sweep(ctx, s.cfg, live, wiring.SweepOptions{Grace: grace, Tokens: s.tokens})
}

// Presence is whether the server has a container of a name.
type Presence string

// What List knows of a name's container.
const (
	Exists  Presence = "exists"
	Missing Presence = "missing"
	// Unknown: the podman service could not be asked.
	Unknown Presence = "unknown"
)

// Entry is one name with sandbox state, and whether its container exists.
type Entry struct {
	State
	Container Presence
}

// List returns every name that has sandbox state on disk, in name order,
// with whether the server knows its container. A server that cannot be
// reached makes every container Unknown rather than failing the list.
func (s *Sandbox) List(ctx context.Context) ([]Entry, error) {
	states, err := wiring.ListStates(s.cfg)
	if err != nil {
		return nil, err
	}
	live, liveErr := s.liveNames(ctx)
	entries := make([]Entry, 0, len(states))
	for _, st := range states {
		e := Entry{State: st, Container: Unknown}
		if liveErr == nil {
			e.Container = Missing
			if live[st.Name] {
				e.Container = Exists
			}
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// liveNames is the set of container names the server knows.
func (s *Sandbox) liveNames(ctx context.Context) (map[string]bool, error) {
	srv, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	names, err := srv.Names(ctx)
	if err != nil {
		return nil, err
	}
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[strings.TrimPrefix(n, "/")] = true
	}
	return set, nil
}
