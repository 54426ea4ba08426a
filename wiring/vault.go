package wiring

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	// SQLCipher 4.4.2, bundled. go.mod replaces mattn's SQLite driver,
	// which podman's client libraries link, with third_party/go-sqlite3,
	// so that a program holds this one SQLite C library; see there.
	sqlite3 "github.com/mutecomm/go-sqlcipher/v4"
)

// Token store errors; each answers errors.Is for errdefs.ErrUnavailable.
var (
	// ErrTokenStoreUnavailable: the store cannot be used (a file of the
	// wrong kind, a driver without SQLCipher, a schema it does not know).
	ErrTokenStoreUnavailable = newSentinel(errdefs.ErrUnavailable, "the token store cannot be used")
	// ErrVaultLocked: no tier of the passphrase chain holds the vault's
	// passphrase, or a configured tier failed closed.
	ErrVaultLocked = newSentinel(errdefs.ErrUnavailable, "the vault is locked")
	// ErrWrongPassphrase: the passphrase does not decrypt the vault.
	ErrWrongPassphrase = newSentinel(errdefs.ErrUnavailable, "wrong vault passphrase")
)

// VaultSchemaVersion is the credentials DB schema that terok-sandbox
// writes and sandwire creates, kept in the DB's user_version.
const VaultSchemaVersion = 3

// vaultSchema is terok-sandbox's credentials DB, as its migrations module
// declares the current shape.
var vaultSchema = []string{
	`CREATE TABLE IF NOT EXISTS credentials (
		credential_set TEXT NOT NULL,
		provider       TEXT NOT NULL,
		data           TEXT NOT NULL,
		PRIMARY KEY (credential_set, provider)
	)`,
	`CREATE TABLE IF NOT EXISTS ssh_keys (
		id           INTEGER PRIMARY KEY AUTOINCREMENT,
		key_type     TEXT    NOT NULL CHECK (key_type IN ('ed25519','rsa')),
		private_der  BLOB    NOT NULL,
		public_blob  BLOB    NOT NULL,
		comment      TEXT    NOT NULL DEFAULT '',
		fingerprint  TEXT    NOT NULL UNIQUE,
		created_at   TEXT    NOT NULL DEFAULT (datetime('now'))
	)`,
	`CREATE TABLE IF NOT EXISTS ssh_key_assignments (
		scope        TEXT    NOT NULL,
		key_id       INTEGER NOT NULL REFERENCES ssh_keys(id) ON DELETE CASCADE,
		assigned_at  TEXT    NOT NULL DEFAULT (datetime('now')),
		PRIMARY KEY (scope, key_id)
	)`,
	proxyTokensSchema,
}

// VaultStore is the sandbox's default TokenStore: terok-sandbox's vault,
// the SQLCipher 4 credentials DB whose proxy_tokens the vault's token
// broker and SSH signer read. Its passphrase comes from a PassphraseChain,
// walked when the DB is first needed; a DB that does not exist yet is
// created encrypted with terok's schema. Reading or revoking tokens of a
// DB that does not exist creates nothing and unlocks nothing. It is safe
// for concurrent use, across goroutines and across processes (WAL mode,
// with a busy timeout).
type VaultStore struct {
	*tokenTable
	chain PassphraseChain
	// pass and tier are the resolved passphrase and the tier that held it,
	// once resolved; they are guarded by the table's lock.
	pass Passphrase
	tier string
	// keys, when set, keeps the derived key between processes.
	keys *KeyCache
	// derive is the key derivation; a test counts its calls.
	derive func(Passphrase, []byte) ([]byte, error)
}

// VaultOption configures a VaultStore.
type VaultOption func(*VaultStore)

// WithKeyCache keeps the vault's derived key in cache between processes
// (see KeyCache).
func WithKeyCache(cache KeyCache) VaultOption {
	return func(s *VaultStore) { s.keys = &cache }
}

// NewVaultStore returns the vault at path, unlocked through chain.
func NewVaultStore(path string, chain PassphraseChain, opts ...VaultOption) *VaultStore {
	s := &VaultStore{chain: chain, derive: deriveVaultKey}
	s.tokenTable = &tokenTable{path: path, connect: s.connect}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Tier names the tier whose passphrase unlocked the vault, once resolved.
func (s *VaultStore) Tier() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tier
}

// Unlock resolves the passphrase and opens the vault with it when the
// vault exists, so that a locked vault or a wrong passphrase shows before
// a launch writes anything; Compose calls it. A vault that does not exist
// yet is not made here but by the first Mint, with the passphrase resolved
// now, so that a launch that fails before it mints leaves no vault behind.
func (s *VaultStore) Unlock(ctx context.Context) error {
	if _, err := s.open(ctx, false); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db != nil {
		return nil
	}
	return s.resolve(ctx)
}

// Prefetch unlocks the vault ahead of a launch that is going to need it,
// so that walking the passphrase tiers and opening the file overlap with
// the caller's other work (the server's round trips). It asks no one: a
// prompt is left to Unlock, at its place in the launch. It creates
// nothing and reports nothing: what fails here fails again, and is
// reported, in Unlock.
func (s *VaultStore) Prefetch(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db != nil {
		return
	}
	if s.pass.IsZero() {
		unattended := slices.DeleteFunc(slices.Clone(s.chain), func(t PassphraseTier) bool { return t.Tier() == (Prompt{}).Tier() })
		pass, tier, err := unattended.Resolve(ctx, s.path)
		if err != nil {
			return
		}
		s.pass, s.tier = pass, tier
	}
	if _, err := os.Lstat(s.path); err != nil {
		return // a new vault is made by the first Mint
	}
	if db, err := s.connect(ctx); err == nil {
		s.db = db
	}
}

// resolve walks the chain once; it runs under the table's lock.
func (s *VaultStore) resolve(ctx context.Context) error {
	if !s.pass.IsZero() {
		return nil
	}
	pass, tier, err := s.chain.Resolve(ctx, s.path)
	if err != nil {
		return err
	}
	s.pass, s.tier = pass, tier
	return nil
}

// connect runs under the table's lock, until an open succeeds.
func (s *VaultStore) connect(ctx context.Context) (*sql.DB, error) {
	kind, err := inspectFile(s.path)
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %w", ErrTokenStoreUnavailable, s.path, err)
	}
	if kind == filePlaintext {
		return nil, fmt.Errorf("%w: %s is a plaintext SQLite file, not terok's encrypted vault", ErrTokenStoreUnavailable, s.path)
	}
	if err := s.resolve(ctx); err != nil {
		return nil, err
	}
	var db *sql.DB
	switch {
	case strings.ContainsRune(s.pass.reveal(), 0):
		err = fmt.Errorf("%w: the passphrase holds a NUL byte, which SQLCipher cannot take", ErrWrongPassphrase)
	case kind == fileOther && !isRawKey(s.pass):
		db, err = s.openExisting(ctx)
	default:
		db, err = s.openNew(ctx)
	}
	if errors.Is(err, ErrWrongPassphrase) {
		// The next try walks the chain again, once a tier is fixed.
		s.pass, s.tier = Passphrase{}, ""
	}
	return db, err
}

// openNew creates the vault: SQLCipher makes the new file's salt and
// derives its key itself.
func (s *VaultStore) openNew(ctx context.Context) (*sql.DB, error) {
	created, err := createPrivate(s.path)
	if err != nil {
		return nil, fmt.Errorf("%w: creating %s: %w", ErrTokenStoreUnavailable, s.path, err)
	}
	db, err := openVault(ctx, s.path, s.pass)
	if err != nil && created {
		// Nothing was written to a new file: take it away again.
		os.Remove(s.path)
	}
	return db, err
}

// openExisting opens the vault file there is with its raw key: the key
// cache's, or one derived here from the passphrase and the file's salt,
// which the cache then keeps when the passphrase's tier allows.
func (s *VaultStore) openExisting(ctx context.Context) (*sql.DB, error) {
	// Opened for writing first, as a new file is: a vault that cannot be
	// written fails here with the system's reason, not later with
	// SQLite's "readonly database"; and its mode is put back to 0600.
	if _, err := createPrivate(s.path); err != nil {
		return nil, fmt.Errorf("%w: opening %s: %w", ErrTokenStoreUnavailable, s.path, err)
	}
	salt, err := readVaultSalt(s.path)
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %w", ErrTokenStoreUnavailable, s.path, err)
	}
	if s.keys != nil {
		if key, ok := s.keys.Load(s.path, salt, s.pass); ok {
			db, err := openVault(ctx, s.path, vaultRawKey(key))
			clear(key)
			if !errors.Is(err, ErrWrongPassphrase) {
				return db, err
			}
			// An entry that does not open the file (rekeyed in place, or
			// written by something else) is dropped; derive afresh.
			s.keys.Forget(s.path)
		}
	}
	key, err := s.derive(s.pass, salt)
	if err != nil {
		return nil, fmt.Errorf("%w: deriving the key of %s: %w", ErrTokenStoreUnavailable, s.path, err)
	}
	defer clear(key)
	db, err := openVault(ctx, s.path, vaultRawKey(key))
	if err == nil && s.keys != nil && s.tier != (Prompt{}).Tier() {
		s.keys.Store(s.path, salt, s.pass, key)
	}
	return db, err
}

// openVault opens the SQLCipher DB at path with pass (a passphrase, or a
// raw key as vaultRawKey gives it) and makes terok's schema in it when it
// is new. The key reaches SQLCipher as the driver's _pragma_key, which
// keys each new connection before anything reads the file; SQLCipher
// 4.4.2's defaults are the parameters cipher_compatibility = 4 sets, as
// terok sets them (PBKDF2-HMAC-SHA512, 256000 rounds, 4096-byte pages,
// HMAC-SHA512). Setting them again once the driver has opened the file
// fails, so they are checked instead. The DSN holding the key goes to the
// driver alone and is never formatted.
func openVault(ctx context.Context, path string, pass Passphrase) (*sql.DB, error) {
	// The driver runs PRAGMA key = "<value>": a double quote is doubled.
	key := strings.ReplaceAll(pass.reveal(), `"`, `""`)
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_busy_timeout=10000&_txlock=immediate&_pragma_key=" + url.QueryEscape(key)
	drv := &sqlite3.SQLiteDriver{ConnectHook: checkUnlocked}
	db := sql.OpenDB(vaultConnector{drv: drv, dsn: dsn})
	// Every connection derives the key anew (PBKDF2, 256000 rounds): keep one.
	db.SetMaxOpenConns(1)
	db.SetConnMaxLifetime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, classifyOpen(path, err)
	}
	if err := initVault(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("%w: %s: %w", ErrTokenStoreUnavailable, path, err)
	}
	return db, nil
}

// vaultConnector hands database/sql connections of a driver value of our
// own, so that no driver name is registered or looked up: the plaintext
// store's modernc driver ("sqlite") and this one never meet.
type vaultConnector struct {
	drv *sqlite3.SQLiteDriver
	dsn string
}

func (c vaultConnector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c vaultConnector) Driver() driver.Driver                        { return c.drv }

// errNotSQLCipher is what checkUnlocked reports of a driver without
// SQLCipher 4 and terok's parameters.
var errNotSQLCipher = errors.New("this program's SQLite is not SQLCipher 4 with its default parameters")

// vaultCipher is what SQLCipher reports of a DB under terok's parameters.
var vaultCipher = map[string]string{
	"PRAGMA cipher_page_size":      "4096",
	"PRAGMA kdf_iter":              "256000",
	"PRAGMA cipher_hmac_algorithm": "HMAC_SHA512",
	"PRAGMA cipher_kdf_algorithm":  "PBKDF2_HMAC_SHA512",
}

// checkUnlocked checks a new connection: SQLCipher 4 with terok's
// parameters, and a read of the schema, where a wrong key shows.
func checkUnlocked(c *sqlite3.SQLiteConn) error {
	if v, err := queryString(c, "PRAGMA cipher_version"); err != nil || !strings.HasPrefix(v, "4.") {
		return errNotSQLCipher
	}
	if _, err := c.Exec("SELECT count(*) FROM sqlite_master", nil); err != nil {
		return err
	}
	for pragma, want := range vaultCipher {
		if v, err := queryString(c, pragma); err != nil || v != want {
			return fmt.Errorf("%w: %s is %q", errNotSQLCipher, pragma, v)
		}
	}
	_, err := c.Exec("PRAGMA foreign_keys = ON", nil)
	return err
}

func queryString(c *sqlite3.SQLiteConn, query string) (string, error) {
	rows, err := c.Query(query, nil)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	v := make([]driver.Value, len(rows.Columns()))
	if len(v) == 0 {
		return "", errors.New("no column")
	}
	if err := rows.Next(v); err != nil {
		return "", err
	}
	s, _ := v[0].(string)
	if b, ok := v[0].([]byte); ok {
		s = string(b)
	}
	return s, nil
}

func classifyOpen(path string, err error) error {
	var se sqlite3.Error
	switch {
	case errors.Is(err, errNotSQLCipher):
		return fmt.Errorf("%w: %s: %w (build with go.mod's replace of github.com/mattn/go-sqlite3)", ErrTokenStoreUnavailable, path, err)
	case errors.As(err, &se) && se.Code == sqlite3.ErrNotADB:
		return fmt.Errorf("%w: the passphrase does not decrypt %s", ErrWrongPassphrase, path)
	}
	return fmt.Errorf("%w: opening %s: %w", ErrTokenStoreUnavailable, path, err)
}

func vaultBusy(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
}

// initVault switches the DB to WAL, as terok does on every open, and makes
// terok's schema in a new DB, in one transaction with its user_version. A
// DB of an older schema is terok-sandbox's to migrate; sandwire leaves it.
func initVault(ctx context.Context, db *sql.DB) error {
	if err := retryBusy(ctx, vaultBusy, func() error { _, err := db.ExecContext(ctx, "PRAGMA journal_mode = WAL"); return err }); err != nil {
		return err
	}
	return retryBusy(ctx, vaultBusy, func() error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		var version, tables int
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table'").Scan(&tables); err != nil {
			return err
		}
		switch {
		case version == 0 && tables == 0:
			// A new DB: terok's schema, at its version.
		case version < VaultSchemaVersion:
			return fmt.Errorf("its schema version %d is older than %d, which terok-sandbox migrates it to when it next opens it", version, VaultSchemaVersion)
		default:
			// terok's current schema, or a newer terok's: its proxy_tokens
			// is used as it is.
			return nil
		}
		for _, stmt := range slices.Concat(vaultSchema, []string{fmt.Sprintf("PRAGMA user_version = %d", VaultSchemaVersion)}) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return err
			}
		}
		return tx.Commit()
	})
}
