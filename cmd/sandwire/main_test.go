package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExitCodes runs the CLI in-process on what needs no podman service:
// usage errors and policy refusals exit 2 (run: 125), and nothing is
// written for them.
func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		wantErr string
	}{
		{"unknown command is a usage error", []string{"bogus"}, 2, `unknown command "bogus"`},
		{"unknown global flag is a usage error", []string{"--bogus"}, 2, "unknown flag: --bogus"},
		{"bad log level is a usage error", []string{"--log-level", "loud", "cleanup", "x"}, 2, "--log-level"},
		{"cleanup without a name", []string{"cleanup"}, 2, "NAME"},
		{"cleanup of an unsafe name", []string{"cleanup", "../x"}, 2, "invalid container name"},
		{"cleanup of an unknown name succeeds", []string{"cleanup", "never-launched"}, 0, ""},
		{"create without the dash", []string{"create", "box", "img"}, 2, `"--"`},
		{"create without an image", []string{"create", "box", "--"}, 2, "IMAGE"},
		{"create refuses a managed flag before connecting", []string{"--url", "unix:///nonexistent.sock", "create", "box", "--", "--name", "x", "img"}, 2, "--name"},
		{"run refuses a denied flag with 125", []string{"--url", "unix:///nonexistent.sock", "run", "box", "--", "--privileged", "img"}, 125, "--privileged"},
		{"create on an unreachable socket is a runtime failure", []string{"--url", "unix:///nonexistent.sock", "create", "--no-shield", "box", "--", "img"}, 1, "/nonexistent.sock"},
		{"create with a pull policy podman does not know is a usage error", []string{"--url", "unix:///nonexistent.sock", "create", "--no-shield", "box", "--", "--pull", "sometimes", "img"}, 2, `unsupported pull policy "sometimes"`},
		{"run with a pull policy podman does not know exits 125", []string{"--url", "unix:///nonexistent.sock", "run", "--no-shield", "box", "--", "--pull=sometimes", "img"}, 125, `unsupported pull policy "sometimes"`},
		{"create with a missing --authfile is a usage error", []string{"--url", "unix:///nonexistent.sock", "create", "--no-shield", "box", "--", "--authfile", "/nonexistent/auth.json", "img"}, 2, "/nonexistent/auth.json"},
		{"prepare with an unknown format", []string{"prepare", "--format", "yaml", "box"}, 2, "--format"},
		{"prepare --format spec without a container", []string{"prepare", "--format", "spec", "box"}, 2, "--format spec"},
		{"sweep with a negative grace", []string{"sweep", "--grace", "-1s"}, 2, "--grace"},
		{"start without a name", []string{"start"}, 2, "start requires at least one argument"},
		{"start --attach of two names", []string{"start", "--attach", "a", "b"}, 2, "you cannot start and attach multiple containers at once"},
		{"start --sig-proxy without --attach", []string{"start", "--sig-proxy", "box"}, 2, "you cannot use sig-proxy without --attach"},
		{"start of an unsafe name is refused before connecting", []string{"--url", "unix:///nonexistent.sock", "start", "../x"}, 2, "invalid container name"},
		{"start on an unreachable socket is a runtime failure", []string{"--url", "unix:///nonexistent.sock", "start", "box"}, 1, "/nonexistent.sock"},
		{"start of several names reports each failure", []string{"--url", "unix:///nonexistent.sock", "start", "../x", "box"}, 2, "/nonexistent.sock"},
		{"watch with a zero grace", []string{"watch", "--grace", "0s"}, 2, "--grace"},
		{"watch takes no arguments", []string{"watch", "box"}, 2, "no arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := isolate(t)
			var stdout, stderr bytes.Buffer
			code := Main(tc.args, strings.NewReader(""), &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tc.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.wantErr) {
				t.Errorf("stderr %q does not name %q", stderr.String(), tc.wantErr)
			}
			if tc.code != 0 {
				if entries, _ := os.ReadDir(filepath.Join(root, "state")); len(entries) > 0 {
					t.Errorf("a refused command wrote state: %v", entries)
				}
			}
		})
	}
}

// isolate gives the test a configuration, state, runtime and vault dir of
// its own, and returns the dir that holds them.
func isolate(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	config := filepath.Join(root, "sandwire.toml")
	if err := os.WriteFile(config, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SANDWIRE_CONFIG", config)
	t.Setenv("TEROK_SANDBOX_STATE_DIR", filepath.Join(root, "state"))
	// A short runtime dir: t.TempDir() is named after the test, and the
	// socket paths under it must fit sun_path.
	run, err := os.MkdirTemp("", "sw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(run) })
	t.Setenv("TEROK_SANDBOX_RUNTIME_DIR", run)
	t.Setenv("TEROK_VAULT_DIR", filepath.Join(root, "vault"))
	return root
}

// TestRunErrorsReadAsPodmans: run's errors are worded as podman run's,
// which the integration's run differential compares against the real
// client; here, what needs no podman service: an unreachable one.
func TestRunErrorsReadAsPodmans(t *testing.T) {
	unreachable := []string{"--url", "unix:///nonexistent.sock"}
	for _, tc := range []struct {
		name string
		args []string
		// lines are the prefixes of stderr's lines that say "Error" or
		// "Cannot", in order.
		lines []string
	}{
		{"an unreachable service gets podman's advice, then the client libraries' account",
			append(unreachable, "run", "--no-shield", "box", "--", "img"),
			[]string{"Cannot connect to Podman. Please verify your connection to the Linux system", "Error: unable to connect to Podman socket: "}},
		{"at debug level the whole chain is kept after podman's advice",
			append(append([]string{"--log-level", "debug"}, unreachable...), "run", "--no-shield", "box", "--", "img"),
			[]string{"Cannot connect to Podman.", `Error: cannot connect to the podman service at "unix:///nonexistent.sock": unable to connect to Podman socket: `}},
		{"create keeps sandwire's own words and advice",
			append(unreachable, "create", "--no-shield", "box", "--", "img"),
			[]string{`Error: cannot connect to the podman service at "unix:///nonexistent.sock": `}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			var stdout, stderr bytes.Buffer
			Main(tc.args, strings.NewReader(""), &stdout, &stderr)
			var got []string
			for _, l := range strings.Split(stderr.String(), "\n") {
				if strings.HasPrefix(l, "Error") || strings.HasPrefix(l, "Cannot") {
					got = append(got, l)
				}
			}
			if len(got) != len(tc.lines) {
				t.Fatalf("stderr has %d error lines, want %d:\n%s", len(got), len(tc.lines), stderr.String())
			}
			for i, prefix := range tc.lines {
				if !strings.HasPrefix(got[i], prefix) {
					t.Errorf("line %d = %q, want it to begin %q", i+1, got[i], prefix)
				}
			}
		})
	}
}
