package integration

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sandwire/sandwire/wiring"
)

const (
	containerRuntimeDir = "/run/terok"
	containerBridgesDir = "/usr/local/share/terok-sandbox/bridges"
	sidecarAnnotation   = "terok.sandbox.sidecar"
)

func TestCreateWiresSocketMode(t *testing.T) {
	sb := newSandbox(t)
	const name = "sw-socket"
	id := sb.create(name, []string{"--scope", "proj", "--no-shield"}, svc.Image(), "sleep", "300")

	c := inspect(t, name)
	if c.ID != id {
		t.Errorf("inspect ID = %s, create printed %s", c.ID, id)
	}
	if c.Name != name {
		t.Errorf("name = %q, want %q", c.Name, name)
	}

	env := c.terokEnv()
	want := map[string]string{
		"TEROK_VAULT_LOOPBACK_PORT": "9419",
		"TEROK_VAULT_SOCKET":        "/run/terok/vault/vault.sock",
		"TEROK_GATE_SOCKET":         "/run/terok/gate/gate-server.sock",
		"TEROK_SSH_SIGNER_SOCKET":   "/run/terok/signer/ssh-agent.sock",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if !gateTokenRE.MatchString(env["TEROK_GATE_TOKEN"]) {
		t.Errorf("TEROK_GATE_TOKEN = %q, want terok-g- and 32 hex digits", wiring.Redact(env["TEROK_GATE_TOKEN"]))
	}
	if !phantomTokenRE.MatchString(env["TEROK_SSH_SIGNER_TOKEN"]) {
		t.Errorf("TEROK_SSH_SIGNER_TOKEN = %q, want terok-p- and 32 hex digits", wiring.Redact(env["TEROK_SSH_SIGNER_TOKEN"]))
	}
	for _, k := range []string{"TEROK_TOKEN_BROKER_PORT", "TEROK_GATE_PORT", "TEROK_SSH_SIGNER_PORT"} {
		if v, ok := env[k]; ok {
			t.Errorf("socket mode sets the tcp mode variable %s=%s", k, v)
		}
	}
	if len(env) != len(want)+2 {
		t.Errorf("TEROK_* variables = %v, want exactly %d", slices.Sorted(maps.Keys(env)), len(want)+2)
	}

	mounts := c.mounts()
	rt, ok := mounts[containerRuntimeDir]
	switch {
	case !ok:
		t.Errorf("no mount at %s; mounts: %+v", containerRuntimeDir, c.Mounts)
	case rt.Source != sb.containerRuntimeDir(name) || rt.RW || rt.Type != "bind":
		t.Errorf("%s mount = %+v, want a read-only bind of %s", containerRuntimeDir, rt, sb.containerRuntimeDir(name))
	}
	br, ok := mounts[containerBridgesDir]
	switch {
	case !ok:
		t.Errorf("no mount at %s; mounts: %+v", containerBridgesDir, c.Mounts)
	case br.RW || br.Type != "bind" || filepath.Dir(br.Source) != filepath.Join(sb.stateDir(), "bridges"):
		t.Errorf("%s mount = %+v, want a read-only bind of a dir under %s/bridges", containerBridgesDir, br, sb.stateDir())
	default:
		if _, err := os.Stat(filepath.Join(br.Source, "ensure-bridges.sh")); err != nil {
			t.Errorf("bridge resources are not in the mounted dir: %v", err)
		}
	}
	if st, err := os.Stat(sb.containerRuntimeDir(name)); err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
		t.Errorf("runtime dir %s: %v, %v; want a dir with mode 0700", sb.containerRuntimeDir(name), st, err)
	}

	if got := c.Config.Annotations[sidecarAnnotation]; got != sb.sidecarPath(name) {
		t.Errorf("annotation %s = %q, want %q", sidecarAnnotation, got, sb.sidecarPath(name))
	}
	if !filepath.IsAbs(c.Config.Annotations[sidecarAnnotation]) {
		t.Errorf("sidecar annotation %q is not absolute", c.Config.Annotations[sidecarAnnotation])
	}
	sc := sb.readSidecar(name)
	for k, v := range map[string]any{
		"container_name": name,
		"ipc_mode":       "socket",
		"scope_id":       "proj",
		"db_path":        sb.dbPath(),
		"runtime_dir":    sb.runtimeDir(),
		"gate_token":     env["TEROK_GATE_TOKEN"],
	} {
		if sc[k] != v {
			t.Errorf("sidecar %s = %v, want %v", k, redactAny(sc[k]), redactAny(v))
		}
	}
	for _, k := range []string{"tcp_port", "ssh_signer_port", "gate_port"} {
		if _, ok := sc[k]; ok {
			t.Errorf("socket mode sidecar has %s", k)
		}
	}

	// The podman service is rootful: no keep-id user namespace.
	if strings.Contains(c.HostConfig.UsernsMode, "keep-id") {
		t.Errorf("UsernsMode = %q on a rootful server, want no keep-id", c.HostConfig.UsernsMode)
	}

	// The SSH signer token is stored, bound to this container and scope.
	store := sb.vault()
	defer store.Close()
	rec, ok, err := store.Lookup(context.Background(), env["TEROK_SSH_SIGNER_TOKEN"])
	if err != nil || !ok {
		t.Fatalf("SSH signer token not in the store: ok=%v err=%v", ok, err)
	}
	if rec != (wiring.TokenRecord{Scope: "proj", Subject: name, CredentialSet: "proj", Provider: "ssh"}) {
		t.Errorf("SSH signer token record = %+v", rec)
	}
	if n := sb.tokenCount(name); n != 1 {
		t.Errorf("%d token rows for %q, want 1", n, name)
	}
	meta, err := os.ReadFile(filepath.Join(sb.runStateDir(name), "meta.json"))
	if err != nil {
		t.Fatalf("run state: %v", err)
	}
	for _, s := range []string{`"scope": "proj"`, `"shield": false`, `"gate": true`, `"broker": true`, `"ssh": true`} {
		if !strings.Contains(string(meta), s) {
			t.Errorf("meta.json lacks %s:\n%s", s, meta)
		}
	}
}

func TestCreateWiresTCPMode(t *testing.T) {
	sb := newSandbox(t)
	sb.env[wiring.EnvServicesMode] = "tcp"
	const name = "sw-tcp"
	sb.create(name, []string{"--scope", "proj", "--no-shield"}, svc.Image(), "sleep", "300")

	c := inspect(t, name)
	env := c.terokEnv()
	ports := map[string]int{}
	for _, k := range []string{"TEROK_TOKEN_BROKER_PORT", "TEROK_GATE_PORT", "TEROK_SSH_SIGNER_PORT"} {
		p, err := strconv.Atoi(env[k])
		if err != nil || p <= 0 || p > 65535 {
			t.Errorf("%s = %q, want a TCP port", k, env[k])
		}
		ports[k] = p
	}
	if ports["TEROK_TOKEN_BROKER_PORT"] == ports["TEROK_GATE_PORT"] ||
		ports["TEROK_GATE_PORT"] == ports["TEROK_SSH_SIGNER_PORT"] ||
		ports["TEROK_TOKEN_BROKER_PORT"] == ports["TEROK_SSH_SIGNER_PORT"] {
		t.Errorf("ports are not distinct: %v", ports)
	}
	for _, k := range []string{"TEROK_VAULT_SOCKET", "TEROK_GATE_SOCKET", "TEROK_SSH_SIGNER_SOCKET"} {
		if v, ok := env[k]; ok {
			t.Errorf("tcp mode sets the socket mode variable %s=%s", k, v)
		}
	}
	if !gateTokenRE.MatchString(env["TEROK_GATE_TOKEN"]) || !phantomTokenRE.MatchString(env["TEROK_SSH_SIGNER_TOKEN"]) {
		t.Errorf("tokens missing or malformed: gate %q, ssh %q",
			wiring.Redact(env["TEROK_GATE_TOKEN"]), wiring.Redact(env["TEROK_SSH_SIGNER_TOKEN"]))
	}

	mounts := c.mounts()
	if m, ok := mounts[containerRuntimeDir]; ok {
		t.Errorf("tcp mode mounts %s (%+v)", containerRuntimeDir, m)
	}
	if m, ok := mounts[containerBridgesDir]; !ok || m.RW {
		t.Errorf("tcp mode bridges mount = %+v (present %v), want read-only", m, ok)
	}

	sc := sb.readSidecar(name)
	if sc["ipc_mode"] != "tcp" {
		t.Errorf("sidecar ipc_mode = %v, want tcp", sc["ipc_mode"])
	}
	for field, envKey := range map[string]string{
		"tcp_port":        "TEROK_TOKEN_BROKER_PORT",
		"ssh_signer_port": "TEROK_SSH_SIGNER_PORT",
		"gate_port":       "TEROK_GATE_PORT",
	} {
		// JSON numbers decode as float64.
		if got, ok := sc[field].(float64); !ok || int(got) != ports[envKey] {
			t.Errorf("sidecar %s = %v, want %d (%s)", field, sc[field], ports[envKey], envKey)
		}
	}
}

// TestStartedContainerSeesWiring starts a wired container whose command
// reports what it sees from the inside.
func TestStartedContainerSeesWiring(t *testing.T) {
	sb := newSandbox(t)
	const name = "sw-started"
	const script = `env | grep ^TEROK_ | sort
if touch /run/terok/probe 2>&1; then echo "runtime dir: writable"; fi
if touch /usr/local/share/terok-sandbox/bridges/probe 2>&1; then echo "bridges: writable"; fi
grep -E ' (/run/terok|/usr/local/share/terok-sandbox/bridges) ' /proc/mounts`
	sb.create(name, []string{"--scope", "proj", "--no-shield"}, svc.Image(), "sh", "-c", script)
	c := inspect(t, name)
	gateToken := c.env()["TEROK_GATE_TOKEN"]

	out, err := svc.Podman("start", "--attach", name)
	if err != nil {
		t.Fatal(err)
	}
	redacted := wiring.Redact(out)
	for _, want := range []string{
		"TEROK_GATE_SOCKET=/run/terok/gate/gate-server.sock\n",
		"TEROK_VAULT_SOCKET=/run/terok/vault/vault.sock\n",
		"TEROK_SSH_SIGNER_SOCKET=/run/terok/signer/ssh-agent.sock\n",
		"TEROK_VAULT_LOOPBACK_PORT=9419\n",
		"TEROK_GATE_TOKEN=" + gateToken + "\n",
		"touch: /run/terok/probe: Read-only file system",
		"touch: /usr/local/share/terok-sandbox/bridges/probe: Read-only file system",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the container's output lacks %q:\n%s", wiring.Redact(want), redacted)
		}
	}
	if strings.Contains(out, "writable") {
		t.Errorf("a sandbox mount is writable from inside:\n%s", redacted)
	}
	for _, dest := range []string{containerRuntimeDir, containerBridgesDir} {
		found := false
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) >= 4 && f[1] == dest {
				found = true
				if !strings.HasPrefix(f[3], "ro,") && f[3] != "ro" {
					t.Errorf("%s is mounted %s inside, want ro", dest, f[3])
				}
			}
		}
		if !found {
			t.Errorf("%s is not in the container's /proc/mounts:\n%s", dest, redacted)
		}
	}
	if _, err := os.Stat(filepath.Join(sb.containerRuntimeDir(name), "probe")); err == nil {
		t.Errorf("the container wrote into its host runtime dir")
	}
}

// TestConcurrentCreatesOfOneName runs several creates of one name at once:
// exactly one wins, and the losers leave the winner's state and tokens
// alone.
func TestConcurrentCreatesOfOneName(t *testing.T) {
	sb := newSandbox(t)
	const name = "sw-race"
	removeContainerAtEnd(t, name)
	const n = 4
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = sb.sandwire("--url", svc.URL(), "create", "--scope", "proj", "--no-shield", name, "--", svc.Image(), "sleep", "300")
		}()
	}
	wg.Wait()
	wins := 0
	var id string
	for _, r := range results {
		switch r.code {
		case 0:
			wins++
			id = strings.TrimSpace(r.stdout)
		case 1:
		default:
			t.Errorf("a losing create exited %d, want 1:\n%s", r.code, r)
		}
	}
	if wins != 1 {
		t.Fatalf("%d creates of one name succeeded, want exactly 1:\n%v", wins, results)
	}
	c := inspect(t, name)
	if c.ID != id {
		t.Errorf("the container is %s, the winner created %s", c.ID, id)
	}
	sc := sb.readSidecar(name)
	if sc["gate_token"] != c.env()["TEROK_GATE_TOKEN"] {
		t.Errorf("the sidecar's gate token is not the container's: a loser overwrote the winner's sidecar")
	}
	if got := sb.tokenCount(name); got != 1 {
		t.Errorf("%d token rows for %q, want the winner's 1", got, name)
	}
	store := sb.vault()
	defer store.Close()
	if _, ok, err := store.Lookup(context.Background(), c.env()["TEROK_SSH_SIGNER_TOKEN"]); err != nil || !ok {
		t.Errorf("the winner's SSH token was revoked by a loser (ok=%v, err=%v)", ok, err)
	}
	if _, err := os.Stat(sb.containerRuntimeDir(name)); err != nil {
		t.Errorf("the winner's runtime dir is gone: %v", err)
	}
}

func redactAny(v any) any {
	if s, ok := v.(string); ok {
		return wiring.Redact(s)
	}
	return v
}
