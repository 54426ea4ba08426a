package wiring

// The container-side contract. Images, entrypoints and host services
// written for terok-sandbox read these names and values; they are the wire
// and must stay byte-compatible.
const (
	// ContainerRuntimeDir is where the per-container host runtime dir is
	// bind-mounted (read-only) inside the container.
	ContainerRuntimeDir = "/run/terok"
	// ContainerVaultSocket is the vault token broker socket in socket mode.
	ContainerVaultSocket = ContainerRuntimeDir + "/vault/vault.sock"
	// ContainerSSHSignerSocket is the SSH signer socket in socket mode.
	ContainerSSHSignerSocket = ContainerRuntimeDir + "/signer/ssh-agent.sock"
	// ContainerGateSocket is the git gate socket in socket mode.
	ContainerGateSocket = ContainerRuntimeDir + "/gate/gate-server.sock"
	// ContainerBridgesDir is where the bridge resources are mounted read-only.
	ContainerBridgesDir = "/usr/local/share/terok-sandbox/bridges"
	// VaultLoopbackPort is the in-container loopback port of the vault bridge.
	VaultLoopbackPort = 9419

	// SidecarAnnotation names the annotation that carries the absolute
	// path of the sidecar file; the supervisor hook keys on it.
	SidecarAnnotation = "terok.sandbox.sidecar"
	// AnnotationPrefix is the namespace of every annotation the sandbox
	// (or the shield on its behalf) owns.
	AnnotationPrefix = "terok."
	// SidecarLabel names the label that carries the sidecar's path too.
	// podman's events carry a container's labels, never its annotations,
	// so it is by this label that a watcher knows a wired container's
	// removal. It is sandwire's addition: terok-sandbox set no labels.
	SidecarLabel = "terok.sandbox.sidecar"
	// LabelPrefix is the namespace of every label the sandbox owns.
	LabelPrefix = "terok."
	// EnvPrefix is the namespace of every environment variable the sandbox owns.
	EnvPrefix = "TEROK_"

	// Environment variable names read by the container-side bridges.
	EnvVaultLoopbackPort = "TEROK_VAULT_LOOPBACK_PORT"
	EnvVaultSocket       = "TEROK_VAULT_SOCKET"
	EnvGateSocket        = "TEROK_GATE_SOCKET"
	EnvSSHSignerSocket   = "TEROK_SSH_SIGNER_SOCKET"
	EnvTokenBrokerPort   = "TEROK_TOKEN_BROKER_PORT"
	EnvGatePort          = "TEROK_GATE_PORT"
	EnvSSHSignerPort     = "TEROK_SSH_SIGNER_PORT"
	EnvGateToken         = "TEROK_GATE_TOKEN"
	EnvSSHSignerToken    = "TEROK_SSH_SIGNER_TOKEN"

	// GateTokenPrefix and PhantomTokenPrefix start the two token formats;
	// each is followed by 32 lower-case hex digits.
	GateTokenPrefix    = "terok-g-"
	PhantomTokenPrefix = "terok-p-"

	// SSHProvider is the provider recorded for SSH signer phantom tokens.
	SSHProvider = "ssh"

	// KeepIDUID and KeepIDGID are the in-container IDs the host user is
	// mapped to when the podman server is rootless.
	KeepIDUID = 1000
	KeepIDGID = 1000

	// MaxSocketPath is the longest filesystem path an AF_UNIX socket can
	// bind: sun_path is 108 bytes including the terminating NUL.
	MaxSocketPath = 107
)

// serviceSockets lists the in-container socket paths whose host
// counterparts live under the per-container runtime dir.
var serviceSockets = []string{ContainerVaultSocket, ContainerSSHSignerSocket, ContainerGateSocket}

// OwnsPath reports whether a mount destination in the container belongs to
// the sandbox: the bridges dir, /run/terok, or anything beneath either.
func OwnsPath(dest string) bool {
	dest = cleanDest(dest)
	for _, p := range []string{ContainerBridgesDir, ContainerRuntimeDir} {
		if dest == p || len(dest) > len(p) && dest[:len(p)] == p && dest[len(p)] == '/' {
			return true
		}
	}
	return false
}

// OwnsEnv reports whether an environment variable name belongs to the sandbox.
func OwnsEnv(key string) bool { return hasPrefix(key, EnvPrefix) }

// OwnsAnnotation reports whether an annotation key belongs to the sandbox.
func OwnsAnnotation(key string) bool { return hasPrefix(key, AnnotationPrefix) }

// OwnsLabel reports whether a label key belongs to the sandbox.
func OwnsLabel(key string) bool { return hasPrefix(key, LabelPrefix) }

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }
