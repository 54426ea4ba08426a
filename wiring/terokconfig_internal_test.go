package wiring

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestTerokConfigFilesFollowTerokUtil(t *testing.T) {
	root := 0
	if !initialUserNamespace() {
		root = -1 // uid 0 here is not root to terok; the root case cannot be shown
	}
	cases := []struct {
		name string
		euid int
		env  map[string]string
		want []string
	}{
		{"a user reads the system scope, then its own", 1000, map[string]string{"HOME": "/home/u"},
			[]string{"/etc/terok/config.yml", "/home/u/.config/terok/config.yml"}},
		{"XDG_CONFIG_HOME places the user scope", 1000, map[string]string{"HOME": "/home/u", "XDG_CONFIG_HOME": "/cfg"},
			[]string{"/etc/terok/config.yml", "/cfg/terok/config.yml"}},
		{"TEROK_CONFIG_FILE is read alone, without layering", 1000, map[string]string{"HOME": "/home/u", EnvTerokConfigFile: "/o.yml"},
			[]string{"/o.yml"}},
	}
	if root == 0 {
		cases = append(cases, struct {
			name string
			euid int
			env  map[string]string
			want []string
		}{"root reads the system scope only", 0, map[string]string{"HOME": "/root"}, []string{"/etc/terok/config.yml"}})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := terokConfigFiles(tc.euid, func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("terokConfigFiles = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTerokMergeFollowsDeepMerge(t *testing.T) {
	cases := []struct {
		name                 string
		base, override, want map[string]any
	}{
		{"mappings merge key by key",
			map[string]any{"c": map[string]any{"a": 1, "b": 2}},
			map[string]any{"c": map[string]any{"b": 3}},
			map[string]any{"c": map[string]any{"a": 1, "b": 3}}},
		{"a null deletes the key",
			map[string]any{"c": map[string]any{"a": 1, "b": 2}},
			map[string]any{"c": map[string]any{"a": nil}},
			map[string]any{"c": map[string]any{"b": 2}}},
		{"a null section deletes the section",
			map[string]any{"c": map[string]any{"a": 1}, "d": 1},
			map[string]any{"c": nil},
			map[string]any{"d": 1}},
		{"_inherit keeps the lower value",
			map[string]any{"c": map[string]any{"a": "x"}},
			map[string]any{"c": map[string]any{"a": "_inherit", "b": "_inherit"}},
			map[string]any{"c": map[string]any{"a": "x"}}},
		{"a list replaces unless it splices with _inherit",
			map[string]any{"l": []any{"a", "b"}, "m": []any{"a"}},
			map[string]any{"l": []any{"c"}, "m": []any{"z", "_inherit"}},
			map[string]any{"l": []any{"c"}, "m": []any{"z", "a"}}},
		{"_inherit: true is taken off a mapping",
			map[string]any{"c": map[string]any{"a": 1}},
			map[string]any{"c": map[string]any{"_inherit": true, "b": 2}},
			map[string]any{"c": map[string]any{"a": 1, "b": 2}}},
		{"a scalar replaces a mapping, and a mapping a scalar",
			map[string]any{"c": map[string]any{"a": 1}, "d": "tcp"},
			map[string]any{"c": "tcp", "d": map[string]any{"mode": "tcp"}},
			map[string]any{"c": "tcp", "d": map[string]any{"mode": "tcp"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := terokMerge(tc.base, tc.override); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("terokMerge = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLoadTerokSettingsReadsSectionsAsTerokDoes(t *testing.T) {
	str := func(s string) *string { return &s }
	boolp := func(b bool) *bool { return &b }
	cases := []struct {
		name          string
		system, user  string
		mode, command *string
		keyring       *bool
		wantNote      string
	}{
		{name: "the user scope overrides the system scope at the leaf",
			system:  "credentials:\n  use_keyring: false\n  passphrase_command: cat /etc/p\n",
			user:    "credentials:\n  passphrase_command: pass show vault\n",
			keyring: boolp(false), command: str("pass show vault")},
		{name: "a null in the user scope takes the system scope's key away",
			system: "credentials:\n  passphrase_command: cat /etc/p\nservices:\n  mode: tcp\n",
			user:   "credentials:\n  passphrase_command: null\n",
			mode:   str("tcp")},
		{name: "a boolean is read from its text as terok's schema reads it",
			user: "credentials:\n  use_keyring: \"no\"\n", keyring: boolp(false)},
		{name: "a section that is not a mapping is an empty one",
			system: "services:\n  mode: tcp\n", user: "services: tcp\n"},
		{name: "an unknown mode falls back to the defaults with a warning",
			user: "services:\n  mode: pigeon\n", wantNote: "invalid services section"},
		{name: "an unknown key falls back to the section's defaults with a warning",
			user: "credentials:\n  use_keyring: false\n  colour: blue\n", wantNote: "invalid credentials section"},
		{name: "the removed plaintext tier falls back with directions",
			user: "credentials:\n  passphrase: hunter2\n  use_keyring: false\n", wantNote: "passphrase_command: cat FILE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var files []string
			for i, data := range []string{tc.system, tc.user} {
				f := filepath.Join(dir, []string{"system.yml", "user.yml"}[i])
				files = append(files, f)
				if data != "" {
					if err := os.WriteFile(f, []byte(data), 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			s, err := loadTerokSettings(files)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.ServicesMode, tc.mode) || !reflect.DeepEqual(s.PassphraseCommand, tc.command) || !reflect.DeepEqual(s.UseKeyring, tc.keyring) {
				t.Errorf("settings mode %v command %v keyring %v; want %v %v %v", deref(s.ServicesMode), deref(s.PassphraseCommand), deref(s.UseKeyring),
					deref(tc.mode), deref(tc.command), deref(tc.keyring))
			}
			switch {
			case tc.wantNote == "" && len(s.notes) != 0:
				t.Errorf("notes %q, want none", s.notes)
			case tc.wantNote != "" && (len(s.notes) != 1 || !strings.Contains(s.notes[0], tc.wantNote)):
				t.Errorf("notes %q, want one saying %q", s.notes, tc.wantNote)
			}
			if strings.Contains(strings.Join(s.notes, "\n"), "hunter2") {
				t.Errorf("a note shows the plaintext passphrase: %q", s.notes)
			}
		})
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
