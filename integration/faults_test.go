package integration

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/sandwire/sandwire/integration/podmantest"
	"github.com/sandwire/sandwire/internal/vaulttest"
	"github.com/sandwire/sandwire/launch"
	"github.com/sandwire/sandwire/podmanapi"
	"github.com/sandwire/sandwire/wiring"
)

// Faults: every launch that fails part-way says why, exits as DESIGN.md
// says, leaves no token, state or container behind, and a second attempt
// succeeds once the cause is gone.

// relNoShield is the wiring of most launches here: a scope (so a token is
// minted and state is written) and no firewall.
var relNoShield = []string{"--scope", "proj", "--no-shield"}

// relCreateArgs is `--url URL create WIRING NAME -- IMAGE true`.
func relCreateArgs(url, name, image string, wiringArgs ...string) []string {
	args := append([]string{"--url", url, "create"}, wiringArgs...)
	return append(args, name, "--", image, "true")
}

// relAssertFailed checks a failed CLI launch: its exit code, that stderr
// names every cause and that nothing was printed on stdout.
func relAssertFailed(t *testing.T, r result, code int, causes ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d:\n%s", r.code, code, r)
	}
	for _, c := range causes {
		if !strings.Contains(r.stderr, c) {
			t.Errorf("stderr does not name %q:\n%s", c, r.stderr)
		}
	}
	if r.stdout != "" {
		t.Errorf("stdout = %q after a failed launch, want nothing", r.stdout)
	}
}

// relAssertNothingLeft fails if a failed launch of name left anything
// keyed by it: sidecar, run state dir, runtime dir, token row, container,
// or any other entry in the per-container dirs (a partial or temporary
// file under another name) but the state of the names in others.
func relAssertNothingLeft(t *testing.T, sb *sandbox, name string, others ...string) {
	t.Helper()
	sb.assertNoState(name)
	for _, dir := range []string{filepath.Join(sb.stateDir(), "sidecar"), filepath.Join(sb.stateDir(), "sandbox", "runs"), filepath.Join(sb.runtimeDir(), "run")} {
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("listing %s: %v", dir, err)
		}
		for _, e := range entries {
			if slices.Contains(others, e.Name()) || slices.Contains(others, strings.TrimSuffix(e.Name(), ".json")) {
				continue
			}
			t.Errorf("%s is left behind by a failed launch of %q", filepath.Join(dir, e.Name()), name)
		}
	}
	if containerExists(t, name) {
		removeContainerAtEnd(t, name)
		t.Errorf("a half-made container %q is left on the server", name)
	}
}

// relAssertWired checks that the launch of name that just succeeded is
// complete: container, sidecar annotation, sidecar and one token row.
func relAssertWired(t *testing.T, sb *sandbox, name string) {
	t.Helper()
	c := inspect(t, name)
	if got := c.Config.Annotations[sidecarAnnotation]; got != sb.sidecarPath(name) {
		t.Errorf("%s: sidecar annotation %q, want %q", name, got, sb.sidecarPath(name))
	}
	sc := sb.readSidecar(name)
	if sc["container_name"] != name || sc["gate_token"] != c.env()["TEROK_GATE_TOKEN"] {
		t.Errorf("%s: the sidecar (container_name %v) is not the container's", name, sc["container_name"])
	}
	if n := sb.tokenCount(name); n != 1 {
		t.Errorf("%s: %d token rows, want 1", name, n)
	}
}

// relAssertRecovers checks that, the cause gone, a launch of name
// succeeds and is wired, then cleans it up.
func relAssertRecovers(t *testing.T, sb *sandbox, name string) {
	t.Helper()
	mustSucceed(t, sb.sandwire(relCreateArgs(svc.URL(), name, svc.Image(), relNoShield...)...))
	relAssertWired(t, sb, name)
	mustSucceed(t, sb.sandwire("cleanup", name))
}

// relContainerNames lists every container the test service knows.
func relContainerNames(t *testing.T) []string {
	t.Helper()
	out, err := svc.Podman("ps", "--all", "--format", "{{.Names}}")
	if err != nil {
		t.Fatal(err)
	}
	names := strings.Fields(out)
	slices.Sort(names)
	return names
}

// relReadOnly makes dir unwritable for the test's user and returns the
// cause a write then reports, and a func that undoes it (it also runs when
// the test ends). Root ignores mode bits, so as root dir becomes a
// read-only bind mount of a fresh empty dir; as an unprivileged user (the
// rootless round) dir gets mode 0500.
func relReadOnly(t *testing.T, dir string) (unblock func(), cause string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if podmantest.Rootless() {
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		done := false
		unblock = func() {
			if !done {
				done = true
				if err := os.Chmod(dir, 0o700); err != nil {
					t.Error(err)
				}
			}
		}
		t.Cleanup(unblock)
		return unblock, "permission denied"
	}
	empty := t.TempDir()
	if err := os.Chmod(empty, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--bind", empty, dir}, {"-o", "remount,bind,ro", dir}} {
		if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
			exec.Command("umount", dir).Run()
			t.Fatalf("mount %v: %v: %s", args, err, out)
		}
	}
	mounted := true
	unblock = func() {
		if !mounted {
			return
		}
		mounted = false
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	}
	t.Cleanup(unblock)
	return unblock, "read-only file system"
}

// relImmutable sets the immutable attribute on path (which stops root
// too); the returned func clears it; it also runs when the test ends. An
// unprivileged user cannot set it: the test is skipped, saying so.
func relImmutable(t *testing.T, path string) (clear func()) {
	t.Helper()
	if podmantest.Rootless() {
		t.Skip("needs root: chattr +i takes CAP_LINUX_IMMUTABLE, which the rootless round's user lacks")
	}
	if out, err := exec.Command("chattr", "+i", path).CombinedOutput(); err != nil {
		t.Fatalf("chattr +i %s: %v: %s", path, err, out)
	}
	set := true
	clear = func() {
		if !set {
			return
		}
		set = false
		if out, err := exec.Command("chattr", "-i", path).CombinedOutput(); err != nil {
			t.Errorf("chattr -i %s: %v: %s", path, err, out)
		}
	}
	t.Cleanup(clear)
	return clear
}

// relHoldStoreLock opens the sandbox's vault on a connection of its own,
// making it as terok makes it when there is none yet, and takes an
// exclusive lock on it, as another process would. The returned func
// commits and closes; it also runs when the test ends.
func relHoldStoreLock(t *testing.T, sb *sandbox, exclusiveMode bool) (release func()) {
	t.Helper()
	if _, err := os.Stat(sb.dbPath()); errors.Is(err, os.ErrNotExist) {
		if err := vaulttest.MakeVault(sb.dbPath(), sb.passphrase); err != nil {
			t.Fatal(err)
		}
	}
	db, err := vaulttest.Open(sb.dbPath(), sb.passphrase)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var stmts []string
	if exclusiveMode {
		stmts = append(stmts, `PRAGMA locking_mode=EXCLUSIVE`)
	}
	stmts = append(stmts, `BEGIN EXCLUSIVE`)
	for _, q := range stmts {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			conn.Close()
			db.Close()
			t.Fatalf("%s: %v", q, err)
		}
	}
	held := true
	release = func() {
		if !held {
			return
		}
		held = false
		if _, err := conn.ExecContext(ctx, `COMMIT`); err != nil {
			t.Errorf("releasing the token store lock: %v", err)
		}
		conn.Close()
		db.Close()
	}
	t.Cleanup(release)
	return release
}

// relTokenRows returns every row of the token store as "token scope
// subject credential_set provider" lines, sorted; no store is no rows.
func relTokenRows(t *testing.T, sb *sandbox) []string {
	t.Helper()
	if _, err := os.Stat(sb.dbPath()); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	db := sb.vaultDB()
	defer db.Close()
	rows, err := db.Query(`SELECT token, scope, subject, credential_set, provider FROM proxy_tokens`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var f [5]string
		if err := rows.Scan(&f[0], &f[1], &f[2], &f[3], &f[4]); err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.Join(f[:], " "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// relNopShield is a shield that adds nothing and always succeeds.
type relNopShield struct{}

func (relNopShield) Prepare(context.Context, wiring.ShieldRequest) (wiring.ShieldResult, error) {
	return wiring.ShieldResult{Edits: &wiring.Edits{}}, nil
}
func (relNopShield) Down(context.Context, string, string) error { return nil }

// relKillingShield kills a podman service while it prepares, then
// succeeds with no edits: the launch goes on to a dead socket.
type relKillingShield struct {
	t   *testing.T
	svc *podmantest.Service
}

func (k relKillingShield) Prepare(context.Context, wiring.ShieldRequest) (wiring.ShieldResult, error) {
	if err := k.svc.Kill(); err != nil {
		k.t.Error(err)
	}
	return wiring.ShieldResult{Edits: &wiring.Edits{}}, nil
}
func (relKillingShield) Down(context.Context, string, string) error { return nil }

// relProxy relays HTTP between a socket of its own and the test
// service's, except for a container create: it forwards the create, lets
// the server finish it, and then never relays the answer. With hold unset
// it drops the client's connection at once (the socket went away while
// the container was being made); with hold set it keeps the connection
// open until the client hangs up (the client gave up, e.g. on Ctrl-C).
// created receives once per create the server finished.
type relProxy struct {
	url     string
	hold    bool
	created chan struct{}
}

func relStartProxy(t *testing.T, upstream string, hold bool) *relProxy {
	t.Helper()
	dir, err := os.MkdirTemp("", "swpx")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "p.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close(); os.RemoveAll(dir) })
	px := &relProxy{url: "unix://" + sock, hold: hold, created: make(chan struct{}, 16)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go px.relay(c, upstream)
		}
	}()
	return px
}

func (px *relProxy) relay(c net.Conn, upstream string) {
	defer c.Close()
	up, err := net.Dial("unix", upstream)
	if err != nil {
		return
	}
	defer up.Close()
	cr, ur := bufio.NewReader(c), bufio.NewReader(up)
	for {
		req, err := http.ReadRequest(cr)
		if err != nil {
			return
		}
		if err := req.Write(up); err != nil {
			return
		}
		resp, err := http.ReadResponse(ur, req)
		if err != nil {
			return
		}
		if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/containers/create") {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			px.created <- struct{}{}
			if px.hold {
				io.Copy(io.Discard, cr) // until the client hangs up
			}
			return // the answer is lost with the connection
		}
		err = resp.Write(c)
		resp.Body.Close()
		if err != nil {
			return
		}
	}
}

// TestFaultSocketMissing: a socket that does not exist fails create (1)
// and run (125, with podman's advice on connections) before anything is
// written, naming the socket; the same launch against the live service
// then succeeds.
func TestFaultSocketMissing(t *testing.T) {
	const missing = "unix:///nonexistent/podman.sock"
	sb := newSandbox(t)
	const name = "sw-fault-nosock"
	removeContainerAtEnd(t, name)

	r := sb.sandwire(relCreateArgs(missing, name, svc.Image(), relNoShield...)...)
	relAssertFailed(t, r, 1, "/nonexistent/podman.sock", "cannot connect")
	sb.assertUntouched()
	relAssertNothingLeft(t, sb, name)

	r = sb.sandwire("--url", missing, "run", "--scope", "proj", "--no-shield", name, "--", svc.Image(), "true")
	relAssertFailed(t, r, 125, "/nonexistent/podman.sock", "Cannot connect to Podman")
	sb.assertUntouched()

	relAssertRecovers(t, sb, name)
	sb.assertNoState(name)
}

// TestFaultServerDiesBeforeCreate: the podman service dies after the
// launch composed its state and minted its token (the shield's preparation
// kills it) and before the create: the library returns an
// *UnreachableError naming the socket, the token is revoked, the state is
// gone, the dead server's storage holds no container; on a live server
// the same launch succeeds.
func TestFaultServerDiesBeforeCreate(t *testing.T) {
	sb := newSandbox(t)
	cfg := libraryConfig(sb)
	doomed := podmantest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client, err := podmanapi.Connect(ctx, podmanapi.Options{URL: doomed.URL()})
	if err != nil {
		t.Fatal(err)
	}
	const name = "sw-fault-dies"
	spec := specgen.NewSpecGenerator(doomed.Image(), false)
	spec.Command = []string{"true"}
	res, err := libCreate(ctx, client, name, spec, libOptions{
		Config: cfg, Request: wiring.Request{Scope: "proj"}, Shield: relKillingShield{t: t, svc: doomed},
	})
	var unreachable *podmanapi.UnreachableError
	switch {
	case err == nil:
		t.Fatalf("launch.Create on a dead server succeeded: %+v", res)
	case !errors.As(err, &unreachable):
		t.Errorf("launch.Create on a dead server = %T %v, want an *podmanapi.UnreachableError", err, err)
	case !strings.Contains(err.Error(), doomed.Socket()):
		t.Errorf("the error does not name the socket %s: %v", doomed.Socket(), err)
	}
	relAssertNothingLeft(t, sb, name)
	if out, err := doomed.Podman("ps", "--all", "--format", "{{.Names}}"); err != nil {
		t.Errorf("looking into the dead server's storage: %v", err)
	} else if strings.TrimSpace(out) != "" {
		t.Errorf("the dead server's storage holds containers: %q", out)
	}

	removeContainerAtEnd(t, name)
	_, live := connect(t)
	if _, err := libCreate(ctx, live, name, spec, libOptions{
		Config: cfg, Request: wiring.Request{Scope: "proj"}, Shield: relNopShield{},
	}); err != nil {
		t.Fatalf("the second attempt, on a live server, failed: %v", err)
	}
	relAssertWired(t, sb, name)
	mustSucceed(t, sb.sandwire("cleanup", name))
	sb.assertNoState(name)
}

// TestFaultConnectionLostDuringCreate: the connection to the service is
// lost while the server makes the container (the server finishes it, the
// answer never arrives). DESIGN.md: a failure with "socket gone" removes
// "any half-made container"; the launch must not leave a container wired
// to state it has just rolled back, and the name must be free for a
// second attempt.
func TestFaultConnectionLostDuringCreate(t *testing.T) {
	sb := newSandbox(t)
	cfg := libraryConfig(sb)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client, err := podmanapi.Connect(ctx, podmanapi.Options{URL: relStartProxy(t, svc.Socket(), false).url})
	if err != nil {
		t.Fatal(err)
	}
	const name = "sw-fault-lost"
	removeContainerAtEnd(t, name)
	spec := specgen.NewSpecGenerator(svc.Image(), false)
	spec.Command = []string{"true"}
	_, err = libCreate(ctx, client, name, spec, libOptions{Config: cfg, Request: wiring.Request{Scope: "proj", NoShield: true}})
	if err == nil {
		t.Fatal("launch.Create succeeded although the create's answer was lost")
	}
	t.Logf("launch.Create: %v", wiring.Redact(err.Error()))
	sb.assertNoState(name)
	if containerExists(t, name) {
		c := inspect(t, name)
		t.Errorf("a half-made container %q (%s) is left on the server after the failed launch; "+
			"its sidecar annotation %q points at state the launch rolled back",
			name, c.ID[:12], c.Config.Annotations[sidecarAnnotation])
	}

	_, live := connect(t)
	if _, err := libCreate(ctx, live, name, spec, libOptions{Config: cfg, Request: wiring.Request{Scope: "proj", NoShield: true}}); err != nil {
		t.Fatalf("the second attempt, over an intact connection, failed: %v", err)
	}
	relAssertWired(t, sb, name)
	mustSucceed(t, sb.sandwire("cleanup", name))
}

// TestFaultImageMissing: an image the server does not have is pulled
// first, as podman run and create pull it; here it is on no registry, so
// the pull fails (create 1, run 125, in the server's words as podman run
// prints them), naming the image, before anything is minted or written. With --pull=never the create itself fails, after the
// token was minted and the state written: both are rolled back. Once the
// image exists the same create succeeds.
func TestFaultImageMissing(t *testing.T) {
	sb := newSandbox(t)
	const name = "sw-fault-noimage"
	const image = "localhost/sw-fault-late-image:latest"
	t.Cleanup(func() { svc.Podman("rmi", "--force", image) })
	removeContainerAtEnd(t, name)

	// --retry 0: a podman 5 server would retry the refused registry for
	// seconds (podman 4 ignores it).
	r := sb.sandwire("--url", svc.URL(), "create", "--scope", "proj", "--no-shield", name, "--", "--retry", "0", image, "true")
	relAssertFailed(t, r, 1, image, "pulling image")
	sb.assertUntouched()
	relAssertNothingLeft(t, sb, name)
	r = sb.sandwire("--url", svc.URL(), "run", "--scope", "proj", "--no-shield", name, "--", "--retry=0", image, "true")
	relAssertFailed(t, r, 125, "source docker://"+image+": ")
	if strings.Contains(r.stderr, "pulling image") {
		t.Errorf("run words a failed pull as sandwire does, not as the server does:\n%s", r.stderr)
	}
	sb.assertUntouched()
	relAssertNothingLeft(t, sb, name)

	r = sb.sandwire("--url", svc.URL(), "create", "--scope", "proj", "--no-shield", name, "--", "--pull=never", image, "true")
	relAssertFailed(t, r, 1, image, "image not known")
	relAssertNothingLeft(t, sb, name)
	r = sb.sandwire("--url", svc.URL(), "run", "--scope", "proj", "--no-shield", name, "--", "--pull", "never", image, "true")
	relAssertFailed(t, r, 125, image, "image not known")
	relAssertNothingLeft(t, sb, name)

	if _, err := svc.Podman("tag", svc.Image(), image); err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, sb.sandwire(relCreateArgs(svc.URL(), name, image, relNoShield...)...))
	relAssertWired(t, sb, name)
	mustSucceed(t, sb.sandwire("cleanup", name))
}

// TestFaultNameTaken: a name a plain podman container holds fails the
// create (1), saying the name is in use; that container is untouched.
// Once it is removed the same create succeeds.
func TestFaultNameTaken(t *testing.T) {
	sb := newSandbox(t)
	const name = "sw-fault-taken"
	removeContainerAtEnd(t, name)
	out, err := svc.Podman("create", "--name", name, "--env", "OWNER=someone-else", svc.Image(), "sleep", "300")
	if err != nil {
		t.Fatal(err)
	}
	other := strings.TrimSpace(out)

	r := sb.sandwire(relCreateArgs(svc.URL(), name, svc.Image(), relNoShield...)...)
	relAssertFailed(t, r, 1, "already in use", strconv.Quote(name))
	sb.assertNoState(name)
	for _, dir := range []string{filepath.Join(sb.stateDir(), "sidecar"), filepath.Join(sb.stateDir(), "sandbox", "runs"), filepath.Join(sb.runtimeDir(), "run")} {
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("%s holds %d entries after the failed launch", dir, len(entries))
		}
	}
	if c := inspect(t, name); c.ID != other || c.env()["OWNER"] != "someone-else" || len(c.terokEnv()) != 0 {
		t.Errorf("the other container was replaced or changed: %s, env %v", c.ID, c.Config.Env)
	}

	if _, err := svc.Podman("rm", "--force", name); err != nil {
		t.Fatal(err)
	}
	relAssertRecovers(t, sb, name)
}

// TestFaultTokenStoreLocked: another connection holds the token store
// exclusively locked; the create fails (1) after the store's busy timeout,
// naming the store and the lock; nothing is left and the other tokens are
// untouched. Once the lock is released the create succeeds.
func TestFaultTokenStoreLocked(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fresh bool // no store yet: the lock holder creates it
	}{{"fresh store", true}, {"store with tokens of another container", false}} {
		t.Run(tc.name, func(t *testing.T) {
			sb := newSandbox(t)
			const name, other = "sw-fault-locked", "sw-fault-lock-other"
			if !tc.fresh {
				sb.create(other, relNoShield, svc.Image(), "true")
			} else if err := os.MkdirAll(sb.vaultDir(), 0o700); err != nil {
				t.Fatal(err)
			}
			rowsBefore := relTokenRows(t, sb)
			release := relHoldStoreLock(t, sb, true)
			removeContainerAtEnd(t, name)

			start := time.Now()
			r := sb.sandwire(relCreateArgs(svc.URL(), name, svc.Image(), relNoShield...)...)
			took := time.Since(start)
			t.Logf("create against a locked store failed after %s", took.Round(time.Millisecond))
			relAssertFailed(t, r, 1, sb.dbPath(), "locked")
			if containerExists(t, name) {
				t.Errorf("a container was made although the launch failed")
			}
			release()
			relAssertNothingLeft(t, sb, name, other)
			if rows := relTokenRows(t, sb); !slices.Equal(rows, rowsBefore) {
				t.Errorf("the failed launch changed other token rows: %d rows, had %d", len(rows), len(rowsBefore))
			}

			relAssertRecovers(t, sb, name)
			if !tc.fresh {
				if n := sb.tokenCount(other); n != 1 {
					t.Errorf("%d token rows of %s, want its 1", n, other)
				}
				mustSucceed(t, sb.sandwire("cleanup", other))
			}
		})
	}
}

// lockingStore is the vault, except that another connection takes the
// store's write lock right after a token is minted: the launch's rollback
// then cannot revoke it.
type lockingStore struct {
	*wiring.VaultStore
	lock func()
}

func (s lockingStore) Mint(ctx context.Context, scope, subject, credentialSet, provider string) (string, error) {
	tok, err := s.VaultStore.Mint(ctx, scope, subject, credentialSet, provider)
	if err == nil {
		s.lock()
	}
	return tok, err
}

// TestFaultTokenStoreLockedDuringRollback: the launch mints its token,
// then the store is locked by another process and the create fails (no
// such image, and PullNever), so the rollback cannot revoke the token. The launch must
// say so, and once the lock is gone, the documented recovery, `sandwire
// cleanup NAME`, must revoke it: no token may outlive its launch
// unreachable by cleanup and sweep.
func TestFaultTokenStoreLockedDuringRollback(t *testing.T) {
	sb := newSandbox(t)
	cfg := libraryConfig(sb)
	ctx, client := connect(t)
	const name = "sw-fault-rblock"
	removeContainerAtEnd(t, name)
	store := sb.vault()
	defer store.Close()
	var release func()
	tokens := lockingStore{VaultStore: store, lock: func() { release = relHoldStoreLock(t, sb, false) }}
	spec := specgen.NewSpecGenerator("localhost/sw-fault-no-such-image:latest", false)
	spec.Command = []string{"true"}

	_, err := libCreate(ctx, client, name, spec, libOptions{
		Config: cfg, Tokens: tokens, Request: wiring.Request{Scope: "proj", NoShield: true}, Pull: &launch.PullOptions{Policy: launch.PullNever},
	})
	if release == nil {
		t.Fatalf("no token was minted: %v", err)
	}
	release()
	var noImage *podmanapi.ImageNotFoundError
	switch {
	case err == nil:
		t.Fatal("launch.Create succeeded with a missing image")
	case !errors.As(err, &noImage):
		t.Errorf("error %v, want an *ImageNotFoundError", err)
	case !strings.Contains(err.Error(), "revok"):
		t.Errorf("the error does not say the token could not be revoked: %v", wiring.Redact(err.Error()))
	}
	if containerExists(t, name) {
		t.Errorf("a container was made although the launch failed")
	}
	left := sb.tokenCount(name)
	t.Logf("after the failed rollback: %d token rows of %q", left, name)

	r := sb.sandwire("cleanup", name)
	if r.code != 0 {
		t.Errorf("cleanup after the lock was released: %s", r)
	}
	if n := sb.tokenCount(name); n != 0 {
		t.Errorf("%d token row(s) of %q outlive the failed launch: the rollback removed the run state and sidecar "+
			"although it could not revoke, so `sandwire cleanup %s` (stdout %q, stderr %q) no longer knows the scope to revoke in, "+
			"and sweep sees no state at all", n, name, name, strings.TrimSpace(r.stdout), strings.TrimSpace(r.stderr))
	}

	spec = specgen.NewSpecGenerator(svc.Image(), false)
	spec.Command = []string{"true"}
	if _, err := libCreate(ctx, client, name, spec, libOptions{Config: cfg, Request: wiring.Request{Scope: "proj", NoShield: true}}); err != nil {
		t.Fatalf("the second attempt failed: %v", err)
	}
	relAssertWired(t, sb, name)
	mustSucceed(t, sb.sandwire("cleanup", name))
}

// TestFaultTokenStoreReadOnly: a token store that cannot be written (an
// immutable vault dir or database, a read-only vault dir) fails the
// create (1), naming the store and the cause; nothing is left. Once it is
// writable again the create succeeds.
func TestFaultTokenStoreReadOnly(t *testing.T) {
	const roOther = "sw-fault-ro-other"
	for _, tc := range []struct {
		name  string
		block func(t *testing.T, sb *sandbox) (unblock func(), cause string)
	}{
		{"immutable vault dir", func(t *testing.T, sb *sandbox) (func(), string) {
			if err := os.MkdirAll(sb.vaultDir(), 0o700); err != nil {
				t.Fatal(err)
			}
			return relImmutable(t, sb.vaultDir()), "operation not permitted"
		}},
		{"immutable database", func(t *testing.T, sb *sandbox) (func(), string) {
			sb.create(roOther, relNoShield, svc.Image(), "true")
			return relImmutable(t, sb.dbPath()), "operation not permitted"
		}},
		{"read-only vault dir", func(t *testing.T, sb *sandbox) (func(), string) {
			return relReadOnly(t, sb.vaultDir())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sb := newSandbox(t)
			const name = "sw-fault-rostore"
			removeContainerAtEnd(t, name)
			unblock, cause := tc.block(t, sb)
			r := sb.sandwire(relCreateArgs(svc.URL(), name, svc.Image(), relNoShield...)...)
			relAssertFailed(t, r, 1, "token store", sb.dbPath(), cause)
			unblock()
			relAssertNothingLeft(t, sb, name, roOther)

			relAssertRecovers(t, sb, name)
		})
	}
}

// TestFaultStateNotWritable: a state dir, runtime dir or sidecar dir that
// cannot be written fails the create (1), naming the read-only file
// system; what the launch wrote before (run state, runtime dir, the minted
// token) is rolled back. Once writable, the create succeeds.
func TestFaultStateNotWritable(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  func(sb *sandbox) string
	}{
		{"state dir", func(sb *sandbox) string { return sb.stateDir() }},
		{"runtime dir", func(sb *sandbox) string { return sb.runtimeDir() }},
		{"sidecar dir, after the token was minted", func(sb *sandbox) string { return filepath.Join(sb.stateDir(), "sidecar") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sb := newSandbox(t)
			const name = "sw-fault-rostate"
			removeContainerAtEnd(t, name)
			dir := tc.dir(sb)
			unmount, cause := relReadOnly(t, dir)
			r := sb.sandwire(relCreateArgs(svc.URL(), name, svc.Image(), relNoShield...)...)
			relAssertFailed(t, r, 1, cause, dir)
			unmount()
			relAssertNothingLeft(t, sb, name)

			relAssertRecovers(t, sb, name)
		})
	}
}

// TestFaultStateFromEarlierLaunch: the container was removed behind
// sandwire's back and its state is still on disk; a new create of the name
// is refused (1) with "state from an earlier launch" and a pointer to
// cleanup, and the earlier state and token stay byte for byte. After
// cleanup the create succeeds.
func TestFaultStateFromEarlierLaunch(t *testing.T) {
	sb := newSandbox(t)
	const name = "sw-fault-earlier"
	sb.create(name, relNoShield, svc.Image(), "true")
	if _, err := svc.Podman("rm", "--force", name); err != nil {
		t.Fatal(err)
	}
	before := relSnapshot(t, sb, name)

	r := sb.sandwire(relCreateArgs(svc.URL(), name, svc.Image(), relNoShield...)...)
	relAssertFailed(t, r, 1, "state from an earlier launch", "sandwire cleanup "+name)
	if containerExists(t, name) {
		t.Errorf("a container %q was created over earlier state", name)
	}
	if after := relSnapshot(t, sb, name); !after.equal(before) {
		t.Errorf("the refused launch changed the earlier state:\nbefore %s\nafter  %s", before, after)
	}

	mustSucceed(t, sb.sandwire("cleanup", name))
	sb.assertNoState(name)
	relAssertRecovers(t, sb, name)
}

// TestFaultInterruptedDuringCreate: Ctrl-C reaches `sandwire create` while
// the server makes the container. The create fails and rolls back its
// state and token; DESIGN.md's atomic launch also removes "any half-made
// container", so none may be left, and the name must be free again.
func TestFaultInterruptedDuringCreate(t *testing.T) {
	sb := newSandbox(t)
	const name = "sw-fault-sigint"
	removeContainerAtEnd(t, name)
	px := relStartProxy(t, svc.Socket(), true)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sandwireBin, relCreateArgs(px.url, name, svc.Image(), relNoShield...)...)
	cmd.Env = sb.environ()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-px.created:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the create never reached the server:\n%s", stderr.String())
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		r.code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	t.Logf("interrupted create: %s", wiring.Redact(r.String()))
	if r.code != 1 {
		t.Errorf("an interrupted create exited %d, want 1", r.code)
	}
	if !strings.Contains(r.stderr, "interrupt") {
		t.Errorf("the error does not say the create was interrupted:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "cannot connect") || strings.Contains(r.stderr, "is it running?") {
		t.Errorf("an interrupted create is reported as an unreachable podman service (the server was reachable and made the container):\n%s", r.stderr)
	}
	if anyTokenRE.MatchString(r.stderr) {
		t.Errorf("a token reached stderr")
	}
	sb.assertNoState(name)
	if containerExists(t, name) {
		c := inspect(t, name)
		t.Errorf("the interrupted create left container %q (%s) on the server, its sidecar annotation %q pointing at state the launch rolled back",
			name, c.ID[:12], c.Config.Annotations[sidecarAnnotation])
	}

	r = sb.sandwire(relCreateArgs(svc.URL(), name, svc.Image(), relNoShield...)...)
	if r.code != 0 {
		t.Fatalf("the second attempt failed:\n%s", r)
	}
	relAssertWired(t, sb, name)
	mustSucceed(t, sb.sandwire("cleanup", name))
}

// TestFaultRunCannotStart: `sandwire run` of a command the image does not
// have: the container is created but cannot start; run exits 127 as
// podman run does, says why, and keeps the container and its sandbox state
// as podman keeps the container; with --rm both go. The same run with a
// command that exists succeeds.
func TestFaultRunCannotStart(t *testing.T) {
	sb := newSandbox(t)
	const name = "sw-fault-nostart"
	removeContainerAtEnd(t, name)
	r := sb.sandwire("--url", svc.URL(), "run", "--scope", "proj", "--no-shield", name, "--", svc.Image(), "/no/such/command")
	if r.code != 127 || !strings.Contains(r.stderr, "/no/such/command") {
		t.Errorf("run of a missing command: want exit 127 and the runtime's message naming it:\n%s", r)
	}
	// Kept, as podman keeps it, with its sandbox state, until removed.
	if !containerExists(t, name) {
		t.Fatalf("the container whose start failed is gone")
	}
	sb.readSidecar(name)
	if _, err := svc.Podman("rm", "--force", "--time", "0", name); err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, sb.sandwire("--url", svc.URL(), "cleanup", name))
	relAssertNothingLeft(t, sb, name)

	r = sb.sandwire("--url", svc.URL(), "run", "--scope", "proj", "--no-shield", name, "--", "--rm", svc.Image(), "/no/such/command")
	if r.code != 127 {
		t.Errorf("run --rm of a missing command exited %d, want 127:\n%s", r.code, r)
	}
	relAssertNothingLeft(t, sb, name)

	r = sb.sandwire("--url", svc.URL(), "run", "--scope", "proj", "--no-shield", name, "--", "--rm", svc.Image(), "sh", "-c", "exit 3")
	if r.code != 3 {
		t.Errorf("run of a command that exits 3 exited %d:\n%s", r.code, r)
	}
	relAssertNothingLeft(t, sb, name)
}
