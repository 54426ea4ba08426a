package wiring

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/BurntSushi/toml"
	"github.com/containerd/errdefs"
)

// ServicesMode is how host services reach the container: through unix
// sockets under the per-container runtime dir, or through loopback TCP ports.
type ServicesMode string

const (
	ServicesSocket ServicesMode = "socket"
	ServicesTCP    ServicesMode = "tcp"
)

// Environment variables that override the configuration.
const (
	EnvStateDir     = "TEROK_SANDBOX_STATE_DIR"
	EnvRuntimeDir   = "TEROK_SANDBOX_RUNTIME_DIR"
	EnvVaultDir     = "TEROK_VAULT_DIR"
	EnvServicesMode = "TEROK_SANDBOX_SERVICES_MODE"
	// EnvConfigFile names a configuration file to read instead of the default.
	EnvConfigFile = "SANDWIRE_CONFIG"
)

// DefaultShieldProfile is the shield profile used when none is configured.
const DefaultShieldProfile = "dev-standard"

// Config is where the sandbox keeps its host state and how it wires
// services. Build one with LoadConfig or fill it in directly; every path
// must be absolute.
type Config struct {
	// StateDir is the persistent state root (sidecars, run state, locks).
	StateDir string `toml:"state_dir"`
	// RuntimeDir is the transient runtime root (per-container socket dirs).
	RuntimeDir string `toml:"runtime_dir"`
	// VaultDir holds the token store and the vault's files.
	VaultDir string `toml:"vault_dir"`
	// ServicesMode is "socket" (default) or "tcp".
	ServicesMode ServicesMode `toml:"services_mode"`
	// ShieldProfiles are the egress firewall profiles.
	ShieldProfiles []string `toml:"shield_profiles"`
	// ShieldBypass launches without the egress firewall. It is read only
	// from the configuration file (never from the environment), so that
	// nothing short of an explicit edit can turn the firewall off.
	ShieldBypass bool `toml:"shield_bypass_firewall_no_protection"`
	// ShieldCommand is the terok-shield executable.
	ShieldCommand string `toml:"shield_command"`
	// BridgeBinary is the container-side bridge program; empty means
	// looking for it beside sandwire and in the helper-binary dirs.
	BridgeBinary string `toml:"bridge_binary"`
	// CredentialsUseKeyring and CredentialsPassphraseCommand are terok's
	// credentials.use_keyring and credentials.passphrase_command: whether
	// the vault's passphrase chain asks the OS keyring, and the command
	// that prints the passphrase. sandwire unlocks the vault with them
	// (Config.PassphraseChain) and passes them to the supervisor through
	// the sidecar.
	CredentialsUseKeyring        bool    `toml:"credentials_use_keyring"`
	CredentialsPassphraseCommand *string `toml:"credentials_passphrase_command"`
	// TokenStore is where phantom tokens are kept: TokenStoreVault (the
	// default; empty means it too), terok-sandbox's encrypted credentials
	// DB, or TokenStorePlaintext, a plaintext SQLite file for development
	// that terok's signer and broker cannot read and that is never put
	// over an encrypted DB. It is read only from the configuration file.
	TokenStore TokenStoreKind `toml:"token_store"`

	// Notes are messages for the user about how LoadConfig assembled the
	// configuration (a key that sandwire's file and terok's config.yml
	// both set, differently).
	Notes []string `toml:"-"`
}

// TokenStoreKind names a token store.
type TokenStoreKind string

const (
	TokenStoreVault     TokenStoreKind = "vault"
	TokenStorePlaintext TokenStoreKind = "plaintext"
)

// ErrInvalidConfig is wrapped by every configuration error.
var ErrInvalidConfig = newSentinel(errdefs.ErrInvalidArgument, "invalid sandwire configuration")

// LookupEnv reads one environment variable; os.LookupEnv is one.
type LookupEnv func(key string) (string, bool)

// DefaultConfig returns the defaults for a user: root's live under /var/lib
// and /run, anyone else's under ~/.local/share and $XDG_RUNTIME_DIR.
func DefaultConfig(euid int, lookup LookupEnv) Config {
	c := Config{
		ServicesMode:          ServicesSocket,
		ShieldProfiles:        []string{DefaultShieldProfile},
		ShieldCommand:         "terok-shield",
		CredentialsUseKeyring: true,
		TokenStore:            TokenStoreVault,
	}
	if euid == 0 {
		c.StateDir = "/var/lib/terok/sandbox"
		c.RuntimeDir = "/run/terok/sandbox"
		c.VaultDir = "/var/lib/terok/vault"
		return c
	}
	home, _ := lookup("HOME")
	data, ok := lookup("XDG_DATA_HOME")
	if !ok || data == "" {
		data = filepath.Join(home, ".local", "share")
	}
	run, ok := lookup("XDG_RUNTIME_DIR")
	if !ok || run == "" {
		run = filepath.Join(os.TempDir(), fmt.Sprintf("terok-%d", euid))
	}
	c.StateDir = filepath.Join(data, "terok", "sandbox")
	c.RuntimeDir = filepath.Join(run, "terok", "sandbox")
	c.VaultDir = filepath.Join(data, "terok", "vault")
	return c
}

// defaultConfigFile is the configuration file read when SANDWIRE_CONFIG is
// unset: /etc/sandwire/sandwire.toml for root, else
// $XDG_CONFIG_HOME/sandwire/sandwire.toml.
func defaultConfigFile(euid int, lookup LookupEnv) string {
	if euid == 0 {
		return "/etc/sandwire/sandwire.toml"
	}
	dir, ok := lookup("XDG_CONFIG_HOME")
	if !ok || dir == "" {
		home, _ := lookup("HOME")
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "sandwire", "sandwire.toml")
}

// LoadConfig resolves the configuration: defaults, then the keys sandwire
// shares with terok's config.yml (services.mode, credentials.dir,
// credentials.use_keyring, credentials.passphrase_command; its system and
// user scopes and TEROK_CONFIG_FILE, in terok's order), then sandwire's own
// file (SANDWIRE_CONFIG, which must exist when set, or the default file,
// which may be absent), which wins where it sets a key — a different value
// there is reported in Notes — then the environment overrides.
func LoadConfig(euid int, lookup LookupEnv) (Config, error) {
	c := DefaultConfig(euid, lookup)
	terok, err := loadTerokSettings(terokConfigFiles(euid, lookup))
	if err != nil {
		return Config{}, err
	}
	terok.applyTo(&c)
	file, explicit := lookup(EnvConfigFile)
	if !explicit || file == "" {
		file, explicit = defaultConfigFile(euid, lookup), false
	}
	defined, err := c.mergeFile(file, explicit)
	if err != nil {
		return Config{}, err
	}
	c.Notes = append(terok.notes, terok.conflicts(c, file, defined)...)
	for env, field := range map[string]*string{EnvStateDir: &c.StateDir, EnvRuntimeDir: &c.RuntimeDir, EnvVaultDir: &c.VaultDir} {
		if v, ok := lookup(env); ok && v != "" {
			*field = v
		}
	}
	if v, ok := lookup(EnvServicesMode); ok && v != "" {
		c.ServicesMode = ServicesMode(v)
	}
	return c, c.Validate()
}

// mergeFile decodes file over c and reports which keys it set.
func (c *Config) mergeFile(file string, mustExist bool) (defined func(key string) bool, err error) {
	none := func(string) bool { return false }
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) && !mustExist {
		return none, nil
	}
	if err != nil {
		return none, fmt.Errorf("%w: reading %s: %w", ErrInvalidConfig, file, err)
	}
	md, err := toml.Decode(string(data), c)
	if err != nil {
		return none, fmt.Errorf("%w: %s: %w", ErrInvalidConfig, file, err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		return none, fmt.Errorf("%w: %s: unknown key %q", ErrInvalidConfig, file, undecoded[0].String())
	}
	return func(key string) bool { return md.IsDefined(key) }, nil
}

// Validate checks that every path is absolute and the services mode and
// the token store are known.
func (c Config) Validate() error {
	for _, p := range []struct{ name, value string }{
		{"state dir", c.StateDir}, {"runtime dir", c.RuntimeDir}, {"vault dir", c.VaultDir},
	} {
		if !filepath.IsAbs(p.value) {
			return fmt.Errorf("%w: the %s %q must be an absolute path", ErrInvalidConfig, p.name, p.value)
		}
	}
	switch c.ServicesMode {
	case ServicesSocket, ServicesTCP:
	default:
		return fmt.Errorf("%w: services mode %q must be %q or %q", ErrInvalidConfig, c.ServicesMode, ServicesSocket, ServicesTCP)
	}
	switch c.TokenStore {
	case "", TokenStoreVault, TokenStorePlaintext:
	default:
		return fmt.Errorf("%w: token store %q must be %q or %q", ErrInvalidConfig, c.TokenStore, TokenStoreVault, TokenStorePlaintext)
	}
	return nil
}

// DBPath is the token store (the vault's credentials database).
func (c Config) DBPath() string { return filepath.Join(c.VaultDir, "credentials.db") }

// RoutesPath is the vault's route configuration.
func (c Config) RoutesPath() string { return filepath.Join(c.VaultDir, "routes.json") }

// VaultSystemdCredsFile is the vault passphrase sealed with systemd-creds.
func (c Config) VaultSystemdCredsFile() string {
	return filepath.Join(c.VaultDir, "vault.passphrase.cred")
}

// GateBasePath is where the git gate keeps its repositories.
func (c Config) GateBasePath() string { return filepath.Join(c.StateDir, "gate") }

// BridgesDir holds the bridge resources, one dir per bridge version.
func (c Config) BridgesDir() string { return filepath.Join(c.StateDir, "bridges") }

// SidecarDir holds one sidecar file per wired container.
func (c Config) SidecarDir() string { return filepath.Join(c.StateDir, "sidecar") }

// SidecarPath is the sidecar file of container name.
func (c Config) SidecarPath(name string) string {
	return filepath.Join(c.SidecarDir(), name+".json")
}

// RunsDir holds one run state dir per wired container.
func (c Config) RunsDir() string { return filepath.Join(c.StateDir, "sandbox", "runs") }

// RunStateDir is the run state dir (meta.json) of container name.
func (c Config) RunStateDir(name string) string { return filepath.Join(c.RunsDir(), name) }

// LockDir holds the per-name launch locks.
func (c Config) LockDir() string { return filepath.Join(c.StateDir, "sandbox", "locks") }

// RuntimeRunsDir holds one runtime dir per wired container.
func (c Config) RuntimeRunsDir() string { return filepath.Join(c.RuntimeDir, "run") }

// ContainerRuntimeDir is the host dir mounted at /run/terok in container name.
func (c Config) ContainerRuntimeDir(name string) string {
	return filepath.Join(c.RuntimeRunsDir(), name)
}
