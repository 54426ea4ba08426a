package wiring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
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
	return fmt.Sprintf("container name %q is in use: sandbox state from an earlier launch exists at %s; "+
		"remove the container and run 'sandwire cleanup %s' first", e.Name, e.Path, e.Name)
}

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
	// Notes are messages for the user (skipped subsystems, warnings).
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

// Compose resolves the plan for name, lays down its host state (run state
// dir with meta.json, per-container runtime dir, sidecar, tokens) and
// returns the edits that wire a container into it. Every check that can
// fail without touching the disk runs first; once anything was written, a
// failure rolls back exactly what this call wrote before returning.
func Compose(ctx context.Context, cfg Config, name string, req Request, opts ComposeOptions) (_ *Launch, err error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	plan, notes, err := ResolvePlan(req)
	if err != nil {
		return nil, err
	}
	if plan.Shield && cfg.ShieldBypass {
		plan.Shield = false
		notes = append(notes, "WARNING: the egress firewall is bypassed by configuration "+
			"(shield_bypass_firewall_no_protection); this container has unrestricted network access")
	}
	if plan.Shield && opts.Shield == nil {
		return nil, ErrShieldUnavailable
	}
	if plan.SSH && opts.Tokens == nil {
		return nil, errors.New("wiring the SSH signer needs a token store, and none was given")
	}
	runtimeDir := cfg.ContainerRuntimeDir(name)
	if cfg.ServicesMode == ServicesSocket {
		if err := CheckSocketPaths(runtimeDir); err != nil {
			return nil, err
		}
	}

	lock, err := lockName(cfg, name)
	if err != nil {
		return nil, err
	}
	l := &Launch{Name: name, Plan: plan, Notes: notes, tokens: opts.Tokens, lock: lock, cfg: cfg,
		SidecarPath: cfg.SidecarPath(name)}
	defer func() {
		if err != nil {
			err = errors.Join(err, l.Rollback(context.WithoutCancel(ctx)))
		}
	}()
	if err := checkNoState(cfg, name); err != nil {
		return nil, err
	}
	if err := l.layDown(ctx, cfg, req, opts, runtimeDir); err != nil {
		return nil, err
	}
	return l, nil
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

func (l *Launch) layDown(ctx context.Context, cfg Config, req Request, opts ComposeOptions, runtimeDir string) error {
	res := Resources{RuntimeDir: runtimeDir}
	if cfg.ServicesMode == ServicesTCP {
		ports, err := PickPorts(3)
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
	in := EditsInput{Name: l.Name, Plan: l.Plan, Mode: cfg.ServicesMode, Resources: res,
		SidecarPath: l.SidecarPath, ServerRootless: opts.ServerRootless, RootlessNetwork: opts.ServerRootlessNetwork}
	if l.Plan.Shield {
		profiles := req.Profiles
		if len(profiles) == 0 {
			profiles = cfg.ShieldProfiles
		}
		shieldEdits, err := opts.Shield.Prepare(ctx, ShieldRequest{
			Name: l.Name, StateDir: stateDir, Profiles: profiles, LoopbackPorts: res.LoopbackPorts(),
			ServerRootless: opts.ServerRootless, RootlessNetwork: opts.ServerRootlessNetwork,
		})
		if err != nil {
			return fmt.Errorf("the egress firewall (shield) could not be prepared for %q, so nothing was launched "+
				"(--no-shield launches without it): %w", l.Name, err)
		}
		in.Shield = shieldEdits
	}
	if l.Plan.NeedsBridges() {
		bridges, err := MaterializeBridges(cfg)
		if err != nil {
			return err
		}
		in.BridgesDir = bridges
	}
	if l.Plan.Gate {
		token, err := MintGateToken()
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
	edits := BuildEdits(in)
	if err := edits.Validate(); err != nil {
		return err
	}
	l.Edits = edits

	if err := l.writeFile(filepath.Join(stateDir, metaFile), func(string) error { return l.writeMeta() }); err != nil {
		return err
	}
	sc := BuildSidecar(cfg, in)
	return l.writeFile(l.SidecarPath, func(p string) error { return cfg.writeSidecar(p, sc) })
}

// EditsInput is everything the sandbox's edits are made of, once the host
// state is laid down and the tokens are minted.
type EditsInput struct {
	Name      string
	Plan      Plan
	Mode      ServicesMode
	Resources Resources
	// SidecarPath is the absolute path of the sidecar file.
	SidecarPath string
	// BridgesDir is the host dir of the bridge resources; needed when the
	// plan needs bridges.
	BridgesDir string
	// GateToken and SSHToken are the minted tokens, when wired.
	GateToken, SSHToken string
	// ServerRootless decides the user namespace; with RootlessNetwork it
	// decides how an unshielded container reaches host loopback ports.
	ServerRootless  bool
	RootlessNetwork string
	// Shield is the shield's contribution, when it is on.
	Shield *Edits
}

// BuildEdits composes the sandbox's edits from their inputs, in a fixed
// order: shield (or, unshielded in tcp mode on a rootless server, the
// network that reaches the host's loopback), user namespace, bridges mount, runtime dir mount, broker,
// gate and SSH environment, then name and sidecar annotation. It is pure:
// no I/O, the same input gives the same edits.
func BuildEdits(in EditsInput) *Edits {
	edits := &Edits{}
	edits.Append(in.Shield)
	if in.Shield == nil && in.ServerRootless && in.Mode == ServicesTCP && in.Plan.NeedsBridges() {
		// The services listen on the host's loopback. A shielded container
		// gets the network that reaches it from the shield; an unshielded
		// one on a rootless server needs the same, or tcp mode is dead.
		edits.Append(ShieldNetwork(true, in.RootlessNetwork))
	}
	if in.ServerRootless {
		edits.Append(&Edits{UserNS: &UserNS{Mode: "keep-id", UID: KeepIDUID, GID: KeepIDGID}})
	}
	if in.Plan.NeedsBridges() {
		edits.Append(&Edits{Mounts: []Mount{{Source: in.BridgesDir, Destination: ContainerBridgesDir, ReadOnly: true, Relabel: "z"}}})
		if in.Mode == ServicesSocket {
			edits.Append(&Edits{Mounts: []Mount{{Source: in.Resources.RuntimeDir, Destination: ContainerRuntimeDir, ReadOnly: true, Relabel: "z"}}})
		}
	}
	if in.Plan.Broker {
		edits.Append(brokerEdits(in.Mode, in.Resources))
	}
	if in.Plan.Gate {
		edits.Append(gateEdits(in.Mode, in.Resources, in.GateToken))
	}
	if in.Plan.SSH {
		edits.Append(sshEdits(in.Mode, in.Resources, in.SSHToken))
	}
	return edits.Append(&Edits{Name: in.Name, Annotations: map[string]string{SidecarAnnotation: in.SidecarPath}})
}

// BuildSidecar is the sidecar for the same inputs as BuildEdits.
func BuildSidecar(cfg Config, in EditsInput) Sidecar {
	sc := Sidecar{
		ContainerName:                in.Name,
		IPCMode:                      string(in.Mode),
		DBPath:                       cfg.DBPath(),
		RoutesPath:                   cfg.RoutesPath(),
		VaultSystemdCredsFile:        cfg.VaultSystemdCredsFile(),
		CredentialsUseKeyring:        cfg.CredentialsUseKeyring,
		CredentialsPassphraseCommand: cfg.CredentialsPassphraseCommand,
		ScopeID:                      in.Plan.ScopeName(),
		RuntimeDir:                   cfg.RuntimeDir,
	}
	if in.Mode == ServicesTCP {
		broker, signer := in.Resources.BrokerPort, in.Resources.SignerPort
		sc.TCPPort, sc.SSHSignerPort = &broker, &signer
	}
	if in.Plan.Gate {
		base, token := cfg.GateBasePath(), in.GateToken
		sc.GateBasePath, sc.GateToken, sc.ProjectID = &base, &token, in.Plan.ScopeName()
		if in.Mode == ServicesTCP {
			port := in.Resources.GatePort
			sc.GatePort = &port
		}
	}
	return sc
}

func brokerEdits(mode ServicesMode, res Resources) *Edits {
	if mode == ServicesSocket {
		return &Edits{Env: map[string]string{
			EnvVaultLoopbackPort: strconv.Itoa(VaultLoopbackPort),
			EnvVaultSocket:       ContainerVaultSocket,
		}}
	}
	return &Edits{Env: map[string]string{EnvTokenBrokerPort: strconv.Itoa(res.BrokerPort)}}
}

func gateEdits(mode ServicesMode, res Resources, token string) *Edits {
	env := map[string]string{EnvGateToken: token}
	if mode == ServicesSocket {
		env[EnvGateSocket] = ContainerGateSocket
	} else {
		env[EnvGatePort] = strconv.Itoa(res.GatePort)
	}
	return &Edits{Env: env}
}

func sshEdits(mode ServicesMode, res Resources, token string) *Edits {
	env := map[string]string{EnvSSHSignerToken: token}
	if mode == ServicesSocket {
		env[EnvSSHSignerSocket] = ContainerSSHSignerSocket
	} else {
		env[EnvSSHSignerPort] = strconv.Itoa(res.SignerPort)
	}
	return &Edits{Env: env}
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
			errs = append(errs, fmt.Errorf("rolling back: revoking the tokens of %q failed; their record is kept in %s: "+
				"run 'sandwire cleanup %s' once the token store is available: %w", l.Name, keep, l.Name, errors.Join(err, l.writeMeta())))
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
