package podmanapi

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"

	"github.com/containers/podman/v5/pkg/bindings"
	"go.podman.io/common/pkg/config"
)

// Default sockets of podman's API service.
const (
	DefaultRootSocket = "unix:///run/podman/podman.sock"
)

// Options say which podman service to connect to. The zero value means
// podman-remote's defaults.
type Options struct {
	// URL is the service URL (--url): unix://, tcp:// or ssh://.
	URL string
	// Connection names an entry of podman's connection list (--connection).
	Connection string
	// Identity is the SSH key for ssh:// URLs (--identity).
	Identity string
}

// Destination is a resolved service address.
type Destination struct {
	// Name is the connection's name, when the URI came from the connection
	// list (--connection, CONTAINER_CONNECTION or the default connection).
	Name                   string
	URI                    string
	Identity               string
	Machine                bool
	TLSCert, TLSKey, TLSCA string
}

// unreachable says that d could not be reached, and why.
func (d Destination) unreachable(err error) *UnreachableError {
	return &UnreachableError{URI: d.URI, Connection: d.Name, Err: err}
}

// LookupEnv reads one environment variable; os.LookupEnv is one.
type LookupEnv func(string) (string, bool)

// Resolve decides which service opts name, in podman-remote's order
// (podman v5.8.2, cmd/podman/root.go: setupRemoteConnection, then
// readRemoteCliFlags):
//
//  1. the named connection (--connection), with that connection's
//     identity and TLS files (an Identity in opts is not used);
//  2. the URL (--url);
//  3. CONTAINER_CONNECTION, a named connection;
//  4. CONTAINER_HOST, with CONTAINER_SSHKEY as its identity;
//  5. podman's default connection (the connections file's default, else
//     containers.conf's active_service);
//  6. the default socket for this user.
//
// Steps 3 to 6 are decided first, as podman decides them before it reads
// its flags: a URL keeps the identity and TLS files they found, and an
// Identity in opts replaces the identity for every step but 1. A URL does
// not keep their machine mode, which podman-remote keeps too: for a URL
// that is no machine's it would skip the ssh host-key check and call a
// local socket remote. A CONTAINER_CONNECTION that cannot be resolved is
// an error only when neither a connection nor a URL is given. Empty
// variables count as unset.
//
// When resolving a named connection fails, the returned Destination's Name
// still says which connection it was.
func Resolve(opts Options, euid int, lookup LookupEnv) (Destination, error) {
	if opts.Connection != "" {
		return namedConnection(opts.Connection, false)
	}
	env, envErr := fromEnvironment(euid, lookup)
	if opts.URL != "" {
		env = Destination{URI: opts.URL, Identity: env.Identity, TLSCert: env.TLSCert, TLSKey: env.TLSKey, TLSCA: env.TLSCA}
		envErr = nil
	}
	if opts.Identity != "" {
		env.Identity = opts.Identity
	}
	return env, envErr
}

// fromEnvironment is the destination podman-remote settles on before it
// reads its flags: CONTAINER_CONNECTION, CONTAINER_HOST (and
// CONTAINER_SSHKEY), the default connection, the default socket.
func fromEnvironment(euid int, lookup LookupEnv) (Destination, error) {
	if name := getenv(lookup, "CONTAINER_CONNECTION"); name != "" {
		return namedConnection(name, false)
	}
	if host := getenv(lookup, "CONTAINER_HOST"); host != "" {
		return Destination{URI: host, Identity: getenv(lookup, "CONTAINER_SSHKEY")}, nil
	}
	if d, err := namedConnection("", true); err == nil {
		return d, nil
	}
	return Destination{URI: defaultSocket(euid, lookup)}, nil
}

func getenv(lookup LookupEnv, key string) string {
	v, _ := lookup(key)
	return v
}

// namedConnection reads the connection called name from podman's
// connection list, or the default connection when def is set. On error the
// Destination carries only the name.
func namedConnection(name string, def bool) (Destination, error) {
	conf, err := config.Default()
	if err != nil {
		return Destination{Name: name}, fmt.Errorf("reading podman's configuration: %w", err)
	}
	c, err := conf.GetConnection(name, def)
	if err != nil {
		return Destination{Name: name}, err
	}
	return Destination{Name: c.Name, URI: c.URI, Identity: c.Identity, Machine: c.IsMachine,
		TLSCert: c.TLSCert, TLSKey: c.TLSKey, TLSCA: c.TLSCA}, nil
}

func defaultSocket(euid int, lookup LookupEnv) string {
	if euid == 0 {
		return DefaultRootSocket
	}
	dir, ok := lookup("XDG_RUNTIME_DIR")
	if !ok || dir == "" {
		dir = filepath.Join(os.TempDir(), fmt.Sprintf("podman-run-%d", euid))
	}
	return "unix://" + filepath.Join(dir, "podman", "podman.sock")
}

// IsLocal reports whether uri reaches a service on this machine: a unix
// socket, or TCP to a loopback address. Host paths (sidecar, runtime dir,
// bridges) mean the same thing to such a server as to this client.
func IsLocal(uri string) bool {
	u, err := url.Parse(uri)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "unix":
		return true
	case "tcp":
		host := u.Hostname()
		if host == "localhost" {
			return true
		}
		ip := net.ParseIP(host)
		return ip != nil && ip.IsLoopback()
	}
	return false
}

// Client is a connection to one podman service and, once asked for, its
// facts.
type Client struct {
	conn context.Context
	dest Destination
	// version is the server's podman version, from the connection's ping.
	version string
	// proc is where the server's process is looked up.
	proc procDir

	factsMu sync.Mutex
	facts   *Facts
}

// Connect resolves opts and connects. It makes one round trip, the ping;
// the server's facts are learned when first asked for (Client.Facts).
func Connect(ctx context.Context, opts Options) (*Client, error) {
	dest, err := Resolve(opts, os.Geteuid(), os.LookupEnv)
	if err != nil {
		return nil, &UnreachableError{Connection: dest.Name, Err: err}
	}
	return connectTo(ctx, dest)
}

// connectTo connects to dest.
func connectTo(ctx context.Context, dest Destination) (*Client, error) {
	conn, err := bindings.NewConnectionWithOptions(ctx, bindings.Options{
		URI: dest.URI, Identity: dest.Identity, Machine: dest.Machine,
		TLSCertFile: dest.TLSCert, TLSKeyFile: dest.TLSKey, TLSCAFile: dest.TLSCA,
	})
	if err != nil {
		return nil, dest.unreachable(err)
	}
	c := &Client{conn: conn, dest: dest, proc: hostProc}
	// Zero when the server sent no Libpod-API-Version header.
	if v := bindings.ServiceVersion(conn); v.Major != 0 || v.Minor != 0 || v.Patch != 0 {
		c.version = v.String()
	}
	return c, nil
}

// local reports whether the server runs on this machine.
func (c *Client) local() bool { return IsLocal(c.dest.URI) && !c.dest.Machine }

// RequireLocal refuses, with the reason, wiring that needs host paths
// when the server runs on another machine.
func (c *Client) RequireLocal(what string) error {
	if c.local() {
		return nil
	}
	return &RemoteHostError{URI: c.dest.URI, What: what}
}
