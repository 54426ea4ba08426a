package wiring

import (
	"errors"
	"fmt"
	"net"
	"path"
	"path/filepath"
	"strings"
)

// Resources are the per-container host resources of one launch.
type Resources struct {
	// RuntimeDir is the host dir mounted at /run/terok (mode 0700).
	RuntimeDir string
	// BrokerPort, SignerPort and GatePort are the loopback ports of the
	// vault token broker, the SSH signer and the git gate in tcp mode;
	// zero in socket mode.
	BrokerPort, SignerPort, GatePort int
}

// LoopbackPorts lists the ports in use, for the shield's allowlist.
func (r Resources) LoopbackPorts() []int {
	var ports []int
	for _, p := range []int{r.GatePort, r.BrokerPort, r.SignerPort} {
		if p != 0 {
			ports = append(ports, p)
		}
	}
	return ports
}

// SocketPathError reports a host socket path that cannot be bound because
// it does not fit in sun_path.
type SocketPathError struct {
	Path  string
	Bytes int
}

func (e *SocketPathError) Error() string {
	return fmt.Sprintf("unix socket path too long (%d bytes; at most %d): %s: the container name or the runtime dir (%s) must be shorter",
		e.Bytes, MaxSocketPath, e.Path, EnvRuntimeDir)
}

// checkSocketPaths fails when a service socket under runtimeDir would not
// fit in sun_path. It touches nothing on disk.
func checkSocketPaths(runtimeDir string) error {
	for _, sock := range serviceSockets {
		host := filepath.Join(runtimeDir, strings.TrimPrefix(sock, ContainerRuntimeDir+"/"))
		if len(host) > MaxSocketPath {
			return &SocketPathError{Path: host, Bytes: len(host)}
		}
	}
	return nil
}

// socketDirs are the dirs, relative to the runtime dir, in which the
// plan's services bind their sockets in socket mode. A launch lays them
// down with the runtime dir; a restore puts back what of them is gone.
func socketDirs(p Plan) []string {
	var dirs []string
	for _, s := range []struct {
		on     bool
		socket string
	}{{p.Broker, ContainerVaultSocket}, {p.SSH, ContainerSSHSignerSocket}, {p.Gate, ContainerGateSocket}} {
		if s.on {
			dirs = append(dirs, path.Dir(strings.TrimPrefix(s.socket, ContainerRuntimeDir+"/")))
		}
	}
	return dirs
}

// pickPorts returns n distinct free TCP ports on 127.0.0.1. All n sockets
// are held open while picking: bind-and-close one at a time may hand the
// same port back twice.
func pickPorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("picking a free loopback port: %w", err)
		}
		listeners = append(listeners, l)
		addr, ok := l.Addr().(*net.TCPAddr)
		if !ok {
			return nil, errors.New("picking a free loopback port: listener has no TCP address")
		}
		ports = append(ports, addr.Port)
	}
	return ports, nil
}
