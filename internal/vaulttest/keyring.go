package vaulttest

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// KernelKeyringUsable reports why this process cannot use the kernel
// keyring (a kernel without CONFIG_KEYS, or a sandbox that refuses
// keyctl), or nil.
func KernelKeyringUsable() error {
	if _, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_USER_KEYRING, false); err != nil {
		return fmt.Errorf("keyctl refuses the user keyring here: %w", err)
	}
	return nil
}

// StoreInKernelKeyring caches passphrase for the vault at dbPath as
// `terok-sandbox vault unlock` does: a "user" key in @u, described by
// terok's prefix and the vault's digest, readable by the uid. It returns a
// func that removes the key.
func StoreInKernelKeyring(dbPath, passphrase string) (remove func(), err error) {
	d, err := digest(dbPath)
	if err != nil {
		return nil, err
	}
	// Link @u into the session keyring, so this process possesses the key
	// it creates and may set its permissions (terok does the same).
	unix.KeyctlInt(unix.KEYCTL_LINK, unix.KEY_SPEC_USER_KEYRING, unix.KEY_SPEC_SESSION_KEYRING, 0, 0)
	id, err := unix.AddKey("user", "terok-sandbox:vault-passphrase:"+d, []byte(passphrase), unix.KEY_SPEC_USER_KEYRING)
	if err != nil {
		return nil, fmt.Errorf("add_key: %w", err)
	}
	remove = func() { unix.KeyctlInt(unix.KEYCTL_UNLINK, id, unix.KEY_SPEC_USER_KEYRING, 0, 0) }
	// Possessor: all; uid: all but link; group, other: nothing.
	if err := unix.KeyctlSetperm(id, 0x3f2f0000); err != nil {
		remove()
		return nil, fmt.Errorf("keyctl_setperm: %w", err)
	}
	return remove, nil
}
