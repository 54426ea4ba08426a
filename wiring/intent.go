package wiring

import (
	"fmt"
	"path/filepath"
)

// Intent is a checked request to wire one container: its name is one
// podman accepts and a safe path component, the configuration is valid,
// the plan is resolved and, in socket mode, every service socket fits
// sun_path. Only Check makes one, so whatever takes an Intent (Compose)
// needs no second look at its inputs.
type Intent struct {
	name     string
	plan     Plan
	notes    []string
	profiles []string
	orch     Orchestrator
	cfg      Config
}

// Check validates one launch's inputs and resolves its plan. It touches
// nothing on disk. The notes it gathers (skipped subsystems, a firewall
// bypassed by configuration) travel with the intent to the launch.
func Check(cfg Config, name string, req Request) (*Intent, error) {
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
	if cfg.ServicesMode == ServicesSocket {
		if err := checkSocketPaths(cfg.ContainerRuntimeDir(name)); err != nil {
			return nil, err
		}
	}
	if p := req.Orchestrator.DossierPath; p != "" && !filepath.IsAbs(p) {
		return nil, fmt.Errorf("%w: the dossier path %q must be absolute", ErrInvalidConfig, p)
	}
	profiles := req.Profiles
	if len(profiles) == 0 {
		profiles = cfg.ShieldProfiles
	}
	return &Intent{name: name, plan: plan, notes: notes, profiles: profiles, orch: req.Orchestrator, cfg: cfg}, nil
}

// Name is the container name.
func (in *Intent) Name() string { return in.name }

// Plan is the resolved plan.
func (in *Intent) Plan() Plan { return in.plan }

// Notes are the messages for the user that the check gathered.
func (in *Intent) Notes() []string { return in.notes }

// Config is the configuration the intent was checked against.
func (in *Intent) Config() Config { return in.cfg }
