package launch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/sandwire/sandwire/wiring"
)

// Check is one finding of Doctor: what was checked, whether it holds,
// what was seen, and what to do when it does not.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// checker is a shield that can tell, without running, whether a launch
// with it on would work here (shield.Command is one).
type checker interface{ Check() error }

// Doctor checks what a launch on this host needs and says what to do
// about each failure: the podman service and its facts, the shield and its
// hook, the token store, the state, runtime and vault dirs, and the state
// on disk against the server's containers. It changes nothing. Secrets
// never appear in a finding.
func (s *Sandbox) Doctor(ctx context.Context) []Check {
	var checks []Check
	add := func(c Check) { checks = append(checks, c) }
	srv, err := s.connect(ctx)
	if err != nil {
		add(Check{Name: "podman service", Detail: err.Error(),
			Fix: "start it ('podman system service'), or choose it with --url, --connection or CONTAINER_HOST"})
	} else if f, err := srv.Facts(ctx); err != nil {
		add(Check{Name: "podman service", Detail: err.Error(), Fix: "check that the service answers: podman --remote info"})
	} else {
		mode := "rootful"
		if f.Rootless {
			mode = "rootless, network " + f.RootlessNetwork
		}
		add(Check{Name: "podman service", OK: true, Detail: fmt.Sprintf("podman %s (API %s), %s", f.Version, f.APIVersion, mode)})
		if err := srv.RequireLocal("wiring a container"); err != nil {
			add(Check{Name: "podman service on this machine", Detail: err.Error(), Fix: "run sandwire on the machine that runs the containers"})
		}
	}
	add(s.shieldCheck())
	add(s.tokenStoreCheck(ctx))
	for _, d := range []struct{ role, path string }{{"state dir", s.cfg.StateDir}, {"runtime dir", s.cfg.RuntimeDir}, {"vault dir", s.cfg.VaultDir}} {
		add(dirCheck(d.role, d.path))
	}
	if srv != nil {
		checks = append(checks, s.stateChecks(ctx)...)
	}
	return checks
}

func (s *Sandbox) shieldCheck() Check {
	c := Check{Name: "egress firewall (shield)"}
	sh, err := s.firewall()
	switch {
	case err != nil:
		c.Detail, c.Fix = err.Error(), "fix podman's containers.conf"
	case sh == nil:
		c.Detail, c.Fix = wiring.ErrShieldUnavailable.Error(), "configure a shield, or launch with --no-shield"
	default:
		ch, ok := sh.(checker)
		if !ok {
			c.OK, c.Detail = true, "a shield of the caller's, not checked"
		} else if err := ch.Check(); err != nil {
			c.Detail, c.Fix = err.Error(), "install terok-shield and its hook ('terok-shield setup'), or launch with --no-shield"
		} else {
			c.OK, c.Detail = true, "the shield command and its hook are installed"
		}
	}
	return c
}

// tokenCounter is a token store that can be asked without minting.
type tokenCounter interface {
	CountSubject(ctx context.Context, subject string) (int, error)
}

// unlocker is a token store behind a passphrase chain (the vault).
type unlocker interface {
	Unlock(ctx context.Context) error
	Tier() string
}

func (s *Sandbox) tokenStoreCheck(ctx context.Context) Check {
	c := Check{Name: "token store"}
	if v, ok := s.tokens.(unlocker); ok {
		if err := v.Unlock(ctx); err != nil {
			c.Detail, c.Fix = Redact(err.Error()), "give the vault its passphrase through one of terok's tiers (systemd-creds, the OS keyring, the kernel keyring, credentials_passphrase_command, a terminal)"
			return c
		}
		c.OK, c.Detail = true, fmt.Sprintf("the vault %s unlocks; its passphrase came from the %s tier", s.cfg.DBPath(), v.Tier())
		return c
	}
	store, ok := s.tokens.(tokenCounter)
	if !ok {
		c.OK, c.Detail = true, "a token store of the caller's, not checked"
		return c
	}
	if _, err := os.Stat(s.cfg.DBPath()); errors.Is(err, fs.ErrNotExist) {
		c.OK, c.Detail = true, s.cfg.DBPath()+" does not exist yet; the first launch with a scope makes it"
		return c
	}
	if _, err := store.CountSubject(ctx, ""); err != nil {
		c.Detail, c.Fix = Redact(err.Error()), "check the vault dir's permissions and that no other process holds the database locked"
		return c
	}
	c.OK, c.Detail = true, s.cfg.DBPath()+" opens"
	return c
}

// dirCheck: a sandbox dir, when it exists, is a real dir (no link), owned
// by this user, and writable by nobody else.
func dirCheck(role, path string) Check {
	c := Check{Name: role, Detail: path}
	st, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.OK, c.Detail = true, path+" does not exist yet; the first launch makes it"
		return c
	case err != nil:
		c.Detail, c.Fix = err.Error(), "make "+path+" readable by this user"
		return c
	case st.Mode()&fs.ModeSymlink != 0:
		c.Detail, c.Fix = path+" is a symlink, and sandwire follows none in its dirs", "replace the link with the dir it points to"
		return c
	case !st.IsDir():
		c.Detail, c.Fix = path+" is not a directory", "remove it or configure another "+role
		return c
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Geteuid() {
		c.Detail, c.Fix = fmt.Sprintf("%s is owned by uid %d, not by this user (%d)", path, sys.Uid, os.Geteuid()), "chown it to this user, or configure another "+role
		return c
	}
	if st.Mode().Perm()&0o022 != 0 {
		c.Detail, c.Fix = fmt.Sprintf("%s is writable by others (mode %04o)", path, st.Mode().Perm()), "chmod go-w "+path
		return c
	}
	c.OK, c.Detail = true, fmt.Sprintf("%s (mode %04o)", path, st.Mode().Perm())
	return c
}

// stateChecks compare the state on disk with the server's containers:
// a wired container whose runtime dir is gone needs a start that rebuilds
// it, and state whose container is gone is stray.
func (s *Sandbox) stateChecks(ctx context.Context) []Check {
	entries, err := s.List(ctx)
	if err != nil {
		return []Check{{Name: "sandbox state", Detail: err.Error(), Fix: "fix or remove what the message names in the state dir"}}
	}
	var checks []Check
	stray := 0
	for _, e := range entries {
		switch {
		case e.Container == Missing:
			stray++
		case e.Container == Exists && e.Plan != nil && e.Sidecar && !e.RuntimeDir:
			checks = append(checks, Check{Name: "wired container " + e.Name, Detail: "its runtime dir is gone (a reboot empties /run)", Fix: "sandwire start " + e.Name})
		}
	}
	if stray > 0 {
		checks = append(checks, Check{Name: "stray state", Detail: fmt.Sprintf("%d name(s) have sandbox state but no container", stray), Fix: "sandwire sweep"})
	} else {
		checks = append(checks, Check{Name: "sandbox state", OK: true, Detail: fmt.Sprintf("%d wired name(s), every one with its container", len(entries))})
	}
	return checks
}
