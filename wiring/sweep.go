package wiring

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// State is what the disk holds for one wired container name.
type State struct {
	Name string
	// Plan is the run state's plan; nil when meta.json is missing or unreadable.
	Plan *Plan
	// Sidecar, RunState and RuntimeDir say which pieces exist.
	Sidecar, RunState, RuntimeDir bool
	// ModTime is the newest modification time among the pieces.
	ModTime time.Time
}

// Complete reports whether every piece a launch lays down is present.
func (s State) Complete() bool { return s.Plan != nil && s.Sidecar && s.RunState && s.RuntimeDir }

// ListStates returns the state of every name that has a sidecar, a run
// state dir or a runtime dir, sorted by name. Entries whose names are not
// valid container names are ignored: sandwire never wrote them.
func ListStates(cfg Config) ([]State, error) {
	byName := map[string]*State{}
	get := func(name string) *State {
		if s, ok := byName[name]; ok {
			return s
		}
		s := &State{Name: name}
		byName[name] = s
		return s
	}
	scan := func(dir, suffix string, mark func(*State)) error {
		entries, err := cfg.readDirState(dir)
		if err != nil {
			return fmt.Errorf("listing %s: %w", dir, err)
		}
		for _, e := range entries {
			name, ok := strings.CutSuffix(e.Name(), suffix)
			if !ok || ValidateName(name) != nil {
				continue
			}
			s := get(name)
			mark(s)
			if info, err := e.Info(); err == nil && info.ModTime().After(s.ModTime) {
				s.ModTime = info.ModTime()
			}
		}
		return nil
	}
	if err := errors.Join(
		scan(cfg.SidecarDir(), ".json", func(s *State) { s.Sidecar = true }),
		scan(cfg.RunsDir(), "", func(s *State) { s.RunState = true }),
		scan(cfg.RuntimeRunsDir(), "", func(s *State) { s.RuntimeDir = true }),
	); err != nil {
		return nil, err
	}
	out := make([]State, 0, len(byName))
	for _, s := range byName {
		if plan, ok, err := ReadPlan(cfg, s.Name); ok && err == nil {
			s.Plan = &plan
		}
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// DefaultSweepGrace is how old stray state must be before Sweep removes
// it: `prepare` writes state before the user's own `podman run`, so fresh
// state may simply not have its container yet.
const DefaultSweepGrace = time.Hour

// SweepOptions configure Sweep.
type SweepOptions struct {
	// Grace is the minimum age of stray state; zero means DefaultSweepGrace.
	Grace time.Duration
	// Now is the current time; zero means time.Now().
	Now time.Time
	// Tokens is where the strays' tokens are revoked.
	Tokens TokenStore
}

// SweepReport says what Sweep did.
type SweepReport struct {
	// Swept are the names whose state was removed.
	Swept []string
	// Young are strays left alone because they are inside the grace period.
	Young []string
	// Busy are strays left alone because a launch or cleanup holds them.
	Busy []string
}

// Sweep removes the state (and tokens) of every name whose container the
// server no longer knows, once that state is older than the grace period.
// live must be the server's complete list of container names: when the
// server cannot be asked, do not call Sweep, since live and stray state
// are then indistinguishable.
func Sweep(ctx context.Context, cfg Config, live map[string]bool, opts SweepOptions) (SweepReport, error) {
	var rep SweepReport
	grace, now := opts.Grace, opts.Now
	if grace == 0 {
		grace = DefaultSweepGrace
	}
	if now.IsZero() {
		now = time.Now()
	}
	states, err := ListStates(cfg)
	if err != nil {
		return rep, err
	}
	var errs []error
	for _, s := range states {
		if live[s.Name] {
			continue
		}
		if now.Sub(s.ModTime) < grace {
			rep.Young = append(rep.Young, s.Name)
			continue
		}
		_, err := Cleanup(ctx, cfg, s.Name, CleanupOptions{Tokens: opts.Tokens})
		var busy *NameBusyError
		switch {
		case errors.As(err, &busy):
			rep.Busy = append(rep.Busy, s.Name)
		case err != nil:
			errs = append(errs, err)
		default:
			rep.Swept = append(rep.Swept, s.Name)
		}
	}
	return rep, errors.Join(errs...)
}
