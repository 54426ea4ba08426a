package wiring_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"syscall"
	"testing"

	"github.com/sandwire/sandwire/wiring"
)

// schemaFields are the sidecar keys that are always present.
var schemaFields = []string{
	"container_name", "ipc_mode", "db_path", "routes_path", "vault_systemd_creds_file",
	"credentials_use_keyring", "credentials_passphrase_command", "scope_id", "project_id",
	"task_id", "runtime_dir",
}

func minimalSidecar() wiring.Sidecar {
	return wiring.Sidecar{
		ContainerName:         "web",
		IPCMode:               "socket",
		DBPath:                "/vault/credentials.db",
		RoutesPath:            "/vault/routes.json",
		VaultSystemdCredsFile: "/vault/vault.passphrase.cred",
		CredentialsUseKeyring: true,
		ScopeID:               "proj",
		RuntimeDir:            "/runtime",
	}
}

func jsonKeys(t *testing.T, data []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("decoding %s: %v", data, err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sorted(s ...[]string) []string {
	var out []string
	for _, x := range s {
		out = append(out, x...)
	}
	sort.Strings(out)
	return out
}

func TestWriteSidecarSchema(t *testing.T) {
	full := minimalSidecar()
	full.CredentialsPassphraseCommand = ptr("pass show vault")
	full.ProjectID, full.TaskID = "proj", "task-1"
	full.TCPPort, full.SSHSignerPort, full.GatePort = ptr(4001), ptr(4002), ptr(4003)
	full.GateBasePath, full.GateToken = ptr("/state/gate"), ptr("terok-g-00000000000000000000000000000000")
	full.DossierPath, full.AllowDebugger = ptr("/state/dossier.json"), true

	cases := []struct {
		name     string
		sc       wiring.Sidecar
		wantKeys []string
	}{
		{"minimal sidecar has exactly the schema fields", minimalSidecar(), sorted(schemaFields)},
		{"sidecar with every option set adds exactly the optional fields", full, sorted(schemaFields,
			[]string{"tcp_port", "ssh_signer_port", "gate_base_path", "gate_token", "gate_port", "dossier_path", "allow_debugger"})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sidecar", "web.json")
			if err := wiring.WriteSidecar(path, tc.sc); err != nil {
				t.Fatalf("WriteSidecar = %v", err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := jsonKeys(t, data); !reflect.DeepEqual(got, tc.wantKeys) {
				t.Errorf("sidecar keys = %q, want %q", got, tc.wantKeys)
			}
			back, err := wiring.ReadSidecar(path)
			if err != nil {
				t.Fatalf("ReadSidecar = %v", err)
			}
			if !reflect.DeepEqual(back, tc.sc) {
				t.Errorf("ReadSidecar = %+v, want %+v", back, tc.sc)
			}
		})
	}
}

func TestWriteSidecarWritesMode0600(t *testing.T) {
	cases := []struct {
		name string
		// setup prepares the path before WriteSidecar runs.
		setup func(t *testing.T, path string)
	}{
		{
			name: "new file under a permissive umask is 0600",
			setup: func(t *testing.T, path string) {
				old := syscall.Umask(0)
				t.Cleanup(func() { syscall.Umask(old) })
			},
		},
		{
			name: "rewritten 0644 file is tightened to 0600",
			setup: func(t *testing.T, path string) {
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(`{"container_name":"stale","extra":"long old content"}`), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, 0o644); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "rewritten 0666 file under a permissive umask is tightened to 0600",
			setup: func(t *testing.T, path string) {
				old := syscall.Umask(0)
				t.Cleanup(func() { syscall.Umask(old) })
				if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte("{}"), 0o666); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sidecar", "web.json")
			tc.setup(t, path)
			want := minimalSidecar()
			if err := wiring.WriteSidecar(path, want); err != nil {
				t.Fatalf("WriteSidecar = %v", err)
			}
			st, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode() != 0o600 {
				t.Errorf("sidecar mode = %v, want -rw-------", st.Mode())
			}
			got, err := wiring.ReadSidecar(path)
			if err != nil {
				t.Fatalf("ReadSidecar = %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ReadSidecar = %+v, want %+v (old content must be truncated away)", got, want)
			}
		})
	}
}

func TestWriteSidecarCreatesItsDirPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "sidecar")
	if err := wiring.WriteSidecar(filepath.Join(dir, "web.json"), minimalSidecar()); err != nil {
		t.Fatalf("WriteSidecar = %v", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		t.Errorf("sidecar dir mode = %v, want no group or other bits", st.Mode())
	}
}

func TestSidecarRefusesASymlink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	const victimContent = "do not touch\n"
	writeFile(t, victim, victimContent)
	if err := os.Chmod(victim, 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "web.json")
	if err := os.Symlink(victim, path); err != nil {
		t.Fatal(err)
	}

	if err := wiring.WriteSidecar(path, minimalSidecar()); err == nil {
		t.Fatal("WriteSidecar followed a symlink planted at the sidecar path")
	}
	if _, err := wiring.ReadSidecar(path); err == nil {
		t.Error("ReadSidecar followed a symlink planted at the sidecar path")
	}
	if got := readFile(t, victim); got != victimContent {
		t.Errorf("symlink target content = %q, want %q", got, victimContent)
	}
	if st, err := os.Stat(victim); err != nil || st.Mode() != 0o644 {
		t.Errorf("symlink target mode = %v (%v), want -rw-r--r--", st.Mode(), err)
	}
	if st, err := os.Lstat(path); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the planted symlink was replaced: %v, %v", st, err)
	}
}

func TestReadSidecarErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	writeFile(t, bad, "{")
	cases := []struct {
		name string
		path string
	}{
		{"missing sidecar is an error", filepath.Join(dir, "missing.json")},
		{"malformed sidecar is an error", bad},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if sc, err := wiring.ReadSidecar(tc.path); err == nil {
				t.Errorf("ReadSidecar(%s) = %+v, nil; want an error", tc.path, sc)
			}
		})
	}
}
