package wiring

import (
	"encoding/json"
	"fmt"
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

// writeSidecar writes sc to path with mode 0600, confined to the state
// dir's tree: no link on the way is followed out of it, the final
// component is opened with O_NOFOLLOW, and the mode is forced with fchmod
// so an existing file with looser bits is tightened on rewrite.
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

// readSidecar reads the sidecar at path, confined to the state dir's tree.
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
