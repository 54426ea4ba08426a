package wiring

import (
	"github.com/containerd/errdefs"
)

// Error categories. Every error wiring returns falls in at most one of
// containerd's errdefs categories, which callers test with errors.Is:
//
//   - errdefs.ErrInvalidArgument: a bad name, scope, configuration, edit
//     or socket path; nothing was written.
//   - errdefs.ErrAlreadyExists: the name is held by earlier state or by
//     another launch or cleanup in progress.
//   - errdefs.ErrNotFound: something the launch needs is missing (the
//     bridge program).
//   - errdefs.ErrUnavailable: a host service could not be used (the
//     shield, the token store).
//   - errdefs.ErrFailedPrecondition: a container is in no state to be
//     started wired: it is not wired into this sandbox, its state was
//     cleaned up, or its bridge resources cannot be put back.
//
// The sentinels (ErrInvalidName, ErrNotWired, ...) are wrapped by the
// errors of one check each, and answer errors.Is for their category too.

// sentinel is an error value of one category: errors.Is(err, sentinel)
// and errors.Is(err, category) both hold for an error that wraps it.
type sentinel struct {
	msg      string
	category error
}

func (e *sentinel) Error() string { return e.msg }

func (e *sentinel) Is(target error) bool { return target == e.category }

func newSentinel(category error, msg string) error {
	return &sentinel{msg: msg, category: category}
}

// Is methods place wiring's typed errors in their category.

func (e *SocketPathError) Is(target error) bool { return target == errdefs.ErrInvalidArgument }

func (e *StateExistsError) Is(target error) bool { return target == errdefs.ErrAlreadyExists }

func (e *NameBusyError) Is(target error) bool { return target == errdefs.ErrAlreadyExists }

func (e *BridgeBinaryNotFoundError) Is(target error) bool { return target == errdefs.ErrNotFound }

func (e *ShieldError) Is(target error) bool { return target == errdefs.ErrUnavailable }

func (e *TokensKeptError) Is(target error) bool { return target == errdefs.ErrUnavailable }
