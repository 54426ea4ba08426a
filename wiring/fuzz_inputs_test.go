package wiring_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/sandwire/sandwire/wiring"
)

// FuzzWriteSidecar: whatever strings the fields hold, the sidecar is valid
// JSON that reads back to the same value, mode 0600, and nothing is
// written outside its dir.
func FuzzWriteSidecar(f *testing.F) {
	f.Add("box", "socket", "proj", "terok-g-00000000000000000000000000000000", "/var/lib/x", 0)
	f.Add("a\nb", "tcp", "\x00", "\"quoted\"", "ü/ß", 65535)
	f.Add("", "", "", "", "", -1)
	f.Fuzz(func(t *testing.T, name, mode, scope, token, path string, port int) {
		dir := t.TempDir()
		target := filepath.Join(dir, "sidecar", "box.json")
		sc := wiring.Sidecar{
			ContainerName: name, IPCMode: mode, DBPath: path, RoutesPath: path, VaultSystemdCredsFile: path,
			CredentialsPassphraseCommand: &token, ScopeID: scope, ProjectID: scope, TaskID: name, RuntimeDir: path,
			TCPPort: &port, GateToken: &token, GatePort: &port, DossierPath: &path, AllowDebugger: port%2 == 0,
		}
		if err := wiring.WriteSidecar(target, sc); err != nil {
			t.Fatalf("WriteSidecar: %v", err)
		}
		st, err := os.Stat(target)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("sidecar mode %v (%v), want 0600", st.Mode(), err)
		}
		got, err := wiring.ReadSidecar(target)
		if err != nil {
			t.Fatalf("ReadSidecar: %v", err)
		}
		if !reflect.DeepEqual(got, sc) && validUTF8(name, mode, scope, token, path) {
			t.Fatalf("sidecar did not round-trip:\n%+v\nwant\n%+v", got, sc)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 || entries[0].Name() != "sidecar" {
			t.Fatalf("WriteSidecar wrote outside its dir: %v", entries)
		}
	})
}

// validUTF8 reports whether JSON can carry every string unchanged
// (encoding/json replaces invalid UTF-8 with U+FFFD).
func validUTF8(ss ...string) bool {
	for _, s := range ss {
		for _, r := range s {
			if r == '\uFFFD' {
				return false
			}
		}
	}
	return true
}

// FuzzLoadConfig: any bytes as the configuration file either load into a
// valid configuration or fail with ErrInvalidConfig; never a panic.
func FuzzLoadConfig(f *testing.F) {
	f.Add([]byte(`state_dir = "/srv/state"` + "\n" + `services_mode = "tcp"`))
	f.Add([]byte(`shield_profiles = ["a", "b"]` + "\n" + `shield_bypass_firewall_no_protection = true`))
	f.Add([]byte(`state_dir = "relative"`))
	f.Add([]byte(`unknown = 1`))
	f.Add([]byte("\x00\xff[[["))
	f.Fuzz(func(t *testing.T, data []byte) {
		file := filepath.Join(t.TempDir(), "sandwire.toml")
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{wiring.EnvConfigFile: file, "HOME": "/home/u", "XDG_RUNTIME_DIR": "/run/user/1000"}
		cfg, err := wiring.LoadConfig(1000, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if err != nil {
			if !errors.Is(err, wiring.ErrInvalidConfig) {
				t.Fatalf("LoadConfig error %v does not wrap ErrInvalidConfig", err)
			}
			return
		}
		for _, p := range []string{cfg.StateDir, cfg.RuntimeDir, cfg.VaultDir} {
			if !filepath.IsAbs(p) {
				t.Fatalf("LoadConfig accepted a relative path %q", p)
			}
		}
		if cfg.ServicesMode != wiring.ServicesSocket && cfg.ServicesMode != wiring.ServicesTCP {
			t.Fatalf("LoadConfig accepted services mode %q", cfg.ServicesMode)
		}
	})
}
