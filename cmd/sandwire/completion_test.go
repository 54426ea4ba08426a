package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// TestCompletion runs cobra's hidden __complete command, as the shell
// scripts of `sandwire completion` do.
func TestCompletion(t *testing.T) {
	tests := []struct {
		name string
		args []string
		// want are candidates that must be offered; absent ones that must not.
		want, absent []string
	}{
		{name: "the completion command exists", args: []string{""}, want: []string{"completion", "run", "start", "cleanup"}},
		{name: "NAME is not completed before the dash", args: []string{"run", ""}, absent: []string{"--detach"}},
		{name: "podman's run flags after the dash", args: []string{"run", "box", "--", "--det"}, want: []string{"--detach", "--detach-keys"}},
		{name: "run-only flags are not create's", args: []string{"create", "box", "--", "--det"}, absent: []string{"--detach", "--detach-keys"}},
		{name: "shorthands after the dash", args: []string{"run", "box", "--", "-"}, want: []string{"-e", "-v", "--env"}},
		{name: "hidden flags are not offered", args: []string{"run", "box", "--", "--preserve"}, absent: []string{"--preserve-fds", "--preserve-fd"}},
		{name: "a flag's values from podman's completion function", args: []string{"run", "box", "--", "--pull", ""}, want: []string{"always", "missing", "never", "newer"}},
		{name: "a flag's values after =", args: []string{"create", "box", "--", "--pull=n"}, want: []string{"--pull=never", "--pull=newer"}},
		{name: "a value completion that needs podman's engine falls back", args: []string{"run", "box", "--", "--volumes-from", ""}},
		{name: "wired names for cleanup on an empty sandbox", args: []string{"cleanup", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TEROK_SANDBOX_STATE_DIR", t.TempDir())
			t.Setenv("CONTAINER_HOST", "unix:///nonexistent.sock")
			var stdout, stderr bytes.Buffer
			if code := Main(append([]string{"__complete"}, tc.args...), strings.NewReader(""), &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			var got []string
			for _, l := range strings.Split(stdout.String(), "\n") {
				if c, _, _ := strings.Cut(l, "\t"); c != "" && !strings.HasPrefix(c, ":") {
					got = append(got, c)
				}
			}
			for _, w := range tc.want {
				if !slices.Contains(got, w) {
					t.Errorf("%q not offered; got %q", w, got)
				}
			}
			for _, a := range tc.absent {
				if slices.Contains(got, a) {
					t.Errorf("%q offered; got %q", a, got)
				}
			}
		})
	}
}
