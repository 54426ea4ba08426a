package wiring

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
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
}

// Cleanup reverses a launch of name: it revokes the container's phantom
// tokens, tears the shield down, and removes the sidecar, the runtime dir
// and the run state. It reports whether anything was found. It is
// idempotent and safe on a name that was never launched. It does not
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

	plan, hasPlan, planErr := ReadPlan(cfg, name)
	scope := plan.ScopeName()
	if sc, err := ReadSidecar(cfg.SidecarPath(name)); err == nil && scope == "" {
		// A plan that is missing or unreadable still leaves the sidecar's
		// record of the scope, so the tokens can be revoked.
		scope = sc.ScopeID
	}
	var errs []error
	if planErr != nil {
		errs = append(errs, planErr)
	}
	if scope != "" && opts.Tokens != nil {
		n, err := opts.Tokens.RevokeSubject(ctx, scope, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("revoking the tokens of %q: %w", name, err))
		}
		found = found || n > 0
	}
	if hasPlan && plan.Shield && opts.Shield != nil && opts.ContainerID != "" {
		if err := opts.Shield.Down(ctx, name, opts.ContainerID); err != nil {
			errs = append(errs, fmt.Errorf("tearing down the shield of %q: %w", name, err))
		}
	}
	for _, p := range []string{cfg.SidecarPath(name), cfg.ContainerRuntimeDir(name), cfg.RunStateDir(name)} {
		existed, err := removePath(p)
		found = found || existed
		if err != nil {
			errs = append(errs, err)
		}
	}
	return found || hasPlan, errors.Join(errs...)
}

// removePath removes p and everything under it. A symlink at p is removed
// itself; its target is left alone.
func removePath(p string) (existed bool, err error) {
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err := os.RemoveAll(p); err != nil {
		return true, fmt.Errorf("removing %s: %w", p, err)
	}
	return true, nil
}
