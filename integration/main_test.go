package integration

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sandwire/sandwire/integration/podmantest"
	"github.com/sandwire/sandwire/internal/vaulttest"
	"github.com/sandwire/sandwire/wiring"
)

var (
	// svc is the podman service every test of the package shares.
	svc *podmantest.Service
	// sandwireBin is the sandwire binary built for this run.
	sandwireBin string
)

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	// A machine that cannot run these tests fails them, loudly: a skipped
	// integration test must never count as a pass.
	if err := podmantest.CheckPrerequisites(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: integration:", err)
		return 1
	}
	binDir, err := os.MkdirTemp("", "sandwire-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: integration:", err)
		return 1
	}
	defer os.RemoveAll(binDir)
	if sandwireBin, err = podmantest.BuildSandwire(binDir); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: integration:", err)
		return 1
	}
	// The test process never asks the machine's own Secret Service for a
	// vault passphrase: a launch made in it finds no session bus.
	os.Setenv("DBUS_SESSION_BUS_ADDRESS", noSessionBus)
	if svc, err = podmantest.New(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: integration: no podman service to test against:", err)
		return 1
	}
	code := m.Run()
	if code != 0 {
		if crash := svc.LogCrash(); crash != "" {
			fmt.Fprintf(os.Stderr, "the podman service crashed:\n%s\n", crash)
		}
		fmt.Fprintf(os.Stderr, "podman service log (last lines):\n%s\n", svc.LogTail(30))
	}
	if err := svc.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: integration: stopping the podman service:", err)
		code = 1
	}
	return code
}

// Token formats of the contract.
var (
	gateTokenRE    = regexp.MustCompile(`^terok-g-[0-9a-f]{32}$`)
	phantomTokenRE = regexp.MustCompile(`^terok-p-[0-9a-f]{32}$`)
	anyTokenRE     = regexp.MustCompile(`terok-[gp]-[0-9a-f]{32}`)
	containerIDRE  = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// sandbox is one test's sandbox: state, runtime and vault dirs and a
// configuration file that gives the vault its passphrase, under a short
// temporary root (socket paths under the runtime dir must fit in
// sun_path).
type sandbox struct {
	t    *testing.T
	root string
	// env are the sandbox's variables, added to every sandwire run.
	env map[string]string
	// passphrase is the vault's; unlock is the configuration that gives
	// it to sandwire, at the head of the configuration file.
	passphrase string
	unlock     string
	// stdin is sandwire's standard input; nil is none.
	stdin *os.File
}

// noSessionBus is a D-Bus address where no bus listens: a sandbox has no
// Secret Service unless its test starts one.
const noSessionBus = "unix:path=/nonexistent/sandwire-test-no-session-bus"

// sandboxPassphrase is the vault passphrase of every test sandbox.
const sandboxPassphrase = "sandwire test vault passphrase"

func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	root, err := os.MkdirTemp("", "sw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	sb := &sandbox{t: t, root: root, passphrase: sandboxPassphrase, env: map[string]string{
		wiring.EnvConfigFile:       filepath.Join(root, "sandwire.toml"),
		wiring.EnvStateDir:         filepath.Join(root, "state"),
		wiring.EnvRuntimeDir:       filepath.Join(root, "rt"),
		wiring.EnvVaultDir:         filepath.Join(root, "vault"),
		wiring.EnvServicesMode:     "",
		"DBUS_SESSION_BUS_ADDRESS": noSessionBus,
	}}
	sb.unlock = sb.passphraseCommand(sb.passphrase)
	sb.writeConfig("")
	return sb
}

// passphraseCommand is the configuration by which a user gives the vault
// its passphrase with terok's passphrase_command: a file of theirs, mode
// 0600, printed by cat.
func (sb *sandbox) passphraseCommand(passphrase string) string {
	sb.t.Helper()
	file, err := os.CreateTemp(sb.root, "passphrase-")
	if err == nil {
		_, err = file.WriteString(passphrase + "\n")
		err = errors.Join(err, file.Close())
	}
	if err != nil {
		sb.t.Fatal(err)
	}
	return "credentials_passphrase_command = " + quoteTOML("cat "+file.Name()) + "\n"
}

// writeConfig replaces the sandbox's configuration file with toml, after
// the sandbox's unlock configuration.
func (sb *sandbox) writeConfig(toml string) {
	sb.t.Helper()
	if err := os.WriteFile(sb.env[wiring.EnvConfigFile], []byte(sb.unlock+toml), 0o600); err != nil {
		sb.t.Fatal(err)
	}
}

// vault is the sandbox's token store, unlocked with its passphrase.
func (sb *sandbox) vault() *wiring.VaultStore {
	return wiring.NewVaultStore(sb.dbPath(), wiring.PassphraseChain{
		wiring.GivenPassphrase{Passphrase: wiring.NewPassphrase(sb.passphrase)}})
}

// vaultDB opens the sandbox's vault for SQL of the test's own, as terok
// opens it. Close it when done: an open connection holds the WAL open.
func (sb *sandbox) vaultDB() *sql.DB {
	sb.t.Helper()
	db, err := vaulttest.Open(sb.dbPath(), sb.passphrase)
	if err != nil {
		sb.t.Fatal(err)
	}
	return db
}

func (sb *sandbox) stateDir() string   { return sb.env[wiring.EnvStateDir] }
func (sb *sandbox) runtimeDir() string { return sb.env[wiring.EnvRuntimeDir] }
func (sb *sandbox) vaultDir() string   { return sb.env[wiring.EnvVaultDir] }

// The contract's host paths, spelled out here rather than taken from
// wiring, so that a change of layout fails these tests.
func (sb *sandbox) sidecarPath(name string) string {
	return filepath.Join(sb.stateDir(), "sidecar", name+".json")
}
func (sb *sandbox) runStateDir(name string) string {
	return filepath.Join(sb.stateDir(), "sandbox", "runs", name)
}
func (sb *sandbox) containerRuntimeDir(name string) string {
	return filepath.Join(sb.runtimeDir(), "run", name)
}
func (sb *sandbox) dbPath() string { return filepath.Join(sb.vaultDir(), "credentials.db") }

// config is the configuration sandwire loads in this sandbox.
func (sb *sandbox) config() wiring.Config {
	sb.t.Helper()
	cfg, err := wiring.LoadConfig(0, func(k string) (string, bool) {
		v, ok := sb.env[k]
		return v, ok && v != ""
	})
	if err != nil {
		sb.t.Fatal(err)
	}
	return cfg
}

// result is what one sandwire run did.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
}

// sandwire runs the CLI in the sandbox. No token may appear on stderr:
// secrets never reach logs.
func (sb *sandbox) sandwire(args ...string) result {
	sb.t.Helper()
	return sb.sandwireStdin("", args...)
}

// sandwireStdin is sandwire with stdin as given.
func (sb *sandbox) sandwireStdin(stdin string, args ...string) result {
	sb.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sandwireBin, args...)
	cmd.Env = sb.environ()
	if stdin == "" && sb.stdin != nil {
		// The sandbox's own stdin (a terminal for the vault's prompt).
		cmd.Stdin = sb.stdin
	}
	r := runCommand(sb.t, cmd, stdin)
	if tok := anyTokenRE.FindString(r.stderr); tok != "" {
		sb.t.Errorf("sandwire %v printed a token on stderr:\n%s", args, r.stderr)
	}
	return r
}

func runCommand(t *testing.T, cmd *exec.Cmd, stdin string) result {
	t.Helper()
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var ran bool
	if res.code, ran = exitCode(err); !ran {
		t.Fatalf("running %v: %v", cmd.Args, err)
	}
	return res
}

// exitCode is the exit code of a command from the error its Run or Wait
// returned; ran is false when it could not run at all.
func exitCode(err error) (code int, ran bool) {
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, true
	case errors.As(err, &exit):
		return exit.ExitCode(), true
	}
	return -1, false
}

// environ is the process environment without anything that could point
// sandwire at the machine's own podman, configuration, state or Secret
// Service, plus the sandbox's variables and the test service's
// containers.conf (sandwire reads the local podman's configuration, e.g.
// its hooks dirs, and takes a local server to share it).
func (sb *sandbox) environ() []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return strings.HasPrefix(k, "TEROK_") || strings.HasPrefix(k, "SANDWIRE_") ||
			k == "CONTAINER_HOST" || k == "CONTAINER_CONNECTION" || k == "CONTAINERS_CONF" || k == "DBUS_SESSION_BUS_ADDRESS"
	})
	for k, v := range sb.env {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	return append(env, "CONTAINERS_CONF="+svc.ContainersConf())
}

// mustSucceed fails the test unless r exited 0.
func mustSucceed(t *testing.T, r result) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("sandwire failed:\n%s", r)
	}
}

// create runs `sandwire --url URL create WIRING NAME -- PASSTHROUGH`,
// requires success, removes the container when the test ends, and returns
// the container ID.
func (sb *sandbox) create(name string, wiringArgs []string, passthrough ...string) string {
	sb.t.Helper()
	removeContainerAtEnd(sb.t, name)
	args := append([]string{"--url", svc.URL(), "create"}, wiringArgs...)
	args = append(append(args, name, "--"), passthrough...)
	r := sb.sandwire(args...)
	mustSucceed(sb.t, r)
	id := strings.TrimSpace(r.stdout)
	if !containerIDRE.MatchString(id) {
		sb.t.Fatalf("create printed %q, want a container ID", r.stdout)
	}
	return id
}

func removeContainerAtEnd(t *testing.T, name string) {
	t.Cleanup(func() {
		if _, err := svc.Podman("rm", "--force", "--ignore", "--time", "0", name); err != nil {
			t.Errorf("removing container %s: %v", name, err)
		}
	})
}

// inspected is the part of `podman container inspect` the tests read. It
// is decoded from the podman CLI's JSON, independently of podmanapi.
type inspected struct {
	ID     string `json:"Id"`
	Name   string `json:"Name"`
	Config struct {
		Env         []string          `json:"Env"`
		Labels      map[string]string `json:"Labels"`
		Annotations map[string]string `json:"Annotations"`
	} `json:"Config"`
	Mounts []struct {
		Type        string   `json:"Type"`
		Source      string   `json:"Source"`
		Destination string   `json:"Destination"`
		RW          bool     `json:"RW"`
		Options     []string `json:"Options"`
	} `json:"Mounts"`
	HostConfig struct {
		UsernsMode  string `json:"UsernsMode"`
		NetworkMode string `json:"NetworkMode"`
		Privileged  bool   `json:"Privileged"`
	} `json:"HostConfig"`
}

func inspect(t *testing.T, name string) inspected {
	t.Helper()
	out, err := svc.Podman("container", "inspect", name)
	if err != nil {
		t.Fatal(err)
	}
	var list []inspected
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("decoding podman inspect: %v\n%s", err, out)
	}
	if len(list) != 1 {
		t.Fatalf("podman inspect %s returned %d containers", name, len(list))
	}
	return list[0]
}

// env returns the container's environment as a map.
func (c inspected) env() map[string]string {
	m := map[string]string{}
	for _, kv := range c.Config.Env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// terokEnv returns the container's TEROK_* variables.
func (c inspected) terokEnv() map[string]string {
	m := map[string]string{}
	for k, v := range c.env() {
		if strings.HasPrefix(k, "TEROK_") {
			m[k] = v
		}
	}
	return m
}

type mountInfo struct {
	Source string
	RW     bool
	Type   string
}

func (c inspected) mounts() map[string]mountInfo {
	m := map[string]mountInfo{}
	for _, mt := range c.Mounts {
		m[mt.Destination] = mountInfo{Source: mt.Source, RW: mt.RW, Type: mt.Type}
	}
	return m
}

func containerExists(t *testing.T, name string) bool {
	t.Helper()
	_, err := svc.Podman("container", "exists", name)
	var exit *exec.ExitError
	switch {
	case err == nil:
		return true
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		return false
	}
	t.Fatalf("podman container exists %s: %v", name, err)
	return false
}

// tokenCount counts the token rows bound to name in the vault, which
// must never be plaintext; no database counts 0.
func (sb *sandbox) tokenCount(name string) int {
	sb.t.Helper()
	if _, err := os.Stat(sb.dbPath()); errors.Is(err, fs.ErrNotExist) {
		return 0
	}
	if err := vaulttest.CheckEncrypted(sb.dbPath()); err != nil {
		sb.t.Error(err)
	}
	store := sb.vault()
	defer store.Close()
	n, err := store.CountSubject(context.Background(), name)
	if err != nil {
		sb.t.Fatal(err)
	}
	return n
}

// assertNoState fails if any sandbox state of name is left: sidecar, run
// state dir, per-container runtime dir or token row.
func (sb *sandbox) assertNoState(name string) {
	sb.t.Helper()
	for _, p := range []string{sb.sidecarPath(name), sb.runStateDir(name), sb.containerRuntimeDir(name)} {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			sb.t.Errorf("%s is left behind (stat: %v)", p, err)
		}
	}
	if n := sb.tokenCount(name); n != 0 {
		sb.t.Errorf("%d token rows of %q are left behind", n, name)
	}
}

// assertUntouched fails if anything at all was written to the sandbox's
// state, runtime or vault dirs: a refusal happens before any write.
func (sb *sandbox) assertUntouched() {
	sb.t.Helper()
	sb.walk(func(p string, _ fs.DirEntry) {
		sb.t.Errorf("%s was written by a launch that should have been refused first", p)
	})
}

// assertOnlyLocks fails if a file other than a name lock is left in the
// sandbox's dirs: a launch that failed after it locked the name rolls back
// everything it wrote, and the lock file stays by design (see wiring's
// nameLock).
func (sb *sandbox) assertOnlyLocks() {
	sb.t.Helper()
	locks := filepath.Join(sb.stateDir(), "sandbox", "locks")
	sb.walk(func(p string, d fs.DirEntry) {
		if !d.IsDir() && filepath.Dir(p) != locks {
			sb.t.Errorf("%s is left behind by a failed launch", p)
		}
	})
}

// walk calls fn for every path under the state, runtime and vault dirs.
func (sb *sandbox) walk(fn func(string, fs.DirEntry)) {
	sb.t.Helper()
	for _, dir := range []string{sb.stateDir(), sb.runtimeDir(), sb.vaultDir()} {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fn(p, d)
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			sb.t.Error(err)
		}
	}
}

// readSidecar reads and decodes the sidecar of name, checking its mode.
func (sb *sandbox) readSidecar(name string) map[string]any {
	sb.t.Helper()
	p := sb.sidecarPath(name)
	st, err := os.Lstat(p)
	if err != nil {
		sb.t.Fatalf("sidecar: %v", err)
	}
	if !st.Mode().IsRegular() || st.Mode().Perm() != 0o600 {
		sb.t.Errorf("sidecar %s has mode %v, want a regular file with mode 0600", p, st.Mode())
	}
	data, err := os.ReadFile(p)
	if err != nil {
		sb.t.Fatal(err)
	}
	var sc map[string]any
	if err := json.Unmarshal(data, &sc); err != nil {
		sb.t.Fatalf("decoding sidecar %s: %v\n%s", p, err, data)
	}
	return sc
}
