package wiring

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Sidecar is the per-container file the supervisor hook reads. Its JSON
// form is part of the host-side contract; field names must not change.
type Sidecar struct {
	ContainerName                string  `json:"container_name"`
	IPCMode                      string  `json:"ipc_mode"`
	DBPath                       string  `json:"db_path"`
	RoutesPath                   string  `json:"routes_path"`
	VaultSystemdCredsFile        string  `json:"vault_systemd_creds_file"`
	CredentialsUseKeyring        bool    `json:"credentials_use_keyring"`
	CredentialsPassphraseCommand *string `json:"credentials_passphrase_command"`
	ScopeID                      string  `json:"scope_id"`
	ProjectID                    string  `json:"project_id"`
	TaskID                       string  `json:"task_id"`
	RuntimeDir                   string  `json:"runtime_dir"`
	// Present only in tcp mode.
	TCPPort       *int `json:"tcp_port,omitempty"`
	SSHSignerPort *int `json:"ssh_signer_port,omitempty"`
	// Present only when the gate is wired.
	GateBasePath *string `json:"gate_base_path,omitempty"`
	GateToken    *string `json:"gate_token,omitempty"`
	GatePort     *int    `json:"gate_port,omitempty"`
	// Present only when they apply.
	DossierPath   *string `json:"dossier_path,omitempty"`
	AllowDebugger bool    `json:"allow_debugger,omitempty"`
}

// WriteSidecar writes sc to path with mode 0600. The final path component
// is opened with O_NOFOLLOW, so a symlink planted there is refused rather
// than followed, and the mode is forced with fchmod so an existing file
// with looser bits is tightened on rewrite. (Compose writes its sidecars
// within the state dir's tree, where no link on the way is followed out.)
func WriteSidecar(path string, sc Sidecar) error {
	data, err := encodeSidecar(sc)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating the sidecar dir: %w", err)
	}
	return writeFileNoFollow(path, data, 0o600)
}

// writeSidecar is WriteSidecar confined to the state dir's tree.
func (c Config) writeSidecar(path string, sc Sidecar) error {
	data, err := encodeSidecar(sc)
	if err != nil {
		return err
	}
	return c.writeState(path, data, 0o600)
}

func encodeSidecar(sc Sidecar) ([]byte, error) {
	data, err := json.MarshalIndent(sc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the sidecar: %w", err)
	}
	return append(data, '\n'), nil
}

// ReadSidecar reads the sidecar at path without following a symlink.
func ReadSidecar(path string) (Sidecar, error) {
	data, err := readFileNoFollow(path)
	if err != nil {
		return Sidecar{}, err
	}
	return decodeSidecar(path, data)
}

// readSidecar is ReadSidecar confined to the state dir's tree.
func (c Config) readSidecar(path string) (Sidecar, error) {
	data, err := c.readState(path)
	if err != nil {
		return Sidecar{}, err
	}
	return decodeSidecar(path, data)
}

func decodeSidecar(path string, data []byte) (Sidecar, error) {
	var sc Sidecar
	if err := json.Unmarshal(data, &sc); err != nil {
		return sc, fmt.Errorf("decoding the sidecar %s: %w", path, err)
	}
	return sc, nil
}

// writeFileNoFollow writes data to path, refusing a symlink at path and
// forcing mode on the file even when it already existed.
func writeFileNoFollow(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, mode)
	if err == nil {
		err = writeAndClose(f, data, mode)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
