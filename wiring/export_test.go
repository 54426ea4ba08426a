package wiring

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Names the tests need and callers do not: the unconfined sidecar I/O the
// fuzz and schema tests use on files of their own.

// WriteSidecar writes sc to path with mode 0600. The final path component
// is opened with O_NOFOLLOW, so a symlink planted there is refused rather
// than followed, and the mode is forced with fchmod so an existing file
// with looser bits is tightened on rewrite. (Compose writes its sidecars
// within the state dir's tree, where no link on the way is followed out.)
func WriteSidecar(path string, sc Sidecar) error {
	data, err := encodeSidecar(sc)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating the sidecar dir: %w", err)
	}
	return writeFileNoFollow(path, data, 0o600)
}

// ReadSidecar reads the sidecar at path without following a symlink.
func ReadSidecar(path string) (Sidecar, error) {
	data, err := readFileNoFollow(path)
	if err != nil {
		return Sidecar{}, err
	}
	return decodeSidecar(path, data)
}

// writeFileNoFollow writes data to path, refusing a symlink at path and
// forcing mode on the file even when it already existed.
func writeFileNoFollow(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, mode)
	if err == nil {
		err = writeAndClose(f, data, mode)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// The pure composition and the host-state helpers, which only Compose
// uses outside the tests.
type EditsInput = editsInput

var (
	BuildEdits             = buildEdits
	BuildSidecar           = buildSidecar
	PickPorts              = pickPorts
	CheckSocketPaths       = checkSocketPaths
	MaterializeBridges     = materializeBridges
	BridgeBinarySearchPath = bridgeBinarySearchPath
	DefaultConfigFile      = defaultConfigFile
	MintGateToken          = mintGateToken
)

// SettleBridgesAt makes a bridge program count as settled d after its
// last change, and forgets the versions this process knows, for the test.
func SettleBridgesAt(t interface{ Cleanup(func()) }, d time.Duration) {
	old := bridgeSettleTime
	bridgeSettleTime = d
	bridgeVersions.Clear()
	t.Cleanup(func() { bridgeSettleTime = old; bridgeVersions.Clear() })
}

// ForgetBridgeVersions empties this process's cache of bridge versions, as
// a new process starts with.
func ForgetBridgeVersions() { bridgeVersions.Clear() }

// Reveal is a passphrase's value, for the tests that check which one a
// tier found.
func Reveal(p Passphrase) string { return p.reveal() }

// CountDerivations makes the store count its key derivations in n.
func (s *VaultStore) CountDerivations(n *int) {
	derive := s.derive
	s.derive = func(p Passphrase, salt []byte) ([]byte, error) {
		*n++
		return derive(p, salt)
	}
}
