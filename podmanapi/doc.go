// Package podmanapi is sandwire's narrow view of the podman REST API: it
// connects the way podman-remote does, learns the server's facts when a
// verb first asks for them, pulls images as podman-remote's run and create
// do, creates, starts, inspects, lists and removes containers, and follows
// the server's event stream. It is the only package that imports podman's
// bindings.
//
// # Connecting
//
// Connect resolves the service in podman-remote's order: a named
// connection from podman's connection list (--connection), then an
// explicit URL (--url), then the CONTAINER_CONNECTION environment
// variable, then CONTAINER_HOST (with CONTAINER_SSHKEY), then podman's
// default connection, then the default rootful or rootless socket. See
// Resolve for what each step takes from the ones below it.
//
// # Server facts
//
// Connecting costs one round trip, the ping, which also tells the server's
// version. Whether the server is rootless, and its default rootless
// network, are learned on the first call of Client.Facts: from the kernel
// (the unix socket's peer credentials and /proc) for a podman that itself
// listens on a socket of this machine, otherwise by asking the server
// (GET /libpod/info, which takes a fifth of a second on a vfs server).
//
// # Errors
//
// Failures come back as typed errors a caller can branch on with
// errors.As: *UnreachableError, *ImageNotFoundError, *PullError,
// *NameInUseError, *NoSuchContainerError, *RemoteHostError,
// *InterruptedError and, for anything else the server refused, *APIError.
// They are classified by HTTP status and by asking the server, never by
// matching its message text.
//
// Each also answers errors.Is for one category of
// github.com/containerd/errdefs, so a caller that maps failures to exit
// codes or HTTP statuses needs one errors.Is per category:
// ErrUnavailable (unreachable), ErrNotFound (image, a failed pull,
// container, an API 404), ErrAlreadyExists (name in use),
// ErrFailedPrecondition (remote host),
// ErrInvalidArgument (an API 400), ErrConflict (an API 409) and, for an
// interrupted request, context.Canceled, which is errdefs' cancelled
// category. An API error of any other status is in none. The messages say
// what went wrong and what was attempted, not which command or flag to try
// next; PodmanMessage words one as podman's own client prints it, the
// server's message alone.
//
// # Signals
//
// StartAttached forwards the signals in Streams.Signals to the container
// with the kill endpoint, as podman's --sig-proxy does;
// CatchProxiedSignals catches podman's set of them.
package podmanapi
