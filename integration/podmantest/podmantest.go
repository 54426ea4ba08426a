// Package podmantest runs a private podman API service for tests: its own
// storage, run root, temporary dir and socket in one temporary directory,
// and a busybox image imported from the host's busybox-static, so tests
// need neither a registry nor the machine's own podman state.
//
// # Prerequisites
//
// podman, runc and a statically linked /bin/busybox (Debian's podman, runc
// and busybox-static; hack/install-deps.sh installs them). Run as root,
// the service is rootful; run as an unprivileged user, it is rootless, and
// the user also needs newuidmap/newgidmap (uidmap), subordinate ID ranges
// in /etc/subuid and /etc/subgid, slirp4netns and XDG_RUNTIME_DIR
// (hack/test-rootless.sh sets up such a user and runs the suite as it).
// CheckPrerequisites says which one is missing. A harness that cannot run
// is an error, never a skip: a skipped integration test must not pass.
//
// # Example
//
//	func TestMain(m *testing.M) {
//		svc, err := podmantest.New()
//		if err != nil {
//			fmt.Fprintln(os.Stderr, "FAIL:", err)
//			os.Exit(1)
//		}
//		code := m.Run()
//		if err := svc.Stop(); err != nil && code == 0 {
//			code = 1
//		}
//		os.Exit(code)
//	}
package podmantest

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Image is the name of the test image every Service holds: a busybox
// rootfs with /bin/sh and the usual applets, default command /bin/sh.
const Image = "localhost/sandwire-test:latest"

// BusyboxPath is the host binary the test image is made of. It must be
// statically linked (Debian's busybox-static), since the image has no libc.
const BusyboxPath = "/bin/busybox"

// busyboxApplets are linked to /bin/busybox in the test image.
var busyboxApplets = []string{
	"sh", "cat", "ls", "env", "echo", "sleep", "id", "grep", "touch", "mount",
	"test", "true", "false", "sort", "stat",
}

// BuildTags are the tags sandwire builds with (the Makefile's BUILDTAGS).
const BuildTags = "remote,containers_image_openpgp,exclude_graphdriver_btrfs,exclude_graphdriver_devicemapper"

// ReadyTimeout bounds how long New waits for the service to answer.
const ReadyTimeout = 30 * time.Second

// stopTimeout bounds how long Stop waits for the service to exit on SIGTERM.
const stopTimeout = 15 * time.Second

// containersConf is the service's containers.conf. runc, not crun (crun
// fails on this kernel's hybrid cgroups); ulimits below the machine's hard
// nofile limit; cgroupfs and a file events log, since there is no systemd
// session; and a tmp dir of its own, so the service shares no alive file,
// exit dir or events log with any other podman on the machine; and a
// hooks dir of its own, empty until a test puts a hook there.
const containersConf = `[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = %q
hooks_dir = [%q]
`

// Service is a private podman API service.
type Service struct {
	dir    string
	conf   string
	socket string
	log    string

	cmd     *exec.Cmd
	exited  chan struct{} // closed when the service process has exited
	waitErr error

	stopOnce sync.Once
	stopErr  error
}

// Rootless reports whether the harness runs as an unprivileged user, and
// so starts a rootless service; tests that need root skip, saying so.
func Rootless() bool { return os.Geteuid() != 0 }

// CheckPrerequisites reports every missing prerequisite of the harness.
func CheckPrerequisites() error {
	var errs []error
	if Rootless() {
		errs = append(errs, checkRootless()...)
	}
	if _, err := exec.LookPath(Binary()); err != nil {
		errs = append(errs, fmt.Errorf("podman is not installed: %w", err))
	}
	if runcPath() == "" {
		errs = append(errs, errors.New("runc is not installed (not in PATH, /usr/bin or /usr/sbin)"))
	}
	if err := checkStatic(BusyboxPath); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("integration test prerequisites missing (hack/install-deps.sh installs them): %w", errors.Join(errs...))
}

// checkRootless reports what a rootless service lacks for this user.
func checkRootless() []error {
	var errs []error
	for _, tool := range []string{"newuidmap", "newgidmap", "slirp4netns"} {
		if _, err := exec.LookPath(tool); err != nil {
			errs = append(errs, fmt.Errorf("rootless podman needs %s (packages uidmap, slirp4netns): %w", tool, err))
		}
	}
	u, err := user.Current()
	if err != nil {
		return append(errs, fmt.Errorf("looking up the test user: %w", err))
	}
	for _, file := range []string{"/etc/subuid", "/etc/subgid"} {
		if !hasSubordinateRange(file, u.Username, u.Uid) {
			errs = append(errs, fmt.Errorf("%s has no range for %s: rootless podman needs one (usermod --add-subuids/--add-subgids)", file, u.Username))
		}
	}
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir == "" {
		errs = append(errs, errors.New("XDG_RUNTIME_DIR is not set: rootless podman keeps its pause process and locks there"))
	}
	return errs
}

// hasSubordinateRange reports whether file (/etc/subuid or /etc/subgid)
// gives the user, by name or uid, a range of IDs.
func hasSubordinateRange(file, name, uid string) bool {
	data, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Split(line, ":")
		if len(fields) == 3 && (fields[0] == name || fields[0] == uid) && fields[2] != "0" {
			return true
		}
	}
	return false
}

func runcPath() string {
	if p, err := exec.LookPath("runc"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/runc", "/usr/bin/runc"} {
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// checkStatic fails unless path is a statically linked ELF executable:
// Debian's plain busybox package installs a dynamic /bin/busybox, which
// cannot run in an image without a libc.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s is missing or not an executable (install busybox-static): %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; the test image needs busybox-static", path)
		}
	}
	return nil
}

// Start starts a service for tb and stops it when tb's test ends. A
// missing prerequisite or a service that does not come up fails tb.
func Start(tb testing.TB) *Service {
	tb.Helper()
	s, err := New()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Errorf("stopping the podman service: %v", err)
		}
	})
	return s
}

// New checks the prerequisites, lays out a temporary directory, imports
// the test image and starts the service; it returns once the socket
// answers. On error nothing is left running or on disk.
func New() (_ *Service, err error) {
	if err := CheckPrerequisites(); err != nil {
		return nil, err
	}
	// Under os.TempDir, not a test's TempDir: the socket path must fit
	// in sun_path, and the dir must outlive a single test.
	dir, err := os.MkdirTemp("", "sandwire-podman-")
	if err != nil {
		return nil, err
	}
	s := &Service{
		dir:    dir,
		conf:   filepath.Join(dir, "containers.conf"),
		socket: filepath.Join(dir, "podman.sock"),
		log:    filepath.Join(dir, "service.log"),
		exited: make(chan struct{}),
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Stop())
		}
	}()
	if err := os.MkdirAll(s.HooksDir(), 0o755); err != nil {
		return nil, err
	}
	conf := fmt.Appendf(nil, containersConf, filepath.Join(dir, "tmp"), s.HooksDir())
	if major, err := majorVersion(); err != nil {
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

// majorVersion is the major version of Binary, from `podman --version`.
func majorVersion() (int, error) {
	out, err := exec.Command(Binary(), "--version").Output()
	if err != nil {
		return 0, fmt.Errorf("%s --version: %w", Binary(), err)
	}
	fields := strings.Fields(string(out))
	if len(fields) == 0 {
		return 0, fmt.Errorf("%s --version printed nothing", Binary())
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
	cmd := exec.CommandContext(ctx, Binary(), args...)
	cmd.Env = s.Env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("podman %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// importImage makes the test image from the host's busybox and imports it
// into the service's storage, before the service starts.
func (s *Service) importImage() error {
	tarball := filepath.Join(s.dir, "busybox.tar")
	if err := writeBusyboxTar(tarball); err != nil {
		return fmt.Errorf("making the test image: %w", err)
	}
	if _, err := s.Podman("import", "--change", `CMD ["/bin/sh"]`, tarball, Image); err != nil {
		return fmt.Errorf("importing the test image: %w", err)
	}
	return os.Remove(tarball)
}

// writeBusyboxTar writes a rootfs tarball: /bin/busybox, its applet
// links, and the directories a container expects.
func writeBusyboxTar(path string) error {
	bb, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	now := time.Now()
	dirs := map[string]int64{"bin": 0o755, "etc": 0o755, "tmp": 0o1777, "proc": 0o555, "sys": 0o555,
		"dev": 0o755, "run": 0o755, "root": 0o700, "usr": 0o755, "usr/local": 0o755}
	var werr error
	write := func(h *tar.Header, body []byte) {
		if werr == nil {
			h.ModTime = now
			werr = tw.WriteHeader(h)
		}
		if werr == nil && body != nil {
			_, werr = tw.Write(body)
		}
	}
	names := make([]string, 0, len(dirs))
	for d := range dirs {
		names = append(names, d)
	}
	slices.Sort(names) // parents before children
	for _, d := range names {
		write(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: dirs[d]}, nil)
	}
	write(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(bb))}, bb)
	for _, a := range busyboxApplets {
		write(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777}, nil)
	}
	if werr == nil {
		werr = tw.Close()
	}
	return errors.Join(werr, f.Close())
}

// startService starts `podman system service` in its own process group and
// waits until its socket answers.
func (s *Service) startService() error {
	logFile, err := os.Create(s.log)
	if err != nil {
		return err
	}
	defer logFile.Close()
	// At info level the service logs every API request: LogTail then
	// shows what a failing test asked of it.
	args := append(s.storageArgs(), "--log-level", "info", "system", "service", "--time=0", s.URL())
	s.cmd = exec.Command(Binary(), args...)
	s.cmd.Env = s.Env()
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	// Its own process group, so Stop can signal the service and whatever
	// it spawned; and SIGKILL when the test binary dies (a timeout panic),
	// so no service outlives the run that started it.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that forked the child exits, so
		// the thread is locked to this goroutine and only ends (with it)
		// after the service has exited.
		runtime.LockOSThread()
		if err := s.cmd.Start(); err != nil {
			started <- err
			close(s.exited)
			return
		}
		started <- nil
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	if err := <-started; err != nil {
		s.cmd = nil
		return fmt.Errorf("starting the podman service: %w", err)
	}
	return s.waitReady(ReadyTimeout)
}

// waitReady polls the socket's _ping endpoint until it answers 200, the
// service exits, or timeout passes.
func (s *Service) waitReady(timeout time.Duration) error {
	client := s.HTTPClient()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("the podman service exited before it answered (%v); its log:\n%s", s.waitErr, s.LogTail(40))
		default:
		}
		resp, err := client.Get("http://d/_ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("_ping answered %s", resp.Status)
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the podman service at %s did not answer within %s (last: %v); its log:\n%s", s.URL(), timeout, last, s.LogTail(40))
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

// Stop removes every container of the service, stops the service and its
// process group, ends any conmon left behind (exec sessions keep theirs
// for minutes), unmounts what is still mounted under the service's dir and
// removes the dir. It is safe to call more than once.
func (s *Service) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *Service) stop() error {
	var errs []error
	if s.cmd != nil {
		if _, err := os.Stat(filepath.Join(s.dir, "root")); err == nil {
			if _, err := s.Podman("rm", "--all", "--force", "--time", "0"); err != nil {
				errs = append(errs, err)
			}
		}
		if err := s.stopService(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := killStragglers(s.dir); err != nil {
		errs = append(errs, err)
	}
	if err := unmountUnder(s.dir); err != nil {
		errs = append(errs, err)
	}
	if Rootless() {
		if err := s.removeRootlessStorage(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(s.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// removeRootlessStorage removes the storage of a rootless service, whose
// files belong to the user's subordinate IDs: only inside the user
// namespace may the user remove them. It then ends the namespace's pause
// process, which would otherwise outlive the run.
func (s *Service) removeRootlessStorage() error {
	var errs []error
	if _, err := os.Stat(filepath.Join(s.dir, "root")); err == nil {
		if _, err := s.Podman("unshare", "rm", "-rf", filepath.Join(s.dir, "root"), filepath.Join(s.dir, "runroot")); err != nil {
			errs = append(errs, err)
		}
	}
	if data, err := os.ReadFile(filepath.Join(s.dir, "tmp", "pause.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return errors.Join(errs...)
}

// Kill ends the service abruptly, as a crash would: SIGKILL to its
// process group, then a wait until it has exited, so its socket refuses
// connections. Its storage stays, for the podman CLI to look into; Stop
// still cleans up.
func (s *Service) Kill() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return errors.New("the podman service is not running")
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-s.exited:
		return nil
	case <-time.After(stopTimeout):
		return fmt.Errorf("the podman service (pid %d) did not exit after SIGKILL", s.cmd.Process.Pid)
	}
}

func (s *Service) stopService() error {
	pgid := s.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			return fmt.Errorf("the podman service (pid %d) did not exit after SIGKILL", pgid)
		}
	}
	// Anything else still in the group.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return nil
}

// killStragglers ends the processes whose command line names dir: the
// conmon monitors of this service's containers and exec sessions, which
// run in sessions of their own and so outlive the service's group.
func killStragglers(dir string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids := processesNaming(dir)
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes naming %s did not exit: %v", dir, pids)
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func processesNaming(dir string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(cmdline) == 0 {
			continue // gone, or a zombie or kernel thread
		}
		if bytes.Contains(cmdline, []byte(dir+"/")) || bytes.Contains(cmdline, []byte(dir+"\x00")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// unmountUnder lazily unmounts every mount point below dir, deepest first
// (a container's /dev/shm, should its cleanup not have run).
func unmountUnder(dir string) error {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var points []string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 5 {
			continue
		}
		p := unescapeMountPath(fields[4])
		if strings.HasPrefix(p, dir+"/") {
			points = append(points, p)
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(p string) string {
	if !strings.Contains(p, `\`) {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' && i+3 < len(p) {
			if v, err := strconv.ParseUint(p[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// BuildSandwire builds the sandwire CLI (with BuildTags) and, beside it
// where sandwire looks for it, the static container-side bridge program
// terok-bridge, as `make build` does, into dir. It returns sandwire's
// path. It must run inside the module. With EnvPrebuilt set it builds
// nothing and returns the sandwire found there.
func BuildSandwire(dir string) (string, error) {
	if bin := os.Getenv(EnvPrebuilt); bin != "" {
		return prebuilt(bin)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	build := func(env []string, args ...string) error {
		cmd := exec.CommandContext(ctx, goBin, append([]string{"build"}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = io.Discard, &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return nil
	}
	sandwire := filepath.Join(dir, "sandwire")
	if err := build(nil, "-tags", BuildTags, "-o", sandwire, "github.com/sandwire/sandwire/cmd/sandwire"); err != nil {
		return "", err
	}
	if err := build([]string{"CGO_ENABLED=0"}, "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "terok-bridge"),
		"github.com/sandwire/sandwire/cmd/terok-bridge"); err != nil {
		return "", err
	}
	return sandwire, nil
}

// EnvPrebuilt names a directory holding sandwire and terok-bridge built
// beforehand (`make build`'s bin/): the rootless round runs the suite as a
// user who cannot build them, having no module cache.
const EnvPrebuilt = "SANDWIRE_TEST_BINDIR"

func prebuilt(dir string) (string, error) {
	for _, name := range []string{"sandwire", "terok-bridge"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%s=%s holds no executable %s (run make build): %v", EnvPrebuilt, dir, name, err)
		}
	}
	return filepath.Join(dir, "sandwire"), nil
}
