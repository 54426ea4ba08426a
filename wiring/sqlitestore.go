package wiring

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"

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

// SQLiteStore is a plaintext TokenStore for development: terok's
// proxy_tokens table alone, in a SQLite file that nothing encrypts. The
// sandbox's default is the vault (VaultStore); the signer and broker terok
// runs cannot read this file. It is opened on first use, so a launch that
// mints nothing never creates it, and it refuses a file that is not
// plaintext SQLite — terok's encrypted vault is never written over. It is
// safe for concurrent use, across goroutines and across processes (WAL
// mode, with a busy timeout).
type SQLiteStore struct {
	*tokenTable
}

// NewSQLiteStore returns a store backed by the SQLite file at path.
func NewSQLiteStore(path string) *SQLiteStore {
	return &SQLiteStore{&tokenTable{path: path, connect: func(ctx context.Context) (*sql.DB, error) {
		return openPlaintext(ctx, path)
	}}}
}

func openPlaintext(ctx context.Context, path string) (*sql.DB, error) {
	kind, err := inspectFile(path)
	if err != nil {
		return nil, fmt.Errorf("opening the token store: %w", err)
	}
	if kind == fileOther {
		return nil, fmt.Errorf("%w: %s is not a plaintext SQLite file (it is likely terok's encrypted vault); the plaintext store never writes over it",
			ErrTokenStoreUnavailable, path)
	}
	if _, err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("opening the token store: %w", err)
	}
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening the token store %s: %w", path, err)
	}
	if err := retryBusy(ctx, plaintextBusy, func() error { _, err := db.ExecContext(ctx, proxyTokensSchema); return err }); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening the token store %s: %w", path, err)
	}
	return db, nil
}

func plaintextBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}
