package podmanapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/containers/podman/v5/libpod/define"
	"github.com/containers/podman/v5/pkg/bindings"
	"github.com/containers/podman/v5/pkg/errorhandling"
)

// PodmanMessage is err as podman's remote client words it: where the
// podman service refused a request, or a pull, the service's own message
// alone (podman prints neither the request it made nor the HTTP status);
// where the service could not be reached, the bindings' account of it;
// any other error as it is. The errors of a join are worded one by one, a
// line each. err.Error() keeps the whole chain.
func PodmanMessage(err error) string {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var lines []string
		for _, e := range joined.Unwrap() {
			lines = append(lines, PodmanMessage(e))
		}
		return strings.Join(lines, "\n")
	}
	var w podmanWorded
	if errors.As(err, &w) {
		return w.podmanWords()
	}
	return err.Error()
}

// podmanWorded is an error that podman's client words otherwise than its
// chain: see PodmanMessage.
type podmanWorded interface {
	error
	podmanWords() string
}

// serverMessage is the podman service's message in err's chain, or
// otherwise when the service sent none.
func serverMessage(err error, otherwise string) string {
	var model *errorhandling.ErrorModel
	if errors.As(err, &model) && model.Message != "" {
		return model.Message
	}
	return otherwise
}

// UnreachableError reports that the podman service could not be reached,
// or that the named connection meant to reach it could not be resolved.
type UnreachableError struct {
	// URI is the service's address; empty when Connection could not be
	// resolved to one.
	URI string
	// Connection names the connection the URI came from (--connection,
	// CONTAINER_CONNECTION or podman's default connection); empty when
	// the URI was given as such.
	Connection string
	Err        error
}

func (e *UnreachableError) Error() string {
	switch {
	case e.Connection == "":
		return fmt.Sprintf("cannot connect to the podman service at %q: %v", e.URI, e.Err)
	case e.URI == "":
		return fmt.Sprintf("cannot connect to the podman service of connection %q: %v", e.Connection, e.Err)
	}
	return fmt.Sprintf("cannot connect to the podman service of connection %q (%s): %v", e.Connection, e.URI, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// podmanWords is the bindings' account of it and, as podman's client
// adds, the service's address.
func (e *UnreachableError) podmanWords() string {
	if e.URI == "" {
		return fmt.Sprint(e.Err)
	}
	return fmt.Sprintf("%v: %s", e.Err, e.URI)
}

// AtConnect reports whether the service could not be reached when the
// connection was made, as opposed to a connection that could not be
// resolved or a service that went away during a request. podman's client
// gives its advice on connections for this case alone.
func (e *UnreachableError) AtConnect() bool {
	return e.URI != "" && errors.As(e.Err, new(bindings.ConnectError))
}

// Is reports the category errdefs.ErrUnavailable.
func (e *UnreachableError) Is(target error) bool { return target == errdefs.ErrUnavailable }

// ImageNotFoundError reports that the server does not have an image.
type ImageNotFoundError struct {
	Image string
	Err   error
}

// Error is what podman says of it: the image's name and the storage's
// words.
func (e *ImageNotFoundError) Error() string {
	return e.Image + ": image not known"
}

func (e *ImageNotFoundError) Unwrap() error { return e.Err }

// Is reports the category errdefs.ErrNotFound.
func (e *ImageNotFoundError) Is(target error) bool { return target == errdefs.ErrNotFound }

// PullError reports that the server could not pull an image: the registry
// does not have it, refused the credentials, or could not be reached. Err
// is the server's account of it, which names the registry's answer; the
// server reports only its words, so the cause is not classified further.
type PullError struct {
	Image string
	Err   error
}

func (e *PullError) Error() string {
	return fmt.Sprintf("pulling image %q: %v", e.Image, e.Err)
}

func (e *PullError) Unwrap() error { return e.Err }

func (e *PullError) podmanWords() string { return serverMessage(e.Err, fmt.Sprint(e.Err)) }

// Is reports the category errdefs.ErrNotFound: the image could not be had.
func (e *PullError) Is(target error) bool { return target == errdefs.ErrNotFound }

// NameInUseError reports that a container of that name already exists.
type NameInUseError struct {
	Name string
	Err  error
}

func (e *NameInUseError) Error() string {
	return fmt.Sprintf("the container name %q is already in use: remove that container or choose another name", e.Name)
}

func (e *NameInUseError) Unwrap() error { return e.Err }

// podmanWords is the server's message, which names the container that
// holds the name; sandwire's own words when the server sent none.
func (e *NameInUseError) podmanWords() string { return serverMessage(e.Err, e.Error()) }

// Is reports the category errdefs.ErrAlreadyExists.
func (e *NameInUseError) Is(target error) bool { return target == errdefs.ErrAlreadyExists }

// NoSuchContainerError reports that a container does not exist.
type NoSuchContainerError struct {
	Name string
	Err  error
}

func (e *NoSuchContainerError) Error() string {
	return fmt.Sprintf("no such container %q", e.Name)
}

func (e *NoSuchContainerError) Unwrap() error { return e.Err }

// Is reports the category errdefs.ErrNotFound.
func (e *NoSuchContainerError) Is(target error) bool { return target == errdefs.ErrNotFound }

// RemoteHostError refuses wiring that needs host paths over a connection
// to another machine.
type RemoteHostError struct {
	URI  string
	What string
}

func (e *RemoteHostError) Error() string {
	return fmt.Sprintf("%s needs the sidecar, runtime dir and bridges on the machine that runs the container, "+
		"but %q is another machine, where this client's paths mean nothing; run sandwire on that machine instead", e.What, e.URI)
}

// Is reports the category errdefs.ErrFailedPrecondition: the request is
// sound, the server is in the wrong place for it.
func (e *RemoteHostError) Is(target error) bool { return target == errdefs.ErrFailedPrecondition }

// APIError is any other refusal by the server.
type APIError struct {
	// Op is what was attempted; empty when the caller says it.
	Op   string
	Code int
	Err  error
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("podman service answered %d %s: %v", e.Code, http.StatusText(e.Code), e.Err)
	if e.Op == "" {
		return msg
	}
	return e.Op + ": " + msg
}

func (e *APIError) Unwrap() error { return e.Err }

func (e *APIError) podmanWords() string { return serverMessage(e.Err, fmt.Sprint(e.Err)) }

// Is reports the category of the HTTP status: 400 errdefs.ErrInvalidArgument,
// 404 errdefs.ErrNotFound, 409 errdefs.ErrConflict; any other status (a 500
// says only that the server failed) belongs to none.
func (e *APIError) Is(target error) bool {
	category, ok := apiCategories[e.Code]
	return ok && target == category
}

var apiCategories = map[int]error{
	http.StatusBadRequest: errdefs.ErrInvalidArgument,
	http.StatusNotFound:   errdefs.ErrNotFound,
	http.StatusConflict:   errdefs.ErrConflict,
}

// responseCode returns the HTTP status of an API error, or 0.
func responseCode(err error) int {
	var model *errorhandling.ErrorModel
	if errors.As(err, &model) {
		return model.ResponseCode
	}
	return 0
}

// InterruptedError reports a request the caller cancelled (Ctrl-C, a
// deadline) before the server answered: the server may have done it.
type InterruptedError struct {
	Op  string
	Err error
}

func (e *InterruptedError) Error() string {
	return fmt.Sprintf("%s was interrupted before the podman service answered: %v", e.Op, e.Err)
}

func (e *InterruptedError) Unwrap() error { return e.Err }

// Is reports the category cancelled, which errdefs spells context.Canceled
// (errdefs.IsCanceled), for a deadline too: the caller gave up either way.
// A deadline's error also still unwraps to context.DeadlineExceeded.
func (e *InterruptedError) Is(target error) bool { return target == context.Canceled }

// transportError classifies an error that carries no HTTP status: the
// caller's own cancellation, or a server that could not be reached.
func (c *Client) transportError(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &InterruptedError{Op: op, Err: err}
	}
	return c.dest.unreachable(err)
}

// apiError wraps err as an *InterruptedError or *UnreachableError when no
// answer came, and as an *APIError otherwise.
func (c *Client) apiError(op string, err error) error {
	code := responseCode(err)
	if code == 0 {
		return c.transportError(op, err)
	}
	return &APIError{Op: op, Code: code, Err: err}
}

// StartError reports that a created container could not be started: its
// command could not be invoked (not found, not executable, a working dir
// that is missing) or a start-time resource such as a published port was
// unavailable. The container is left as the server left it (created).
type StartError struct {
	ID  string
	Err error
}

// Error is the server's message, the runtime's words, as podman prints
// it; Err keeps the whole chain (what was attempted, the HTTP status).
func (e *StartError) Error() string { return serverMessage(e.Err, e.Err.Error()) }

func (e *StartError) Unwrap() error { return e.Err }

func (e *StartError) podmanWords() string { return e.Error() }

// ExitCode is podman run's exit code for the failure: 127 when the command
// was not found, 126 when it could not be invoked otherwise.
//
// The API does not say which: every start failure comes back with one
// status (409 from an attach that prepares the container, 500 from a
// start) and the runtime's message, on podman 4 and 5 alike. podman's own
// remote client decides by that message (define.ExitCode), so this uses
// the same function on the same message, and agrees with it by
// construction; integration's run differential checks it on both servers.
func (e *StartError) ExitCode() int {
	return define.ExitCode(errors.New(e.Error()))
}

// startError wraps a failed start of container id as a *StartError, unless
// no answer came or the container is gone.
func (c *Client) startError(op, id string, err error) error {
	wrapped := c.containerError(op, id, err)
	var api *APIError
	if errors.As(wrapped, &api) {
		return &StartError{ID: id, Err: wrapped}
	}
	return wrapped
}
