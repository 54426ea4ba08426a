package integration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/sandwire/sandwire/integration/podmantest"
	"github.com/sandwire/sandwire/launch"
	"github.com/sandwire/sandwire/podmanapi"
	"github.com/sandwire/sandwire/wiring"
)

// killingShield stands in for a shield whose preparation coincides with
// the podman service dying: it stops the service, then succeeds.
type killingShield struct{ svc *podmantest.Service }

func (k killingShield) Prepare(context.Context, wiring.ShieldRequest) (*wiring.Edits, error) {
	return &wiring.Edits{}, k.svc.Stop()
}

func (killingShield) Down(context.Context, string, string) error { return nil }

// TestReliabilityServerDiesBetweenComposeAndCreate: the state and tokens
// composed for a launch whose server vanished before the create are
// rolled back, and the next attempt, on a live server, succeeds.
func TestReliabilityServerDiesBetweenComposeAndCreate(t *testing.T) {
	sb := newSandbox(t)
	cfg := libraryConfig(sb)
	doomed := podmantest.Start(t)
	ctx := context.Background()
	client, err := podmanapi.Connect(ctx, podmanapi.Options{URL: doomed.URL()})
	if err != nil {
		t.Fatal(err)
	}
	const name = "sw-rel-dies"
	spec := specgen.NewSpecGenerator(svc.Image(), false)
	spec.Command = []string{"true"}
	_, err = launch.Create(ctx, client, name, spec, launch.Options{
		Config: cfg, Request: wiring.Request{Scope: "proj"}, Shield: killingShield{doomed},
	})
	var unreachable *podmanapi.UnreachableError
	if !errors.As(err, &unreachable) {
		t.Fatalf("launch on a dead server = %v, want an *UnreachableError", err)
	}
	sb.assertNoState(name)

	removeContainerAtEnd(t, name)
	_, live := connect(t)
	if _, err := launch.Create(ctx, live, name, spec, launch.Options{Config: cfg, Request: wiring.Request{Scope: "proj", NoShield: true}}); err != nil {
		t.Fatalf("the second attempt on a live server failed: %v", err)
	}
	if n := sb.tokenCount(name); n != 1 {
		t.Errorf("%d token rows after the successful launch, want 1", n)
	}
	mustSucceed(t, sb.sandwire("cleanup", name))
}

// TestReliabilityTokenStoreLocked: a token store another process holds
// locked fails the launch with a clear error and leaves nothing; once the
// lock is gone the launch succeeds.
func TestReliabilityTokenStoreLocked(t *testing.T) {
	sb := newSandbox(t)
	if err := os.MkdirAll(sb.vaultDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", sb.dbPath())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS proxy_tokens (token TEXT PRIMARY KEY, scope TEXT NOT NULL, subject TEXT NOT NULL, credential_set TEXT NOT NULL, provider TEXT NOT NULL)`,
		`PRAGMA locking_mode=EXCLUSIVE`, `BEGIN EXCLUSIVE`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	const name = "sw-rel-locked"
	removeContainerAtEnd(t, name)
	r := sb.sandwire("--url", svc.URL(), "create", "--scope", "proj", "--no-shield", name, "--", svc.Image(), "true")
	if r.code != 1 || !strings.Contains(r.stderr, "token") || !strings.Contains(r.stderr, "locked") {
		t.Errorf("create with the token store locked: %v; want exit 1 naming the locked token store", r)
	}
	if containerExists(t, name) {
		t.Errorf("a container was made although the launch failed")
	}
	if _, err := db.Exec(`COMMIT`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	sb.assertNoState(name)

	sb.create(name, []string{"--scope", "proj", "--no-shield"}, svc.Image(), "true")
	if n := sb.tokenCount(name); n != 1 {
		t.Errorf("%d token rows after the lock was released, want 1", n)
	}
	mustSucceed(t, sb.sandwire("cleanup", name))
}

// TestReliabilityParallelLaunches: 50 launches at once, through one
// connection and through 8, are all wired; 50 cleanups at once leave no
// sidecar, runtime dir, run state, token row or container.
func TestReliabilityParallelLaunches(t *testing.T) {
	for _, conns := range []int{1, 8} {
		t.Run(fmt.Sprintf("%d connections", conns), func(t *testing.T) {
			sb := newSandbox(t)
			cfg := libraryConfig(sb)
			ctx := context.Background()
			clients := make([]*podmanapi.Client, conns)
			for i := range clients {
				_, clients[i] = connect(t)
			}
			store := wiring.NewSQLiteStore(cfg.DBPath())
			defer store.Close()
			const n = 50
			names := make([]string, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				names[i] = fmt.Sprintf("sw-load%d-%02d", conns, i)
				removeContainerAtEnd(t, names[i])
				wg.Add(1)
				go func() {
					defer wg.Done()
					spec := specgen.NewSpecGenerator(svc.Image(), false)
					spec.Command = []string{"true"}
					_, errs[i] = launch.Create(ctx, clients[i%conns], names[i], spec, launch.Options{
						Config: cfg, Tokens: store, Request: wiring.Request{Scope: "load", NoShield: true},
					})
				}()
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatalf("parallel launches failed: %v", err)
			}
			for _, name := range names {
				c := inspect(t, name)
				if c.Config.Annotations[sidecarAnnotation] != sb.sidecarPath(name) || !gateTokenRE.MatchString(c.env()["TEROK_GATE_TOKEN"]) {
					t.Errorf("%s is not wired: annotations %v", name, c.Config.Annotations)
				}
				if n := sb.tokenCount(name); n != 1 {
					t.Errorf("%s has %d token rows, want 1", name, n)
				}
			}

			for i, name := range names {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = errors.Join(clients[i%conns].Remove(ctx, name, true),
						func() error {
							_, err := wiring.Cleanup(ctx, cfg, name, wiring.CleanupOptions{Tokens: store})
							return err
						}())
				}()
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatalf("parallel cleanups failed: %v", err)
			}
			for _, name := range names {
				sb.assertNoState(name)
				if containerExists(t, name) {
					t.Errorf("container %s is left behind", name)
				}
			}
			// The shared, versioned bridges dir and the lock files stay; no
			// per-container state does.
			for _, dir := range []string{filepath.Join(sb.stateDir(), "sidecar"), filepath.Join(sb.stateDir(), "sandbox", "runs"), filepath.Join(sb.runtimeDir(), "run")} {
				if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
					t.Errorf("%s holds %d entries after the cleanups (%v)", dir, len(entries), err)
				}
			}
		})
	}
}

// TestReliabilitySweepAndLs: ls tells live from stray state; sweep removes
// only strays past the grace period, and nothing when podman is unreachable.
func TestReliabilitySweepAndLs(t *testing.T) {
	sb := newSandbox(t)
	sb.create("sw-sweep-live", []string{"--scope", "proj", "--no-shield"}, svc.Image(), "true")
	sb.create("sw-sweep-gone", []string{"--scope", "proj", "--no-shield"}, svc.Image(), "true")
	if _, err := svc.Podman("rm", "sw-sweep-gone"); err != nil {
		t.Fatal(err)
	}
	r := sb.sandwire("--url", svc.URL(), "ls", "--format", "json")
	mustSucceed(t, r)
	for _, want := range []string{`"name": "sw-sweep-live"`, `"container": "exists"`, `"name": "sw-sweep-gone"`, `"container": "missing"`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("ls lacks %s:\n%s", want, r.stdout)
		}
	}

	// Young strays stay under the default grace of an hour.
	r = sb.sandwire("--url", svc.URL(), "sweep")
	mustSucceed(t, r)
	if strings.TrimSpace(r.stdout) != "" || sb.tokenCount("sw-sweep-gone") != 1 {
		t.Errorf("sweep removed a stray younger than the grace period: %v", r)
	}
	// Unreachable podman: nothing is removed.
	r = sb.sandwire("--url", "unix:///nonexistent/podman.sock", "sweep", "--grace", "1ns")
	if r.code != 1 || !strings.Contains(r.stderr, "nothing was swept") || sb.tokenCount("sw-sweep-gone") != 1 {
		t.Errorf("sweep without podman: %v; want exit 1, nothing removed", r)
	}
	// Past the grace period, the stray goes and the live one stays.
	old := time.Now().Add(-2 * time.Hour)
	for _, p := range []string{sb.sidecarPath("sw-sweep-gone"), sb.runStateDir("sw-sweep-gone"), sb.containerRuntimeDir("sw-sweep-gone")} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	r = sb.sandwire("--url", svc.URL(), "sweep")
	mustSucceed(t, r)
	if strings.TrimSpace(r.stdout) != "sw-sweep-gone" {
		t.Errorf("sweep printed %q, want the stray's name", r.stdout)
	}
	sb.assertNoState("sw-sweep-gone")
	if n := sb.tokenCount("sw-sweep-live"); n != 1 {
		t.Errorf("sweep touched the live container's tokens (%d rows left)", n)
	}
	sb.readSidecar("sw-sweep-live")
	mustSucceed(t, sb.sandwire("cleanup", "sw-sweep-live"))
}

// TestReliabilityDebugLogsCarryNoToken: a debug-level launch logs a lot,
// and none of it is a minted token.
func TestReliabilityDebugLogsCarryNoToken(t *testing.T) {
	sb := newSandbox(t)
	const name = "sw-debug-logs"
	removeContainerAtEnd(t, name)
	r := sb.sandwire("--log-level", "debug", "--url", svc.URL(), "create", "--scope", "proj", "--no-shield", name, "--", svc.Image(), "true")
	mustSucceed(t, r)
	if !strings.Contains(r.stderr, "level=debug") {
		t.Fatalf("a debug-level launch logged nothing at debug level: %q", r.stderr)
	}
	env := inspect(t, name).env()
	sc := sb.readSidecar(name)
	gate, _ := sc["gate_token"].(string)
	for _, token := range []string{env["TEROK_GATE_TOKEN"], env["TEROK_SSH_SIGNER_TOKEN"], gate} {
		if token == "" {
			t.Fatalf("no token to look for: env %v", keys(env))
		}
		if strings.Contains(r.stderr, token) || strings.Contains(r.stdout, token) {
			t.Errorf("a token reached the logs")
		}
	}
	cleanup := sb.sandwire("--log-level", "debug", "cleanup", name)
	mustSucceed(t, cleanup)
	if anyTokenRE.MatchString(cleanup.stderr) {
		t.Errorf("a token reached cleanup's logs")
	}
}

// TestReliabilityNewlinesInValues: env values and labels with newlines in
// the passthrough reach the container intact, and the sidecar stays
// valid.
func TestReliabilityNewlinesInValues(t *testing.T) {
	sb := newSandbox(t)
	const name = "sw-newlines"
	sb.create(name, []string{"--scope", "proj", "--no-shield"},
		"-e", "MULTI=line one\nline two", "--label", "note=a\nb", svc.Image(), "true")
	c := inspect(t, name)
	if got := c.env()["MULTI"]; got != "line one\nline two" {
		t.Errorf("MULTI = %q, want the two lines", got)
	}
	if _, injected := c.env()["line two"]; injected {
		t.Errorf("a newline in a value made a variable of its own")
	}
	for k := range c.env() {
		if strings.HasPrefix(k, "TEROK_") && !strings.HasPrefix(k, "TEROK_GATE") && !strings.HasPrefix(k, "TEROK_SSH") && !strings.HasPrefix(k, "TEROK_VAULT") {
			t.Errorf("unexpected sandbox variable %s", k)
		}
	}
	if sc := sb.readSidecar(name); sc["container_name"] != name {
		t.Errorf("sidecar names %v, want %s", sc["container_name"], name)
	}
	mustSucceed(t, sb.sandwire("cleanup", name))
}

// TestReliabilityStateDirReadOnly: a state dir that cannot be written
// fails the launch with the cause and leaves no container or token; once
// it is writable again the launch succeeds.
func TestReliabilityStateDirReadOnly(t *testing.T) {
	sb := newSandbox(t)
	state := sb.stateDir()
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	// Root ignores mode bits: a read-only bind mount is what stops it.
	for _, args := range [][]string{{"--bind", state, state}, {"-o", "remount,bind,ro", state}} {
		if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
			t.Fatalf("mount %v: %v: %s", args, err, out)
		}
	}
	mounted := true
	unmount := func() {
		if mounted {
			if out, err := exec.Command("umount", state).CombinedOutput(); err != nil {
				t.Errorf("umount: %v: %s", err, out)
			}
			mounted = false
		}
	}
	t.Cleanup(unmount)
	const name = "sw-ro-state"
	removeContainerAtEnd(t, name)
	r := sb.sandwire("--url", svc.URL(), "create", "--scope", "proj", "--no-shield", name, "--", svc.Image(), "true")
	if r.code != 1 || !strings.Contains(r.stderr, "read-only file system") {
		t.Errorf("create with a read-only state dir: %v; want exit 1 naming the read-only file system", r)
	}
	if containerExists(t, name) {
		t.Errorf("a container was made although the launch failed")
	}
	unmount()
	sb.assertNoState(name)
	sb.create(name, []string{"--scope", "proj", "--no-shield"}, svc.Image(), "true")
	mustSucceed(t, sb.sandwire("cleanup", name))
}

// TestReliabilitySymlinkPlants: a symlink planted where the launch would
// put the runtime dir, the run state or the sidecar is refused; its target
// is neither written nor removed, and cleanup removes only the link.
func TestReliabilitySymlinkPlants(t *testing.T) {
	for _, plant := range []struct {
		name string
		path func(sb *sandbox, name string) string
	}{
		{"sidecar", (*sandbox).sidecarPath},
		{"run state dir", (*sandbox).runStateDir},
		{"runtime dir", (*sandbox).containerRuntimeDir},
	} {
		t.Run(plant.name, func(t *testing.T) {
			sb := newSandbox(t)
			const name = "sw-symlink"
			removeContainerAtEnd(t, name)
			outside := filepath.Join(t.TempDir(), "victim")
			if err := os.MkdirAll(outside, 0o755); err != nil {
				t.Fatal(err)
			}
			precious := filepath.Join(outside, "precious")
			if err := os.WriteFile(precious, []byte("keep me"), 0o644); err != nil {
				t.Fatal(err)
			}
			link := plant.path(sb, name)
			if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, link); err != nil {
				t.Fatal(err)
			}
			r := sb.sandwire("--url", svc.URL(), "create", "--scope", "proj", "--no-shield", name, "--", svc.Image(), "true")
			if r.code != 1 || !strings.Contains(r.stderr, link) {
				t.Errorf("create with a symlink at the %s: %v; want exit 1 naming %s", plant.name, r, link)
			}
			if containerExists(t, name) {
				t.Errorf("a container was made although the launch was refused")
			}
			entries, _ := os.ReadDir(outside)
			if data, err := os.ReadFile(precious); err != nil || string(data) != "keep me" || len(entries) != 1 {
				t.Errorf("the link's target was touched: %d entries, precious %q (%v)", len(entries), data, err)
			}
			mustSucceed(t, sb.sandwire("cleanup", name))
			if _, err := os.Lstat(link); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("cleanup left the planted link (%v)", err)
			}
			if data, err := os.ReadFile(precious); err != nil || string(data) != "keep me" {
				t.Errorf("cleanup followed the link into its target: %q (%v)", data, err)
			}
		})
	}
}
