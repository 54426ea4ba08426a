package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDoctor: on a healthy host every check passes and doctor exits 0;
// each broken condition makes it exit 1, naming the cause and the fix.
func TestDoctor(t *testing.T) {
	shieldPath, err := filepath.Abs(fakeShield)
	if err != nil {
		t.Fatal(err)
	}
	hookPath := filepath.Join(svc.HooksDir(), hookFile)
	installHook := func(t *testing.T) {
		if err := os.WriteFile(hookPath, []byte(`{"version":"1.0.0","hook":{"path":"/bin/true"},"when":{"annotations":{"^terok\\.shield\\.name$":"^nothing$"}},"stages":["createRuntime"]}`), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(hookPath) })
	}
	healthy := func(t *testing.T) *sandbox {
		sb := newSandbox(t)
		sb.writeConfig(fmt.Sprintf("shield_command = %q\n", shieldPath))
		for _, d := range []string{sb.stateDir(), sb.runtimeDir(), sb.vaultDir()} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		installHook(t)
		return sb
	}

	t.Run("a healthy host passes every check", func(t *testing.T) {
		sb := healthy(t)
		sb.create("sw-doctor-healthy", []string{"--no-shield", "--scope", "proj"}, svc.Image(), "true")
		r := sb.sandwire("--url", svc.URL(), "doctor")
		if r.code != 0 || strings.Contains(r.stdout, "FAIL") || !strings.Contains(r.stdout, "ok    podman service: podman ") ||
			!strings.Contains(r.stdout, "came from the passphrase-command tier") {
			t.Errorf("doctor on a healthy host: %s", r)
		}
		r = sb.sandwire("--url", svc.URL(), "doctor", "--json")
		if r.code != 0 || !strings.Contains(r.stdout, `"name": "token store"`) {
			t.Errorf("doctor --json: %s", r)
		}
	})

	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, sb *sandbox) []string // returns extra global args
		cause  string
		fix    string
	}{
		{"an unreachable podman service", func(t *testing.T, sb *sandbox) []string {
			return []string{"--url", "unix:///nonexistent/podman.sock"}
		}, "FAIL  podman service", "podman system service"},
		{"no shield command", func(t *testing.T, sb *sandbox) []string {
			sb.writeConfig(fmt.Sprintf("shield_command = %q\n", filepath.Join(sb.root, "no-terok-shield")))
			return nil
		}, "FAIL  egress firewall (shield)", "install terok-shield"},
		{"no shield hook in the server's hooks dirs", func(t *testing.T, sb *sandbox) []string {
			os.Remove(hookPath)
			return nil
		}, hookFile, "terok-shield setup"},
		{"a state dir others may write", func(t *testing.T, sb *sandbox) []string {
			if err := os.Chmod(sb.stateDir(), 0o777); err != nil {
				t.Fatal(err)
			}
			return nil
		}, "FAIL  state dir", "chmod go-w"},
		{"a vault dir that is a symlink", func(t *testing.T, sb *sandbox) []string {
			real := filepath.Join(sb.root, "real-vault")
			if err := os.Rename(sb.vaultDir(), real); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(real, sb.vaultDir()); err != nil {
				t.Fatal(err)
			}
			return nil
		}, "FAIL  vault dir", "replace the link"},
		{"a wired container whose runtime dir is gone", func(t *testing.T, sb *sandbox) []string {
			sb.create("sw-doctor-reboot", []string{"--no-shield", "--scope", "proj"}, svc.Image(), "true")
			if err := os.RemoveAll(sb.runtimeDir()); err != nil {
				t.Fatal(err)
			}
			return nil
		}, "FAIL  wired container sw-doctor-reboot", "sandwire start sw-doctor-reboot"},
		{"a vault the passphrase does not open", func(t *testing.T, sb *sandbox) []string {
			sb.create("sw-doctor-vault", []string{"--no-shield", "--scope", "proj"}, svc.Image(), "true")
			sb.unlock = sb.passphraseCommand("not the vault's passphrase")
			sb.writeConfig(fmt.Sprintf("shield_command = %q\n", shieldPath))
			return nil
		}, "FAIL  token store", "passphrase"},
		{"state whose container is gone", func(t *testing.T, sb *sandbox) []string {
			sb.create("sw-doctor-stray", []string{"--no-shield", "--scope", "proj"}, svc.Image(), "true")
			if _, err := svc.Podman("rm", "-f", "sw-doctor-stray"); err != nil {
				t.Fatal(err)
			}
			return nil
		}, "FAIL  stray state", "sandwire sweep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sb := healthy(t)
			args := tc.break_(t, sb)
			if args == nil {
				args = []string{"--url", svc.URL()}
			}
			r := sb.sandwire(append(args, "doctor")...)
			if r.code != 1 || !strings.Contains(r.stdout, tc.cause) || !strings.Contains(r.stdout, tc.fix) {
				t.Errorf("doctor: %s; want exit 1 naming %q and the fix %q", r, tc.cause, tc.fix)
			}
		})
	}
}
