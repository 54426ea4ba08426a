// Package vaulttest stands in for terok-sandbox's side of the vault in
// sandwire's tests: it makes a credentials DB as terok makes it, reads one
// back, and puts a passphrase into each tier of the passphrase chain the
// way terok puts it there — the kernel keyring, the session file, a
// private Secret Service, and a stand-in for systemd-creds where the real
// one cannot run. It is independent of package wiring on purpose: the
// names, paths and schema are spelled out here, so that a change on
// either side fails the tests.
package vaulttest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	sqlite3 "github.com/mutecomm/go-sqlcipher/v4" // also registers "sqlite3"
)

// SQLiteHeader starts every plaintext SQLite file; a SQLCipher file never
// starts with it.
const SQLiteHeader = "SQLite format 3\x00"

// terokSchema is terok-sandbox's ensure_credentials_schema script and the
// user_version its migrations end on, a statement a line.
const terokSchema = `
CREATE TABLE IF NOT EXISTS credentials (credential_set TEXT NOT NULL, provider TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (credential_set, provider));
CREATE TABLE IF NOT EXISTS ssh_keys (id INTEGER PRIMARY KEY AUTOINCREMENT, key_type TEXT NOT NULL CHECK (key_type IN ('ed25519','rsa')), private_der BLOB NOT NULL, public_blob BLOB NOT NULL, comment TEXT NOT NULL DEFAULT '', fingerprint TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL DEFAULT (datetime('now')));
CREATE TABLE IF NOT EXISTS ssh_key_assignments (scope TEXT NOT NULL, key_id INTEGER NOT NULL REFERENCES ssh_keys(id) ON DELETE CASCADE, assigned_at TEXT NOT NULL DEFAULT (datetime('now')), PRIMARY KEY (scope, key_id));
CREATE TABLE IF NOT EXISTS proxy_tokens (token TEXT PRIMARY KEY, scope TEXT NOT NULL, subject TEXT NOT NULL, credential_set TEXT NOT NULL, provider TEXT NOT NULL);
PRAGMA user_version = 3;
`

// Open opens the SQLCipher DB at path as terok-sandbox's open_sqlcipher
// does, under SQLCipher 4's parameters, which are SQLCipher 4.4.2's
// defaults: the driver keys each connection with the passphrase (its
// PRAGMA key = "..." doubles no quote: that is done here).
func Open(path, passphrase string) (*sql.DB, error) {
	key := strings.ReplaceAll(passphrase, `"`, `""`)
	return sql.Open("sqlite3", "file:"+(&url.URL{Path: path}).EscapedPath()+"?_pragma_key="+url.QueryEscape(key))
}

// MakeVault makes the credentials DB at path as terok-sandbox makes it: a
// 0600 file, SQLCipher 4 under passphrase, WAL, terok's schema at its
// user_version, and one provider credential in it.
func MakeVault(path, passphrase string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	// Keyed by a statement, as sqlcipher3's set_key keys: the passphrase
	// is a quoted literal here, not the driver's DSN parameter, so a quote
	// in it reaches SQLCipher by another road than the one Open takes. (A
	// statement can key a new file only: the driver reads an existing one
	// before a connect hook runs.)
	keyed := func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec("PRAGMA key = '"+strings.ReplaceAll(passphrase, "'", "''")+"'", nil)
		return err
	}
	db := sql.OpenDB(connector{&sqlite3.SQLiteDriver{ConnectHook: keyed}, "file:" + (&url.URL{Path: path}).EscapedPath()})
	db.SetMaxOpenConns(1)
	defer db.Close()
	for _, stmt := range []string{"PRAGMA journal_mode=WAL", "PRAGMA foreign_keys=ON", terokSchema,
		`INSERT INTO credentials (credential_set, provider, data) VALUES ('proj', 'anthropic', '{"api_key": "x"}')`} {
		if _, err := db.Exec(stmt); err != nil {
			return fmt.Errorf("making the vault: %w", err)
		}
	}
	return nil
}

type connector struct {
	drv *sqlite3.SQLiteDriver
	dsn string
}

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c connector) Driver() driver.Driver                        { return c.drv }

// Token is one proxy_tokens row.
type Token struct {
	Token, Scope, Subject, CredentialSet, Provider string
}

// Tokens reads every proxy_tokens row of the vault at path.
func Tokens(path, passphrase string) ([]Token, error) {
	db, err := Open(path, passphrase)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.Query(`SELECT token, scope, subject, credential_set, provider FROM proxy_tokens ORDER BY token`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		var t Token
		if err := rows.Scan(&t.Token, &t.Scope, &t.Subject, &t.CredentialSet, &t.Provider); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// UserVersion reads the vault's schema version.
func UserVersion(path, passphrase string) (int, error) {
	db, err := Open(path, passphrase)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var v int
	return v, db.QueryRow("PRAGMA user_version").Scan(&v)
}

// CheckEncrypted fails unless the file at path exists and does not start
// with the plaintext SQLite header.
func CheckEncrypted(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if len(data) < len(SQLiteHeader) {
		return fmt.Errorf("%s holds %d bytes, too few for a database", path, len(data))
	}
	if string(data[:len(SQLiteHeader)]) == SQLiteHeader {
		return errors.New(path + " starts with the plaintext SQLite header")
	}
	return nil
}

// Files maps each file in dir to its bytes; a missing dir has none.
func Files(dir string) (map[string][]byte, error) {
	files := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return files, nil
	}
	for _, e := range entries {
		if err != nil {
			break
		}
		files[e.Name()], err = os.ReadFile(filepath.Join(dir, e.Name()))
	}
	return files, err
}

// digest is terok's per-vault cache token: SHA-256 over the host name, a
// NUL and the vault's absolute path, its first 32 hex digits.
func digest(dbPath string) (string, error) {
	host, err := os.Hostname()
	if err != nil {
		return "", err
	}
	abs, err := filepath.Abs(dbPath)
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s", host, abs))
	return hex.EncodeToString(sum[:16]), err
}

// WriteSessionFile writes the session cache's file for the vault at dbPath
// under runtimeDir, as terok's session file backing writes it.
func WriteSessionFile(runtimeDir, dbPath, passphrase string) error {
	d, err := digest(dbPath)
	if err != nil {
		return err
	}
	dir := filepath.Join(runtimeDir, "terok", "vault-session")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, d), []byte(passphrase), 0o600)
}
