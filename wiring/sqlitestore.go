package wiring

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"modernc.org/sqlite" // pure-Go SQLite driver, registered as "sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// proxyTokensSchema is the vault's phantom token table.
const proxyTokensSchema = `CREATE TABLE IF NOT EXISTS proxy_tokens (
	token          TEXT PRIMARY KEY,
	scope          TEXT NOT NULL,
	subject        TEXT NOT NULL,
	credential_set TEXT NOT NULL,
	provider       TEXT NOT NULL
)`

// SQLiteStore is the default TokenStore: the proxy_tokens table of a SQLite
// file. The file is opened on first use, so a launch that mints nothing
// never creates it. It is safe for concurrent use, across goroutines and
// across processes (WAL mode, with a busy timeout).
type SQLiteStore struct {
	path string

	mu sync.Mutex
	db *sql.DB
}

// NewSQLiteStore returns a store backed by the SQLite file at path.
func NewSQLiteStore(path string) *SQLiteStore { return &SQLiteStore{path: path} }

// Path is the store's database file.
func (s *SQLiteStore) Path() string { return s.path }

func (s *SQLiteStore) open(ctx context.Context) (*sql.DB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db != nil {
		return s.db, nil
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return nil, fmt.Errorf("opening the token store: %w", err)
	}
	// Create the file 0600 before SQLite does: SQLite gives the -wal and
	// -shm files, which hold tokens too, the mode of the database file.
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the token store: %w", err)
	}
	if err := errors.Join(f.Chmod(0o600), f.Close()); err != nil {
		return nil, fmt.Errorf("opening the token store: %w", err)
	}
	dsn := "file:" + (&url.URL{Path: s.path}).EscapedPath() +
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening the token store %s: %w", s.path, err)
	}
	if err := initStore(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening the token store %s: %w", s.path, err)
	}
	s.db = db
	return db, nil
}

// busyTimeout is how long the store waits for another connection's lock;
// the DSN's busy_timeout says the same to SQLite.
const busyTimeout = 10 * time.Second

// initStore creates the schema on the store's first connection. That
// connection's DSN also switches a fresh file to WAL, which takes an
// exclusive lock; when another process opens the same fresh file at that
// moment SQLite answers SQLITE_BUSY at once, without waiting in its busy
// handler. Such an answer is retried here, within the busy timeout.
func initStore(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(busyTimeout)
	for {
		_, err := db.ExecContext(ctx, proxyTokensSchema)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Mint implements TokenStore.
func (s *SQLiteStore) Mint(ctx context.Context, scope, subject, credentialSet, provider string) (string, error) {
	db, err := s.open(ctx)
	if err != nil {
		return "", err
	}
	token, err := NewPhantomToken()
	if err != nil {
		return "", err
	}
	_, err = db.ExecContext(ctx,
		`INSERT INTO proxy_tokens (token, scope, subject, credential_set, provider) VALUES (?, ?, ?, ?, ?)`,
		token, scope, subject, credentialSet, provider)
	if err != nil {
		return "", fmt.Errorf("storing a %s token for %q in %s: %w", provider, subject, s.path, err)
	}
	return token, nil
}

// Revoke implements TokenStore.
func (s *SQLiteStore) Revoke(ctx context.Context, tokens ...string) error {
	if len(tokens) == 0 {
		return nil
	}
	db, err := s.open(ctx)
	if err != nil {
		return err
	}
	for _, t := range tokens {
		if _, err := db.ExecContext(ctx, `DELETE FROM proxy_tokens WHERE token = ?`, t); err != nil {
			return fmt.Errorf("revoking a token in %s: %w", s.path, err)
		}
	}
	return nil
}

// RevokeSubject implements TokenStore.
func (s *SQLiteStore) RevokeSubject(ctx context.Context, scope, subject string) (int, error) {
	db, err := s.open(ctx)
	if err != nil {
		return 0, err
	}
	res, err := db.ExecContext(ctx, `DELETE FROM proxy_tokens WHERE scope = ? AND subject = ?`, scope, subject)
	if err != nil {
		return 0, fmt.Errorf("revoking the tokens of %q in %s: %w", subject, s.path, err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// TokenRecord is what a phantom token is bound to.
type TokenRecord struct {
	Scope, Subject, CredentialSet, Provider string
}

// Lookup returns what token is bound to; ok is false for an unknown or
// revoked token. Host services (the vault, the signer) answer with it.
func (s *SQLiteStore) Lookup(ctx context.Context, token string) (rec TokenRecord, ok bool, err error) {
	db, err := s.open(ctx)
	if err != nil {
		return rec, false, err
	}
	err = db.QueryRowContext(ctx,
		`SELECT scope, subject, credential_set, provider FROM proxy_tokens WHERE token = ?`, token).
		Scan(&rec.Scope, &rec.Subject, &rec.CredentialSet, &rec.Provider)
	if errors.Is(err, sql.ErrNoRows) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, fmt.Errorf("looking up a token in %s: %w", s.path, err)
	}
	return rec, true, nil
}

// CountSubject returns how many tokens are bound to subject, in any scope.
func (s *SQLiteStore) CountSubject(ctx context.Context, subject string) (int, error) {
	db, err := s.open(ctx)
	if err != nil {
		return 0, err
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM proxy_tokens WHERE subject = ?`, subject).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting tokens in %s: %w", s.path, err)
	}
	return n, nil
}

// Close closes the database if it was opened.
func (s *SQLiteStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	return err
}
