package wiring

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

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
	// notes are the warnings terok prints for sections it falls back on.
	notes []string
}

// terokConfigFiles are terok's config.yml scopes, lowest precedence first,
// as terok-util's config_file_paths gives them: the file TEROK_CONFIG_FILE
// names, alone, when it is set; otherwise the system scope
// (/etc/terok/config.yml) and, unless the process is root, the user's
// ($XDG_CONFIG_HOME/terok/config.yml, else ~/.config/terok/config.yml).
func terokConfigFiles(euid int, lookup LookupEnv) []string {
	if f, ok := lookup(EnvTerokConfigFile); ok && f != "" {
		return []string{f}
	}
	files := []string{"/etc/terok/config.yml"}
	if euid == 0 && initialUserNamespace() {
		return files
	}
	user, ok := lookup("XDG_CONFIG_HOME")
	if !ok || user == "" {
		home, _ := lookup("HOME")
		user = filepath.Join(home, ".config")
	}
	return append(files, filepath.Join(user, "terok", "config.yml"))
}

// initialUserNamespace reports whether the process runs in the initial
// user namespace, where uid 0 is root indeed: terok counts uid 0 in
// another (a rootless podman hook, say) as a user.
func initialUserNamespace() bool {
	data, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return true
	}
	return strings.Join(strings.Fields(string(data)), " ") == "0 0 4294967295"
}

// loadTerokSettings reads terok's scopes and merges them as terok does
// (terokMerge), then reads the two sections sandwire shares as terok's
// schema does (terokSections). A missing scope is skipped; one that cannot
// be read, is not YAML or not a mapping is an error naming the file,
// where terok would silently ignore every scope.
func loadTerokSettings(files []string) (terokSettings, error) {
	s := terokSettings{from: map[string]string{}}
	merged := map[string]any{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return s, fmt.Errorf("%w: reading terok's configuration %s: %w", ErrInvalidConfig, file, err)
		}
		var scope map[string]any
		if err := yaml.Unmarshal(data, &scope); err != nil {
			return s, fmt.Errorf("%w: terok's configuration %s: %w", ErrInvalidConfig, file, err)
		}
		for _, sec := range terokSections {
			if section, ok := scope[sec.name].(map[string]any); ok {
				for key := range section {
					s.from[sec.name+"."+key] = file
				}
			}
		}
		merged = terokMerge(merged, scope)
	}
	for _, sec := range terokSections {
		section, _ := merged[sec.name].(map[string]any) // a scalar there is an empty section
		if err := sec.read(&s, section); err != nil {
			s.notes = append(s.notes, fmt.Sprintf("WARNING: invalid %s section in terok's configuration (%v): terok falls back to its defaults for it, and so does sandwire", sec.name, err))
			sec.read(&s, nil)
		}
	}
	return s, nil
}

// terokSections are the sections of terok's config.yml sandwire reads,
// each checked as terok-sandbox's schema checks it: unknown keys refused,
// values read from their text (terok hands its schema every value as
// Python's str() of it). A section that fails falls back to its defaults.
var terokSections = []struct {
	name string
	read func(s *terokSettings, section map[string]any) error
}{
	{"services", func(s *terokSettings, section map[string]any) error {
		s.ServicesMode = nil
		for key, v := range section {
			if key != "mode" {
				return fmt.Errorf("unknown key %q", key)
			}
			mode := pyStr(v)
			if mode != string(ServicesSocket) && mode != string(ServicesTCP) {
				return fmt.Errorf("mode %q is neither %q nor %q", mode, ServicesSocket, ServicesTCP)
			}
			s.ServicesMode = &mode
		}
		return nil
	}},
	{"credentials", func(s *terokSettings, section map[string]any) error {
		s.VaultDir, s.UseKeyring, s.PassphraseCommand = nil, nil, nil
		for key, v := range section {
			text := pyStr(v)
			switch key {
			case "dir":
				s.VaultDir = &text
			case "passphrase_command":
				s.PassphraseCommand = &text
			case "use_keyring":
				b, ok := pyBool(text)
				if !ok {
					return fmt.Errorf("use_keyring %q is not a boolean", text)
				}
				s.UseKeyring = &b
			case "passphrase":
				return errors.New("credentials.passphrase (the plaintext tier) was removed from terok; put the passphrase in a file of mode 0600 and set passphrase_command: cat FILE")
			default:
				return fmt.Errorf("unknown key %q", key)
			}
		}
		return nil
	}},
}

// pyStr is Python's str() of a YAML scalar, as terok renders values.
func pyStr(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case bool:
		if v {
			return "True"
		}
		return "False"
	}
	return fmt.Sprint(v)
}

// pyBool reads a boolean from text as pydantic does.
func pyBool(text string) (value, ok bool) {
	switch strings.ToLower(text) {
	case "1", "on", "t", "true", "y", "yes":
		return true, true
	case "0", "off", "f", "false", "n", "no":
		return false, true
	}
	return false, false
}

// terokInherit is terok's merge sentinel: keep the lower scope's value.
const terokInherit = "_inherit"

// terokMerge merges override over base as terok-util's deep_merge does,
// into a new map: mappings merge key by key; a null deletes the key; the
// string "_inherit" keeps base's value; a list replaces base's unless it
// holds "_inherit", where base's items are spliced in; a mapping with
// "_inherit: true" is merged without that key; anything else replaces.
func terokMerge(base, override map[string]any) map[string]any {
	merged := make(map[string]any, len(base)+len(override))
	for k, v := range base {
		merged[k] = v
	}
	for k, ov := range override {
		bv, inBase := base[k]
		switch o := ov.(type) {
		case nil:
			delete(merged, k)
		case string:
			if o == terokInherit {
				if !inBase {
					delete(merged, k)
				}
				continue
			}
			merged[k] = o
		case map[string]any:
			o = withoutInherit(o)
			if b, ok := bv.(map[string]any); ok {
				merged[k] = terokMerge(b, o)
			} else {
				merged[k] = terokMerge(map[string]any{}, o)
			}
		case []any:
			b, ok := bv.([]any)
			if !ok || !slices.Contains(o, any(terokInherit)) {
				merged[k] = o
				continue
			}
			var spliced []any
			for _, item := range o {
				if item == terokInherit {
					spliced = append(spliced, b...)
				} else {
					spliced = append(spliced, item)
				}
			}
			merged[k] = spliced
		default:
			merged[k] = ov
		}
	}
	return merged
}

// withoutInherit is m without an "_inherit: true" key.
func withoutInherit(m map[string]any) map[string]any {
	if v, ok := m[terokInherit].(bool); !ok || !v {
		return m
	}
	out := maps.Clone(m)
	delete(out, terokInherit)
	return out
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
