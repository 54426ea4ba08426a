package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// lsRow is one entry of `sandwire ls --format json`.
type lsRow struct {
	Name      string          `json:"name"`
	Plan      json.RawMessage `json:"plan"`
	Container string          `json:"container"`
	State     string          `json:"state"`
}

// relLs runs `sandwire --url URL ls --format json` and decodes it by name.
func relLs(t *testing.T, sb *sandbox, url string) map[string]lsRow {
	t.Helper()
	r := sb.sandwire("--url", url, "ls", "--format", "json")
	mustSucceed(t, r)
	var rows []lsRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("ls --format json printed invalid JSON: %v\n%s", err, r.stdout)
	}
	m := map[string]lsRow{}
	for _, row := range rows {
		if _, dup := m[row.Name]; dup {
			t.Errorf("ls lists %s twice", row.Name)
		}
		m[row.Name] = row
	}
	return m
}

// relBackdate sets the modification time of every piece of name's state.
func relBackdate(t *testing.T, sb *sandbox, name string, age time.Duration) {
	t.Helper()
	old := time.Now().Add(-age)
	for _, p := range []string{sb.sidecarPath(name), sb.runStateDir(name), sb.containerRuntimeDir(name)} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
}

// relSweepFixture is a sandbox with a live wired container and a stray: a
// wired container removed behind sandwire's back.
func relSweepFixture(t *testing.T) (sb *sandbox, live, stray string) {
	t.Helper()
	sb = newSandbox(t)
	live, stray = "sw-sweep-alive", "sw-sweep-stray"
	sb.create(live, relNoShield, svc.Image(), "true")
	sb.create(stray, relNoShield, svc.Image(), "true")
	if _, err := svc.Podman("rm", stray); err != nil {
		t.Fatal(err)
	}
	return sb, live, stray
}

// TestLsReportsWhetherTheContainerExists: ls lists both wired names with
// their plan, "exists" for the live one and "missing" for the stray, and
// "unknown" for both, never "missing", when the server cannot be asked.
func TestLsReportsWhetherTheContainerExists(t *testing.T) {
	sb, live, stray := relSweepFixture(t)
	rows := relLs(t, sb, svc.URL())
	if len(rows) != 2 {
		t.Errorf("ls lists %d names, want 2: %v", len(rows), rows)
	}
	for name, want := range map[string]string{live: "exists", stray: "missing"} {
		row, ok := rows[name]
		switch {
		case !ok:
			t.Errorf("ls does not list %s", name)
		case row.Container != want || row.State != "complete":
			t.Errorf("ls %s: container %q, state %q; want %q, complete", name, row.Container, row.State, want)
		default:
			var plan struct {
				Scope  *string `json:"scope"`
				Shield bool    `json:"shield"`
				SSH    bool    `json:"ssh"`
			}
			if err := json.Unmarshal(row.Plan, &plan); err != nil || plan.Scope == nil || *plan.Scope != "proj" || plan.Shield || !plan.SSH {
				t.Errorf("ls %s: plan %s (%v), want scope proj, shield off, ssh on", name, row.Plan, err)
			}
		}
	}
	for name, row := range relLs(t, sb, "unix:///nonexistent/podman.sock") {
		if row.Container != "unknown" {
			t.Errorf("ls without a server says %s's container is %q, want unknown", name, row.Container)
		}
	}
	r := sb.sandwire("--url", svc.URL(), "ls")
	mustSucceed(t, r)
	for _, want := range []string{live, stray, "exists", "missing"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("ls's table lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestSweepRemovesOnlyOldStrays: under the default grace a young stray
// stays; past a grace of 1s sweep removes the stray's state and token and
// prints its name, and leaves the live container's state byte for byte.
func TestSweepRemovesOnlyOldStrays(t *testing.T) {
	sb, live, stray := relSweepFixture(t)
	liveBefore, strayBefore := relSnapshot(t, sb, live), relSnapshot(t, sb, stray)

	r := sb.sandwire("--url", svc.URL(), "sweep")
	mustSucceed(t, r)
	if r.stdout != "" {
		t.Errorf("sweep under the default grace removed %q", r.stdout)
	}
	if !strings.Contains(r.stderr, stray) || !strings.Contains(r.stderr, "younger") {
		t.Errorf("sweep does not say it left the young stray %s:\n%s", stray, r.stderr)
	}
	if s := relSnapshot(t, sb, stray); !s.equal(strayBefore) {
		t.Errorf("sweep under the default grace changed the young stray:\nbefore %s\nafter  %s", strayBefore, s)
	}

	// Both past the grace: only the one whose container is gone goes.
	relBackdate(t, sb, stray, 2*time.Second)
	relBackdate(t, sb, live, 2*time.Second)
	liveBefore = relSnapshot(t, sb, live)
	r = sb.sandwire("--url", svc.URL(), "sweep", "--grace", "1s")
	mustSucceed(t, r)
	if r.stdout != stray+"\n" {
		t.Errorf("sweep --grace 1s printed %q, want %q", r.stdout, stray+"\n")
	}
	sb.assertNoState(stray)
	if s := relSnapshot(t, sb, live); !s.equal(liveBefore) {
		t.Errorf("sweep changed the live container's state:\nbefore %s\nafter  %s", liveBefore, s)
	}
	rows := relLs(t, sb, svc.URL())
	if _, ok := rows[stray]; ok || len(rows) != 1 {
		t.Errorf("after the sweep ls lists %v, want only %s", rows, live)
	}

	r = sb.sandwire("--url", svc.URL(), "sweep", "--grace", "1s")
	mustSucceed(t, r)
	if r.stdout != "" {
		t.Errorf("a second sweep removed %q", r.stdout)
	}
	if s := relSnapshot(t, sb, live); !s.equal(liveBefore) {
		t.Errorf("the second sweep changed the live container's state")
	}
	mustSucceed(t, sb.sandwire("cleanup", live))
}

// TestSweepWithoutServerRemovesNothing: with a socket that does not exist,
// sweep exits 1, says nothing was swept and why, and removes nothing,
// however old the strays are.
func TestSweepWithoutServerRemovesNothing(t *testing.T) {
	sb, live, stray := relSweepFixture(t)
	relBackdate(t, sb, stray, 2*time.Hour)
	relBackdate(t, sb, live, 2*time.Hour)
	liveBefore, strayBefore := relSnapshot(t, sb, live), relSnapshot(t, sb, stray)

	r := sb.sandwire("--url", "unix:///nonexistent/podman.sock", "sweep", "--grace", "1s")
	relAssertFailed(t, r, 1, "nothing was swept", "/nonexistent/podman.sock")
	if s := relSnapshot(t, sb, stray); !s.equal(strayBefore) {
		t.Errorf("sweep without a server changed the stray:\nbefore %s\nafter  %s", strayBefore, s)
	}
	if s := relSnapshot(t, sb, live); !s.equal(liveBefore) {
		t.Errorf("sweep without a server changed the live state:\nbefore %s\nafter  %s", liveBefore, s)
	}

	r = sb.sandwire("--url", svc.URL(), "sweep", "--grace", "1s")
	mustSucceed(t, r)
	if r.stdout != stray+"\n" {
		t.Errorf("sweep with the server back printed %q, want %q", r.stdout, stray+"\n")
	}
	sb.assertNoState(stray)
	mustSucceed(t, sb.sandwire("cleanup", live))
}

// TestSweepLeavesStraysThatAreHeld: a stray whose name a launch or cleanup
// holds (its lock is taken) is left alone and reported; once released,
// sweep removes it. Partial strays (a runtime dir alone) go too; entries
// whose names sandwire never writes are left alone.
func TestSweepLeavesStraysThatAreHeld(t *testing.T) {
	sb, live, stray := relSweepFixture(t)
	relBackdate(t, sb, stray, 2*time.Hour)
	lockPath := filepath.Join(sb.stateDir(), "sandbox", "locks", stray+".lock")
	f, err := os.OpenFile(lockPath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	partial := sb.containerRuntimeDir("sw-sweep-partial")
	if err := os.MkdirAll(partial, 0o700); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(sb.stateDir(), "sidecar", "not a name.json")
	if err := os.WriteFile(foreign, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	for _, p := range []string{partial, foreign} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	strayBefore := relSnapshot(t, sb, stray)

	r := sb.sandwire("--url", svc.URL(), "sweep", "--grace", "1s")
	mustSucceed(t, r)
	if r.stdout != "sw-sweep-partial\n" {
		t.Errorf("sweep printed %q, want only the partial stray", r.stdout)
	}
	if !strings.Contains(r.stderr, stray) || !strings.Contains(r.stderr, "holds") {
		t.Errorf("sweep does not report the held stray %s:\n%s", stray, r.stderr)
	}
	if s := relSnapshot(t, sb, stray); !s.equal(strayBefore) {
		t.Errorf("sweep touched a held stray:\nbefore %s\nafter  %s", strayBefore, s)
	}
	if _, err := os.Lstat(partial); !os.IsNotExist(err) {
		t.Errorf("the partial stray %s is left (%v)", partial, err)
	}
	if _, err := os.Lstat(foreign); err != nil {
		t.Errorf("sweep removed %s, which sandwire never wrote: %v", foreign, err)
	}

	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	r = sb.sandwire("--url", svc.URL(), "sweep", "--grace", "1s")
	mustSucceed(t, r)
	if r.stdout != stray+"\n" {
		t.Errorf("sweep after the release printed %q, want %q", r.stdout, stray+"\n")
	}
	sb.assertNoState(stray)
	if n := sb.tokenCount(live); n != 1 {
		t.Errorf("%d token rows of the live container, want 1", n)
	}
	mustSucceed(t, sb.sandwire("cleanup", live))
}
