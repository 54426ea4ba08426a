package podmantest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ReadyTimeout bounds how long New waits for the service to answer.
const ReadyTimeout = 30 * time.Second

// containersConf is the service's containers.conf. runc, not crun (crun
// fails on this kernel's hybrid cgroups); ulimits below the machine's hard
// nofile limit; cgroupfs and a file events log, since there is no systemd
// session; and a tmp dir of its own, so the service shares no alive file,
// exit dir or events log with any other podman on the machine; a hooks
// dir of its own, empty until a test puts a hook there; and a default
// network of its own (name, subnet, config dir): services that share
// podman's default network share netavark's firewall chains, and one
// service tearing its last container down removes the chains another is
// setting a container up in.
const containersConf = `[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = %q
hooks_dir = [%q]

[network]
network_config_dir = %q
default_network = %q
default_subnet = %q
`

// Service is a private podman API service.
type Service struct {
	// binary is the podman the service runs, and its CLI helpers.
	binary string
	dir    string
	conf   string
	socket string
	log    string

	daemon
}

// Start starts a service for tb and stops it when tb's test ends. A
// missing prerequisite or a service that does not come up fails tb.
func Start(tb testing.TB) *Service {
	tb.Helper()
	return startFor(tb, "the podman service", New)
}

// New checks the prerequisites, lays out a temporary directory, imports
// the test image and starts the service of Binary; it returns once the
// socket answers. On error nothing is left running or on disk.
func New() (*Service, error) { return NewWith(Binary()) }

// NewWith is New for the podman binary given: the service runs it, and
// so do the Podman helpers, whatever Binary says later.
func NewWith(binary string) (_ *Service, err error) {
	if err := checkPrerequisites(binary); err != nil {
		return nil, err
	}
	// Under os.TempDir, not a test's TempDir: the socket path must fit
	// in sun_path, and the dir must outlive a single test.
	dir, err := os.MkdirTemp("", "sandwire-podman-")
	if err != nil {
		return nil, err
	}
	s := &Service{
		binary: binary,
		dir:    dir,
		conf:   filepath.Join(dir, "containers.conf"),
		socket: filepath.Join(dir, "podman.sock"),
		log:    filepath.Join(dir, "service.log"),
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Stop())
		}
	}()
	if err := os.MkdirAll(s.HooksDir(), 0o755); err != nil {
		return nil, err
	}
	netName, subnet := privateNetwork()
	conf := fmt.Appendf(nil, containersConf, filepath.Join(dir, "tmp"), s.HooksDir(), filepath.Join(dir, "networks"), netName, subnet)
	if major, err := majorVersion(binary); err != nil {
		return nil, err
	} else if major >= 5 {
		// podman 5 dropped BoltDB as the default; 4.3 knows no such key.
		conf = append(conf, "database_backend = \"sqlite\"\n"...)
	}
	if err := os.WriteFile(s.conf, conf, 0o644); err != nil {
		return nil, err
	}
	if err := s.importImage(); err != nil {
		return nil, err
	}
	if err := s.startService(); err != nil {
		return nil, err
	}
	return s, nil
}

// privateNetwork is a default network name and a /24 subnet for one
// service, drawn at random from 10.128.0.0/10, far from podman's own
// 10.88.0.0/16 and from the subnets netavark picks for new networks.
func privateNetwork() (name, subnet string) {
	n := rand.IntN(1 << 14)
	return fmt.Sprintf("sandwire%d", n), fmt.Sprintf("10.%d.%d.0/24", 128+n>>8, n&0xff)
}

// Binary is the podman binary the service runs; as a client
// (podman --remote) it is the podman of the server's own release.
func (s *Service) Binary() string { return s.binary }

// Dir is the service's temporary directory.
func (s *Service) Dir() string { return s.dir }

// URL is the service's API URL.
func (s *Service) URL() string { return "unix://" + s.socket }

// Socket is the path of the service's unix socket.
func (s *Service) Socket() string { return s.socket }

// Image is the name of the test image.
func (s *Service) Image() string { return Image }

// HooksDir is the service's only OCI hooks directory: a test may put a
// hook there before it creates the containers the hook applies to.
func (s *Service) HooksDir() string { return filepath.Join(s.dir, "hooks.d") }

// ContainersConf is the path of the service's containers.conf.
func (s *Service) ContainersConf() string { return s.conf }

// Env is the environment for podman commands against the service: the
// process environment with CONTAINERS_CONF pointing at the service's
// configuration and no CONTAINER_HOST or CONTAINER_CONNECTION.
func (s *Service) Env() []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return k == "CONTAINERS_CONF" || k == "CONTAINER_HOST" || k == "CONTAINER_CONNECTION"
	})
	// podman 5 warns on every call about cgroups v1 and BoltDB; the
	// warnings say nothing about the tests.
	return append(env, "CONTAINERS_CONF="+s.conf, "PODMAN_IGNORE_CGROUPSV1_WARNING=1", "SUPPRESS_BOLTDB_WARNING=1")
}

// EnvBinary names the podman binary the service runs, for the server
// matrix: unset means Debian's podman in PATH; hack/test.sh also runs the
// suite against podman 5.8.2 built from the module proxy.
const EnvBinary = "SANDWIRE_TEST_PODMAN"

// Binary is the podman binary the service and the Podman helpers run.
func Binary() string {
	if b := os.Getenv(EnvBinary); b != "" {
		return b
	}
	return "podman"
}

// majorVersion is the major version of binary, from `podman --version`.
func majorVersion(binary string) (int, error) {
	out, err := exec.Command(binary, "--version").Output()
	if err != nil {
		return 0, fmt.Errorf("%s --version: %w", binary, err)
	}
	fields := strings.Fields(string(out))
	if len(fields) == 0 {
		return 0, fmt.Errorf("%s --version printed nothing", binary)
	}
	major, _, _ := strings.Cut(fields[len(fields)-1], ".")
	return strconv.Atoi(major)
}

// storageArgs are the global podman flags that select the service's storage.
func (s *Service) storageArgs() []string {
	return []string{
		"--root", filepath.Join(s.dir, "root"),
		"--runroot", filepath.Join(s.dir, "runroot"),
		"--storage-driver", "vfs",
	}
}

// Podman runs the podman CLI directly on the service's storage (not
// through the socket) and returns its stdout. The error carries stderr.
func (s *Service) Podman(args ...string) (string, error) {
	return s.podman(append(s.storageArgs(), args...)...)
}

// PodmanRemote runs the podman CLI as a client of the service's socket.
func (s *Service) PodmanRemote(args ...string) (string, error) {
	return s.podman(append([]string{"--remote", "--url", s.URL()}, args...)...)
}

func (s *Service) podman(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.binary, args...)
	cmd.Env = s.Env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("podman %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// startService starts `podman system service` and waits until its socket
// answers.
func (s *Service) startService() error {
	// At info level the service logs every API request: LogTail then
	// shows what a failing test asked of it.
	args := append(s.storageArgs(), "--log-level", "info", "system", "service", "--time=0", s.URL())
	if err := s.start("the podman service", s.log, s.Env(), s.binary, args...); err != nil {
		return err
	}
	return s.daemon.waitReady(ReadyTimeout, s.HTTPClient(), "http://d/_ping", func() string { return s.LogTail(40) })
}

// Restart stops the service as a restart of its unit would (SIGTERM, and
// a wait until it has exited: the socket then refuses connections, and
// every event stream through it ends), runs between, when not nil, while
// no service runs, and starts the service again on the same storage,
// socket and events log. Containers and their monitors live on across
// it. The service is running when Restart returns, whatever between did.
func (s *Service) Restart(between func() error) error {
	if !s.running() {
		return errors.New("the podman service is not running")
	}
	if err := s.terminate(); err != nil {
		return err
	}
	var errs []error
	if between != nil {
		errs = append(errs, between())
	}
	errs = append(errs, s.startService())
	return errors.Join(errs...)
}

// HTTPClient returns an HTTP client that talks to the service's socket,
// whatever host a URL names.
func (s *Service) HTTPClient() *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", s.socket)
		}},
	}
}

// LogCrash returns the head of a Go crash in the service's log (the
// "panic:" or "fatal error:" line and the first goroutine's stack), or ""
// when the service did not crash: the tail of a crash is only the stacks
// of idle goroutines.
func (s *Service) LogCrash() string {
	data, err := os.ReadFile(s.log)
	if err != nil {
		return ""
	}
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") {
			end := min(i+40, len(lines))
			return strings.Join(lines[max(i-5, 0):end], "\n")
		}
	}
	return ""
}

// LogTail returns the last n lines of the service's log.
func (s *Service) LogTail(n int) string {
	data, err := os.ReadFile(s.log)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
