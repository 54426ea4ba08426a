package podmanapi

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"

	"github.com/containers/podman/v5/pkg/bindings"
	"github.com/containers/podman/v5/pkg/bindings/system"
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
	// Name is the connection's name, when it came from the connection list.
	Name                   string
	URI                    string
	Identity               string
	Machine                bool
	TLSCert, TLSKey, TLSCA string
}

// LookupEnv reads one environment variable; os.LookupEnv is one.
type LookupEnv func(string) (string, bool)

// Resolve decides which service opts name, in podman-remote's order: the
// URL, then the named connection, then CONTAINER_CONNECTION, then
// CONTAINER_HOST (with CONTAINER_SSHKEY), then podman's default connection,
// then the default socket for this user.
func Resolve(opts Options, euid int, lookup LookupEnv) (Destination, error) {
	if opts.URL != "" {
		return Destination{URI: opts.URL, Identity: opts.Identity}, nil
	}
	if opts.Connection != "" {
		return namedConnection(opts.Connection, false)
	}
	if name, ok := lookup("CONTAINER_CONNECTION"); ok && name != "" {
		return namedConnection(name, false)
	}
	if host, ok := lookup("CONTAINER_HOST"); ok && host != "" {
		id := opts.Identity
		if key, ok := lookup("CONTAINER_SSHKEY"); ok && id == "" {
			id = key
		}
		return Destination{URI: host, Identity: id}, nil
	}
	if d, err := namedConnection("", true); err == nil {
		return d, nil
	}
	return Destination{URI: defaultSocket(euid, lookup), Identity: opts.Identity}, nil
}

func namedConnection(name string, def bool) (Destination, error) {
	conf, err := config.Default()
	if err != nil {
		return Destination{}, fmt.Errorf("reading podman's configuration: %w", err)
	}
	c, err := conf.GetConnection(name, def)
	if err != nil {
		return Destination{}, err
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

// Facts are what sandwire needs to know about the server, learned once
// per connection.
type Facts struct {
	// Rootless is whether the server runs rootless; it decides the user
	// namespace and the network, not the client's uid.
	Rootless bool
	// Version is the server's podman version, APIVersion its API version.
	Version, APIVersion string
	// RootlessNetwork is the server's default rootless network command
	// ("pasta" or "slirp4netns"); empty when rootful.
	RootlessNetwork string
}

// Client is a connection to one podman service and its facts.
type Client struct {
	conn  context.Context
	dest  Destination
	facts Facts
}

// Connect resolves opts, connects, and learns the server's facts.
func Connect(ctx context.Context, opts Options) (*Client, error) {
	dest, err := Resolve(opts, os.Geteuid(), os.LookupEnv)
	if err != nil {
		return nil, &UnreachableError{URI: opts.Connection, Err: err}
	}
	return ConnectTo(ctx, dest)
}

// ConnectTo connects to dest and learns the server's facts.
func ConnectTo(ctx context.Context, dest Destination) (*Client, error) {
	conn, err := bindings.NewConnectionWithOptions(ctx, bindings.Options{
		URI: dest.URI, Identity: dest.Identity, Machine: dest.Machine,
		TLSCertFile: dest.TLSCert, TLSKeyFile: dest.TLSKey, TLSCAFile: dest.TLSCA,
	})
	if err != nil {
		return nil, &UnreachableError{URI: dest.URI, Err: err}
	}
	info, err := system.Info(conn, nil)
	if err != nil {
		return nil, &UnreachableError{URI: dest.URI, Err: err}
	}
	c := &Client{conn: conn, dest: dest}
	c.facts.Rootless = info.Host.Security.Rootless
	c.facts.Version = info.Version.Version
	c.facts.APIVersion = info.Version.APIVersion
	if c.facts.Rootless {
		c.facts.RootlessNetwork = info.Host.RootlessNetworkCmd
		if c.facts.RootlessNetwork == "" {
			// podman 4.x reports no default; it used slirp4netns.
			c.facts.RootlessNetwork = "slirp4netns"
		}
	}
	return c, nil
}

// Facts returns the server's facts.
func (c *Client) Facts() Facts { return c.facts }

// Destination returns where the client is connected.
func (c *Client) Destination() Destination { return c.dest }

// Local reports whether the server runs on this machine.
func (c *Client) Local() bool { return IsLocal(c.dest.URI) && !c.dest.Machine }

// RequireLocal refuses, with the reason, wiring that needs host paths
// when the server runs on another machine.
func (c *Client) RequireLocal(what string) error {
	if c.Local() {
		return nil
	}
	return &RemoteHostError{URI: c.dest.URI, What: what}
}
