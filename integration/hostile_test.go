package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/sandwire/sandwire/wiring"
)

// hostileNames are container names that must be refused before anything
// touches the disk: path separators and traversal, control characters,
// overlong names, and Unicode look-alikes of safe names.
var hostileNames = []struct {
	desc, name string
	cliOK      bool // can be a command-line argument (no NUL)
}{
	{"a slash", "a/b", true},
	{"a traversal", "../escape", true},
	{"a deeper traversal", "../../victim", true},
	{"dot dot", "..", true},
	{"dot", ".", true},
	{"a NUL", "sw-a\x00b", false},
	{"a trailing NUL", "sw-nul\x00", false},
	{"a newline", "sw-a\nb", true},
	{"a trailing newline", "sw-nl\n", true},
	{"a carriage return", "sw-a\rb", true},
	{"a tab", "sw-a\tb", true},
	{"a space", "sw a", true},
	{"a backslash", `sw-a\b`, true},
	{"300 characters", strings.Repeat("a", 300), true},
	{"251 characters", strings.Repeat("b", 251), true},
	{"a Cyrillic look-alike", "sw-w\u0435b", true},
	{"fullwidth letters", "\uff53\uff57-web", true},
	{"fullwidth dots", "\uff0e\uff0e", true},
	{"a division slash", "sw\u2215etc", true},
	{"a fraction slash", "sw\u2044etc", true},
	{"a zero-width space", "sw-web\u200b", true},
	{"a right-to-left override", "sw-\u202egnp.exe", true},
	{"a leading dot", ".sw-hidden", true},
	{"invalid UTF-8", "sw-\xff\xfe", true},
}

// TestHostileNamesRefusedBeforeAnyWrite: every hostile name is refused by
// create (2), run (125) and cleanup (2) before a single file is written,
// and no container appears; through the library, Sandbox.Create and
// wiring.Cleanup return ErrInvalidName and touch nothing, not even files
// planted where a traversal would lead.
func TestHostileNamesRefusedBeforeAnyWrite(t *testing.T) {
	before := relContainerNames(t)
	_, client := connect(t)
	for _, tc := range hostileNames {
		t.Run(tc.desc, func(t *testing.T) {
			sb := newSandbox(t)
			// Files where "../../victim" would lead from the sidecar dir
			// and the runtime dir (the state dir itself must stay absent).
			victims := []string{filepath.Join(sb.root, "victim.json"), filepath.Join(sb.root, "victim")}
			for _, v := range victims {
				if err := os.WriteFile(v, []byte("keep"), 0o600); err != nil {
					t.Fatal(err)
				}
			}

			if tc.cliOK {
				r := sb.sandwire(relCreateArgs(svc.URL(), tc.name, svc.Image(), relNoShield...)...)
				relAssertFailed(t, r, 2, "invalid container name")
				sb.assertUntouched()
				r = sb.sandwire("--url", svc.URL(), "run", "--scope", "proj", "--no-shield", tc.name, "--", svc.Image(), "true")
				relAssertFailed(t, r, 125, "invalid container name")
				sb.assertUntouched()
				r = sb.sandwire("cleanup", tc.name)
				relAssertFailed(t, r, 2, "invalid container name")
				sb.assertUntouched()
				r = sb.sandwire("prepare", "--scope", "proj", "--no-shield", tc.name)
				relAssertFailed(t, r, 2, "invalid container name")
				sb.assertUntouched()
			}

			spec := specgen.NewSpecGenerator(svc.Image(), false)
			spec.Command = []string{"true"}
			res, err := libCreate(context.Background(), client, tc.name, spec, libOptions{
				Config: libraryConfig(sb), Request: wiring.Request{Scope: "proj", NoShield: true},
			})
			if !errors.Is(err, wiring.ErrInvalidName) {
				t.Errorf("libCreate(%q) = %+v, %v; want ErrInvalidName", tc.name, res, err)
			}
			found, err := wiring.Cleanup(context.Background(), sb.config(), tc.name, wiring.CleanupOptions{})
			if found || !errors.Is(err, wiring.ErrInvalidName) {
				t.Errorf("wiring.Cleanup(%q) = %v, %v; want ErrInvalidName", tc.name, found, err)
			}
			sb.assertUntouched()
			for _, v := range victims {
				if data, err := os.ReadFile(v); err != nil || string(data) != "keep" {
					t.Errorf("%s was touched: %q (%v)", v, data, err)
				}
			}
			if _, err := os.Lstat(sb.stateDir()); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the state dir was created (%v)", err)
			}
		})
	}
	if after := relContainerNames(t); !slices.Equal(after, before) {
		t.Errorf("containers changed although every launch was refused:\nbefore %q\nafter  %q", before, after)
	}
}

// TestHostileLongNameRefusedBeforeAnyWrite: a name of the longest length
// allowed is refused in socket mode, before any write, because its socket
// paths would not fit in sun_path.
func TestHostileLongNameRefusedBeforeAnyWrite(t *testing.T) {
	sb := newSandbox(t)
	name := strings.Repeat("c", wiring.MaxNameLen)
	r := sb.sandwire(relCreateArgs(svc.URL(), name, svc.Image(), relNoShield...)...)
	relAssertFailed(t, r, 2)
	if !strings.Contains(r.stderr, "107") && !strings.Contains(r.stderr, "sun_path") && !strings.Contains(r.stderr, "too long") {
		t.Errorf("the refusal does not say the socket paths are too long:\n%s", r.stderr)
	}
	sb.assertUntouched()
	if containerExists(t, name) {
		removeContainerAtEnd(t, name)
		t.Errorf("a container was made")
	}
}

// relFileState is a path's content (for a file), entries (for a dir),
// mode and modification time: what "untouched" means.
func relFileState(t *testing.T, p string) string {
	t.Helper()
	st, err := os.Lstat(p)
	if err != nil {
		return "error: " + err.Error()
	}
	s := fmt.Sprintf("%v %d", st.Mode(), st.ModTime().UnixNano())
	switch {
	case st.Mode().IsRegular():
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		s += fmt.Sprintf(" %q", data)
	case st.IsDir():
		entries, err := os.ReadDir(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			s += " [" + e.Name() + ": " + relFileState(t, filepath.Join(p, e.Name())) + "]"
		}
	}
	return s
}

// TestHostileSymlinkPlants: a symlink planted where a launch puts the
// sidecar, the run state dir or the runtime dir, pointing outside the
// sandbox's dirs at a directory, a file or nothing, refuses the launch (1,
// naming the link) without writing to, or removing, its target or the
// link; cleanup removes the link and only the link; then a launch succeeds.
func TestHostileSymlinkPlants(t *testing.T) {
	plants := []struct {
		name string
		path func(sb *sandbox, name string) string
	}{
		{"sidecar", (*sandbox).sidecarPath},
		{"run state dir", (*sandbox).runStateDir},
		{"runtime dir", (*sandbox).containerRuntimeDir},
	}
	targets := []struct {
		kind string
		make func(t *testing.T, outside string) string
	}{
		{"directory", func(t *testing.T, outside string) string {
			dir := filepath.Join(outside, "victim-dir")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "meta.json"), []byte(`{"precious":true}`), 0o644); err != nil {
				t.Fatal(err)
			}
			return dir
		}},
		{"file", func(t *testing.T, outside string) string {
			f := filepath.Join(outside, "victim-file")
			if err := os.WriteFile(f, []byte("precious\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return f
		}},
		{"missing file", func(t *testing.T, outside string) string {
			return filepath.Join(outside, "not-there")
		}},
	}
	for _, plant := range plants {
		for _, target := range targets {
			t.Run(plant.name+" to a "+target.kind, func(t *testing.T) {
				sb := newSandbox(t)
				const name = "sw-hostile-link"
				removeContainerAtEnd(t, name)
				outside := t.TempDir()
				victim := target.make(t, outside)
				// Backdate everything outside so that any write shows.
				old := time.Now().Add(-time.Hour).Truncate(time.Second)
				err := filepath.WalkDir(outside, func(p string, _ fs.DirEntry, err error) error {
					if err != nil {
						return err
					}
					return os.Chtimes(p, old, old)
				})
				if err != nil {
					t.Fatal(err)
				}
				before := relFileState(t, outside)
				link := plant.path(sb, name)
				if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(victim, link); err != nil {
					t.Fatal(err)
				}

				r := sb.sandwire(relCreateArgs(svc.URL(), name, svc.Image(), relNoShield...)...)
				relAssertFailed(t, r, 1, link)
				if containerExists(t, name) {
					t.Errorf("a container was made although the launch was refused")
				}
				if n := sb.tokenCount(name); n != 0 {
					t.Errorf("%d token rows left by the refused launch", n)
				}
				if got, err := os.Readlink(link); err != nil || got != victim {
					t.Errorf("the refused launch removed or changed the planted link: %q (%v)", got, err)
				}
				if after := relFileState(t, outside); after != before {
					t.Errorf("the refused launch touched the link's target:\nbefore %s\nafter  %s", before, after)
				}

				r = sb.sandwire("cleanup", name)
				if r.code != 0 {
					t.Errorf("cleanup of a planted %s link to a %s fails: %s", plant.name, target.kind, r)
				}
				if _, err := os.Lstat(link); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("cleanup left the planted link (%v)", err)
				}
				if after := relFileState(t, outside); after != before {
					t.Errorf("cleanup followed the link into its target:\nbefore %s\nafter  %s", before, after)
				}

				relAssertRecovers(t, sb, name)
				if after := relFileState(t, outside); after != before {
					t.Errorf("a later launch and cleanup touched the old link's target:\nbefore %s\nafter  %s", before, after)
				}
			})
		}
	}
}

// TestHostileParentDirLinks: a symlink planted at a dir on the way to a
// launch's files (the sidecar dir, the runs dir, the runtime dir's parent)
// pointing outside is followed by neither create nor cleanup: both exit 1
// naming the link, nothing outside changes, no container or token is
// left; once the link is gone a launch succeeds.
func TestHostileParentDirLinks(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  func(sb *sandbox) string
	}{
		{"sidecar dir", func(sb *sandbox) string { return filepath.Join(sb.stateDir(), "sidecar") }},
		{"runs dir", func(sb *sandbox) string { return filepath.Join(sb.stateDir(), "sandbox", "runs") }},
		{"runtime runs dir", func(sb *sandbox) string { return filepath.Join(sb.runtimeDir(), "run") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sb := newSandbox(t)
			const name = "sw-hostile-parent"
			removeContainerAtEnd(t, name)
			outside := t.TempDir()
			for _, f := range []string{name + ".json", filepath.Join(name, "meta.json")} {
				p := filepath.Join(outside, f)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(`{"precious":true}`), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			before := relFileState(t, outside)
			link := tc.dir(sb)
			if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, link); err != nil {
				t.Fatal(err)
			}

			r := sb.sandwire(relCreateArgs(svc.URL(), name, svc.Image(), relNoShield...)...)
			relAssertFailed(t, r, 1, link+" is a symlink")
			if containerExists(t, name) {
				t.Errorf("a container was made although the launch was refused")
			}
			if n := sb.tokenCount(name); n != 0 {
				t.Errorf("%d token rows left by the refused launch", n)
			}
			r = sb.sandwire("cleanup", name)
			relAssertFailed(t, r, 1, link+" is a symlink")
			if after := relFileState(t, outside); after != before {
				t.Errorf("create or cleanup followed the link:\nbefore %s\nafter  %s", before, after)
			}

			if err := os.Remove(link); err != nil {
				t.Fatal(err)
			}
			relAssertRecovers(t, sb, name)
		})
	}
}

// relAssertStateValid checks that the sidecar and meta.json of name are
// valid JSON describing name, and the sidecar's gate token is the
// container's.
func relAssertStateValid(t *testing.T, sb *sandbox, name string, c inspected) {
	t.Helper()
	sc := sb.readSidecar(name) // decodes, checks mode 0600
	if sc["container_name"] != name {
		t.Errorf("sidecar container_name = %v, want %s", sc["container_name"], name)
	}
	if sc["gate_token"] != c.env()["TEROK_GATE_TOKEN"] || !gateTokenRE.MatchString(c.env()["TEROK_GATE_TOKEN"]) {
		t.Errorf("the container's TEROK_GATE_TOKEN is not the sidecar's minted gate token")
	}
	meta, err := os.ReadFile(filepath.Join(sb.runStateDir(name), "meta.json"))
	if err != nil || !json.Valid(meta) {
		t.Errorf("meta.json is not valid JSON (%v):\n%s", err, meta)
	}
}

// TestHostilePassthroughValues: env values and labels with newlines, and
// values that look like a sandbox variable after a newline, are carried to
// the container exactly; the sandbox's own variables keep their values and
// the sidecar stays valid JSON. An annotation, which the sandbox owns, is
// refused cleanly.
func TestHostilePassthroughValues(t *testing.T) {
	t.Run("cli", func(t *testing.T) {
		sb := newSandbox(t)
		const name = "sw-hostile-values"
		values := map[string]string{
			"MULTI":  "x\ny",
			"INJECT": "x\nTEROK_GATE_TOKEN=terok-g-00000000000000000000000000000000\nTEROK_SSH_SIGNER_SOCKET=/tmp/evil",
			"JSONY":  `"},"gate_token":"stolen","x":{"`,
			"CRLF":   "a\r\nb\x1b[2J",
		}
		args := []string{}
		for _, k := range slices.Sorted(maps.Keys(values)) {
			args = append(args, "-e", k+"="+values[k])
		}
		args = append(args, "--label", "note=first\nsecond", "--label", "json=\"}{\"", svc.Image(), "true")
		sb.create(name, relNoShield, args...)
		c := inspect(t, name)
		env := c.env()
		// The reference is what podman itself makes of the same flags
		// (podman drops the \r of a \r\n in an env value).
		const ref = "sw-hostile-values-ref"
		removeContainerAtEnd(t, ref)
		if _, err := svc.Podman(append([]string{"create", "--name", ref}, args...)...); err != nil {
			t.Fatal(err)
		}
		refEnv := inspect(t, ref).env()
		for k, v := range values {
			if env[k] != refEnv[k] {
				t.Errorf("%s = %q; podman itself makes it %q", k, env[k], refEnv[k])
			}
			if k != "CRLF" && env[k] != v {
				t.Errorf("%s = %q, want %q", k, env[k], v)
			}
		}
		if env["TEROK_SSH_SIGNER_SOCKET"] != "/run/terok/signer/ssh-agent.sock" {
			t.Errorf("TEROK_SSH_SIGNER_SOCKET = %q, a passthrough value replaced the sandbox's", env["TEROK_SSH_SIGNER_SOCKET"])
		}
		if labels := inspect(t, name).Config.Labels; labels["note"] != "first\nsecond" || labels["json"] != `"}{"` {
			t.Errorf("labels = %q", labels)
		}
		relAssertStateValid(t, sb, name, c)
		mustSucceed(t, sb.sandwire("cleanup", name))
	})

	t.Run("an annotation is refused cleanly", func(t *testing.T) {
		sb := newSandbox(t)
		const name = "sw-hostile-annot"
		r := sb.sandwire("--url", svc.URL(), "create", "--scope", "proj", "--no-shield", name, "--",
			"--annotation", "user.note=a\nb", svc.Image(), "true")
		relAssertFailed(t, r, 2, "--annotation")
		sb.assertUntouched()
		if containerExists(t, name) {
			removeContainerAtEnd(t, name)
			t.Errorf("a container was made")
		}
	})

	t.Run("library", func(t *testing.T) {
		sb := newSandbox(t)
		ctx, client := connect(t)
		const name = "sw-hostile-libvalues"
		removeContainerAtEnd(t, name)
		spec := specgen.NewSpecGenerator(svc.Image(), false)
		spec.Command = []string{"true"}
		spec.Env = map[string]string{"MULTI": "x\ny", "INJECT": "x\nTEROK_GATE_TOKEN=evil"}
		spec.Labels = map[string]string{"note": "a\nb"}
		spec.Annotations = map[string]string{"user.note": "line1\nline2\"}{", "user.empty": ""}
		if _, err := libCreate(ctx, client, name, spec, libOptions{Config: libraryConfig(sb), Request: wiring.Request{Scope: "proj", NoShield: true}}); err != nil {
			t.Fatal(err)
		}
		c := inspect(t, name)
		for k, v := range map[string]string{"MULTI": "x\ny", "INJECT": "x\nTEROK_GATE_TOKEN=evil"} {
			if c.env()[k] != v {
				t.Errorf("%s = %q, want %q", k, c.env()[k], v)
			}
		}
		meta := inspect(t, name)
		if meta.Config.Labels["note"] != "a\nb" {
			t.Errorf("label note = %q", meta.Config.Labels["note"])
		}
		if meta.Config.Annotations["user.note"] != "line1\nline2\"}{" {
			t.Errorf("annotation user.note = %q", meta.Config.Annotations["user.note"])
		}
		relAssertStateValid(t, sb, name, c)
		mustSucceed(t, sb.sandwire("cleanup", name))
	})
}

// TestHostileDebugLogsCarryNoToken: create and run at debug level log a
// lot; none of it is a minted token, with or without its prefix. Nor do
// ls, sweep and cleanup at debug level.
func TestHostileDebugLogsCarryNoToken(t *testing.T) {
	sb := newSandbox(t)
	var logs []result
	debug := func(args ...string) result {
		t.Helper()
		r := sb.sandwire(append([]string{"--log-level", "debug"}, args...)...)
		logs = append(logs, r)
		return r
	}
	const created, ran = "sw-hostile-dbg-create", "sw-hostile-dbg-run"
	removeContainerAtEnd(t, created)
	removeContainerAtEnd(t, ran)
	r := debug("--url", svc.URL(), "create", "--scope", "proj", "--no-shield", created, "--", "-e", "FOO=bar", svc.Image(), "true")
	mustSucceed(t, r)
	if !strings.Contains(r.stderr, "level=debug") {
		t.Fatalf("a debug-level create logged nothing at debug level:\n%s", r.stderr)
	}
	r = debug("--url", svc.URL(), "run", "--scope", "proj", "--no-shield", ran, "--", svc.Image(), "true")
	mustSucceed(t, r)
	if !strings.Contains(r.stderr, "level=debug") {
		t.Fatalf("a debug-level run logged nothing at debug level:\n%s", r.stderr)
	}

	var secrets []string
	for _, name := range []string{created, ran} {
		env := inspect(t, name).env()
		sc := sb.readSidecar(name)
		gate, _ := sc["gate_token"].(string)
		for _, tok := range []string{env["TEROK_GATE_TOKEN"], env["TEROK_SSH_SIGNER_TOKEN"], gate} {
			if tok == "" {
				t.Fatalf("%s: no token to look for", name)
			}
			secrets = append(secrets, tok)
		}
	}
	for _, row := range relTokenRows(t, sb) {
		secrets = append(secrets, strings.Fields(row)[0])
	}

	debug("--url", svc.URL(), "ls", "--format", "json")
	debug("--url", svc.URL(), "sweep")
	debug("--url", svc.URL(), "cleanup", created)
	if _, err := svc.Podman("rm", "--force", ran); err != nil {
		t.Fatal(err)
	}
	debug("--url", svc.URL(), "sweep", "--grace", "1ns")

	for _, r := range logs {
		out := r.stdout + r.stderr
		for _, tok := range secrets {
			body := tok[len("terok-g-"):]
			if strings.Contains(out, body) {
				t.Errorf("a minted token (%s...) reached the output of a debug-level command (exit %d)", tok[:len("terok-g-")], r.code)
			}
		}
	}
	sb.assertNoState(created)
	sb.assertNoState(ran)
}
