package integration

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sandwire/sandwire/internal/vaulttest"
	"github.com/sandwire/sandwire/launch"
)

// TestServeScopeLabelChoosesTheScope: a creator through serve chooses its
// container's vault scope by label among those serve allows; the label is
// taken off, the container's tokens and sidecar carry the chosen scope,
// and a scope serve does not allow is refused with nothing made.
func TestServeScopeLabelChoosesTheScope(t *testing.T) {
	sb := newSandbox(t)
	s := startServe(t, sb, "--scope", "proj", "--allow-scope", "other", "--no-shield")
	cases := []struct {
		name, label, wantScope string
	}{
		{"sw-serve-scope-default", "", "proj"},
		{"sw-serve-scope-chosen", launch.ScopeLabel + "=other", "other"},
	}
	for _, tc := range cases {
		removeContainerAtEnd(t, tc.name)
		args := []string{"create", "--name", tc.name}
		if tc.label != "" {
			args = append(args, "--label", tc.label)
		}
		s.podman(t, append(args, svc.Image(), "true")...)
		sb.assertWired(tc.name)
		if got := sb.readSidecar(tc.name)["scope_id"]; got != tc.wantScope {
			t.Errorf("%s: sidecar scope_id = %v, want %q", tc.name, got, tc.wantScope)
		}
		if _, ok := inspect(t, tc.name).Config.Labels[launch.ScopeLabel]; ok {
			t.Errorf("%s: the container still carries %s", tc.name, launch.ScopeLabel)
		}
		rows, err := vaulttest.Tokens(sb.dbPath(), sb.passphrase)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.Subject == tc.name && (r.Scope != tc.wantScope || r.CredentialSet != tc.wantScope) {
				t.Errorf("%s: token row %+v, want scope and credential set %q", tc.name, r, tc.wantScope)
			}
		}
		s.podman(t, "rm", tc.name)
		sb.assertNoState(tc.name)
	}

	const refused = "sw-serve-scope-refused"
	removeContainerAtEnd(t, refused)
	for _, client := range []string{podman5(), "/usr/bin/podman"} {
		out, code := s.run(t, nil, client, "--remote", "--url", "unix://"+s.socket, "run", "--rm", "--name", refused, "--label", launch.ScopeLabel+"=secret", svc.Image(), "true")
		if code == 0 || !strings.Contains(out, "serve allows other") {
			t.Errorf("%s run with a scope serve does not allow exited %d:\n%s\nwant a refusal naming the scopes allowed", filepath.Base(client), code, out)
		}
		if containerExists(t, refused) {
			t.Errorf("the refused container %s was made", refused)
		}
		sb.assertNoState(refused)
	}
}
