// Command bench times container launches on one podman service, three ways,
// interleaved in one run so that they share the machine's noise:
//
//	bare   create+start through the API with an unwired spec (the floor)
//	wired  sandwire's create+start through the API (launch.Create)
//	exec   the old tool's path: the same wiring rendered as podman flags
//	       and `podman --remote run -d` exec'd per container
//
// each sequentially and with several clients in parallel. It prints the
// median and p95 latency per container and the ratios wired/bare and
// exec/wired, and writes them as JSON.
//
//	go run -tags "$BUILDTAGS" ./integration/bench -n 50 -clients 8 -out bench.json
//
// Without --url it starts a private podman service of its own (as the
// integration tests do) and stops it at the end.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/sandwire/sandwire/integration/podmantest"
	"github.com/sandwire/sandwire/launch"
	"github.com/sandwire/sandwire/podmanapi"
	"github.com/sandwire/sandwire/wiring"
)

type options struct {
	url, image, out string
	n, clients      int
	memLaunches     int
}

// Stats summarises one path's per-container latencies.
type Stats struct {
	N      int     `json:"n"`
	Median float64 `json:"median_ms"`
	P95    float64 `json:"p95_ms"`
}

// Report is the JSON the command writes.
type Report struct {
	Server     string           `json:"server_version"`
	APIVersion string           `json:"api_version"`
	Rootless   bool             `json:"rootless"`
	CPUs       int              `json:"cpus"`
	N          int              `json:"n"`
	Clients    int              `json:"clients"`
	Sequential map[string]Stats `json:"sequential"`
	Parallel   map[string]Stats `json:"parallel"`
	// Ratios of medians: wired/bare ("b/a") and exec/wired ("c/b").
	Ratios map[string]float64 `json:"ratios"`
	// Memory: the CLI's peak RSS for one create, and the library's heap
	// after N launches in one process.
	CLIPeakRSSKiB int64    `json:"cli_peak_rss_kib,omitempty"`
	HeapAfter     []uint64 `json:"heap_after_launches_bytes,omitempty"`
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "", "podman service URL (default: start a private one)")
	flag.StringVar(&o.image, "image", podmantest.Image, "image to launch (must exist on the server)")
	flag.IntVar(&o.n, "n", 50, "containers per path")
	flag.IntVar(&o.clients, "clients", 8, "parallel clients for the parallel round")
	flag.IntVar(&o.memLaunches, "mem-launches", 0, "also launch this many wired containers in one process and report heap growth")
	flag.StringVar(&o.out, "out", "bench.json", "where to write the JSON report")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type bench struct {
	client   *podmanapi.Client
	cfg      wiring.Config
	sb       *launch.Sandbox
	url      string
	image    string
	sandwire string
	seq      int64
	mu       sync.Mutex
}

func run(o options) error {
	ctx := context.Background()
	work, err := os.MkdirTemp("", "sandwire-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if o.url == "" {
		svc, err := podmantest.New()
		if err != nil {
			return err
		}
		defer svc.Stop()
		o.url = svc.URL()
		for _, kv := range svc.Env() {
			k, v, _ := strings.Cut(kv, "=")
			os.Setenv(k, v)
		}
	}
	sandwire, err := podmantest.BuildSandwire(work)
	if err != nil {
		return err
	}
	client, err := podmanapi.Connect(ctx, podmanapi.Options{URL: o.url})
	if err != nil {
		return err
	}
	cfg := wiring.DefaultConfig(0, func(string) (string, bool) { return "", false })
	cfg.StateDir, cfg.RuntimeDir, cfg.VaultDir = filepath.Join(work, "state"), filepath.Join(work, "run"), filepath.Join(work, "vault")
	cfg.BridgeBinary = filepath.Join(filepath.Dir(sandwire), wiring.BridgeBinaryName)
	sb, err := launch.New(cfg, launch.WithServer(client), launch.WithNotes(nil))
	if err != nil {
		return err
	}
	defer sb.Close()
	b := &bench{client: client, cfg: cfg, sb: sb, url: o.url, image: o.image, sandwire: sandwire}

	paths := []struct {
		name string
		fn   func(context.Context, string) error
	}{{"bare", b.bare}, {"wired", b.wired}, {"exec", b.exec}}
	facts, err := client.Facts(ctx)
	if err != nil {
		return err
	}
	rep := Report{Server: facts.Version, APIVersion: facts.APIVersion, Rootless: facts.Rootless,
		CPUs: runtime.NumCPU(), N: o.n, Clients: o.clients, Sequential: map[string]Stats{}, Parallel: map[string]Stats{}, Ratios: map[string]float64{}}

	// Warm up every path once: first-use costs (image layers, the token
	// store's schema, the bridges dir) are not what is measured.
	for _, p := range paths {
		if err := b.measure(ctx, p.fn, nil); err != nil {
			return fmt.Errorf("warm-up %s: %w", p.name, err)
		}
	}
	for _, round := range []struct {
		clients int
		into    map[string]Stats
	}{{1, rep.Sequential}, {o.clients, rep.Parallel}} {
		lat := map[string][]time.Duration{}
		// Interleave: each step runs one batch per path, rotating which
		// goes first, so drift in the machine hits all paths alike.
		for step := 0; step*round.clients < o.n; step++ {
			for k := range paths {
				p := paths[(step+k)%len(paths)]
				batch, err := b.batch(ctx, p.fn, round.clients)
				if err != nil {
					return fmt.Errorf("%s: %w", p.name, err)
				}
				lat[p.name] = append(lat[p.name], batch...)
			}
		}
		for name, l := range lat {
			round.into[name] = summarize(l)
		}
	}
	rep.Ratios["seq b/a"] = rep.Sequential["wired"].Median / rep.Sequential["bare"].Median
	rep.Ratios["seq c/b"] = rep.Sequential["exec"].Median / rep.Sequential["wired"].Median
	rep.Ratios["par b/a"] = rep.Parallel["wired"].Median / rep.Parallel["bare"].Median
	rep.Ratios["par c/b"] = rep.Parallel["exec"].Median / rep.Parallel["wired"].Median
	if rep.CLIPeakRSSKiB, err = b.cliRSS(ctx); err != nil {
		return err
	}
	if o.memLaunches > 0 {
		if rep.HeapAfter, err = b.heapGrowth(ctx, o.memLaunches, o.clients); err != nil {
			return err
		}
	}
	print(rep)
	data, _ := json.MarshalIndent(rep, "", "  ")
	return os.WriteFile(o.out, append(data, '\n'), 0o644)
}

// batch runs clients launches of one path at once and returns each one's latency.
func (b *bench) batch(ctx context.Context, fn func(context.Context, string) error, clients int) ([]time.Duration, error) {
	out := make([]time.Duration, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = b.measure(ctx, fn, &out[i])
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// measure times one create+start and then, untimed, removes the container
// and its sandbox state.
func (b *bench) measure(ctx context.Context, fn func(context.Context, string) error, into *time.Duration) error {
	b.mu.Lock()
	b.seq++
	name := fmt.Sprintf("bench-%d-%d", os.Getpid(), b.seq)
	b.mu.Unlock()
	start := time.Now()
	err := fn(ctx, name)
	if into != nil {
		*into = time.Since(start)
	}
	rmErr := b.client.Remove(ctx, name, true)
	if _, cErr := b.sb.Cleanup(ctx, name); cErr != nil && err == nil {
		err = cErr
	}
	if err == nil {
		err = rmErr
	}
	return err
}

func (b *bench) spec() *specgen.SpecGenerator {
	s := specgen.NewSpecGenerator(b.image, false)
	s.Command = []string{"true"}
	return s
}

// bare is the floor: an unwired spec, created and started.
func (b *bench) bare(ctx context.Context, name string) error {
	s := b.spec()
	s.Name = name
	c, err := b.client.Create(ctx, s)
	if err != nil {
		return err
	}
	return b.client.Start(ctx, c.ID)
}

// wired is sandwire's path.
func (b *bench) wired(ctx context.Context, name string) error {
	res, err := b.sb.Create(ctx, name, b.spec(), launch.Request{Scope: "bench", NoShield: true})
	if err != nil {
		return err
	}
	return b.client.Start(ctx, res.ID)
}

// exec is the old tool's path: the wiring as flags, `podman run -d` exec'd.
func (b *bench) exec(ctx context.Context, name string) error {
	p, err := b.sb.Prepare(ctx, name, launch.Request{Scope: "bench", NoShield: true}, nil)
	if err != nil {
		return err
	}
	args := append([]string{"--remote", "--url", b.url, "run", "-d"}, p.Flags()...)
	args = append(args, b.image, "true")
	if out, err := exec.CommandContext(ctx, podmantest.Binary(), args...).CombinedOutput(); err != nil {
		_, cleanupErr := b.sb.Cleanup(context.WithoutCancel(ctx), name)
		return errors.Join(fmt.Errorf("podman run: %w: %s", err, out), cleanupErr)
	}
	return nil
}

// cliRSS runs `sandwire create` once and returns its peak resident set.
func (b *bench) cliRSS(ctx context.Context) (int64, error) {
	name := fmt.Sprintf("bench-rss-%d", os.Getpid())
	cmd := exec.CommandContext(ctx, b.sandwire, "--url", b.url, "create", "--no-shield", "--scope", "bench", name, "--", b.image, "true")
	cmd.Env = append(os.Environ(), "SANDWIRE_CONFIG=/dev/null",
		wiring.EnvStateDir+"="+b.cfg.StateDir, wiring.EnvRuntimeDir+"="+b.cfg.RuntimeDir, wiring.EnvVaultDir+"="+b.cfg.VaultDir)
	out, err := cmd.CombinedOutput()
	defer func() {
		b.client.Remove(ctx, name, true)
		b.sb.Cleanup(ctx, name)
	}()
	if err != nil {
		return 0, fmt.Errorf("sandwire create: %w: %s", err, out)
	}
	return cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss, nil
}

// heapGrowth launches n wired containers in this process, clients at a
// time, and samples the live heap after a GC at each tenth of the way.
func (b *bench) heapGrowth(ctx context.Context, n, clients int) ([]uint64, error) {
	var samples []uint64
	for done := 0; done < n; {
		step := max(1, n/10)
		for end := min(n, done+step); done < end; {
			batch := min(clients, end-done)
			if _, err := b.batch(ctx, b.wired, batch); err != nil {
				return nil, err
			}
			done += batch
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		samples = append(samples, ms.HeapAlloc)
	}
	return samples, nil
}

func summarize(l []time.Duration) Stats {
	s := slices.Clone(l)
	slices.Sort(s)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return Stats{N: len(s), Median: ms(s[len(s)/2]), P95: ms(s[min(len(s)-1, len(s)*95/100)])}
}

func print(r Report) {
	fmt.Printf("podman %s (API %s), rootless=%v, %d CPUs, n=%d per path\n\n", r.Server, r.APIVersion, r.Rootless, r.CPUs, r.N)
	fmt.Printf("%-10s %-6s %10s %10s\n", "round", "path", "median ms", "p95 ms")
	for _, round := range []struct {
		name string
		m    map[string]Stats
	}{{"sequential", r.Sequential}, {fmt.Sprintf("%d clients", r.Clients), r.Parallel}} {
		for _, p := range []string{"bare", "wired", "exec"} {
			fmt.Printf("%-10s %-6s %10.1f %10.1f\n", round.name, p, round.m[p].Median, round.m[p].P95)
		}
	}
	fmt.Printf("\nb/a (wired/bare): sequential %.3f, parallel %.3f\n", r.Ratios["seq b/a"], r.Ratios["par b/a"])
	fmt.Printf("c/b (exec/wired): sequential %.3f, parallel %.3f\n", r.Ratios["seq c/b"], r.Ratios["par c/b"])
	if r.CLIPeakRSSKiB > 0 {
		fmt.Printf("sandwire create peak RSS: %d KiB\n", r.CLIPeakRSSKiB)
	}
	if len(r.HeapAfter) > 0 {
		fmt.Printf("heap after launches (tenths): %v\n", r.HeapAfter)
	}
}
