package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sandwire/sandwire/integration/podmantest"
)

// differentialLines are accepted passthrough lines; each is created once by
// podman-remote and once by sandwire on the same server, and the two
// containers must agree everywhere but where the sandbox or uniqueness
// makes them differ. IMAGE stands for the test image, ENVFILE for an env
// file the test writes.
var differentialLines = [][]string{
	{"IMAGE", "true"},
	{"-e", "FOO=bar", "-e", "EMPTY=", "IMAGE", "true"},
	{"--env-file", "ENVFILE", "IMAGE", "true"},
	{"-v", "/srv:/data", "IMAGE", "true"},
	{"-v", "/srv:/data:ro,z", "IMAGE", "true"},
	{"--mount", "type=bind,source=/srv,destination=/mnt,ro=true", "IMAGE", "true"},
	{"--tmpfs", "/scratch:rw,size=1m", "IMAGE", "true"},
	{"-p", "127.0.0.1:18080:80", "IMAGE", "true"},
	{"-w", "/tmp", "IMAGE", "true"},
	{"-u", "1000:1000", "IMAGE", "true"},
	{"--entrypoint", "/bin/sh", "IMAGE", "-c", "true"},
	{"--label", "a=b", "--label", "c=d", "IMAGE", "true"},
	{"--memory", "64m", "IMAGE", "true"},
	{"--cpus", "0.5", "IMAGE", "true"},
	{"--device", "/dev/null:/dev/mynull", "IMAGE", "true"},
	{"--read-only", "IMAGE", "true"},
	{"--hostname", "myhost", "IMAGE", "true"},
	{"--add-host", "db:10.0.0.5", "IMAGE", "true"},
	{"--pull", "never", "IMAGE", "true"},
	{"-i", "IMAGE", "true"},
	{"-t", "IMAGE", "true"},
	{"-it", "IMAGE", "sh"},
	{"--rm", "IMAGE", "true"},
	{"--stop-signal", "SIGINT", "--stop-timeout", "5", "IMAGE", "true"},
	{"--ulimit", "nofile=100:200", "IMAGE", "true"},
	{"--pids-limit", "100", "IMAGE", "true"},
	{"--shm-size", "32m", "IMAGE", "true"},
	{"--restart", "on-failure:3", "IMAGE", "true"},
	{"--log-driver", "k8s-file", "IMAGE", "true"},
	{"--health-cmd", "true", "--health-interval", "30s", "IMAGE", "true"},
	{"--dns", "9.9.9.9", "--dns-search", "example.test", "IMAGE", "true"},
	{"--expose", "9000", "IMAGE", "true"},
	{"--group-add", "10", "IMAGE", "true"},
	{"--oom-score-adj", "100", "IMAGE", "true"},
	{"--workdir", "/", "--user", "root", "-e", "A=1", "IMAGE", "sh", "-c", "echo $A"},
}

// The reference is podman-remote built from the same podman release as the
// libraries sandwire uses (5.8.2): the client, not the server, fills out
// the spec, so an older client would differ from both for reasons of its
// own. hack/test.sh builds it (hack/build-podman5.sh) and names it in
// SANDWIRE_PODMAN5.
func podman5Remote(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin := os.Getenv("SANDWIRE_PODMAN5")
	if bin == "" {
		t.Fatal("SANDWIRE_PODMAN5 is not set: build podman 5.8.2 with hack/build-podman5.sh and name it there")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--remote", "--url", svc.URL()}, args...)...)
	cmd.Env = append(svc.Env(), "PODMAN_IGNORE_CGROUPSV1_WARNING=1", "SUPPRESS_BOLTDB_WARNING=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("podman-remote 5.8.2 %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// holdPort listens on a free loopback port until the test ends, so that a
// container publishing it cannot start.
func holdPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// podmanRemoteRunAt runs `podman --remote --url URL run --name NAME ARGS`
// with the reference client (podman-remote 5.8.2), stdin as given.
func podmanRemoteRunAt(t *testing.T, url, name string, args []string, stdin string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return runCommand(t, podmanRemoteRunCommand(ctx, t, url, name, args), stdin)
}

// podmanRemoteRunCommand is the reference client's `podman --remote --url
// URL run --name NAME ARGS`, not started.
func podmanRemoteRunCommand(ctx context.Context, t *testing.T, url, name string, args []string) *exec.Cmd {
	t.Helper()
	bin := os.Getenv("SANDWIRE_PODMAN5")
	if bin == "" {
		t.Fatal("SANDWIRE_PODMAN5 is not set: build podman 5.8.2 with hack/build-podman5.sh and name it there")
	}
	ref := []string{"--remote", "--url", url, "run", "--name", name}
	if podmantest.Rootless() {
		// As in TestDifferentialAgainstPodmanRemote: the sandbox owns the
		// user namespace on a rootless server.
		ref = append(ref, "--userns", "keep-id:uid=1000,gid=1000")
	}
	cmd := exec.CommandContext(ctx, bin, append(ref, args...)...)
	cmd.Env = svc.Env()
	return cmd
}

func TestDifferentialAgainstPodmanRemote(t *testing.T) {
	sb := newSandbox(t)
	envFile := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(envFile, []byte("FROMFILE=1\n# comment\nOTHER=two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if len(differentialLines) < 30 {
		t.Fatalf("only %d differential lines, want at least 30", len(differentialLines))
	}
	for i, line := range differentialLines {
		line := substitute(line, map[string]string{"IMAGE": svc.Image(), "ENVFILE": envFile})
		t.Run(strings.Join(line, " "), func(t *testing.T) {
			podmanName, sandwireName := fmt.Sprintf("diff-podman-%d", i), fmt.Sprintf("diff-sandwire-%d", i)
			removeContainerAtEnd(t, podmanName)
			ref := []string{"create", "--name", podmanName}
			if podmantest.Rootless() {
				// On a rootless server the sandbox owns the user namespace
				// (the contract maps the user to uid 1000); the reference
				// is asked for the same.
				ref = append(ref, "--userns", "keep-id:uid=1000,gid=1000")
			}
			if _, err := podman5Remote(t, append(ref, line...)...); err != nil {
				t.Fatalf("podman-remote refused a line sandwire must accept: %v", err)
			}
			sb.create(sandwireName, []string{"--no-shield"}, line...)
			t.Cleanup(func() { sb.sandwire("cleanup", sandwireName) })

			want, got := inspectRaw(t, podmanName), inspectRaw(t, sandwireName)
			normalize(want, podmanName)
			normalize(got, sandwireName)
			if diffs := diffJSON("", want, got); len(diffs) > 0 {
				t.Errorf("sandwire's container differs from podman-remote's:\n%s", strings.Join(diffs, "\n"))
			}
		})
	}
}

func substitute(line []string, vars map[string]string) []string {
	out := make([]string, len(line))
	for i, a := range line {
		if v, ok := vars[a]; ok {
			a = v
		}
		out[i] = a
	}
	return out
}

func inspectRaw(t *testing.T, name string) map[string]any {
	t.Helper()
	out, err := svc.Podman("container", "inspect", name)
	if err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
		t.Fatalf("decoding podman inspect %s: %v", name, err)
	}
	return list[0]
}

// uniqueFields differ between any two containers: identity, times, paths
// derived from the ID, and the command line that created it.
var uniqueFields = []string{
	"Id", "Name", "Created", "State", "Image", "ImageName", "ImageDigest", "Rootfs",
	"ResolvConfPath", "HostnamePath", "HostsPath", "StaticDir", "OCIConfigPath",
	"ConmonPidFile", "PidFile", "GraphDriver", "SizeRw", "SizeRootFs", "Namespace",
	"ExitCommand", "Config.CreateCommand", "Config.Hostname", "Config.Annotations.io.container.manager",
	"NetworkSettings.SandboxID", "NetworkSettings.SandboxKey", "HostConfig.ContainerIDFile",
	"HostConfig.LogConfig.Path", "lockNumber",
}

// normalize removes what may differ: the unique fields, and the
// sandbox's own edits (the sidecar annotation and label; with --no-shield
// and no scope, nothing else), and the HOSTNAME podman derives from the ID.
func normalize(c map[string]any, name string) {
	for _, f := range uniqueFields {
		deletePath(c, strings.Split(f, "."))
	}
	// Each network's aliases name the container's short ID (the test
	// service's default network is its own, not podman's).
	if ns, ok := c["NetworkSettings"].(map[string]any); ok {
		if nets, ok := ns["Networks"].(map[string]any); ok {
			for _, n := range nets {
				if m, ok := n.(map[string]any); ok {
					delete(m, "Aliases")
				}
			}
		}
	}
	// podman 5 shows the annotations twice: in Config and in HostConfig.
	for _, field := range []string{"Config.Annotations", "HostConfig.Annotations", "Config.Labels"} {
		section, key, _ := strings.Cut(field, ".")
		if sec, ok := c[section].(map[string]any); ok {
			if m, ok := sec[key].(map[string]any); ok {
				maps.DeleteFunc(m, func(k string, _ any) bool { return strings.HasPrefix(k, "terok.") })
			}
		}
	}
	if cfg, ok := c["Config"].(map[string]any); ok {
		if env, ok := cfg["Env"].([]any); ok {
			kept := slices.DeleteFunc(env, func(e any) bool {
				s, _ := e.(string)
				return strings.HasPrefix(s, "HOSTNAME=") || strings.HasPrefix(s, "TEROK_")
			})
			slices.SortFunc(kept, func(a, b any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
			cfg["Env"] = kept
		}
	}
}

func deletePath(m map[string]any, path []string) {
	// Annotation keys contain dots: try the longest key first.
	for i := len(path); i >= 1; i-- {
		key := strings.Join(path[:i], ".")
		v, ok := m[key]
		if !ok {
			continue
		}
		if i == len(path) {
			delete(m, key)
			return
		}
		if sub, ok := v.(map[string]any); ok {
			deletePath(sub, path[i:])
			return
		}
	}
}

// diffJSON lists the paths where two decoded JSON values differ.
func diffJSON(path string, a, b any) []string {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		var out []string
		both := maps.Clone(am)
		maps.Copy(both, bm)
		for _, k := range slices.Sorted(maps.Keys(both)) {
			out = append(out, diffJSON(path+"."+k, am[k], bm[k])...)
		}
		return out
	}
	if reflect.DeepEqual(a, b) || isEmpty(a) && isEmpty(b) {
		return nil
	}
	return []string{fmt.Sprintf("  %s: podman-remote %s, sandwire %s", strings.TrimPrefix(path, "."), brief(a), brief(b))}
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

func brief(v any) string {
	data, _ := json.Marshal(v)
	if len(data) > 300 {
		return string(data[:300]) + "…"
	}
	return string(data)
}
