package podmanapi

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// peer is the process that listens on a unix socket, as the kernel saw it
// when that process called listen: its pid in this process's pid
// namespace (0 when it is not in it) and its effective uid in this
// process's user namespace.
type peer struct {
	PID int
	UID int
}

// socketPeer connects to the unix socket at path and reads its peer
// credentials (SO_PEERCRED). It then asks for the ping on that connection
// and reads the answer before it closes it: podman's service logs a
// warning for every connection that closes without a request (its idle
// tracker, pkg/api/server/idle).
func socketPeer(ctx context.Context, path string) (peer, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return peer{}, err
	}
	defer conn.Close()
	raw, err := conn.(*net.UnixConn).SyscallConn()
	if err != nil {
		return peer{}, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return peer{}, err
	}
	if credErr != nil {
		return peer{}, fmt.Errorf("reading the peer credentials of %s: %w", path, credErr)
	}
	if err := ping(ctx, conn); err != nil {
		return peer{}, fmt.Errorf("pinging %s: %w", path, err)
	}
	return peer{PID: int(cred.Pid), UID: int(cred.Uid)}, nil
}

// probeTimeout bounds the peer probe; the server was pinged just before.
const probeTimeout = 10 * time.Second

// ping asks for GET /_ping on conn and reads the answer.
func ping(ctx context.Context, conn net.Conn) error {
	if deadline, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(deadline); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://d/_ping", nil)
	if err != nil {
		return err
	}
	req.Close = true
	if err := req.Write(conn); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the ping answered %s", resp.Status)
	}
	return nil
}

// procDir is a proc file system; hostProc is this machine's.
type procDir string

const hostProc procDir = "/proc"

func (d procDir) read(pid, name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(string(d), pid, name))
}

// initialUserNS reports whether this process runs in the initial user
// namespace, where the uids the kernel reports are the kernel's own.
func (d procDir) initialUserNS() bool {
	data, err := d.read("self", "uid_map")
	return err == nil && slices.Equal(strings.Fields(string(data)), []string{"0", "0", "4294967295"})
}

// isPodman reports whether process pid runs podman: its executable, when
// this process may see it, else the name the kernel gave it at exec (a
// rootless podman re-executes itself as /proc/self/exe and is called "exe",
// but then it is this user's and its executable can be seen).
func (d procDir) isPodman(pid int) bool {
	if pid <= 0 {
		return false
	}
	p := strconv.Itoa(pid)
	if exe, err := os.Readlink(filepath.Join(string(d), p, "exe")); err == nil {
		return filepath.Base(strings.TrimSuffix(exe, " (deleted)")) == "podman"
	}
	comm, err := d.read(p, "comm")
	return err == nil && string(bytes.TrimSuffix(comm, []byte("\n"))) == "podman"
}

// configEnv are the variables that choose the containers.conf files a
// podman reads (go.podman.io/common/pkg/config: systemConfigs and
// userConfigPath).
var configEnv = []string{"CONTAINERS_CONF", "CONTAINERS_CONF_OVERRIDE", "XDG_CONFIG_HOME", "HOME"}

// sharesConfig reports whether process pid reads the containers.conf files
// this process reads: it started with the same configuration variables and
// loads no --module of its own. The caller checks that it is this user's.
func (d procDir) sharesConfig(pid int) bool {
	p := strconv.Itoa(pid)
	environ, err := d.read(p, "environ")
	if err != nil {
		return false
	}
	cmdline, err := d.read(p, "cmdline")
	if err != nil {
		return false
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(environ), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	for _, k := range configEnv {
		if env[k] != os.Getenv(k) {
			return false
		}
	}
	for _, arg := range strings.Split(string(cmdline), "\x00") {
		if arg == "--module" || strings.HasPrefix(arg, "--module=") {
			return false
		}
	}
	return true
}
