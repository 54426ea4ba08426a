package launch

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/sandwire/sandwire/podmanapi"
	"github.com/sandwire/sandwire/shield"
	"github.com/sandwire/sandwire/wiring"
)

// Sandbox is one sandbox's configuration and its collaborators — the
// token store, the egress firewall, the podman service and a sink for
// messages meant for the user — with the verbs that launch, list and
// undo wired containers as its methods. Build it once with New and keep
// it; it is safe for concurrent use. Close releases the token store.
type Sandbox struct {
	cfg    wiring.Config
	tokens wiring.TokenStore
	// ownStore is the default token store, which Close closes.
	ownStore io.Closer
	notes    func(string)
	warnings func(string)
	conn     Connection
	lookup   func(string) (string, bool)

	// The egress firewall: the one WithShield gave, or terok-shield,
	// built on first use since it reads this machine's containers.conf.
	shieldSet  bool
	shieldOnce sync.Once
	shield     wiring.Shield
	shieldErr  error

	// localFacts are this user's local podman's, for Prepare without a
	// named server: read from containers.conf once.
	localOnce  sync.Once
	localFacts podmanapi.Facts
	localErr   error

	mu sync.Mutex
	// server is the podman service: WithServer's, or connected on first use.
	server Server
	given  bool
}

// Option changes one default of a Sandbox.
type Option func(*Sandbox)

// WithServer makes the sandbox use server instead of connecting to the
// podman service itself (a *podmanapi.Client is one).
func WithServer(server Server) Option {
	return func(s *Sandbox) { s.server, s.given = server, server != nil }
}

// WithConnection says which podman service to connect to, as podman-remote's
// --url, --connection and --identity do. The default follows podman-remote's
// own rules (CONTAINER_HOST, CONTAINER_CONNECTION, the default connection,
// the default socket).
func WithConnection(conn Connection) Option {
	return func(s *Sandbox) { s.conn = conn }
}

// WithTokenStore makes the sandbox keep phantom tokens in store instead of
// the default store in the configured vault dir. The caller closes it.
func WithTokenStore(store wiring.TokenStore) Option {
	return func(s *Sandbox) { s.tokens = store }
}

// WithShield makes the sandbox use sh as the egress firewall instead of
// the terok-shield command the configuration names. A nil sh means there
// is no firewall here: a launch with the shield on then fails closed.
func WithShield(sh wiring.Shield) Option {
	return func(s *Sandbox) { s.shield, s.shieldSet = sh, true }
}

// WithNotes sends the sandbox's messages meant for the user (skipped
// subsystems, the shield's network override) to notify, one
// message per call, tokens redacted. The default writes them to standard
// error; nil drops them.
func WithNotes(notify func(string)) Option {
	return func(s *Sandbox) { s.notes = notify }
}

// WithEnv makes the sandbox read the environment through lookup instead of
// os.LookupEnv when it decides whether a podman service was named
// (CONTAINER_HOST, CONTAINER_CONNECTION).
func WithEnv(lookup func(string) (string, bool)) Option {
	return func(s *Sandbox) { s.lookup = lookup }
}

// WithWarnings sends the podman service's own warnings about a container
// it created (what podman prints for the same create) to warn instead of
// standard error; nil drops them. They are not the sandbox's notes, so
// WithNotes(nil) leaves them.
func WithWarnings(warn func(string)) Option {
	return func(s *Sandbox) { s.warnings = warn }
}

// NotesTo is a notes sink that writes each message as a line to w.
func NotesTo(w io.Writer) func(string) {
	return func(msg string) { fmt.Fprintln(w, msg) }
}

// New returns a Sandbox for cfg. With no options it behaves as the
// sandwire CLI does: tokens in terok-sandbox's vault in cfg's vault dir,
// unlocked through terok's passphrase chain (cfg.PassphraseChain, with a
// prompt when standard input is a terminal), or in the plaintext store
// when cfg's token store says so; the shield through cfg's shield command,
// the podman service chosen as podman-remote chooses it, and notes on
// standard error. Nothing is opened or connected before a verb needs it.
func New(cfg Config, opts ...Option) (*Sandbox, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Sandbox{cfg: cfg, notes: NotesTo(os.Stderr), warnings: NotesTo(os.Stderr), lookup: os.LookupEnv}
	for _, o := range opts {
		o(s)
	}
	// How the configuration was assembled is the user's to know.
	s.note(cfg.Notes...)
	if s.tokens == nil {
		s.tokens, s.ownStore = defaultTokenStore(cfg)
	}
	return s, nil
}

// defaultTokenStore is the vault, unless the configuration asks for the
// plaintext development store.
func defaultTokenStore(cfg Config) (wiring.TokenStore, io.Closer) {
	if cfg.TokenStore == wiring.TokenStorePlaintext {
		store := wiring.NewSQLiteStore(cfg.DBPath())
		return store, store
	}
	store := wiring.NewVaultStore(cfg.DBPath(), cfg.PassphraseChain(os.LookupEnv, os.Stdin), wiring.WithKeyCache(cfg.VaultKeyCache()))
	return store, store
}

// Config returns the sandbox's configuration.
func (s *Sandbox) Config() Config { return s.cfg }

// Close releases what the sandbox opened itself (the default token store).
func (s *Sandbox) Close() error {
	if s.ownStore != nil {
		return s.ownStore.Close()
	}
	return nil
}

// note passes messages to the user's sink, tokens redacted.
func (s *Sandbox) note(msgs ...string) { tell(s.notes, msgs) }

// warn passes the server's warnings on.
func (s *Sandbox) warn(msgs ...string) { tell(s.warnings, msgs) }

func tell(sink func(string), msgs []string) {
	if sink == nil {
		return
	}
	for _, m := range msgs {
		sink(wiring.Redact(m))
	}
}

// firewall is the shield adapter: the one given, or terok-shield checked
// against the hooks directories of this machine's podman.
func (s *Sandbox) firewall() (wiring.Shield, error) {
	if s.shieldSet {
		return s.shield, nil
	}
	s.shieldOnce.Do(func() {
		local, err := podmanapi.ReadLocalConfig()
		if err != nil {
			s.shieldErr = err
			return
		}
		s.shield = shield.Command{Path: s.cfg.ShieldCommand, HooksDirs: local.HooksDirs}
	})
	return s.shield, s.shieldErr
}

// connect returns the podman service, connecting on first use.
func (s *Sandbox) connect(ctx context.Context) (Server, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.server != nil {
		return s.server, nil
	}
	c, err := podmanapi.Connect(ctx, s.conn)
	if err != nil {
		return nil, err
	}
	s.server = c
	return c, nil
}

// serverNamed reports whether the caller chose a podman service, by an
// option or by podman-remote's environment variables; without one, prepare
// describes this machine's own podman instead of asking a service.
func (s *Sandbox) serverNamed() bool {
	if s.given || s.conn.URL != "" || s.conn.Connection != "" {
		return true
	}
	for _, env := range []string{"CONTAINER_HOST", "CONTAINER_CONNECTION"} {
		if v, ok := s.lookup(env); ok && v != "" {
			return true
		}
	}
	return false
}
