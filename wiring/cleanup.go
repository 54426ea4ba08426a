package wiring

import (
	"context"
	"errors"
	"fmt"
)

// CleanupOptions are the collaborators cleanup may need.
type CleanupOptions struct {
	// Tokens is where the container's phantom tokens are revoked.
	Tokens TokenStore
	// Shield tears the firewall down when the plan had it on.
	Shield Shield
	// ContainerID is the container's ID, when it still exists; the
	// shield keys its per-container state by it.
	ContainerID string
	// Keep, when set, is asked once the name's lock is held and before
	// anything is touched: when it reports true (the name holds a
	// container again, launched while another held the name), Cleanup
	// leaves everything and reports nothing found. Asked before the lock,
	// a launch could make the container in between.
	Keep func() (bool, error)
}

// Cleanup reverses a launch of name: it revokes the container's phantom
// tokens, tears the shield down, and removes the sidecar, the runtime dir
// and the run state. It reports whether anything was found. It is
// idempotent and safe on a name that was never launched. When the tokens
// cannot be revoked, the sidecar and the run state, which record their
// scope, are kept, so that cleaning up again can finish the job. It does not
// remove the container: the container belongs to its user.
func Cleanup(ctx context.Context, cfg Config, name string, opts CleanupOptions) (found bool, err error) {
	if err := ValidateName(name); err != nil {
		return false, err
	}
	lock, err := lockName(cfg, name)
	if err != nil {
		return false, err
	}
	defer lock.release()
	if opts.Keep != nil {
		if keep, err := opts.Keep(); err != nil || keep {
			return false, err
		}
	}

	plan, hasPlan, planErr := ReadPlan(cfg, name)
	scope := plan.ScopeName()
	if sc, err := cfg.readSidecar(cfg.SidecarPath(name)); err == nil && scope == "" {
		// A plan that is missing or unreadable still leaves the sidecar's
		// record of the scope, so the tokens can be revoked.
		scope = sc.ScopeID
	}
	var errs []error
	if planErr != nil {
		errs = append(errs, planErr)
	}
	paths := []string{cfg.SidecarPath(name), cfg.ContainerRuntimeDir(name), cfg.RunStateDir(name)}
	if scope != "" && opts.Tokens != nil {
		n, err := opts.Tokens.RevokeSubject(ctx, scope, name)
		if err != nil {
			// The sidecar and the run state record the scope: keep them,
			// so that a later cleanup can still revoke these tokens.
			errs = append(errs, fmt.Errorf("revoking the tokens of %q (its sidecar and run state are kept for a later cleanup): %w", name, err))
			paths = paths[1:2]
			found = true
		}
		found = found || n > 0
	}
	if hasPlan && plan.Shield && opts.Shield != nil && opts.ContainerID != "" {
		if err := opts.Shield.Down(ctx, name, opts.ContainerID); err != nil {
			errs = append(errs, fmt.Errorf("tearing down the shield of %q: %w", name, err))
		}
	}
	for _, p := range paths {
		existed, err := cfg.removeState(p)
		found = found || existed
		if err != nil {
			errs = append(errs, err)
		}
	}
	return found || hasPlan, errors.Join(errs...)
}
