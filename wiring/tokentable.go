package wiring

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// tokenTable is terok's proxy_tokens table in one database file, the part
// both token stores share: the SQL, and a connection opened on first use.
// A store supplies connect, which opens the file and makes its schema.
type tokenTable struct {
	path    string
	connect func(context.Context) (*sql.DB, error)

	mu sync.Mutex
	db *sql.DB
}

// Path is the store's database file.
func (t *tokenTable) Path() string { return t.path }

// Open opens the database now rather than on first use, creating it when it
// does not exist yet.
func (t *tokenTable) Open(ctx context.Context) error {
	_, err := t.open(ctx, true)
	return err
}

// open returns the database, connecting on first use. Without create, a
// file that does not exist yet gives a nil database: it holds no tokens,
// and reading or revoking them must neither create it nor unlock it.
func (t *tokenTable) open(ctx context.Context, create bool) (*sql.DB, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.db != nil {
		return t.db, nil
	}
	if !create {
		if _, err := os.Lstat(t.path); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	db, err := t.connect(ctx)
	if err != nil {
		return nil, err
	}
	t.db = db
	return db, nil
}

// Close closes the database if it was opened.
func (t *tokenTable) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.db == nil {
		return nil
	}
	err := t.db.Close()
	t.db = nil
	return err
}

// Mint implements TokenStore.
func (t *tokenTable) Mint(ctx context.Context, scope, subject, credentialSet, provider string) (string, error) {
	db, err := t.open(ctx, true)
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
		return "", fmt.Errorf("storing a %s token for %q in %s: %w", provider, subject, t.path, err)
	}
	return token, nil
}

// Revoke implements TokenStore.
func (t *tokenTable) Revoke(ctx context.Context, tokens ...string) error {
	if len(tokens) == 0 {
		return nil
	}
	db, err := t.open(ctx, false)
	if err != nil || db == nil {
		return err
	}
	for _, tok := range tokens {
		if _, err := db.ExecContext(ctx, `DELETE FROM proxy_tokens WHERE token = ?`, tok); err != nil {
			return fmt.Errorf("revoking a token in %s: %w", t.path, err)
		}
	}
	return nil
}

// RevokeSubject implements TokenStore.
func (t *tokenTable) RevokeSubject(ctx context.Context, scope, subject string) (int, error) {
	db, err := t.open(ctx, false)
	if err != nil || db == nil {
		return 0, err
	}
	res, err := db.ExecContext(ctx, `DELETE FROM proxy_tokens WHERE scope = ? AND subject = ?`, scope, subject)
	if err != nil {
		return 0, fmt.Errorf("revoking the tokens of %q in %s: %w", subject, t.path, err)
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
func (t *tokenTable) Lookup(ctx context.Context, token string) (rec TokenRecord, ok bool, err error) {
	db, err := t.open(ctx, false)
	if err != nil || db == nil {
		return rec, false, err
	}
	err = db.QueryRowContext(ctx,
		`SELECT scope, subject, credential_set, provider FROM proxy_tokens WHERE token = ?`, token).
		Scan(&rec.Scope, &rec.Subject, &rec.CredentialSet, &rec.Provider)
	if errors.Is(err, sql.ErrNoRows) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, fmt.Errorf("looking up a token in %s: %w", t.path, err)
	}
	return rec, true, nil
}

// CountSubject returns how many tokens are bound to subject, in any scope.
func (t *tokenTable) CountSubject(ctx context.Context, subject string) (int, error) {
	db, err := t.open(ctx, false)
	if err != nil || db == nil {
		return 0, err
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM proxy_tokens WHERE subject = ?`, subject).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting tokens in %s: %w", t.path, err)
	}
	return n, nil
}

// createPrivate makes the database's dir (0700) and the file itself (0600)
// before SQLite does: SQLite gives the -wal and -shm files, which hold
// tokens too, the mode of the database file. It reports whether the file
// is new, so that a failed first open can take it away again.
func createPrivate(path string) (created bool, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if errors.Is(err, fs.ErrExist) {
		created = false
		f, err = os.OpenFile(path, os.O_RDWR|syscall.O_NOFOLLOW, 0)
	} else {
		created = err == nil
	}
	if err != nil {
		return false, err
	}
	return created, errors.Join(f.Chmod(0o600), f.Close())
}

// sqliteHeader starts every plaintext SQLite file; SQLCipher encrypts the
// first page whole, header included.
const sqliteHeader = "SQLite format 3\x00"

// fileKind is what is at a database path: nothing (or an empty file, which
// SQLite treats as a new database), a plaintext SQLite file, or something
// else — for terok's vault, a SQLCipher file.
type fileKind int

const (
	fileNew fileKind = iota
	filePlaintext
	fileOther
)

func inspectFile(path string) (fileKind, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return fileNew, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	head := make([]byte, len(sqliteHeader))
	n, err := f.Read(head)
	switch {
	case n == 0 && (err == nil || errors.Is(err, io.EOF)):
		return fileNew, nil
	case string(head[:n]) == sqliteHeader:
		return filePlaintext, nil
	case err != nil && !errors.Is(err, io.EOF):
		return 0, err
	}
	return fileOther, nil
}

// busyTimeout is how long a store waits for another connection's lock;
// the DSNs' busy timeouts say the same to SQLite.
const busyTimeout = 10 * time.Second

// retryBusy runs fn until it does not fail with a busy error, within the
// busy timeout. A store's first connection switches a fresh file to WAL,
// which takes an exclusive lock; when another process opens the same fresh
// file at that moment SQLite answers SQLITE_BUSY at once, without waiting
// in its busy handler.
func retryBusy(ctx context.Context, isBusy func(error) bool, fn func() error) error {
	deadline := time.Now().Add(busyTimeout)
	for {
		err := fn()
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
}
