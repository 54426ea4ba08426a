package wiring_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sandwire/sandwire/wiring"
)

// baseDefaults is what DefaultConfig sets regardless of who asks.
func baseDefaults() wiring.Config {
	return wiring.Config{
		ServicesMode:          wiring.ServicesSocket,
		ShieldProfiles:        []string{wiring.DefaultShieldProfile},
		ShieldCommand:         "terok-shield",
		CredentialsUseKeyring: true,
		TokenStore:            wiring.TokenStoreVault,
	}
}

func TestDefaultConfig(t *testing.T) {
	home := t.TempDir()
	data := t.TempDir()
	run := t.TempDir()
	withDirs := func(state, runtime, vault string) wiring.Config {
		c := baseDefaults()
		c.StateDir, c.RuntimeDir, c.VaultDir = state, runtime, vault
		return c
	}
	cases := []struct {
		name string
		euid int
		env  map[string]string
		want wiring.Config
	}{
		{
			name: "root uses /var/lib and /run and ignores the XDG variables",
			euid: 0,
			env:  map[string]string{"HOME": home, "XDG_DATA_HOME": data, "XDG_RUNTIME_DIR": run},
			want: withDirs("/var/lib/terok/sandbox", "/run/terok/sandbox", "/var/lib/terok/vault"),
		},
		{
			name: "user with XDG variables uses them",
			euid: 1000,
			env:  map[string]string{"HOME": home, "XDG_DATA_HOME": data, "XDG_RUNTIME_DIR": run},
			want: withDirs(
				filepath.Join(data, "terok", "sandbox"),
				filepath.Join(run, "terok", "sandbox"),
				filepath.Join(data, "terok", "vault")),
		},
		{
			name: "user without XDG_DATA_HOME uses ~/.local/share",
			euid: 1000,
			env:  map[string]string{"HOME": home, "XDG_RUNTIME_DIR": run},
			want: withDirs(
				filepath.Join(home, ".local", "share", "terok", "sandbox"),
				filepath.Join(run, "terok", "sandbox"),
				filepath.Join(home, ".local", "share", "terok", "vault")),
		},
		{
			name: "user with empty XDG variables is treated as without them",
			euid: 1000,
			env:  map[string]string{"HOME": home, "XDG_DATA_HOME": "", "XDG_RUNTIME_DIR": ""},
			want: withDirs(
				filepath.Join(home, ".local", "share", "terok", "sandbox"),
				filepath.Join(os.TempDir(), "terok-1000", "terok", "sandbox"),
				filepath.Join(home, ".local", "share", "terok", "vault")),
		},
		{
			name: "user without XDG_RUNTIME_DIR gets a per-uid dir under the temp dir",
			euid: 1234,
			env:  map[string]string{"HOME": home},
			want: withDirs(
				filepath.Join(home, ".local", "share", "terok", "sandbox"),
				filepath.Join(os.TempDir(), "terok-1234", "terok", "sandbox"),
				filepath.Join(home, ".local", "share", "terok", "vault")),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := wiring.DefaultConfig(tc.euid, fakeEnv(tc.env))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("DefaultConfig(%d) =\n%+v\nwant\n%+v", tc.euid, got, tc.want)
			}
		})
	}
}

func TestDefaultConfigFile(t *testing.T) {
	home := t.TempDir()
	xdg := t.TempDir()
	cases := []struct {
		name string
		euid int
		env  map[string]string
		want string
	}{
		{"root reads /etc/sandwire", 0, map[string]string{"HOME": home, "XDG_CONFIG_HOME": xdg}, "/etc/sandwire/sandwire.toml"},
		{"user reads XDG_CONFIG_HOME", 1000, map[string]string{"HOME": home, "XDG_CONFIG_HOME": xdg}, filepath.Join(xdg, "sandwire", "sandwire.toml")},
		{"user without XDG_CONFIG_HOME reads ~/.config", 1000, map[string]string{"HOME": home}, filepath.Join(home, ".config", "sandwire", "sandwire.toml")},
		{"user with an empty XDG_CONFIG_HOME reads ~/.config", 1000, map[string]string{"HOME": home, "XDG_CONFIG_HOME": ""}, filepath.Join(home, ".config", "sandwire", "sandwire.toml")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := wiring.DefaultConfigFile(tc.euid, fakeEnv(tc.env)); got != tc.want {
				t.Errorf("DefaultConfigFile(%d) = %q, want %q", tc.euid, got, tc.want)
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	home := t.TempDir()
	data := t.TempDir()
	run := t.TempDir()
	xdgConfig := t.TempDir()
	fileState, fileRuntime, fileVault := t.TempDir(), t.TempDir(), t.TempDir()
	envState, envRuntime, envVault := t.TempDir(), t.TempDir(), t.TempDir()

	// A file that sets every key.
	fullFile := filepath.Join(t.TempDir(), "full.toml")
	writeFile(t, fullFile, fmt.Sprintf(`state_dir = %q
runtime_dir = %q
vault_dir = %q
services_mode = "tcp"
shield_profiles = ["strict", "extra"]
shield_bypass_firewall_no_protection = true
shield_command = "/opt/shield"
bridge_binary = "/opt/terok-bridge"
credentials_use_keyring = false
credentials_passphrase_command = "pass show vault"
token_store = "plaintext"
`, fileState, fileRuntime, fileVault))
	// The default file of a user whose XDG_CONFIG_HOME is xdgConfig.
	writeFile(t, filepath.Join(xdgConfig, "sandwire", "sandwire.toml"), fmt.Sprintf("state_dir = %q\n", fileState))

	base := map[string]string{"HOME": home, "XDG_DATA_HOME": data, "XDG_RUNTIME_DIR": run, "XDG_CONFIG_HOME": t.TempDir()}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	defaults := wiring.DefaultConfig(1000, fakeEnv(base))
	edit := func(f func(*wiring.Config)) wiring.Config {
		c := defaults
		c.ShieldProfiles = append([]string(nil), c.ShieldProfiles...)
		f(&c)
		return c
	}
	fromFullFile := edit(func(c *wiring.Config) {
		c.StateDir, c.RuntimeDir, c.VaultDir = fileState, fileRuntime, fileVault
		c.ServicesMode = wiring.ServicesTCP
		c.ShieldProfiles = []string{"strict", "extra"}
		c.ShieldBypass = true
		c.ShieldCommand = "/opt/shield"
		c.BridgeBinary = "/opt/terok-bridge"
		c.CredentialsUseKeyring = false
		c.CredentialsPassphraseCommand = ptr("pass show vault")
		c.TokenStore = wiring.TokenStorePlaintext
	})

	cases := []struct {
		name string
		env  map[string]string
		want wiring.Config
	}{
		{
			name: "no file and no overrides give the defaults",
			env:  base,
			want: defaults,
		},
		{
			name: "default file under XDG_CONFIG_HOME overrides the defaults",
			env:  with(map[string]string{"XDG_CONFIG_HOME": xdgConfig}),
			want: edit(func(c *wiring.Config) { c.StateDir = fileState }),
		},
		{
			name: "SANDWIRE_CONFIG file overrides every default it names",
			env:  with(map[string]string{wiring.EnvConfigFile: fullFile}),
			want: fromFullFile,
		},
		{
			name: "SANDWIRE_CONFIG is read instead of the default file",
			env:  with(map[string]string{wiring.EnvConfigFile: fullFile, "XDG_CONFIG_HOME": xdgConfig}),
			want: fromFullFile,
		},
		{
			name: "empty SANDWIRE_CONFIG falls back to the default file",
			env:  with(map[string]string{wiring.EnvConfigFile: "", "XDG_CONFIG_HOME": xdgConfig}),
			want: edit(func(c *wiring.Config) { c.StateDir = fileState }),
		},
		{
			name: "environment overrides the file",
			env: with(map[string]string{
				wiring.EnvConfigFile:   fullFile,
				wiring.EnvStateDir:     envState,
				wiring.EnvRuntimeDir:   envRuntime,
				wiring.EnvVaultDir:     envVault,
				wiring.EnvServicesMode: "socket",
			}),
			want: func() wiring.Config {
				c := fromFullFile
				c.StateDir, c.RuntimeDir, c.VaultDir = envState, envRuntime, envVault
				c.ServicesMode = wiring.ServicesSocket
				return c
			}(),
		},
		{
			name: "environment overrides the defaults without a file",
			env:  with(map[string]string{wiring.EnvStateDir: envState, wiring.EnvServicesMode: "tcp"}),
			want: edit(func(c *wiring.Config) { c.StateDir = envState; c.ServicesMode = wiring.ServicesTCP }),
		},
		{
			name: "empty environment overrides are ignored",
			env: with(map[string]string{
				wiring.EnvConfigFile: fullFile,
				wiring.EnvStateDir:   "", wiring.EnvRuntimeDir: "", wiring.EnvVaultDir: "", wiring.EnvServicesMode: "",
			}),
			want: fromFullFile,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := wiring.LoadConfig(1000, fakeEnv(tc.env))
			if err != nil {
				t.Fatalf("LoadConfig = %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("LoadConfig =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestLoadConfigReadsTheShieldBypassOnlyFromTheFile(t *testing.T) {
	home := t.TempDir()
	known := map[string]string{
		"HOME": home, "XDG_DATA_HOME": t.TempDir(), "XDG_RUNTIME_DIR": t.TempDir(), "XDG_CONFIG_HOME": t.TempDir(),
	}
	// Every variable the test does not name answers "true", so no
	// environment variable of any name can turn the bypass on.
	lookup := func(key string) (string, bool) {
		if v, ok := known[key]; ok {
			return v, true
		}
		switch key {
		case wiring.EnvConfigFile, wiring.EnvStateDir, wiring.EnvRuntimeDir, wiring.EnvVaultDir, wiring.EnvServicesMode:
			return "", false
		}
		return "true", true
	}
	got, err := wiring.LoadConfig(1000, lookup)
	if err != nil {
		t.Fatalf("LoadConfig = %v", err)
	}
	if got.ShieldBypass {
		t.Error("the shield bypass was turned on by the environment")
	}

	file := filepath.Join(t.TempDir(), "bypass.toml")
	writeFile(t, file, "shield_bypass_firewall_no_protection = true\n")
	known[wiring.EnvConfigFile] = file
	got, err = wiring.LoadConfig(1000, lookup)
	if err != nil {
		t.Fatalf("LoadConfig = %v", err)
	}
	if !got.ShieldBypass {
		t.Error("the shield bypass set in the file was not read")
	}
}

func TestLoadConfigErrors(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		writeFile(t, p, content)
		return p
	}
	base := map[string]string{"HOME": t.TempDir(), "XDG_DATA_HOME": t.TempDir(), "XDG_RUNTIME_DIR": t.TempDir(), "XDG_CONFIG_HOME": t.TempDir()}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name string
		env  map[string]string
		// wantIs are further errors the result must wrap; wantText must
		// appear in the message.
		wantIs   error
		wantText string
	}{
		{
			name:   "explicit missing file is an error",
			env:    with(map[string]string{wiring.EnvConfigFile: filepath.Join(dir, "missing.toml")}),
			wantIs: fs.ErrNotExist, wantText: "missing.toml",
		},
		{
			name:     "unknown key in the file is an error",
			env:      with(map[string]string{wiring.EnvConfigFile: file("unknown.toml", "state_dirr = \"/x\"\n")}),
			wantText: "state_dirr",
		},
		{
			name:     "unknown table key in the file is an error",
			env:      with(map[string]string{wiring.EnvConfigFile: file("table.toml", "[shield]\nprofiles = [\"x\"]\n")}),
			wantText: "shield",
		},
		{
			name:     "malformed TOML is an error",
			env:      with(map[string]string{wiring.EnvConfigFile: file("bad.toml", "state_dir = \n")}),
			wantText: "bad.toml",
		},
		{
			name:     "wrong type in the file is an error",
			env:      with(map[string]string{wiring.EnvConfigFile: file("type.toml", "shield_bypass_firewall_no_protection = \"yes\"\n")}),
			wantText: "type.toml",
		},
		{
			name:     "relative state dir from the environment is rejected",
			env:      with(map[string]string{wiring.EnvStateDir: "relative/state"}),
			wantText: "relative/state",
		},
		{
			name:     "relative runtime dir from the environment is rejected",
			env:      with(map[string]string{wiring.EnvRuntimeDir: "run"}),
			wantText: `"run"`,
		},
		{
			name:     "relative vault dir from the environment is rejected",
			env:      with(map[string]string{wiring.EnvVaultDir: "./vault"}),
			wantText: "./vault",
		},
		{
			name:     "relative state dir from the file is rejected",
			env:      with(map[string]string{wiring.EnvConfigFile: file("relative.toml", "state_dir = \"state\"\n")}),
			wantText: `"state"`,
		},
		{
			name:     "unknown services mode from the environment is rejected",
			env:      with(map[string]string{wiring.EnvServicesMode: "vsock"}),
			wantText: "vsock",
		},
		{
			name:     "services mode is case-sensitive",
			env:      with(map[string]string{wiring.EnvServicesMode: "TCP"}),
			wantText: "TCP",
		},
		{
			name:     "unknown services mode from the file is rejected",
			env:      with(map[string]string{wiring.EnvConfigFile: file("mode.toml", "services_mode = \"udp\"\n")}),
			wantText: "udp",
		},
		{
			name:     "empty services mode from the file is rejected",
			env:      with(map[string]string{wiring.EnvConfigFile: file("emptymode.toml", "services_mode = \"\"\n")}),
			wantText: "services mode",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := wiring.LoadConfig(1000, fakeEnv(tc.env))
			if !errors.Is(err, wiring.ErrInvalidConfig) {
				t.Fatalf("LoadConfig error = %v, want one wrapping ErrInvalidConfig", err)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("LoadConfig error = %v, want one wrapping %v", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("LoadConfig error = %q, want it to mention %q", err, tc.wantText)
			}
		})
	}
}

func TestConfigPaths(t *testing.T) {
	cfg := wiring.Config{StateDir: "/state", RuntimeDir: "/runtime", VaultDir: "/vault"}
	cases := []struct {
		name string
		got  string
		want string
	}{
		{"sidecar is <state>/sidecar/<name>.json", cfg.SidecarPath("web"), "/state/sidecar/web.json"},
		{"run state is <state>/sandbox/runs/<name>", cfg.RunStateDir("web"), "/state/sandbox/runs/web"},
		{"container runtime dir is <runtime>/run/<name>", cfg.ContainerRuntimeDir("web"), "/runtime/run/web"},
		{"gate base path is under the state dir", cfg.GateBasePath(), "/state/gate"},
		{"token store is in the vault dir", cfg.DBPath(), "/vault/credentials.db"},
		{"routes are in the vault dir", cfg.RoutesPath(), "/vault/routes.json"},
		{"sealed passphrase is in the vault dir", cfg.VaultSystemdCredsFile(), "/vault/vault.passphrase.cred"},
		{"locks are under the state dir", cfg.LockDir(), "/state/sandbox/locks"},
		{"sidecar dir holds the sidecars", cfg.SidecarDir(), filepath.Dir(cfg.SidecarPath("web"))},
		{"runs dir holds the run state dirs", cfg.RunsDir(), filepath.Dir(cfg.RunStateDir("web"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	valid := wiring.Config{StateDir: "/s", RuntimeDir: "/r", VaultDir: "/v", ServicesMode: wiring.ServicesSocket}
	cases := []struct {
		name   string
		mutate func(*wiring.Config)
		ok     bool
	}{
		{"absolute dirs and socket mode are valid", func(*wiring.Config) {}, true},
		{"tcp mode is valid", func(c *wiring.Config) { c.ServicesMode = wiring.ServicesTCP }, true},
		{"empty state dir is rejected", func(c *wiring.Config) { c.StateDir = "" }, false},
		{"empty runtime dir is rejected", func(c *wiring.Config) { c.RuntimeDir = "" }, false},
		{"empty vault dir is rejected", func(c *wiring.Config) { c.VaultDir = "" }, false},
		{"relative vault dir is rejected", func(c *wiring.Config) { c.VaultDir = "v" }, false},
		{"empty services mode is rejected", func(c *wiring.Config) { c.ServicesMode = "" }, false},
		{"the plaintext token store is valid", func(c *wiring.Config) { c.TokenStore = wiring.TokenStorePlaintext }, true},
		{"the vault token store is valid", func(c *wiring.Config) { c.TokenStore = wiring.TokenStoreVault }, true},
		{"an unknown token store is rejected", func(c *wiring.Config) { c.TokenStore = "sqlite" }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := valid
			tc.mutate(&c)
			err := c.Validate()
			if tc.ok && err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
			if !tc.ok && !errors.Is(err, wiring.ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want an error wrapping ErrInvalidConfig", err)
			}
		})
	}
}
