// Command bench times container launches on private podman services, one
// per podman binary given (-servers), all paths and servers interleaved in
// one run so that they share the machine's noise.
//
// The CLI round times whole processes, each launching one container of
// `true` from the busybox test image, as a user at a shell would:
//
//	sandwire run -d   sandwire's CLI: wired (scope set, so gate, broker
//	                  and SSH signer), created and started through the API
//	podman run -d     `podman --remote run -d` of the service's client,
//	                  unwired: what sandwire's CLI is measured against
//	sandwire create   and `podman --remote create`: the same for create
//	podman create
//	exec              the old tool's path: `sandwire prepare` for the
//	                  wiring flags, then `podman --remote run -d` with them
//
// and prints the medians with the ratios sandwire/podman and
// exec/sandwire. With -library it also times launches in this process
// through the API, sequentially and with several clients:
//
//	bare   create+start with an unwired spec (the floor)
//	wired  sandwire's create+start (Sandbox.Create)
//	exec   the same wiring rendered as flags, `podman --remote run -d` exec'd
//
// With -serve it also starts `sandwire serve` in front of each service,
// wired as the CLI round's sandwire, and measures what a client pays for
// going through it (see serve.go): `podman --remote run -d` through serve
// against `sandwire run -d`, an inspect and a ping in this process, a
// 100 MB logs stream and cp out of a container, and parallel clients whose
// creates must all be wired and leave nothing behind once removed (the
// command fails when one is not). -cli=false leaves the CLI round out.
//
//	go run -tags "$BUILDTAGS" ./integration/bench -n 30 \
//	    -servers podman,$HOME/.cache/sandwire/podman-5.8.2/podman -out bench.json
//
// A service's client is the server's own binary, or the podman given as
// -servers server=client (podman-remote 5.8.2, say, from
// hack/build-podman5.sh remote). After every untimed removal the bench
// waits for the service's exit cleanups to end, so that no launch queues
// behind the last one's.
//
// Every service is started by the harness (integration/podmantest) and
// stopped at the end.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/sandwire/sandwire/integration/podmantest"
	"github.com/sandwire/sandwire/launch"
	"github.com/sandwire/sandwire/podmanapi"
	"github.com/sandwire/sandwire/wiring"
)

type options struct {
	servers, image, out string
	n, clients          int
	cli, library, serve bool
	hold                bool
	memLaunches         int
	// requests, streams and perClient size the serve round.
	requests, streams, perClient int
}

// Stats summarises one path's per-container latencies.
type Stats struct {
	N      int     `json:"n"`
	Median float64 `json:"median_ms"`
	P95    float64 `json:"p95_ms"`
}

// Report is the JSON the command writes.
type Report struct {
	CPUs    int            `json:"cpus"`
	N       int            `json:"n"`
	Clients int            `json:"clients,omitempty"`
	Servers []ServerReport `json:"servers"`
}

// ServerReport is one server's share of the run.
type ServerReport struct {
	Binary string `json:"binary"`
	// Client is the podman binary run as the service's client.
	Client     string `json:"client"`
	Server     string `json:"server_version"`
	APIVersion string `json:"api_version"`
	Rootless   bool   `json:"rootless"`
	// CLI holds the whole-process latencies by path.
	CLI map[string]Stats `json:"cli,omitempty"`
	// Sequential and Parallel hold the library rounds' latencies.
	Sequential map[string]Stats `json:"sequential,omitempty"`
	Parallel   map[string]Stats `json:"parallel,omitempty"`
	// Ratios of medians, named after what is divided by what.
	Ratios map[string]float64 `json:"ratios"`
	// CLIPeakRSSKiB is the median peak RSS of the `sandwire create`
	// processes; HeapAfter the library's live heap after each tenth of
	// -mem-launches launches in one process.
	CLIPeakRSSKiB int64    `json:"cli_peak_rss_kib,omitempty"`
	HeapAfter     []uint64 `json:"heap_after_launches_bytes,omitempty"`
	// Serve is the serve round's share.
	Serve *ServeReport `json:"serve,omitempty"`
}

func main() {
	var o options
	flag.StringVar(&o.servers, "servers", podmantest.Binary(), "comma-separated podman binaries, one private service each; server=client runs client (a podman-remote build, say) as that service's podman --remote instead of the server's own binary")
	flag.StringVar(&o.image, "image", podmantest.Image, "image to launch (must exist on the server)")
	flag.IntVar(&o.n, "n", 30, "containers per path and server")
	flag.BoolVar(&o.cli, "cli", true, "time the CLI round (whole processes)")
	flag.BoolVar(&o.serve, "serve", false, "also time the serve round (sandwire serve in front of each service)")
	flag.IntVar(&o.requests, "requests", 2000, "serve round: inspects and pings per path and server")
	flag.IntVar(&o.streams, "streams", 10, "serve round: logs and cp transfers per path and server")
	flag.IntVar(&o.perClient, "per-client", 50, "serve round: containers each parallel client creates")
	flag.BoolVar(&o.library, "library", false, "also time the library rounds (in this process, through the API)")
	flag.IntVar(&o.clients, "clients", 8, "parallel clients for the library's parallel round and the serve round's")
	flag.IntVar(&o.memLaunches, "mem-launches", 0, "also launch this many wired containers in one process and report heap growth")
	flag.StringVar(&o.out, "out", "bench.json", "where to write the JSON report")
	flag.BoolVar(&o.hold, "hold", false, "start the services (and serve, with -serve), print how to reach them and wait for an interrupt instead of measuring: for measuring by hand")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// seq numbers the containers of the run.
var seq atomic.Int64

func containerName() string { return fmt.Sprintf("bench-%d-%d", os.Getpid(), seq.Add(1)) }

func run(o options) error {
	ctx := context.Background()
	work, err := os.MkdirTemp("", "sandwire-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	sandwire, err := podmantest.BuildSandwire(work)
	if err != nil {
		return err
	}
	var servers []*server
	defer func() {
		for _, s := range servers {
			s.close()
		}
	}()
	for i, spec := range strings.Split(o.servers, ",") {
		binary, remote, _ := strings.Cut(spec, "=")
		s, err := startServer(ctx, binary, remote, filepath.Join(work, fmt.Sprint(i)), sandwire, o.image)
		if err != nil {
			return fmt.Errorf("%s: %w", binary, err)
		}
		servers = append(servers, s)
	}
	if o.hold {
		return hold(servers, o.serve)
	}
	rep := Report{CPUs: runtime.NumCPU(), N: o.n}
	reps := make([]ServerReport, len(servers))
	for i, s := range servers {
		reps[i] = s.report()
	}
	if o.cli {
		if reps, err = cliRound(ctx, servers, o.n); err != nil {
			return err
		}
	}
	var failed error
	if o.serve {
		rep.Clients = o.clients
		if failed, err = serveRound(ctx, servers, reps, o); err != nil {
			return err
		}
	}
	for i, s := range servers {
		sr := reps[i]
		if o.library {
			rep.Clients = o.clients
			if err := s.libraryRounds(ctx, &sr, o.n, o.clients); err != nil {
				return fmt.Errorf("%s: %w", s.binary, err)
			}
		}
		if o.memLaunches > 0 {
			if sr.HeapAfter, err = s.heapGrowth(ctx, o.memLaunches, o.clients); err != nil {
				return fmt.Errorf("%s: %w", s.binary, err)
			}
		}
		rep.Servers = append(rep.Servers, sr)
	}
	print(rep)
	data, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(o.out, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return failed
}

// hold prints, for each server, what the harness adds to the environment
// of the CLI round's processes and the sockets to use (serve's too, started with withServe),
// then waits for SIGINT or SIGTERM.
func hold(servers []*server, withServe bool) (err error) {
	for _, s := range servers {
		if withServe {
			if s.served, err = s.startServe(filepath.Join(filepath.Dir(s.cfg.StateDir), "serve")); err != nil {
				return fmt.Errorf("%s: %w", s.binary, err)
			}
			defer func() { err = errors.Join(err, s.served.stop()) }()
		}
	}
	for _, s := range servers {
		fmt.Printf("# %s (podman %s)\n", s.binary, s.facts.Version)
		for _, kv := range s.env {
			if !slices.Contains(os.Environ(), kv) { // only what the harness set
				fmt.Printf("export %s\n", shellQuote(kv))
			}
		}
		fmt.Printf("# direct: %s --remote --url %s ...; sandwire: %s --url %s ...\n", s.remote, s.svc.URL(), s.sandwire, s.svc.URL())
		if s.served != nil {
			fmt.Printf("# through serve: %s --remote --url %s ...; serve's log: %s\n", s.remote, s.served.url(), s.served.log)
		}
	}
	fmt.Println("# holding; interrupt to stop")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	return nil
}

// shellQuote quotes an assignment k=v for a POSIX shell.
func shellQuote(kv string) string {
	k, v, _ := strings.Cut(kv, "=")
	return k + "='" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

// server is one private podman service and what launches on it: a
// connection and a sandbox of its own, and the environment of the CLI
// processes that launch on it.
type server struct {
	binary string
	// remote is the podman binary run as the service's client.
	remote string
	svc    *podmantest.Service
	client *podmanapi.Client
	facts  podmanapi.Facts
	cfg    wiring.Config
	sb     *launch.Sandbox
	// env is the CLI processes' environment: the service's podman
	// configuration and the sandbox's state dirs.
	env      []string
	sandwire string
	image    string
	// served is the serve round's sandwire serve in front of svc.
	served *served
}

// startServer starts a private service of binary, run as a client by
// remote, or by binary itself when remote is empty.
func startServer(ctx context.Context, binary, remote, state, sandwire, image string) (_ *server, err error) {
	if remote == "" {
		remote = binary
	}
	if remote, err = exec.LookPath(remote); err != nil {
		return nil, fmt.Errorf("the podman client: %w", err)
	}
	svc, err := podmantest.NewWith(binary)
	if err != nil {
		return nil, err
	}
	s := &server{binary: binary, remote: remote, svc: svc, sandwire: sandwire, image: image}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.client, err = podmanapi.Connect(ctx, podmanapi.Options{URL: svc.URL()}); err != nil {
		return nil, err
	}
	if s.facts, err = s.client.Facts(ctx); err != nil {
		return nil, err
	}
	s.cfg = wiring.DefaultConfig(0, func(string) (string, bool) { return "", false })
	s.cfg.StateDir, s.cfg.RuntimeDir, s.cfg.VaultDir = filepath.Join(state, "state"), filepath.Join(state, "run"), filepath.Join(state, "vault")
	s.cfg.BridgeBinary = filepath.Join(filepath.Dir(sandwire), wiring.BridgeBinaryName)
	// The vault's passphrase as a user gives it: terok's passphrase_command
	// printing a file of theirs. Every launch with a scope pays the vault's
	// key derivation, as on a real terok host.
	config, unlock, err := benchUnlock(state)
	if err != nil {
		return nil, err
	}
	s.cfg.CredentialsPassphraseCommand = &unlock
	if s.sb, err = launch.New(s.cfg, launch.WithServer(s.client), launch.WithNotes(nil)); err != nil {
		return nil, err
	}
	s.env = append(svc.Env(), wiring.EnvConfigFile+"="+config,
		wiring.EnvStateDir+"="+s.cfg.StateDir, wiring.EnvRuntimeDir+"="+s.cfg.RuntimeDir, wiring.EnvVaultDir+"="+s.cfg.VaultDir)
	return s, nil
}

// report is the server's report before any round.
func (s *server) report() ServerReport {
	return ServerReport{Binary: s.binary, Client: s.remote, Server: s.facts.Version, APIVersion: s.facts.APIVersion, Rootless: s.facts.Rootless,
		Ratios: map[string]float64{}}
}

func (s *server) close() {
	if s.sb != nil {
		s.sb.Close()
	}
	if err := s.svc.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "bench: stopping the podman service:", err)
	}
}

// remove removes a launched container and its sandbox state, untimed.
func (s *server) remove(ctx context.Context, name string) error {
	rmErr := s.client.Remove(ctx, name, true)
	_, cleanupErr := s.sb.Cleanup(ctx, name)
	if cleanupErr != nil {
		return cleanupErr
	}
	return rmErr
}

// heapGrowth launches n wired containers in this process, clients at a
// time, and samples the live heap after a GC at each tenth of the way.
func (s *server) heapGrowth(ctx context.Context, n, clients int) ([]uint64, error) {
	var samples []uint64
	for done := 0; done < n; {
		step := max(1, n/10)
		for end := min(n, done+step); done < end; {
			batch := min(clients, end-done)
			if _, err := s.batch(ctx, s.wired, batch); err != nil {
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

// batch runs clients launches of one path at once and returns each one's latency.
func (s *server) batch(ctx context.Context, fn func(context.Context, string) error, clients int) ([]time.Duration, error) {
	out := make([]time.Duration, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() { errs[i] = s.measure(ctx, fn, &out[i]) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// measure times one launch and then, untimed, removes the container and
// its sandbox state.
func (s *server) measure(ctx context.Context, fn func(context.Context, string) error, into *time.Duration) error {
	name := containerName()
	start := time.Now()
	err := fn(ctx, name)
	if into != nil {
		*into = time.Since(start)
	}
	if rmErr := s.remove(ctx, name); err == nil {
		err = rmErr
	}
	return err
}

func (s *server) spec() *specgen.SpecGenerator {
	spec := specgen.NewSpecGenerator(s.image, false)
	spec.Command = []string{"true"}
	return spec
}

func summarize(l []time.Duration) Stats {
	d := slices.Clone(l)
	slices.Sort(d)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return Stats{N: len(d), Median: ms(d[len(d)/2]), P95: ms(d[min(len(d)-1, len(d)*95/100)])}
}

func ratio(m map[string]Stats, num, den string) float64 { return m[num].Median / m[den].Median }

func print(r Report) {
	fmt.Printf("%d CPUs, n=%d per path and server\n", r.CPUs, r.N)
	for _, s := range r.Servers {
		fmt.Printf("\npodman %s (API %s, %s), rootless=%v, client %s\n", s.Server, s.APIVersion, s.Binary, s.Rootless, s.Client)
		if len(s.CLI) > 0 {
			fmt.Printf("%-40s %10s %10s\n", "whole process", "median ms", "p95 ms")
			for _, p := range cliPaths {
				fmt.Printf("%-40s %10.1f %10.1f\n", p.name, s.CLI[p.name].Median, s.CLI[p.name].P95)
			}
		}
		if len(s.Sequential) > 0 {
			fmt.Printf("%-40s %10s %10s\n", "library", "median ms", "p95 ms")
			for _, round := range []struct {
				name string
				m    map[string]Stats
			}{{"sequential", s.Sequential}, {fmt.Sprintf("%d clients", r.Clients), s.Parallel}} {
				for _, p := range libraryPaths {
					fmt.Printf("%-40s %10.1f %10.1f\n", round.name+" "+p, round.m[p].Median, round.m[p].P95)
				}
			}
		}
		for _, k := range slices.Sorted(maps.Keys(s.Ratios)) {
			fmt.Printf("%-40s %.3f\n", k, s.Ratios[k])
		}
		if s.CLIPeakRSSKiB > 0 {
			fmt.Printf("sandwire create peak RSS: %d KiB\n", s.CLIPeakRSSKiB)
		}
		if len(s.HeapAfter) > 0 {
			fmt.Printf("heap after launches (tenths): %v\n", s.HeapAfter)
		}
		if s.Serve != nil {
			s.Serve.print()
		}
	}
}

// benchUnlock writes, under dir, a passphrase file (mode 0600) and a
// configuration whose passphrase_command prints it; it returns the
// configuration's path and the command.
func benchUnlock(dir string) (config, command string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	pass := filepath.Join(dir, "vault-passphrase")
	if err := os.WriteFile(pass, []byte("sandwire bench vault passphrase\n"), 0o600); err != nil {
		return "", "", err
	}
	command = "cat " + pass
	config = filepath.Join(dir, "sandwire.toml")
	return config, command, os.WriteFile(config, []byte(fmt.Sprintf("credentials_passphrase_command = %q\n", command)), 0o600)
}
