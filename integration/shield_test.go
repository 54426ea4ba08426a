package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sandwire/sandwire/integration/podmantest"
	"github.com/sandwire/sandwire/wiring"
)

// fakeShield is the shield package's stand-in for terok-shield: it prints
// what terok-shield's `prepare --json` prints and logs every call.
const fakeShield = "../shield/testdata/fake-terok-shield"

// hookFile is the shield's hook file name in a hooks dir.
const hookFile = "terok-shield-createRuntime.json"

// TestShieldedCreate wires a container with the shield on, through the
// shield command adapter, against the real service: refused while the
// server's hooks dir lacks the shield's hook; once the hook is there, the
// shield's edits reach the container, the server runs the hook, and
// cleanup tears the shield down by container ID.
func TestShieldedCreate(t *testing.T) {
	sb := newSandbox(t)
	shieldPath, err := filepath.Abs(fakeShield)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(shieldPath); err != nil {
		t.Fatalf("the fake shield: %v", err)
	}
	sb.writeConfig(fmt.Sprintf("shield_command = %q\n", shieldPath))
	shieldLog := filepath.Join(sb.root, "shield.log")
	sb.env["FAKE_SHIELD_LOG"] = shieldLog
	sb.env["FAKE_SHIELD_MODE"] = "rootful"
	const name = "sw-shielded"
	removeContainerAtEnd(t, name)
	createArgs := []string{"--url", svc.URL(), "create", "--scope", "proj", name, "--",
		svc.Image(), "sh", "-c", "cat /etc/resolv.conf"}

	// No hook in the server's hooks dir: fail closed, roll back.
	r := sb.sandwire(createArgs...)
	if r.code != 1 || !strings.Contains(r.stderr, hookFile) || !strings.Contains(r.stderr, svc.HooksDir()) {
		t.Errorf("create without the shield's hook: %s; want exit 1 naming %s and the hooks dir", r, hookFile)
	}
	sb.assertNoState(name)
	if containerExists(t, name) {
		t.Fatalf("container %q created without the shield's hook", name)
	}

	// The hook records the OCI state it is given, and applies only to
	// this test's container.
	hookOut := filepath.Join(sb.root, "hook-state.json")
	hook := map[string]any{
		"version": "1.0.0",
		"hook":    map[string]any{"path": "/bin/sh", "args": []string{"sh", "-c", "cat > " + hookOut}},
		"when":    map[string]any{"annotations": map[string]string{`^terok\.shield\.name$`: "^" + name + "$"}},
		"stages":  []string{"createRuntime"},
	}
	hookJSON, _ := json.Marshal(hook)
	hookPath := filepath.Join(svc.HooksDir(), hookFile)
	if err := os.WriteFile(hookPath, hookJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(hookPath) })

	r = sb.sandwire(createArgs...)
	mustSucceed(t, r)
	id := strings.TrimSpace(r.stdout)
	c := inspect(t, name)
	for k, v := range map[string]string{"terok.shield.name": name, "terok.shield.profiles": "dev-standard"} {
		if c.Config.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, c.Config.Annotations[k], v)
		}
	}
	if c.Config.Annotations[sidecarAnnotation] != sb.sidecarPath(name) {
		t.Errorf("the shield's edits replaced the sidecar annotation: %v", c.Config.Annotations)
	}
	resolv := filepath.Join(sb.runStateDir(name), "shield", "containers", name, "resolv.conf")
	if m, ok := c.mounts()["/etc/resolv.conf"]; !ok || m.Source != resolv || m.RW {
		t.Errorf("/etc/resolv.conf mount = %+v (present %v), want a read-only bind of %s", m, ok, resolv)
	}
	// Rootful: the server's default bridge. Rootless: the shield needs the
	// host's loopback, which the rootless round's podman 4.3.1 reaches
	// through slirp4netns.
	wantNet := "bridge"
	if podmantest.Rootless() {
		wantNet = "slirp4netns"
	}
	if c.HostConfig.NetworkMode != wantNet {
		t.Errorf("network mode = %q, want %q (rootless %v)", c.HostConfig.NetworkMode, wantNet, podmantest.Rootless())
	}

	out, err := svc.Podman("start", "--attach", name)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "nameserver 127.0.0.1") {
		t.Errorf("the container's resolv.conf is not the shield's:\n%s", out)
	}
	state, err := os.ReadFile(hookOut)
	if err != nil {
		t.Fatalf("the server did not run the shield's hook: %v", err)
	}
	if !strings.Contains(string(state), id) || !strings.Contains(string(state), `"terok.shield.name":"`+name+`"`) {
		t.Errorf("the hook's OCI state is not this container's:\n%s", state)
	}

	mustSucceed(t, sb.sandwire("--url", svc.URL(), "cleanup", name))
	sb.assertNoState(name)
	log, err := os.ReadFile(shieldLog)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "prepare "+name+" --json") || !strings.Contains(string(log), "down "+id) {
		t.Errorf("the shield was not prepared for %s and torn down by its ID; its log:\n%s", name, log)
	}
}

// TestShieldedTCPLaunchGivesTheShieldItsInputs: in tcp mode the shield
// must let the container reach its three loopback ports, and terok-shield's
// CLI reads them only from config.yml in its config dir; the fake, which
// keeps that contract, records what it read in the container's
// annotations. Several profiles reach it as several words. The
// orchestrator's fields reach the sidecar.
func TestShieldedTCPLaunchGivesTheShieldItsInputs(t *testing.T) {
	sb := newSandbox(t)
	shieldPath, err := filepath.Abs(fakeShield)
	if err != nil {
		t.Fatal(err)
	}
	sb.writeConfig(fmt.Sprintf("shield_command = %q\n", shieldPath))
	sb.env[wiring.EnvServicesMode] = "tcp"
	sb.env["FAKE_SHIELD_MODE"] = "rootful"
	if podmantest.Rootless() {
		sb.env["FAKE_SHIELD_MODE"] = "slirp4netns"
	}
	// The user's own shield config dir, with a profile of theirs.
	userShield := filepath.Join(sb.root, "user-shield")
	if err := os.MkdirAll(filepath.Join(userShield, "profiles"), 0o755); err != nil {
		t.Fatal(err)
	}
	sb.env["TEROK_SHIELD_CONFIG_DIR"] = userShield
	hookPath := filepath.Join(svc.HooksDir(), hookFile)
	if err := os.WriteFile(hookPath, []byte(`{"version":"1.0.0","hook":{"path":"/bin/true"},"when":{"annotations":{"^terok\\.shield\\.name$":"^sw-shield-tcp$"}},"stages":["createRuntime"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(hookPath) })

	const name = "sw-shield-tcp"
	sb.create(name, []string{"--scope", "proj", "--profiles", "dev-standard,dev-python",
		"--task-id", "task-7", "--dossier-path", "/srv/dossiers/task-7.md", "--allow-debugger"}, svc.Image(), "true")
	c := inspect(t, name)
	sc := sb.readSidecar(name)
	var want []string
	for _, k := range []string{"tcp_port", "ssh_signer_port", "gate_port"} {
		port, ok := sc[k].(float64)
		if !ok {
			t.Fatalf("the sidecar has no %s: %v", k, sc)
		}
		want = append(want, fmt.Sprint(int(port)))
	}
	got := strings.Split(c.Config.Annotations["terok.shield.loopback_ports"], ":")
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("the shield read loopback ports %q, want the container's %q", got, want)
	}
	if p := c.Config.Annotations["terok.shield.profiles"]; p != "dev-standard:dev-python" {
		t.Errorf("the shield applied profiles %q, want both", p)
	}
	if sc["task_id"] != "task-7" || sc["dossier_path"] != "/srv/dossiers/task-7.md" || sc["allow_debugger"] != true {
		t.Errorf("the sidecar lacks the orchestrator's fields: task_id %v dossier_path %v allow_debugger %v",
			sc["task_id"], sc["dossier_path"], sc["allow_debugger"])
	}
	if _, err := os.Lstat(filepath.Join(userShield, "config.yml")); err == nil {
		t.Error("the launch wrote into the user's shield config dir")
	}
	mustSucceed(t, sb.sandwire("--url", svc.URL(), "cleanup", name))
	sb.assertNoState(name)
}
