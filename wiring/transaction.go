package wiring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
)

// StateExistsError reports that sandbox state for a name is already on disk,
// from an earlier launch whose container may still exist. A launch never
// overwrites it: the sidecar and tokens belong to that container.
type StateExistsError struct {
	Name string
	Path string
}

func (e *StateExistsError) Error() string {
	return fmt.Sprintf("container name %q is in use: sandbox state from an earlier launch exists at %s", e.Name, e.Path)
}

// TokensKeptError reports a rollback that could not revoke the tokens it
// minted. Their record (the run state) is kept, so that a cleanup of the
// name can revoke them once the token store is available again.
type TokensKeptError struct {
	Name string
	// Kept is the run state dir that was kept.
	Kept string
	Err  error
}

func (e *TokensKeptError) Error() string {
	return fmt.Sprintf("rolling back: revoking the tokens of %q failed; their record is kept in %s: %v", e.Name, e.Kept, e.Err)
}

func (e *TokensKeptError) Unwrap() error { return e.Err }

// ComposeOptions are the collaborators and server facts one launch needs.
type ComposeOptions struct {
	// Tokens stores phantom tokens. Needed when the plan wires SSH.
	Tokens TokenStore
	// Shield prepares the egress firewall. When the plan has the shield on
	// and Shield is nil, Compose fails closed with ErrShieldUnavailable.
	Shield Shield
	// ServerRootless is whether the podman server that will run the
	// container is rootless; it decides the user namespace.
	ServerRootless bool
	// ServerRootlessNetwork is the server's default rootless network
	// ("pasta" or "slirp4netns"); it decides a shielded container's network.
	ServerRootlessNetwork string
}

// Launch is the outcome of Compose: the plan, the edits to apply, and the
// host state laid down for them. The launch holds the container name until
// Commit or Rollback, so no other launch or cleanup of the name can touch
// the same files and tokens in between.
type Launch struct {
	Name        string
	Plan        Plan
	Edits       *Edits
	Resources   Resources
	SidecarPath string
	// Notes are messages for the user: the Intent's (skipped subsystems,
	// warnings), then the shield's.
	Notes []string

	tokens TokenStore
	minted []string // phantom tokens this launch stored
	paths  []string // paths this launch created, in creation order
	lock   *nameLock
	cfg    Config
	// stateDir is the run state dir, once created.
	stateDir string
}

// writeMeta records the plan in the run state dir.
func (l *Launch) writeMeta() error {
	if l.stateDir == "" {
		return nil
	}
	meta, err := json.MarshalIndent(l.Plan, "", "  ")
	if err != nil {
		return err
	}
	return l.cfg.writeState(filepath.Join(l.stateDir, metaFile), append(meta, '\n'), 0o600)
}

// Compose lays down the host state of a checked launch (run state dir
// with meta.json, per-container runtime dir, sidecar, tokens) and returns
// the edits that wire a container into it. It holds the name before it
// writes anything keyed by it; once anything was written, a failure rolls
// back exactly what this call wrote before returning.
func Compose(ctx context.Context, in *Intent, opts ComposeOptions) (_ *Launch, err error) {
	if in == nil {
		return nil, fmt.Errorf("%w: composing a launch needs the Intent that Check returns", ErrInvalidConfig)
	}
	if in.plan.Shield && opts.Shield == nil {
		return nil, ErrShieldUnavailable
	}
	if in.plan.SSH && opts.Tokens == nil {
		return nil, fmt.Errorf("%w: wiring the SSH signer needs a token store, and none was given", ErrInvalidConfig)
	}
	cfg, name := in.cfg, in.name
	lock, err := lockName(cfg, name)
	if err != nil {
		return nil, err
	}
	l := &Launch{Name: name, Plan: in.plan, Notes: slices.Clone(in.notes), tokens: opts.Tokens, lock: lock, cfg: cfg,
		SidecarPath: cfg.SidecarPath(name)}
	defer func() {
		if err != nil {
			err = errors.Join(err, l.Rollback(context.WithoutCancel(ctx)))
		}
	}()
	if err := checkNoState(cfg, name); err != nil {
		return nil, err
	}
	if err := unlockTokens(ctx, in.plan, opts.Tokens); err != nil {
		return nil, err
	}
	if err := l.layDown(ctx, in, opts); err != nil {
		return nil, err
	}
	return l, nil
}

// unlockTokens unlocks a token store that has an Unlock method (the vault)
// when the plan mints tokens, before any state is laid down: a vault that
// is locked or will not take the passphrase fails the launch with nothing
// to undo but the name's lock.
func unlockTokens(ctx context.Context, plan Plan, tokens TokenStore) error {
	if u, ok := tokens.(interface{ Unlock(context.Context) error }); ok && plan.SSH {
		return u.Unlock(ctx)
	}
	return nil
}

// checkNoState fails when anything keyed by name is already on disk.
func checkNoState(cfg Config, name string) error {
	for _, p := range []string{cfg.RunStateDir(name), cfg.SidecarPath(name), cfg.ContainerRuntimeDir(name)} {
		if _, err := cfg.lstatState(p); err == nil {
			return &StateExistsError{Name: name, Path: p}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("checking for earlier state of %q: %w", name, err)
		}
	}
	return nil
}

func (l *Launch) layDown(ctx context.Context, intent *Intent, opts ComposeOptions) error {
	cfg := l.cfg
	runtimeDir := cfg.ContainerRuntimeDir(l.Name)
	res := Resources{RuntimeDir: runtimeDir}
	if cfg.ServicesMode == ServicesTCP {
		ports, err := pickPorts(3)
		if err != nil {
			return err
		}
		res.BrokerPort, res.SignerPort, res.GatePort = ports[0], ports[1], ports[2]
	}
	l.Resources = res

	stateDir := cfg.RunStateDir(l.Name)
	l.stateDir = stateDir
	if err := l.mkdir(stateDir); err != nil {
		return err
	}
	if err := l.mkdir(runtimeDir); err != nil {
		return err
	}
	if cfg.ServicesMode == ServicesSocket {
		for _, d := range socketDirs(l.Plan) {
			if err := l.mkdir(filepath.Join(runtimeDir, d)); err != nil {
				return err
			}
		}
	}
	in := editsInput{Name: l.Name, Plan: l.Plan, Mode: cfg.ServicesMode, Resources: res,
		SidecarPath: l.SidecarPath, ServerRootless: opts.ServerRootless, RootlessNetwork: opts.ServerRootlessNetwork,
		Orchestrator: intent.orch}
	if l.Plan.Shield {
		shield, err := opts.Shield.Prepare(ctx, ShieldRequest{
			Name: l.Name, StateDir: stateDir, Profiles: intent.profiles, LoopbackPorts: res.LoopbackPorts(),
			ServerRootless: opts.ServerRootless, RootlessNetwork: opts.ServerRootlessNetwork,
		})
		if err != nil {
			return &ShieldError{Name: l.Name, Err: err}
		}
		l.Notes = append(l.Notes, shield.Notes...)
		in.Shield = shield.Edits
	}
	if l.Plan.NeedsBridges() {
		bridges, err := materializeBridges(cfg)
		if err != nil {
			return err
		}
		in.BridgesDir = bridges
	}
	if l.Plan.Gate {
		token, err := mintGateToken()
		if err != nil {
			return err
		}
		in.GateToken = token
	}
	if l.Plan.SSH {
		scope := l.Plan.ScopeName()
		token, err := opts.Tokens.Mint(ctx, scope, l.Name, scope, SSHProvider)
		if err != nil {
			return fmt.Errorf("minting the SSH signer token: %w", err)
		}
		l.minted = append(l.minted, token)
		in.SSHToken = token
	}
	edits := buildEdits(in)
	if err := edits.Validate(); err != nil {
		return err
	}
	l.Edits = edits

	if err := l.writeFile(filepath.Join(stateDir, metaFile), func(string) error { return l.writeMeta() }); err != nil {
		return err
	}
	sc := buildSidecar(cfg, in)
	return l.writeFile(l.SidecarPath, func(p string) error { return cfg.writeSidecar(p, sc) })
}

// mkdir creates dir (and missing parents, 0700) and records it for
// rollback. The leaf must not exist: an existing one, or a symlink
// planted there, is refused rather than reused.
func (l *Launch) mkdir(dir string) error {
	if err := l.cfg.mkdirState(dir); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return &StateExistsError{Name: l.Name, Path: dir}
		}
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	l.paths = append(l.paths, dir)
	return nil
}

func (l *Launch) writeFile(path string, write func(string) error) error {
	// Recorded before writing: a failed write may leave a partial file.
	l.paths = append(l.paths, path)
	return write(path)
}

// Commit keeps the laid-down state and releases the name. Call it once the
// container exists.
func (l *Launch) Commit() {
	l.lock.release()
	l.minted, l.paths = nil, nil
}

// Rollback undoes exactly what this launch laid down: it revokes the tokens
// it minted and removes the files and dirs it created, then releases the
// name. State that existed before, or that another launch of the same name
// wrote, is never touched. It is safe to call more than once.
func (l *Launch) Rollback(ctx context.Context) error {
	if l == nil {
		return nil
	}
	defer l.lock.release()
	var errs []error
	keep := ""
	if len(l.minted) > 0 && l.tokens != nil {
		if err := l.tokens.Revoke(ctx, l.minted...); err != nil {
			// The run state records the scope: keep it, so that cleanup
			// and sweep can still revoke what this rollback could not.
			keep = l.stateDir
			errs = append(errs, &TokensKeptError{Name: l.Name, Kept: keep, Err: errors.Join(err, l.writeMeta())})
		} else {
			l.minted = nil
		}
	}
	for i := len(l.paths) - 1; i >= 0; i-- {
		if keep != "" && (l.paths[i] == keep || strings.HasPrefix(l.paths[i], keep+"/")) {
			continue
		}
		if _, err := l.cfg.removeState(l.paths[i]); err != nil {
			errs = append(errs, fmt.Errorf("rolling back: %w", err))
		}
	}
	l.paths = nil
	return errors.Join(errs...)
}
