package wiring

import "strconv"

// editsInput is everything the sandbox's edits are made of, once the host
// state is laid down and the tokens are minted.
type editsInput struct {
	Name      string
	Plan      Plan
	Mode      ServicesMode
	Resources Resources
	// SidecarPath is the absolute path of the sidecar file.
	SidecarPath string
	// BridgesDir is the host dir of the bridge resources; needed when the
	// plan needs bridges.
	BridgesDir string
	// GateToken and SSHToken are the minted tokens, when wired.
	GateToken, SSHToken string
	// ServerRootless decides the user namespace; with RootlessNetwork it
	// decides how an unshielded container reaches host loopback ports.
	ServerRootless  bool
	RootlessNetwork string
	// Orchestrator is recorded in the sidecar only.
	Orchestrator Orchestrator
	// Shield is the shield's contribution, when it is on.
	Shield *Edits
}

// buildEdits composes the sandbox's edits from their inputs, in a fixed
// order: shield (or, unshielded in tcp mode on a rootless server, the
// network that reaches the host's loopback), user namespace, bridges mount, runtime dir mount, broker,
// gate and SSH environment, then name, sidecar annotation and sidecar label. It is pure:
// no I/O, the same input gives the same edits.
func buildEdits(in editsInput) *Edits {
	edits := &Edits{}
	edits.Append(in.Shield)
	if in.Shield == nil && in.ServerRootless && in.Mode == ServicesTCP && in.Plan.NeedsBridges() {
		// The services listen on the host's loopback. A shielded container
		// gets the network that reaches it from the shield; an unshielded
		// one on a rootless server needs the same, or tcp mode is dead.
		edits.Append(ShieldNetwork(true, in.RootlessNetwork))
	}
	if in.ServerRootless {
		edits.Append(&Edits{UserNS: &UserNS{Mode: "keep-id", UID: KeepIDUID, GID: KeepIDGID}})
	}
	if in.Plan.NeedsBridges() {
		edits.Append(&Edits{Mounts: []Mount{{Source: in.BridgesDir, Destination: ContainerBridgesDir, ReadOnly: true, Relabel: "z"}}})
		if in.Mode == ServicesSocket {
			edits.Append(&Edits{Mounts: []Mount{{Source: in.Resources.RuntimeDir, Destination: ContainerRuntimeDir, ReadOnly: true, Relabel: "z"}}})
		}
	}
	if in.Plan.Broker {
		edits.Append(brokerEdits(in.Mode, in.Resources))
	}
	if in.Plan.Gate {
		edits.Append(gateEdits(in.Mode, in.Resources, in.GateToken))
	}
	if in.Plan.SSH {
		edits.Append(sshEdits(in.Mode, in.Resources, in.SSHToken))
	}
	return edits.Append(&Edits{Name: in.Name,
		Annotations: map[string]string{SidecarAnnotation: in.SidecarPath},
		Labels:      map[string]string{SidecarLabel: in.SidecarPath}})
}

// buildSidecar is the sidecar for the same inputs as buildEdits.
func buildSidecar(cfg Config, in editsInput) Sidecar {
	sc := Sidecar{
		ContainerName:                in.Name,
		IPCMode:                      string(in.Mode),
		DBPath:                       cfg.DBPath(),
		RoutesPath:                   cfg.RoutesPath(),
		VaultSystemdCredsFile:        cfg.VaultSystemdCredsFile(),
		CredentialsUseKeyring:        cfg.CredentialsUseKeyring,
		CredentialsPassphraseCommand: cfg.CredentialsPassphraseCommand,
		ScopeID:                      in.Plan.ScopeName(),
		RuntimeDir:                   cfg.RuntimeDir,
		TaskID:                       in.Orchestrator.TaskID,
		AllowDebugger:                in.Orchestrator.AllowDebugger,
	}
	if p := in.Orchestrator.DossierPath; p != "" {
		sc.DossierPath = &p
	}
	if in.Mode == ServicesTCP {
		broker, signer := in.Resources.BrokerPort, in.Resources.SignerPort
		sc.TCPPort, sc.SSHSignerPort = &broker, &signer
	}
	if in.Plan.Gate {
		base, token := cfg.GateBasePath(), in.GateToken
		sc.GateBasePath, sc.GateToken, sc.ProjectID = &base, &token, in.Plan.ScopeName()
		if in.Mode == ServicesTCP {
			port := in.Resources.GatePort
			sc.GatePort = &port
		}
	}
	return sc
}

func brokerEdits(mode ServicesMode, res Resources) *Edits {
	if mode == ServicesSocket {
		return &Edits{Env: map[string]string{
			EnvVaultLoopbackPort: strconv.Itoa(VaultLoopbackPort),
			EnvVaultSocket:       ContainerVaultSocket,
		}}
	}
	return &Edits{Env: map[string]string{EnvTokenBrokerPort: strconv.Itoa(res.BrokerPort)}}
}

func gateEdits(mode ServicesMode, res Resources, token string) *Edits {
	env := map[string]string{EnvGateToken: token}
	if mode == ServicesSocket {
		env[EnvGateSocket] = ContainerGateSocket
	} else {
		env[EnvGatePort] = strconv.Itoa(res.GatePort)
	}
	return &Edits{Env: env}
}

func sshEdits(mode ServicesMode, res Resources, token string) *Edits {
	env := map[string]string{EnvSSHSignerToken: token}
	if mode == ServicesSocket {
		env[EnvSSHSignerSocket] = ContainerSSHSignerSocket
	} else {
		env[EnvSSHSignerPort] = strconv.Itoa(res.SignerPort)
	}
	return &Edits{Env: env}
}
