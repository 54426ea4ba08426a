package vaulttest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
)

// SecretService is a private Secret Service: a D-Bus session bus of its
// own (dbus-daemon with a config in its dir) and gnome-keyring-daemon's
// secrets component on it, with an unlocked "login" collection, all under
// one dir. Nothing of the machine's own session is touched.
type SecretService struct {
	dir     string
	address string
	bus     *exec.Cmd
	keyring *exec.Cmd
}

const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`

// StartSecretService starts a private Secret Service under dir, which
// must be short enough for a socket path. Stop it when done.
func StartSecretService(dir string) (*SecretService, error) {
	for _, tool := range []string{"dbus-daemon", "gnome-keyring-daemon", "secret-tool"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s is missing (hack/install-deps.sh installs it): %w", tool, err)
		}
	}
	s := &SecretService{dir: dir}
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, busConfig, filepath.Join(dir, "bus")), 0o600); err != nil {
		return nil, err
	}
	s.bus = exec.Command("dbus-daemon", "--config-file="+conf, "--nofork", "--print-address=1")
	out, err := s.bus.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := s.bus.Start(); err != nil {
		return nil, fmt.Errorf("starting dbus-daemon: %w", err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if s.address = strings.TrimSpace(line); err != nil || s.address == "" {
		s.Stop()
		return nil, fmt.Errorf("dbus-daemon printed no address: %v", err)
	}
	if err := s.startKeyring(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// loginPassword is the login collection's password.
const loginPassword = "test-login-password"

// startKeyring starts gnome-keyring-daemon with a fresh data dir and waits
// until its login collection answers; --unlock reads the new collection's
// password from standard input.
func (s *SecretService) startKeyring() error {
	for _, d := range []string{"home", "data", "run"} {
		if err := os.MkdirAll(filepath.Join(s.dir, d), 0o700); err != nil {
			return err
		}
	}
	s.keyring = exec.Command("gnome-keyring-daemon", "--foreground", "--components=secrets", "--unlock")
	s.keyring.Env = append(s.Env(), "HOME="+filepath.Join(s.dir, "home"),
		"XDG_DATA_HOME="+filepath.Join(s.dir, "data"), "XDG_RUNTIME_DIR="+filepath.Join(s.dir, "run"))
	s.keyring.Stdin = strings.NewReader(loginPassword)
	var log bytes.Buffer
	s.keyring.Stdout, s.keyring.Stderr = &log, &log
	if err := s.keyring.Start(); err != nil {
		return fmt.Errorf("starting gnome-keyring-daemon: %w", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := s.secretTool("", "search", "--all", "sandwire-probe", "none")
		if err == nil || time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("the Secret Service did not come up: %w (gnome-keyring-daemon: %s)", err, log.String())
			}
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Address is the bus's address, for DBUS_SESSION_BUS_ADDRESS.
func (s *SecretService) Address() string { return s.address }

// Env is the environment of a process that uses this Secret Service.
func (s *SecretService) Env() []string {
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DBUS_SESSION_BUS_ADDRESS=") {
			env = append(env, kv)
		}
	}
	return append(env, "DBUS_SESSION_BUS_ADDRESS="+s.address)
}

// Store stores secret as Python's keyring library (which terok-sandbox
// uses) stores a password for user on service: a login-collection item
// with its label and attributes.
func (s *SecretService) Store(service, user, secret string) error {
	return s.secretTool(secret, "store", "--label=Password for '"+user+"' on '"+service+"'",
		"application", "Python keyring library", "service", service, "username", user)
}

// Clear removes the items of user on service, if there are any.
func (s *SecretService) Clear(service, user string) error {
	cmd := exec.Command("secret-tool", "clear", "service", service, "username", user)
	cmd.Env = s.Env()
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 && len(out) == 0 {
		return nil // nothing to clear
	}
	if err != nil {
		return fmt.Errorf("secret-tool clear: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// Lock locks the login collection, as a desktop's screen lock or a
// timeout does.
func (s *SecretService) Lock() error {
	return s.call(func(conn *dbus.Conn, service dbus.BusObject) error {
		var locked []dbus.ObjectPath
		var prompt dbus.ObjectPath
		err := service.Call("org.freedesktop.Secret.Service.Lock", 0, []dbus.ObjectPath{loginCollection}).Store(&locked, &prompt)
		if err == nil && len(locked) != 1 {
			err = fmt.Errorf("locked %v, prompt %v: want the login collection locked at once", locked, prompt)
		}
		return err
	})
}

// Unlock unlocks the login collection with its password, through
// gnome-keyring's interface for that (the standard Unlock would prompt).
func (s *SecretService) Unlock() error {
	return s.call(func(conn *dbus.Conn, service dbus.BusObject) error {
		var out dbus.Variant
		var session dbus.ObjectPath
		if err := service.Call("org.freedesktop.Secret.Service.OpenSession", 0, "plain", dbus.MakeVariant("")).Store(&out, &session); err != nil {
			return err
		}
		secret := struct {
			Session     dbus.ObjectPath
			Parameters  []byte
			Value       []byte
			ContentType string
		}{session, []byte{}, []byte(loginPassword), "text/plain"}
		return service.Call("org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface.UnlockWithMasterPassword", 0,
			loginCollection, secret).Err
	})
}

const loginCollection = dbus.ObjectPath("/org/freedesktop/secrets/collection/login")

// call runs fn with a connection of its own to the bus and the service.
func (s *SecretService) call(fn func(*dbus.Conn, dbus.BusObject) error) error {
	conn, err := dbus.Connect(s.address)
	if err != nil {
		return err
	}
	defer conn.Close()
	return fn(conn, conn.Object("org.freedesktop.secrets", "/org/freedesktop/secrets"))
}

func (s *SecretService) secretTool(stdin string, args ...string) error {
	cmd := exec.Command("secret-tool", args...)
	cmd.Env = s.Env()
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("secret-tool %s: %w: %s", args[0], err, bytes.TrimSpace(out))
	}
	return nil
}

// Stop ends the keyring daemon and the bus.
func (s *SecretService) Stop() error {
	var errs []error
	for _, cmd := range []*exec.Cmd{s.keyring, s.bus} {
		if cmd == nil || cmd.Process == nil {
			continue
		}
		if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			errs = append(errs, err)
		}
		cmd.Wait()
	}
	return errors.Join(errs...)
}
