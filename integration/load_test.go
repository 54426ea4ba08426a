package integration

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/sandwire/sandwire/podmanapi"
	"github.com/sandwire/sandwire/wiring"
)

// relState is everything on disk and in the store that one launch of a
// name owns, fingerprinted so that a comparison can say whether anything
// changed, down to a byte, a mode or a modification time.
type relState struct {
	Sidecar, Meta   string // sha256 of the content, or the stat error
	SidecarStat     string
	MetaStat        string
	RunStateStat    string
	RuntimeDirStat  string
	RunStateFiles   []string
	RuntimeDirFiles []string
	Tokens          string // sha256 of the name's token rows, and their count
	Container       string // the container's ID, or "" when there is none
}

func (s relState) equal(o relState) bool {
	a, _ := json.Marshal(s)
	b, _ := json.Marshal(o)
	return string(a) == string(b)
}

func (s relState) String() string {
	b, _ := json.Marshal(s)
	return string(b)
}

func relFingerprint(p string) (sum, stat string) {
	st, err := os.Lstat(p)
	if err != nil {
		return "", err.Error()
	}
	stat = fmt.Sprintf("%v %d %d", st.Mode(), st.Size(), st.ModTime().UnixNano())
	if st.Mode().IsRegular() {
		data, err := os.ReadFile(p)
		if err != nil {
			return err.Error(), stat
		}
		sum = fmt.Sprintf("%x", sha256.Sum256(data))
	}
	return sum, stat
}

func relDirFiles(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, e := range entries {
		_, stat := relFingerprint(filepath.Join(dir, e.Name()))
		out = append(out, e.Name()+" "+stat)
	}
	return out
}

// relSnapshot fingerprints the state of name.
func relSnapshot(t *testing.T, sb *sandbox, name string) relState {
	t.Helper()
	var s relState
	s.Sidecar, s.SidecarStat = relFingerprint(sb.sidecarPath(name))
	s.Meta, s.MetaStat = relFingerprint(filepath.Join(sb.runStateDir(name), "meta.json"))
	_, s.RunStateStat = relFingerprint(sb.runStateDir(name))
	_, s.RuntimeDirStat = relFingerprint(sb.containerRuntimeDir(name))
	s.RunStateFiles = relDirFiles(sb.runStateDir(name))
	s.RuntimeDirFiles = relDirFiles(sb.containerRuntimeDir(name))
	var mine []string
	for _, row := range relTokenRows(t, sb) {
		if f := strings.Fields(row); len(f) == 5 && f[2] == name {
			mine = append(mine, row)
		}
	}
	s.Tokens = fmt.Sprintf("%d rows %x", len(mine), sha256.Sum256([]byte(strings.Join(mine, "\n"))))
	if containerExists(t, name) {
		s.Container = inspect(t, name).ID
	}
	return s
}

// relInspectAll inspects many containers with one podman call.
func relInspectAll(t *testing.T, names []string) map[string]inspected {
	t.Helper()
	out, err := svc.Podman(append([]string{"container", "inspect"}, names...)...)
	if err != nil {
		t.Fatal(err)
	}
	var list []inspected
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("decoding podman inspect: %v", err)
	}
	m := map[string]inspected{}
	for _, c := range list {
		m[strings.TrimPrefix(c.Name, "/")] = c
	}
	return m
}

// relCountRows counts the token store's rows (optionally where clause).
func relCountRows(t *testing.T, sb *sandbox, where string, args ...any) int {
	t.Helper()
	if _, err := os.Stat(sb.dbPath()); errors.Is(err, os.ErrNotExist) {
		return 0
	}
	db := sb.vaultDB()
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM proxy_tokens `+where, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLoadParallelLaunches: 50 library launches at once, through one
// connection and through 8, are each wired to their own state (no sidecar,
// token or runtime dir of one container reaches another); then 50
// removals and cleanups at once leave no sidecar, runtime dir, run state,
// token row or container. Durations are logged.
func TestLoadParallelLaunches(t *testing.T) {
	const n = 50
	for _, conns := range []int{1, 8} {
		t.Run(fmt.Sprintf("%d connections", conns), func(t *testing.T) {
			sb := newSandbox(t)
			cfg := libraryConfig(sb)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			clients := make([]*podmanapi.Client, conns)
			for i := range clients {
				_, clients[i] = connect(t)
			}
			store := sb.vault()
			defer store.Close()
			names := make([]string, n)
			for i := range names {
				names[i] = fmt.Sprintf("sw-ld%d-%02d", conns, i)
				removeContainerAtEnd(t, names[i])
			}

			errs := make([]error, n)
			ids := make([]string, n)
			var wg sync.WaitGroup
			start := time.Now()
			for i, name := range names {
				wg.Add(1)
				go func() {
					defer wg.Done()
					spec := specgen.NewSpecGenerator(svc.Image(), false)
					spec.Command = []string{"true"}
					res, err := libCreate(ctx, clients[i%conns], name, spec, libOptions{
						Config: cfg, Tokens: store, Request: wiring.Request{Scope: "load", NoShield: true},
					})
					errs[i] = err
					if err == nil {
						ids[i] = res.ID
					}
				}()
			}
			wg.Wait()
			t.Logf("%d parallel launches over %d connection(s): %s", n, conns, time.Since(start).Round(time.Millisecond))
			if err := errors.Join(errs...); err != nil {
				t.Fatalf("parallel launches failed: %v", err)
			}

			all := relInspectAll(t, names)
			gateSeen, sshSeen := map[string]string{}, map[string]string{}
			for i, name := range names {
				c, ok := all[name]
				if !ok {
					t.Errorf("%s: no such container", name)
					continue
				}
				if c.ID != ids[i] {
					t.Errorf("%s: container %s, launch.Create returned %s", name, c.ID, ids[i])
				}
				if got := c.Config.Annotations[sidecarAnnotation]; got != sb.sidecarPath(name) {
					t.Errorf("%s: sidecar annotation %q, want %q", name, got, sb.sidecarPath(name))
				}
				env := c.env()
				gate, ssh := env["TEROK_GATE_TOKEN"], env["TEROK_SSH_SIGNER_TOKEN"]
				if !gateTokenRE.MatchString(gate) || !phantomTokenRE.MatchString(ssh) {
					t.Errorf("%s: tokens missing or malformed", name)
				}
				if other, dup := gateSeen[gate]; dup {
					t.Errorf("%s and %s have the same gate token", other, name)
				}
				if other, dup := sshSeen[ssh]; dup {
					t.Errorf("%s and %s have the same SSH token", other, name)
				}
				gateSeen[gate], sshSeen[ssh] = name, name
				sc := sb.readSidecar(name)
				if sc["container_name"] != name || sc["gate_token"] != gate {
					t.Errorf("%s: the sidecar names %v and holds another gate token than the container's", name, sc["container_name"])
				}
				rec, ok, err := store.Lookup(ctx, ssh)
				if err != nil || !ok || rec != (wiring.TokenRecord{Scope: "load", Subject: name, CredentialSet: "load", Provider: "ssh"}) {
					t.Errorf("%s: its SSH token is bound to %+v (found %v, %v)", name, rec, ok, err)
				}
				if m, ok := c.mounts()[containerRuntimeDir]; !ok || m.Source != sb.containerRuntimeDir(name) || m.RW {
					t.Errorf("%s: %s mount %+v, want a read-only bind of %s", name, containerRuntimeDir, m, sb.containerRuntimeDir(name))
				}
			}
			// A few in full: every sandbox variable, both mounts, the
			// runtime dir's mode and the plan.
			for _, name := range []string{names[0], names[n/2], names[n-1]} {
				c := all[name]
				wantEnv := []string{"TEROK_GATE_SOCKET", "TEROK_GATE_TOKEN", "TEROK_SSH_SIGNER_SOCKET", "TEROK_SSH_SIGNER_TOKEN", "TEROK_VAULT_LOOPBACK_PORT", "TEROK_VAULT_SOCKET"}
				if got := slices.Sorted(maps.Keys(c.terokEnv())); !slices.Equal(got, wantEnv) {
					t.Errorf("%s: TEROK_* variables %v, want %v", name, got, wantEnv)
				}
				if m, ok := c.mounts()[containerBridgesDir]; !ok || m.RW || m.Type != "bind" {
					t.Errorf("%s: bridges mount %+v (present %v)", name, m, ok)
				}
				if st, err := os.Stat(sb.containerRuntimeDir(name)); err != nil || st.Mode().Perm() != 0o700 {
					t.Errorf("%s: runtime dir %v (%v), want mode 0700", name, st, err)
				}
				plan, ok, err := wiring.ReadPlan(cfg, name)
				if err != nil || !ok || plan.ScopeName() != "load" || plan.Shield || !plan.Gate || !plan.Broker || !plan.SSH {
					t.Errorf("%s: plan %+v (found %v, %v)", name, plan, ok, err)
				}
			}
			if got := relCountRows(t, sb, ""); got != n {
				t.Errorf("the token store holds %d rows, want %d", got, n)
			}
			if got := relCountRows(t, sb, "WHERE scope = ? AND provider = 'ssh'", "load"); got != n {
				t.Errorf("%d ssh rows in scope load, want %d", got, n)
			}

			start = time.Now()
			for i, name := range names {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rmErr := clients[i%conns].Remove(ctx, name, true)
					found, err := wiring.Cleanup(ctx, cfg, name, wiring.CleanupOptions{Tokens: store})
					if err == nil && !found {
						err = fmt.Errorf("cleanup of %s found nothing", name)
					}
					errs[i] = errors.Join(rmErr, err)
				}()
			}
			wg.Wait()
			t.Logf("%d parallel removals and cleanups: %s", n, time.Since(start).Round(time.Millisecond))
			if err := errors.Join(errs...); err != nil {
				t.Fatalf("parallel cleanups failed: %v", err)
			}
			for _, dir := range []string{filepath.Join(sb.stateDir(), "sidecar"), filepath.Join(sb.stateDir(), "sandbox", "runs"), filepath.Join(sb.runtimeDir(), "run")} {
				if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
					t.Errorf("%s holds %d entries after the cleanups (%v)", dir, len(entries), err)
				}
			}
			if got := relCountRows(t, sb, ""); got != 0 {
				t.Errorf("%d token rows are left after the cleanups", got)
			}
			prefix := fmt.Sprintf("sw-ld%d-", conns)
			for _, c := range relContainerNames(t) {
				if strings.HasPrefix(c, prefix) {
					t.Errorf("container %s is left after the removals", c)
				}
			}
		})
	}
}

// TestLoadSameNameRaceCLI: two `sandwire create` of one name at once, many
// rounds. Exactly one wins; the loser exits 1 saying the name is in use
// and leaves nothing of its own; the winner's sidecar, run state, runtime
// dir, tokens and container are consistent, and byte-identical from the
// moment the winner returned until after the loser finished. Then two more
// creates of the taken name at once both lose, changing nothing.
func TestLoadSameNameRaceCLI(t *testing.T) {
	const rounds = 6
	sb := newSandbox(t)
	start := time.Now()
	for round := range rounds {
		name := fmt.Sprintf("sw-race-%d", round)
		removeContainerAtEnd(t, name)
		type outcome struct {
			r    result
			snap *relState
		}
		race := func() []outcome {
			outs := make([]outcome, 2)
			var wg sync.WaitGroup
			for i := range outs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := sb.sandwire(relCreateArgs(svc.URL(), name, svc.Image(), relNoShield...)...)
					outs[i].r = r
					if r.code == 0 {
						s := relSnapshot(t, sb, name)
						outs[i].snap = &s
					}
				}()
			}
			wg.Wait()
			return outs
		}

		outs := race()
		var winner *outcome
		for i := range outs {
			o := &outs[i]
			switch o.r.code {
			case 0:
				if winner != nil {
					t.Fatalf("round %d: both creates of %s succeeded:\n%s\n%s", round, name, outs[0].r, outs[1].r)
				}
				winner = o
			default:
				relAssertFailed(t, o.r, 1, "in use", name)
			}
		}
		if winner == nil {
			t.Fatalf("round %d: neither create of %s succeeded:\n%s\n%s", round, name, outs[0].r, outs[1].r)
		}
		after := relSnapshot(t, sb, name)
		if !after.equal(*winner.snap) {
			t.Errorf("round %d: the loser changed the winner's state after the winner returned:\nthen %s\nnow  %s", round, winner.snap, after)
		}
		if after.Container != strings.TrimSpace(winner.r.stdout) {
			t.Errorf("round %d: the container is %q, the winner created %q", round, after.Container, strings.TrimSpace(winner.r.stdout))
		}
		relAssertWired(t, sb, name)
		env := inspect(t, name).env()
		store := sb.vault()
		if rec, ok, err := store.Lookup(context.Background(), env["TEROK_SSH_SIGNER_TOKEN"]); err != nil || !ok || rec.Subject != name {
			t.Errorf("round %d: the winner's SSH token is not in the store (found %v, %v)", round, ok, err)
		}
		store.Close()

		// The name is taken now: both of two more creates lose.
		for i, o := range race() {
			if o.r.code == 0 {
				t.Errorf("round %d: create %d of the taken name %s succeeded", round, i, name)
				continue
			}
			relAssertFailed(t, o.r, 1, "in use", name)
		}
		if again := relSnapshot(t, sb, name); !again.equal(after) {
			t.Errorf("round %d: losing creates of a taken name changed its state:\nbefore %s\nafter  %s", round, after, again)
		}
	}
	t.Logf("%d rounds of same-name races: %s", rounds, time.Since(start).Round(time.Millisecond))
}

// TestLoadSameNameRaceLibrary: the same race in one process, through the
// library, more rounds and more racers: flock locks of one process exclude
// each other too.
func TestLoadSameNameRaceLibrary(t *testing.T) {
	const rounds, racers = 12, 4
	sb := newSandbox(t)
	cfg := libraryConfig(sb)
	ctx, client := connect(t)
	start := time.Now()
	for round := range rounds {
		name := fmt.Sprintf("sw-lrace-%d", round)
		removeContainerAtEnd(t, name)
		errs := make([]error, racers)
		ids := make([]string, racers)
		var wg sync.WaitGroup
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				spec := specgen.NewSpecGenerator(svc.Image(), false)
				spec.Command = []string{"true"}
				res, err := libCreate(ctx, client, name, spec, libOptions{Config: cfg, Request: wiring.Request{Scope: "proj", NoShield: true}})
				errs[i] = err
				if err == nil {
					ids[i] = res.ID
				}
			}()
		}
		wg.Wait()
		var winners []string
		for i, err := range errs {
			if err == nil {
				winners = append(winners, ids[i])
				continue
			}
			var busy *wiring.NameBusyError
			var exists *wiring.StateExistsError
			var inUse *podmanapi.NameInUseError
			if !errors.As(err, &busy) && !errors.As(err, &exists) && !errors.As(err, &inUse) {
				t.Errorf("round %d: a loser failed with %T %v, want the name in use", round, err, err)
			}
		}
		if len(winners) != 1 {
			t.Fatalf("round %d: %d of %d launches of %s succeeded, want exactly 1", round, len(winners), racers, name)
		}
		if c := inspect(t, name); c.ID != winners[0] {
			t.Errorf("round %d: the container is %s, the winner created %s", round, c.ID, winners[0])
		}
		relAssertWired(t, sb, name)
	}
	t.Logf("%d rounds of %d racers: %s", rounds, racers, time.Since(start).Round(time.Millisecond))
}
