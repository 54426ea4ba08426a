package wiring

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"syscall"

	"github.com/sirupsen/logrus"
)

// SQLCipher 4's key derivation, under the parameters terok's vault uses
// (cipher_compatibility = 4): PBKDF2-HMAC-SHA512 over the passphrase and
// the 16-byte salt the file starts with, 256000 rounds, a 32-byte key.
const (
	vaultKDFRounds = 256000
	vaultSaltLen   = 16
	vaultKeyLen    = 32
)

// vaultRawKey is the SQLCipher key for a raw key: x'<hex>'. SQLCipher
// takes it as the derived key itself and runs no key derivation.
func vaultRawKey(key []byte) Passphrase {
	return NewPassphrase("x'" + hex.EncodeToString(key) + "'")
}

// rawKeyRE is SQLCipher's raw key syntax: a key, or a key and a salt, in
// hex, as a blob literal.
var rawKeyRE = regexp.MustCompile(`^x'([0-9A-Fa-f]{64}|[0-9A-Fa-f]{96})'$`)

// isRawKey reports whether SQLCipher takes pass for a raw key rather than
// a passphrase: such a passphrase is handed to SQLCipher as it is, as
// terok hands it.
func isRawKey(pass Passphrase) bool { return rawKeyRE.MatchString(pass.reveal()) }

// deriveVaultKey runs SQLCipher 4's key derivation in Go: the same key, in
// less than half the time of the bundled SQLCipher's.
func deriveVaultKey(pass Passphrase, salt []byte) ([]byte, error) {
	return pbkdf2.Key(sha512.New, pass.reveal(), salt, vaultKDFRounds, vaultKeyLen)
}

// readVaultSalt returns the salt of the SQLCipher file at path: its first
// 16 bytes, which SQLCipher 4 keeps in the clear.
func readVaultSalt(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	salt := make([]byte, vaultSaltLen)
	if _, err := io.ReadFull(f, salt); err != nil {
		return nil, err
	}
	return salt, nil
}

// KeyCache keeps the vault's derived key between processes, so that each
// launch does not pay the 256000 rounds of key derivation again (about a
// third of a second, more than a whole podman run). An entry is the key
// sealed (AES-256-GCM) under a key made of the passphrase and the vault's
// salt, in a 0600 file named after the vault in a 0700 dir of the runtime
// tree, which lives on tmpfs and is gone at reboot. So an entry opens
// nothing without the passphrase: the chain is walked on every launch as
// before, and a vault locked by taking its passphrase away stays locked. A
// vault made anew (another salt) or a changed passphrase makes the entry
// useless, and it is replaced. Entries are written only for passphrases
// from a standing tier the same user can read without being asked, never
// for one typed at the prompt.
//
// The seal is quick to try, unlike the DB's own key derivation: whoever
// could read an entry could test guesses at the passphrase faster than
// against the DB. terok's own session cache keeps the passphrase itself
// in the same kind of place.
type KeyCache struct {
	// Dir holds the entries; it is created 0700 when missing, and not used
	// when it is a link, another user's, or open to group or others.
	Dir string
}

// VaultKeyCache is the key cache in the runtime tree.
func (c Config) VaultKeyCache() KeyCache {
	return KeyCache{Dir: filepath.Join(c.RuntimeDir, "vault-keys")}
}

// keyCacheMagic starts an entry and names its format.
const keyCacheMagic = "sandwire-vault-key-v1\n"

// sealKey is the AEAD of an entry for the vault of salt, under pass.
func sealKey(pass Passphrase, salt []byte) (cipher.AEAD, error) {
	mac := hmac.New(sha256.New, []byte(pass.reveal()))
	mac.Write([]byte(keyCacheMagic))
	mac.Write(salt)
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// dir returns the cache dir, made when missing, or "" when it cannot be
// trusted with a key.
func (k KeyCache) dir(create bool) string {
	if k.Dir == "" {
		return ""
	}
	if create {
		if err := os.MkdirAll(k.Dir, 0o700); err != nil {
			logrus.Debugf("vault key cache: %v", err)
			return ""
		}
	}
	st, err := os.Lstat(k.Dir)
	if err != nil {
		return ""
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !st.IsDir() || !ok || int(sys.Uid) != os.Geteuid() || st.Mode().Perm()&0o077 != 0 {
		logrus.Debugf("vault key cache: %s is not a private dir of this user; not used", k.Dir)
		return ""
	}
	return k.Dir
}

// Load returns the cached key of the vault at dbPath with salt, when an
// entry sealed under pass for that salt is there.
func (k KeyCache) Load(dbPath string, salt []byte, pass Passphrase) ([]byte, bool) {
	dir := k.dir(false)
	if dir == "" {
		return nil, false
	}
	data, err := readFileNoFollow(filepath.Join(dir, cacheDigest(dbPath)))
	if err != nil {
		return nil, false
	}
	rest, ok := bytes.CutPrefix(data, []byte(keyCacheMagic))
	if !ok || len(rest) < vaultSaltLen || !bytes.Equal(rest[:vaultSaltLen], salt) {
		return nil, false
	}
	rest = rest[vaultSaltLen:]
	aead, err := sealKey(pass, salt)
	if err != nil || len(rest) < aead.NonceSize() {
		return nil, false
	}
	key, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], salt)
	if err != nil || len(key) != vaultKeyLen {
		return nil, false
	}
	return key, true
}

// Store writes the entry for the vault at dbPath, replacing any. A
// failure only costs the next launch the key derivation, so it is logged,
// not returned.
func (k KeyCache) Store(dbPath string, salt []byte, pass Passphrase, key []byte) {
	if err := k.store(dbPath, salt, pass, key); err != nil {
		logrus.Debugf("vault key cache: not kept: %v", err)
	}
}

func (k KeyCache) store(dbPath string, salt []byte, pass Passphrase, key []byte) error {
	dir := k.dir(true)
	if dir == "" {
		return errors.New("no private cache dir")
	}
	aead, err := sealKey(pass, salt)
	if err != nil {
		return err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	entry := append([]byte(keyCacheMagic), salt...)
	entry = append(entry, nonce...)
	entry = aead.Seal(entry, nonce, key, salt)
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	// Written aside and renamed over, so that a launch never reads half
	// an entry of another.
	name := cacheDigest(dbPath)
	tmp := name + "." + hex.EncodeToString(nonce[:6])
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := writeAndClose(f, entry, 0o600); err != nil {
		root.Remove(tmp)
		return err
	}
	if err := root.Rename(tmp, name); err != nil {
		root.Remove(tmp)
		return err
	}
	return nil
}

// Forget removes the entry of the vault at dbPath, if any.
func (k KeyCache) Forget(dbPath string) {
	if dir := k.dir(false); dir != "" {
		if err := os.Remove(filepath.Join(dir, cacheDigest(dbPath))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			logrus.Debugf("vault key cache: %v", err)
		}
	}
}
