package integration

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestVersionShowsClientAndServer: `sandwire version` shows its own build
// and the server's, as `podman version` does; the server's agrees with
// what podman-remote reads from the same service. Unreachable, it still
// shows the client and says why the server is missing.
func TestVersionShowsClientAndServer(t *testing.T) {
	sb := newSandbox(t)
	want, err := svc.PodmanRemote("version", "--format", "{{.Server.Version}}")
	if err != nil {
		t.Fatal(err)
	}
	want = strings.TrimSpace(want)

	r := sb.sandwire("--url", svc.URL(), "version")
	mustSucceed(t, r)
	for _, line := range []string{"Client:      sandwire", "Server:      Podman Engine", "Version:     " + want} {
		if !strings.Contains(r.stdout, line) {
			t.Errorf("sandwire version printed:\n%s\nwant a line %q", r.stdout, line)
		}
	}

	r = sb.sandwire("--url", svc.URL(), "version", "--format", "json")
	mustSucceed(t, r)
	var rep struct {
		Client, Server struct{ Version, OsArch string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Server.Version != want || rep.Client.OsArch == "" {
		t.Errorf("version --format json = %q (%v), want the server's version %q", r.stdout, err, want)
	}
	r = sb.sandwire("--url", svc.URL(), "version", "--format", "{{.Server.Version}}")
	if strings.TrimSpace(r.stdout) != want {
		t.Errorf("version --format template printed %q, want %q", r.stdout, want)
	}

	r = sb.sandwire("--url", "unix:///nonexistent/podman.sock", "version")
	if r.code != 0 || !strings.Contains(r.stdout, "Client:") || strings.Contains(r.stdout, "Server:") || !strings.Contains(r.stderr, "/nonexistent/podman.sock") {
		t.Errorf("version without a server: %s; want the client only and the reason on stderr", r)
	}
	if r := sb.sandwire("--version"); r.code != 0 || !strings.HasPrefix(r.stdout, "sandwire version ") {
		t.Errorf("sandwire --version: %s", r)
	}
}
