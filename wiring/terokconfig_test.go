package wiring_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sandwire/sandwire/wiring"
)

// TestLoadConfigSharesTerokConfig: the keys sandwire shares with terok's
// config.yml come from terok's scopes in terok's order; sandwire's own
// file wins where it sets a key, and says so when the two differ.
func TestLoadConfigSharesTerokConfig(t *testing.T) {
	for _, tc := range []struct {
		name                         string
		user, override, sandwireToml string
		wantMode                     wiring.ServicesMode
		wantKeyring                  bool
		wantCommand                  string
		wantNote                     string // "" wants none
	}{
		{name: "terok's user scope sets the mode and the credentials policy",
			user:     "services:\n  mode: tcp\ncredentials:\n  use_keyring: false\n  passphrase_command: pass show terok\n",
			wantMode: wiring.ServicesTCP, wantKeyring: false, wantCommand: "pass show terok"},
		{name: "TEROK_CONFIG_FILE overrides the user scope",
			user: "services:\n  mode: tcp\n", override: "services:\n  mode: socket\n",
			wantMode: wiring.ServicesSocket, wantKeyring: true},
		{name: "sandwire's file wins and the conflict is reported",
			user: "services:\n  mode: tcp\n", sandwireToml: "services_mode = \"socket\"\n",
			wantMode: wiring.ServicesSocket, wantKeyring: true, wantNote: "terok's"},
		{name: "the same value in both is no conflict",
			user: "services:\n  mode: tcp\n", sandwireToml: "services_mode = \"tcp\"\n",
			wantMode: wiring.ServicesTCP, wantKeyring: true},
		{name: "terok's other sections are terok's own",
			user:     "shield:\n  bypass_firewall_no_protection: true\nrun:\n  memory: 1g\n",
			wantMode: wiring.ServicesSocket, wantKeyring: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			env := map[string]string{"HOME": home, "TEROK_SANDBOX_STATE_DIR": "/s", "TEROK_SANDBOX_RUNTIME_DIR": "/r", "TEROK_VAULT_DIR": "/v"}
			write := func(path, data string) {
				if data == "" {
					return
				}
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			write(filepath.Join(home, ".config", "terok", "config.yml"), tc.user)
			if tc.override != "" {
				env[wiring.EnvTerokConfigFile] = filepath.Join(home, "override.yml")
				write(env[wiring.EnvTerokConfigFile], tc.override)
			}
			env[wiring.EnvConfigFile] = filepath.Join(home, "sandwire.toml")
			write(env[wiring.EnvConfigFile], tc.sandwireToml+"\n")
			cfg, err := wiring.LoadConfig(1000, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
			if err != nil {
				t.Fatal(err)
			}
			cmd := ""
			if cfg.CredentialsPassphraseCommand != nil {
				cmd = *cfg.CredentialsPassphraseCommand
			}
			if cfg.ServicesMode != tc.wantMode || cfg.CredentialsUseKeyring != tc.wantKeyring || cmd != tc.wantCommand || cfg.ShieldBypass {
				t.Errorf("config = mode %q keyring %v command %q bypass %v; want %q %v %q false",
					cfg.ServicesMode, cfg.CredentialsUseKeyring, cmd, cfg.ShieldBypass, tc.wantMode, tc.wantKeyring, tc.wantCommand)
			}
			switch {
			case tc.wantNote == "" && len(cfg.Notes) != 0:
				t.Errorf("notes = %q, want none", cfg.Notes)
			case tc.wantNote != "" && (len(cfg.Notes) != 1 || !strings.Contains(cfg.Notes[0], tc.wantNote)):
				t.Errorf("notes = %q, want one naming %q", cfg.Notes, tc.wantNote)
			}
		})
	}
}

func TestLoadConfigRefusesATerokConfigItCannotParse(t *testing.T) {
	home := t.TempDir()
	file := filepath.Join(home, "terok.yml")
	if err := os.WriteFile(file, []byte("services: [mode\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOME": home, wiring.EnvTerokConfigFile: file}
	_, err := wiring.LoadConfig(1000, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("LoadConfig with a broken terok config = %v, want an error naming it", err)
	}
}
