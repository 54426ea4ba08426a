package wiring

import (
	"fmt"
	"regexp"

	"github.com/containerd/errdefs"
)

// MaxNameLen bounds a container name so that "<name>.json", the sidecar's
// file name, fits in the 255 bytes a file name may have.
const MaxNameLen = 250

// nameRE is podman's own rule for container names (libpod's NameRegex):
// it is what the server would accept, and it keeps a name a single, safe
// path component.
var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// ErrInvalidName is wrapped by every error ValidateName returns.
var ErrInvalidName = newSentinel(errdefs.ErrInvalidArgument, "invalid container name")

// ValidateName checks that name is a container name podman accepts and a
// single path component the sandbox can key host state by. It runs before
// anything touches the disk.
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: the name is empty", ErrInvalidName)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: %d bytes long, at most %d are allowed", ErrInvalidName, len(name), MaxNameLen)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %q is not a single path component", ErrInvalidName, name)
	case !nameRE.MatchString(name):
		return fmt.Errorf("%w: %q must match [a-zA-Z0-9][a-zA-Z0-9_.-]* (podman's rule; no '/', '\\', spaces or control characters)", ErrInvalidName, name)
	}
	return nil
}
