package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The script is tested by sourcing it, for real, in each shell found here,
// with the bridges dir, the runtime dir, the upstream host and the
// loopback ports pointed at the test's own.

const scriptPath = "../../wiring/bridges/ensure-bridges.sh"

// shells lists the shells to source the script in: busybox's ash and bash
// (required by the contract), and dash where it is installed.
func shells(t *testing.T) map[string][]string {
	found := map[string][]string{}
	for name, argv := range map[string][]string{"busybox": {"busybox", "sh"}, "bash": {"bash"}, "dash": {"dash"}} {
		if p, err := exec.LookPath(argv[0]); err == nil {
			found[name] = append([]string{p}, argv[1:]...)
		} else if name != "dash" {
			t.Errorf("%s is not installed", argv[0])
		}
	}
	return found
}

// scriptEnv is a test's setup for the script: a bridges dir holding the
// built program and the script, a runtime dir, and the environment.
type scriptEnv struct {
	bridgesDir, bin, state string
	env                    map[string]string
}

func newScriptEnv(t *testing.T) *scriptEnv {
	t.Helper()
	dir := shortTempDir(t)
	s := &scriptEnv{bridgesDir: filepath.Join(dir, "b"), env: map[string]string{}}
	s.bin = filepath.Join(s.bridgesDir, "terok-bridge")
	runtimeDir := filepath.Join(dir, "r")
	s.state = filepath.Join(runtimeDir, "terok-bridges-"+strconv.Itoa(os.Getuid()))
	for _, d := range []string{s.bridgesDir, runtimeDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	copyTo(t, bridgeBinary(t), s.bin, 0o755)
	copyTo(t, scriptPath, filepath.Join(s.bridgesDir, "ensure-bridges.sh"), 0o644)
	s.env["TEROK_BRIDGES_DIR"] = s.bridgesDir
	s.env["XDG_RUNTIME_DIR"] = runtimeDir
	// Whatever the script started, stop it when the test ends.
	t.Cleanup(func() {
		for _, pids := range bridgeProcs(t, s.bin) {
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGTERM)
			}
		}
	})
	return s
}

func copyTo(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}

// source runs script in shell with "S" naming ensure-bridges.sh, and
// returns its stdout and stderr. The shell must exit promptly: a bridge
// that kept its stdout or stderr would hold it up.
func (s *scriptEnv) source(t *testing.T, shell []string, script string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, shell[0], append(shell[1:], "-c", script)...)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "TEROK_") && !slices.Contains([]string{"SSH_AUTH_SOCK", "XDG_RUNTIME_DIR", "ENV", "BASH_ENV"}, k) {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range s.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "S="+filepath.Join(s.bridgesDir, "ensure-bridges.sh"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", shell[0], err, &stdout, &stderr)
	}
	return stdout.String(), stderr.String()
}

// bridgeProcs returns the PIDs of the live processes running bin, by their
// LISTEN argument.
func bridgeProcs(t *testing.T, bin string) map[string][]int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	procs := map[string][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		if len(args) >= 3 && args[0] == bin {
			procs[args[len(args)-2]] = append(procs[args[len(args)-2]], pid)
		}
	}
	return procs
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// upstream starts an echoing upstream (see serveUpstream) on a unix socket
// in dir or on a loopback tcp port, and returns its address.
func upstream(t *testing.T, network, dir, name string) address {
	ln, addr := listenOn(t, network, filepath.Join(dir, name+".sock"))
	go serveUpstream(ln, nil)
	return addr
}

// scriptFunctions lists the functions the script defines.
func scriptFunctions(t *testing.T) []string {
	b, err := os.ReadFile(scriptPath)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^([A-Za-z_][A-Za-z0-9_]*)\(\)`).FindAllSubmatch(b, -1) {
		names = append(names, string(m[1]))
	}
	if len(names) == 0 {
		t.Fatal("found no functions in the script")
	}
	return names
}

// sourceTwice sources the script twice in one shell, which runs with
// set -eu as a strict user's shell might, and reports what it leaves:
// the exports it should, and no variables, functions or traps beyond the
// ones the shell began with (a shell started under nohup lists its
// ignored SIGHUP).
const sourceTwice = `set -eu
trap > "$TRAPS.before"
. "$S"
echo "rc1=$?"
. "$S"
echo "rc2=$?"
echo "SSH_AUTH_SOCK=${SSH_AUTH_SOCK:-}"
echo "TEROK_VAULT_SOCKET=${TEROK_VAULT_SOCKET:-}"
set | grep '^_terok_br' || :
trap > "$TRAPS.after"
if ! cmp -s "$TRAPS.before" "$TRAPS.after"; then echo "traps before:"; cat "$TRAPS.before"; echo "traps after:"; cat "$TRAPS.after"; fi
for f in $FUNCS; do
	if command -v "$f" >/dev/null 2>&1; then echo "function $f is left"; fi
done
`

func TestEnsureBridges(t *testing.T) {
	token := "terok-p-0123456789abcdef0123456789abcdef"
	for shellName, shell := range shells(t) {
		for _, mode := range []string{"socket", "tcp"} {
			t.Run(shellName+" "+mode+" mode", func(t *testing.T) {
				s := newScriptEnv(t)
				updir := filepath.Dir(s.bridgesDir)
				vaultPort, gatePort := freePort(t), freePort(t)
				s.env["TEROK_VAULT_LOOPBACK_PORT"] = strconv.Itoa(vaultPort)
				s.env["TEROK_GATE_LOOPBACK_PORT"] = strconv.Itoa(gatePort)
				s.env["TEROK_SSH_SIGNER_TOKEN"] = token
				s.env["FUNCS"] = strings.Join(scriptFunctions(t), " ")
				s.env["TRAPS"] = filepath.Join(t.TempDir(), "traps")
				network := map[string]string{"socket": "unix", "tcp": "tcp"}[mode]
				vault, gate, signer := upstream(t, network, updir, "vault"), upstream(t, network, updir, "gate"), upstream(t, network, updir, "ssh")
				wantVaultSocket := vault.addr
				if mode == "socket" {
					s.env["TEROK_VAULT_SOCKET"] = vault.addr
					s.env["TEROK_GATE_SOCKET"] = gate.addr
					s.env["TEROK_SSH_SIGNER_SOCKET"] = signer.addr
				} else {
					s.env["TEROK_HOST_ALIAS"] = "127.0.0.1"
					portOf := func(a address) string { _, p, _ := net.SplitHostPort(a.addr); return p }
					s.env["TEROK_TOKEN_BROKER_PORT"] = portOf(vault)
					s.env["TEROK_GATE_PORT"] = portOf(gate)
					s.env["TEROK_SSH_SIGNER_PORT"] = portOf(signer)
					wantVaultSocket = filepath.Join(s.state, "vault.sock")
				}
				agent := filepath.Join(s.state, "ssh-agent.sock")

				stdout, stderr := s.source(t, shell, sourceTwice)
				want := fmt.Sprintf("rc1=0\nrc2=0\nSSH_AUTH_SOCK=%s\nTEROK_VAULT_SOCKET=%s\n", agent, wantVaultSocket)
				if stdout != want || stderr != "" {
					t.Fatalf("sourcing twice printed\n%s\nstderr:\n%s\nwant\n%s", stdout, stderr, want)
				}

				listens := map[string]string{
					"vault":     fmt.Sprintf("tcp:127.0.0.1:%d", vaultPort),
					"gate":      fmt.Sprintf("tcp:127.0.0.1:%d", gatePort),
					"ssh-agent": "unix:" + agent,
				}
				if mode == "tcp" {
					listens["vault-socket"] = "unix:" + wantVaultSocket
				}
				pids := checkOneBridgeEach(t, s, listens)
				checkRelays(t, vaultPort, gatePort, agent, wantVaultSocket, token)
				if st, err := os.Stat(s.state); err != nil || st.Mode().Perm() != 0o700 {
					t.Errorf("state dir: %v, %v; want mode 0700", st, err)
				}

				// A bridge that died (its socket file left behind) is
				// restarted by the next source; the others are left alone.
				if err := syscall.Kill(pids["ssh-agent"], syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				waitGone(t, pids["ssh-agent"])
				if _, err := os.Lstat(agent); err != nil {
					t.Fatalf("the killed bridge's socket file is gone: %v", err)
				}
				stdout, stderr = s.source(t, shell, `. "$S"; echo "rc=$? SSH_AUTH_SOCK=$SSH_AUTH_SOCK"`)
				if want := "rc=0 SSH_AUTH_SOCK=" + agent + "\n"; stdout != want || stderr != "" {
					t.Fatalf("the third source printed %q, stderr %q; want %q", stdout, stderr, want)
				}
				again := checkOneBridgeEach(t, s, listens)
				for name, pid := range pids {
					if restarted := again[name] != pid; restarted != (name == "ssh-agent") {
						t.Errorf("%s: pid %d, then %d", name, pid, again[name])
					}
				}
				checkRelays(t, vaultPort, gatePort, agent, wantVaultSocket, token)
			})
		}
	}
}

// checkOneBridgeEach checks that exactly one bridge process listens on
// each of listens (by name), and no other, each recorded in its pidfile.
// It returns their PIDs by name.
func checkOneBridgeEach(t *testing.T, s *scriptEnv, listens map[string]string) map[string]int {
	t.Helper()
	procs := bridgeProcs(t, s.bin)
	pids := map[string]int{}
	for name, listen := range listens {
		if len(procs[listen]) != 1 {
			t.Errorf("%s: %d bridge processes listen on %s, want 1", name, len(procs[listen]), listen)
			continue
		}
		pids[name] = procs[listen][0]
		b, err := os.ReadFile(filepath.Join(s.state, name+".pid"))
		if got := strings.TrimSpace(string(b)); err != nil || got != strconv.Itoa(pids[name]) {
			t.Errorf("%s: pidfile says %q (%v), want %d", name, got, err, pids[name])
		}
	}
	if len(procs) != len(listens) {
		t.Errorf("bridges run on %v, want just %v", procs, listens)
	}
	if t.Failed() {
		t.FailNow()
	}
	return pids
}

func checkRelays(t *testing.T, vaultPort, gatePort int, agent, vaultSocket, token string) {
	t.Helper()
	for _, c := range []struct {
		name string
		addr address
		want string
	}{
		{"vault", address{"tcp", fmt.Sprintf("127.0.0.1:%d", vaultPort)}, "re:vault?"},
		{"gate", address{"tcp", fmt.Sprintf("127.0.0.1:%d", gatePort)}, "re:gate?"},
		{"vault socket", address{"unix", vaultSocket}, "re:vault socket?"},
		{"ssh-agent", address{"unix", agent}, "re:" + string(handshake(token)) + "ssh-agent?"},
	} {
		if got := request(t, c.addr, c.name+"?"); got != c.want {
			t.Errorf("%s through %s: got %q, want %q", c.name, c.addr, got, c.want)
		}
	}
}

// waitGone waits until pid no longer runs (a zombie counts as gone).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || len(b) == 0 {
			return
		}
	}
	t.Fatalf("process %d is still running", pid)
}

func TestEnsureBridgesWarnsAndReturnsZero(t *testing.T) {
	for shellName, shell := range shells(t) {
		t.Run(shellName+" bridge that cannot listen", func(t *testing.T) {
			s := newScriptEnv(t)
			busy, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer busy.Close()
			s.env["TEROK_GATE_LOOPBACK_PORT"] = strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
			s.env["TEROK_GATE_SOCKET"] = "/nonexistent/gate.sock"
			stdout, stderr := s.source(t, shell, `set -eu; . "$S"; echo "rc=$?"`)
			if stdout != "rc=0\n" {
				t.Errorf("stdout = %q, want rc=0", stdout)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "terok bridges: gate (tcp:127.0.0.1:") ||
				!strings.Contains(stderr, "address already in use") {
				t.Errorf("stderr = %q, want one warning that the gate bridge did not start, and why", stderr)
			}
			if procs := bridgeProcs(t, s.bin); len(procs) != 0 {
				t.Errorf("bridges left running: %v", procs)
			}
		})
		t.Run(shellName+" missing program", func(t *testing.T) {
			s := newScriptEnv(t)
			os.Remove(s.bin)
			s.env["TEROK_GATE_SOCKET"] = "/nonexistent/gate.sock"
			stdout, stderr := s.source(t, shell, `set -eu; . "$S"; echo "rc=$?"`)
			if stdout != "rc=0\n" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, s.bin) {
				t.Errorf("stdout %q, stderr %q; want rc=0 and one warning naming %s", stdout, stderr, s.bin)
			}
		})
		t.Run(shellName+" nothing configured", func(t *testing.T) {
			s := newScriptEnv(t)
			stdout, stderr := s.source(t, shell, `set -eu; . "$S"; echo "rc=$? SSH_AUTH_SOCK=${SSH_AUTH_SOCK:-}"`)
			if stdout != "rc=0 SSH_AUTH_SOCK=\n" || stderr != "" {
				t.Errorf("stdout %q, stderr %q; want rc=0 and nothing else", stdout, stderr)
			}
			if _, err := os.Lstat(s.state); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the state dir was created: %v", err)
			}
		})
	}
}
