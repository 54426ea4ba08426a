package vaulttest

import (
	"encoding/base64"
	"os"
	"path/filepath"
)

// systemdCredsStandIn behaves as `systemd-creds decrypt` does for a user
// (systemd-creds(1): `decrypt [--user] [--name=NAME] INPUT|- [OUTPUT|-]`):
// it prints the credential's plaintext, refuses a credential sealed under
// another name, and, as systemd before 257 does, refuses a user without
// root when --user is missing. Its "sealed" format is its own: a header
// line with the name, then the plaintext in base64.
const systemdCredsStandIn = `#!/bin/sh
set -eu
verb=$1; shift
user= name=
while [ $# -gt 0 ]; do
    case $1 in
    --user) user=1 ;;
    --name=*) name=${1#--name=} ;;
    -) break ;;
    -*) echo "systemd-creds: unknown option $1" >&2; exit 1 ;;
    *) break ;;
    esac
    shift
done
[ "$verb" = decrypt ] || { echo "systemd-creds: the stand-in only decrypts" >&2; exit 1; }
[ -n "$user" ] || { echo "Failed to determine local credential key: Permission denied" >&2; exit 1; }
[ "${2:--}" = - ] || { echo "systemd-creds: the stand-in writes to standard output only" >&2; exit 1; }
sealed=$(head -n 1 "$1")
[ "$sealed" = "stand-in credential $name" ] || { echo "Embedded credential name does not match '$name', refusing." >&2; exit 1; }
tail -n +2 "$1" | base64 -d
`

// SystemdCredsStandIn writes the stand-in as dir/systemd-creds and
// returns its path. systemd-creds --user needs systemd 257 or later, and
// Debian 12 has 252: the real program cannot decrypt for a user here.
func SystemdCredsStandIn(dir string) (string, error) {
	p := filepath.Join(dir, "systemd-creds")
	return p, os.WriteFile(p, []byte(systemdCredsStandIn), 0o755)
}

// SealForStandIn writes a credential the stand-in decrypts to passphrase
// under name, mode 0600, as `vault passphrase seal` writes its file.
func SealForStandIn(file, name, passphrase string) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	data := "stand-in credential " + name + "\n" + base64.StdEncoding.EncodeToString([]byte(passphrase)) + "\n"
	return os.WriteFile(file, []byte(data), 0o600)
}
