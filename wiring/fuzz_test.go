package wiring_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
	"github.com/sandwire/sandwire/wiring"
)

// jsonString is what encoding/json makes of s: every byte that is not
// part of valid UTF-8 becomes U+FFFD, one for one.
func jsonString(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// sidecarKeys are the contract's sidecar fields.
var sidecarKeys = map[string]bool{
	"container_name": true, "ipc_mode": true, "db_path": true, "routes_path": true,
	"vault_systemd_creds_file": true, "credentials_use_keyring": true,
	"credentials_passphrase_command": true, "scope_id": true, "project_id": true,
	"task_id": true, "runtime_dir": true, "tcp_port": true, "ssh_signer_port": true,
	"gate_base_path": true, "gate_token": true, "gate_port": true, "dossier_path": true,
	"allow_debugger": true,
}

// FuzzWriteSidecarByName: for any container name ValidateName accepts, the
// sidecar path stays in the sidecar dir; for any field values (every
// string independent, every optional field present or not), WriteSidecar
// writes exactly one file there, mode 0600, even over an existing file
// with looser bits; it is valid JSON with only contract keys, optional
// keys present exactly when set; and ReadSidecar gives back the same
// value (with invalid UTF-8 replaced as encoding/json does).
func FuzzWriteSidecarByName(f *testing.F) {
	f.Add("box", "socket", "/v/credentials.db", "proj", "p", "t", "/run/x", "terok-g-00000000000000000000000000000000", "pass", 1234, uint16(0xffff))
	f.Add("a..b", "tcp", "\x00", "\n", "\"", "\\", "ü", "\xff\xfe", "</script>", -1, uint16(0))
	f.Add("x", "", "", "", "", "", "", "", "", 0, uint16(0x5555))
	f.Fuzz(func(t *testing.T, name, ipc, path, scope, project, task, rt, token, command string, port int, flags uint16) {
		if wiring.ValidateName(name) != nil {
			return
		}
		root := t.TempDir()
		cfg := wiring.Config{StateDir: filepath.Join(root, "state"), RuntimeDir: filepath.Join(root, "rt"),
			VaultDir: filepath.Join(root, "vault"), ServicesMode: wiring.ServicesSocket}
		target := cfg.SidecarPath(name)
		if filepath.Dir(target) != cfg.SidecarDir() || filepath.Base(target) != name+".json" {
			t.Fatalf("SidecarPath(%q) = %s, outside %s", name, target, cfg.SidecarDir())
		}
		opt := func(bit uint16) bool { return flags&(1<<bit) != 0 }
		sc := wiring.Sidecar{
			ContainerName: name, IPCMode: ipc, DBPath: path, RoutesPath: path + "r", VaultSystemdCredsFile: rt,
			CredentialsUseKeyring: opt(0), ScopeID: scope, ProjectID: project, TaskID: task, RuntimeDir: rt,
			AllowDebugger: opt(1),
		}
		p1, p2, p3 := port, port+1, port-1
		if opt(2) {
			sc.CredentialsPassphraseCommand = &command
		}
		if opt(3) {
			sc.TCPPort = &p1
		}
		if opt(4) {
			sc.SSHSignerPort = &p2
		}
		if opt(5) {
			sc.GateBasePath = &path
		}
		if opt(6) {
			sc.GateToken = &token
		}
		if opt(7) {
			sc.GatePort = &p3
		}
		if opt(8) {
			sc.DossierPath = &task
		}
		if opt(9) {
			// An earlier, looser file is replaced, and tightened.
			if err := os.MkdirAll(cfg.SidecarDir(), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(target, []byte(strings.Repeat("stale ", 1000)), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(target, 0o666); err != nil {
				t.Fatal(err)
			}
		}

		if err := wiring.WriteSidecar(target, sc); err != nil {
			t.Fatalf("WriteSidecar: %v", err)
		}

		st, err := os.Lstat(target)
		if err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != 0o600 {
			t.Fatalf("sidecar mode %v (%v), want a regular file with mode 0600", st.Mode(), err)
		}
		var files []string
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				files = append(files, p)
			}
			return err
		})
		if err != nil || len(files) != 1 || files[0] != target {
			t.Fatalf("files under the temp dir: %q (%v); want only %s", files, err, target)
		}

		data, err := os.ReadFile(target)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(data) {
			t.Fatalf("the sidecar is not valid JSON:\n%q", data)
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(data, &raw); err != nil {
			t.Fatal(err)
		}
		for k := range raw {
			if !sidecarKeys[k] {
				t.Fatalf("the sidecar has key %q, which is not in the contract", k)
			}
		}
		for key, set := range map[string]bool{
			"tcp_port": sc.TCPPort != nil, "ssh_signer_port": sc.SSHSignerPort != nil,
			"gate_base_path": sc.GateBasePath != nil, "gate_token": sc.GateToken != nil,
			"gate_port": sc.GatePort != nil, "dossier_path": sc.DossierPath != nil,
			"allow_debugger": sc.AllowDebugger, "credentials_passphrase_command": true,
			"container_name": true, "scope_id": true, "runtime_dir": true,
		} {
			if _, ok := raw[key]; ok != set {
				t.Fatalf("key %q present %v, want %v", key, ok, set)
			}
		}

		got, err := wiring.ReadSidecar(target)
		if err != nil {
			t.Fatalf("ReadSidecar: %v", err)
		}
		want := sc
		for _, s := range []*string{&want.ContainerName, &want.IPCMode, &want.DBPath, &want.RoutesPath,
			&want.VaultSystemdCredsFile, &want.ScopeID, &want.ProjectID, &want.TaskID, &want.RuntimeDir} {
			*s = jsonString(*s)
		}
		for _, pp := range []**string{&want.CredentialsPassphraseCommand, &want.GateBasePath, &want.GateToken, &want.DossierPath} {
			if *pp != nil {
				v := jsonString(**pp)
				*pp = &v
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("the sidecar did not round-trip:\n got %+v\nwant %+v", got, want)
		}
	})
}

// FuzzLoadConfigWithEnv: any configuration file, any environment
// overrides, root or not: LoadConfig never panics; it fails with
// ErrInvalidConfig, or returns a configuration that validates, with
// absolute paths, a known services mode, the environment's overrides
// applied, and the firewall bypass exactly as the file alone says.
func FuzzLoadConfigWithEnv(f *testing.F) {
	f.Add([]byte(`state_dir = "/srv/state"`+"\n"+`services_mode = "tcp"`), false, "", "", "", "")
	f.Add([]byte(`shield_bypass_firewall_no_protection = true`), true, "/s", "/r", "/v", "socket")
	f.Add([]byte(`"shield_bypass_firewall_no_protectio\u006e" = true`), false, "", "", "", "")
	f.Add([]byte(`vault_dir = "rel"`), false, "", "", "/abs", "")
	f.Add([]byte(`credentials_passphrase_command = 1`), true, "x", "", "", "udp")
	f.Add([]byte("[[state_dir]]\nx=1"), false, "", "", "", "")
	f.Add([]byte("shield_profiles = [\"a\", 1]"), false, "", "", "", "")
	f.Fuzz(func(t *testing.T, data []byte, root bool, stateEnv, runtimeEnv, vaultEnv, modeEnv string) {
		file := filepath.Join(t.TempDir(), "sandwire.toml")
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{
			wiring.EnvConfigFile: file, "HOME": "/home/u", "XDG_RUNTIME_DIR": "/run/user/1000",
			wiring.EnvStateDir: stateEnv, wiring.EnvRuntimeDir: runtimeEnv, wiring.EnvVaultDir: vaultEnv,
			wiring.EnvServicesMode: modeEnv,
			// Never an override of the bypass, whatever is set.
			"TEROK_SHIELD_BYPASS_FIREWALL_NO_PROTECTION": "true", "SHIELD_BYPASS_FIREWALL_NO_PROTECTION": "true",
		}
		euid := 1000
		if root {
			euid = 0
		}
		cfg, err := wiring.LoadConfig(euid, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if err != nil {
			if !errors.Is(err, wiring.ErrInvalidConfig) {
				t.Fatalf("LoadConfig error %v does not wrap ErrInvalidConfig", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("LoadConfig returned a configuration that does not validate: %v", err)
		}
		for _, p := range []string{cfg.StateDir, cfg.RuntimeDir, cfg.VaultDir} {
			if !filepath.IsAbs(p) {
				t.Fatalf("LoadConfig accepted a relative path %q", p)
			}
		}
		if cfg.ServicesMode != wiring.ServicesSocket && cfg.ServicesMode != wiring.ServicesTCP {
			t.Fatalf("LoadConfig accepted services mode %q", cfg.ServicesMode)
		}
		for _, o := range [][2]string{{stateEnv, cfg.StateDir}, {runtimeEnv, cfg.RuntimeDir}, {vaultEnv, cfg.VaultDir}, {modeEnv, string(cfg.ServicesMode)}} {
			if o[0] != "" && o[1] != o[0] {
				t.Fatalf("the environment's %q was not applied (got %q)", o[0], o[1])
			}
		}
		var fileOnly struct {
			Bypass bool `toml:"shield_bypass_firewall_no_protection"`
		}
		if _, err := toml.Decode(string(data), &fileOnly); err != nil {
			t.Fatalf("LoadConfig accepted a file that does not decode: %v", err)
		}
		if cfg.ShieldBypass != fileOnly.Bypass {
			t.Fatalf("ShieldBypass = %v, the file says %v", cfg.ShieldBypass, fileOnly.Bypass)
		}
	})
}
