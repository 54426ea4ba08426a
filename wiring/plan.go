package wiring

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"

	"github.com/containerd/errdefs"
)

// Plan is which subsystems one launch wires. It is persisted as the run
// state's meta.json so that cleanup reverses exactly what was wired.
type Plan struct {
	// Scope is the vault scope; nil when none was given.
	Scope  *string `json:"scope"`
	Shield bool    `json:"shield"`
	Gate   bool    `json:"gate"`
	Broker bool    `json:"broker"`
	SSH    bool    `json:"ssh"`
}

// NeedsBridges reports whether the container-side bridges are used.
func (p Plan) NeedsBridges() bool { return p.Gate || p.Broker || p.SSH }

// ScopeName returns the scope, or "" when there is none.
func (p Plan) ScopeName() string {
	if p.Scope == nil {
		return ""
	}
	return *p.Scope
}

// Request is what a caller asks of one launch. The zero value asks for the
// defaults: shield, gate and broker on, no scope.
type Request struct {
	// Scope is the vault scope; empty means none.
	Scope string
	// NoShield, NoGate and NoBroker turn a default-on subsystem off.
	NoShield, NoGate, NoBroker bool
	// Profiles overrides the configured shield profiles.
	Profiles []string
	// Orchestrator records the terok orchestrator's task, carried to the
	// sidecar for the host services.
	Orchestrator Orchestrator
}

// Orchestrator is what terok's orchestrators record in a container's
// sidecar. The zero value records nothing.
type Orchestrator struct {
	// TaskID is the orchestrator's task (the sidecar's task_id).
	TaskID string
	// DossierPath is the absolute host path of the task's dossier.
	DossierPath string
	// AllowDebugger leaves the supervisor's children ptrace-able.
	AllowDebugger bool
}

// scopeRE is the vault's rule for scope names: they end up in socket paths.
var scopeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ErrInvalidScope is wrapped when a scope name is unsafe.
var ErrInvalidScope = newSentinel(errdefs.ErrInvalidArgument, "invalid scope")

// ResolvePlan turns a request into a plan. Gate, broker and SSH need a
// scope: without one they are skipped, and for each of gate and broker that
// was asked for, a note is returned for the caller to show (the --no-*
// flags silence it). SSH is on exactly when a scope is given.
func ResolvePlan(req Request) (Plan, []string, error) {
	var scope *string
	if req.Scope != "" {
		if !scopeRE.MatchString(req.Scope) {
			return Plan{}, nil, fmt.Errorf("%w %q: it must match [A-Za-z0-9][A-Za-z0-9._-]* and be at most 64 characters", ErrInvalidScope, req.Scope)
		}
		s := req.Scope
		scope = &s
	}
	p := Plan{
		Scope:  scope,
		Shield: !req.NoShield,
		Gate:   !req.NoGate && scope != nil,
		Broker: !req.NoBroker && scope != nil,
		SSH:    scope != nil,
	}
	var notes []string
	if scope == nil {
		if !req.NoGate {
			notes = append(notes, "note: --gate requires --scope; skipping (use --no-gate to silence)")
		}
		if !req.NoBroker {
			notes = append(notes, "note: --broker requires --scope; skipping (use --no-broker to silence)")
		}
	}
	return p, notes, nil
}

// metaFile is the plan's file name inside a run state dir.
const metaFile = "meta.json"

// ReadPlan reads the plan of container name; ok is false when there is none.
func ReadPlan(cfg Config, name string) (plan Plan, ok bool, err error) {
	if err := ValidateName(name); err != nil {
		return Plan{}, false, err
	}
	// The run state dir must be a real dir: a link planted there, to a
	// file or to a dir elsewhere, is no plan of sandwire's.
	st, err := cfg.lstatState(cfg.RunStateDir(name))
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !st.IsDir()) {
		return Plan{}, false, nil
	}
	if err != nil {
		return Plan{}, false, fmt.Errorf("reading the plan of %q: %w", name, err)
	}
	data, err := cfg.readState(filepath.Join(cfg.RunStateDir(name), metaFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Plan{}, false, nil
	}
	if err != nil {
		return Plan{}, false, fmt.Errorf("reading the plan of %q: %w", name, err)
	}
	if err := json.Unmarshal(data, &plan); err != nil {
		return Plan{}, true, fmt.Errorf("reading the plan of %q: %w", name, err)
	}
	return plan, true, nil
}
