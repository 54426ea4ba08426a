// Package podmanapi is sandwire's narrow view of the podman REST API: it
// connects the way podman-remote does, learns the server's facts once, and
// creates, starts, inspects, lists and removes containers. It is the only
// package that imports podman's bindings.
//
// # Connecting
//
// Connect resolves the service in podman-remote's order: an explicit URL,
// then a named connection from podman's connection list, then the
// CONTAINER_HOST or CONTAINER_CONNECTION environment variable, then
// podman's default connection, then the default rootful or rootless
// socket.
//
// # Errors
//
// Failures come back as typed errors a caller can branch on with
// errors.As: *UnreachableError, *ImageNotFoundError, *NameInUseError,
// *RemoteHostError and, for anything else the server refused, *APIError.
// They are classified by HTTP status and by asking the server, never by
// matching its message text.
package podmanapi
