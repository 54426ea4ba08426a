package podmanapi

import (
	"context"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/containers/podman/v5/pkg/bindings/system"
	"github.com/sirupsen/logrus"
)

// Facts are what sandwire needs to know about the server, learned once
// per connection, when a verb first asks for them.
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

// Facts returns the server's facts. They are learned on the first call
// and kept for the connection; a failure is not kept, the next call tries
// again.
//
// The version comes from the ping that connecting made (a podman server
// sends its version as the Libpod-API-Version header; it is the version
// GET /libpod/info reports). Whether the server is rootless comes, for a
// podman that itself listens on a unix socket of this machine, from the
// kernel: the socket's peer credentials (SO_PEERCRED) name the process
// that listens and its uid, and a podman is rootless exactly when it does
// not run as root. Its default rootless network is, for podman 5 and
// later, this machine's containers.conf when the server reads the same
// files (same user, same configuration environment); before 5, podman
// reports none and uses slirp4netns. Wherever these cannot be sure — tcp,
// ssh, a podman machine, a socket a proxy or systemd holds, a client in a
// user namespace of its own, another user's configuration — the server is
// asked (GET /libpod/info, which gathers storage statistics and takes
// ~0.2 s on a vfs server).
func (c *Client) Facts(ctx context.Context) (Facts, error) {
	c.factsMu.Lock()
	defer c.factsMu.Unlock()
	if c.facts != nil {
		return *c.facts, nil
	}
	f, err := c.learnFacts(ctx)
	if err != nil {
		return Facts{}, err
	}
	c.facts = &f
	return f, nil
}

func (c *Client) learnFacts(ctx context.Context) (Facts, error) {
	if path, ok := c.localSocket(); ok && c.version != "" {
		p, err := socketPeer(ctx, path)
		if err == nil {
			if f, ok := peerFacts(c.proc, p, c.version, os.Geteuid(), localRootlessNetwork); ok {
				return f, nil
			}
		}
		logrus.Debugf("the facts of the podman at %s are asked of it (peer %+v, %v)", path, p, err)
	}
	return c.infoFacts(ctx)
}

// localSocket is the path of the server's unix socket, when it is one on
// this machine.
func (c *Client) localSocket() (string, bool) {
	if c.dest.Machine {
		return "", false
	}
	u, err := url.Parse(c.dest.URI)
	if err != nil || u.Scheme != "unix" {
		return "", false
	}
	// podman takes unix://path as unix:///path.
	return "/" + strings.TrimPrefix(u.Host+u.Path, "/"), true
}

// infoFacts asks the server.
func (c *Client) infoFacts(ctx context.Context) (Facts, error) {
	info, err := system.Info(c.with(ctx), nil)
	if err != nil {
		return Facts{}, c.transportError("learning the server's facts", err)
	}
	f := Facts{Rootless: info.Host.Security.Rootless, Version: info.Version.Version, APIVersion: info.Version.APIVersion}
	if f.Rootless {
		f.RootlessNetwork = info.Host.RootlessNetworkCmd
		if f.RootlessNetwork == "" {
			// podman before 5.1 reports none.
			f.RootlessNetwork = defaultRootlessNetwork(f.Version)
		}
	}
	return f, nil
}

// peerFacts are the facts of the podman that listens on a unix socket of
// this machine as process p, read from the kernel instead of asked of it.
// ok is false when they cannot be sure: p is no podman (a proxy, systemd's
// socket activation), p's uid is not the kernel's (this process runs in a
// user namespace of its own), or p is rootless podman 5 whose configuration
// this process does not share.
func peerFacts(proc procDir, p peer, version string, euid int, localNetwork func() (string, error)) (Facts, bool) {
	if !proc.initialUserNS() || !proc.isPodman(p.PID) {
		return Facts{}, false
	}
	f := Facts{Rootless: p.UID != 0, Version: version, APIVersion: version}
	if !f.Rootless {
		return f, true
	}
	major, ok := majorVersion(version)
	switch {
	case !ok:
		return Facts{}, false
	case major < 5:
		f.RootlessNetwork = defaultRootlessNetwork(version)
		return f, true
	}
	if p.UID != euid || !proc.sharesConfig(p.PID) {
		return Facts{}, false
	}
	network, err := localNetwork()
	if err != nil {
		return Facts{}, false
	}
	f.RootlessNetwork = network
	return f, true
}

// defaultRootlessNetwork is podman's own default rootless network: pasta
// since podman 5, slirp4netns before.
func defaultRootlessNetwork(version string) string {
	if major, ok := majorVersion(version); ok && major >= 5 {
		return "pasta"
	}
	return "slirp4netns"
}

func localRootlessNetwork() (string, error) {
	lc, err := ReadLocalConfig()
	return lc.RootlessNetwork, err
}

// majorVersion is the major number of a podman version ("5.8.2").
func majorVersion(version string) (int, bool) {
	major, _, _ := strings.Cut(version, ".")
	n, err := strconv.Atoi(major)
	return n, err == nil
}
