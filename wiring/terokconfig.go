package wiring

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// EnvTerokConfigFile names terok's configuration file instead of its
// default scopes.
const EnvTerokConfigFile = "TEROK_CONFIG_FILE"

// terokSettings are the keys of terok's config.yml that sandwire shares:
// the services mode and the vault's credentials policy. Each is nil when
// no scope sets it.
type terokSettings struct {
	ServicesMode      *string
	VaultDir          *string
	UseKeyring        *bool
	PassphraseCommand *string
	// from names the file each key came from, for messages.
	from map[string]string
}

// terokFile is the part of terok's config.yml sandwire reads. terok's
// schema has many more sections; they are terok's own and ignored here.
// shield.bypass_firewall_no_protection is deliberately not read, as
// terok-sandbox does not read it either: a file any user can write must
// not turn the firewall off.
type terokFile struct {
	Services struct {
		Mode *string `yaml:"mode"`
	} `yaml:"services"`
	Credentials struct {
		Dir               *string `yaml:"dir"`
		UseKeyring        *bool   `yaml:"use_keyring"`
		PassphraseCommand *string `yaml:"passphrase_command"`
	} `yaml:"credentials"`
}

// terokConfigFiles are terok's config.yml scopes, lowest precedence first:
// the system scope (/etc/terok/config.yml), the user's
// ($XDG_CONFIG_HOME/terok/config.yml, else ~/.config/terok/config.yml),
// and the file TEROK_CONFIG_FILE names, which overrides both.
func terokConfigFiles(lookup LookupEnv) []string {
	user, ok := lookup("XDG_CONFIG_HOME")
	if !ok || user == "" {
		home, _ := lookup("HOME")
		user = filepath.Join(home, ".config")
	}
	files := []string{"/etc/terok/config.yml", filepath.Join(user, "terok", "config.yml")}
	if f, ok := lookup(EnvTerokConfigFile); ok && f != "" {
		files = append(files, f)
	}
	return files
}

// loadTerokSettings reads terok's scopes in order, a later scope's key
// winning. A missing scope is skipped; one that cannot be read or parsed,
// or whose services mode is unknown, is an error naming the file.
func loadTerokSettings(files []string) (terokSettings, error) {
	s := terokSettings{from: map[string]string{}}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return s, fmt.Errorf("%w: reading terok's configuration %s: %w", ErrInvalidConfig, file, err)
		}
		var f terokFile
		if err := yaml.Unmarshal(data, &f); err != nil {
			return s, fmt.Errorf("%w: terok's configuration %s: %w", ErrInvalidConfig, file, err)
		}
		set := func(key string, dst **string, v *string) {
			if v != nil {
				*dst, s.from[key] = v, file
			}
		}
		set("services.mode", &s.ServicesMode, f.Services.Mode)
		set("credentials.dir", &s.VaultDir, f.Credentials.Dir)
		set("credentials.passphrase_command", &s.PassphraseCommand, f.Credentials.PassphraseCommand)
		if f.Credentials.UseKeyring != nil {
			s.UseKeyring, s.from["credentials.use_keyring"] = f.Credentials.UseKeyring, file
		}
	}
	return s, nil
}

// applyTo puts terok's settings on c, under sandwire's own file.
func (s terokSettings) applyTo(c *Config) {
	if s.ServicesMode != nil {
		c.ServicesMode = ServicesMode(*s.ServicesMode)
	}
	if s.VaultDir != nil {
		c.VaultDir = *s.VaultDir
	}
	if s.UseKeyring != nil {
		c.CredentialsUseKeyring = *s.UseKeyring
	}
	if s.PassphraseCommand != nil {
		cmd := *s.PassphraseCommand
		c.CredentialsPassphraseCommand = &cmd
	}
}

// conflicts are the notes for each key that sandwire's file (file) set to
// another value than terok's config.yml: sandwire's wins, and the user is
// told rather than left to guess which one the services see.
func (s terokSettings) conflicts(c Config, file string, defined func(key string) bool) []string {
	var notes []string
	note := func(terokKey, sandwireKey, terokValue, value string) {
		if defined(sandwireKey) && terokValue != value {
			notes = append(notes, fmt.Sprintf("WARNING: %s sets %s = %q, but terok's %s sets %s: %q; sandwire uses %q",
				file, sandwireKey, value, s.from[terokKey], terokKey, terokValue, value))
		}
	}
	if s.ServicesMode != nil {
		note("services.mode", "services_mode", *s.ServicesMode, string(c.ServicesMode))
	}
	if s.VaultDir != nil {
		note("credentials.dir", "vault_dir", *s.VaultDir, c.VaultDir)
	}
	if s.UseKeyring != nil {
		note("credentials.use_keyring", "credentials_use_keyring", fmt.Sprint(*s.UseKeyring), fmt.Sprint(c.CredentialsUseKeyring))
	}
	if s.PassphraseCommand != nil && c.CredentialsPassphraseCommand != nil {
		note("credentials.passphrase_command", "credentials_passphrase_command", *s.PassphraseCommand, *c.CredentialsPassphraseCommand)
	}
	return notes
}
