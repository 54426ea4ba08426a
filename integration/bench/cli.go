package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sandwire/sandwire/wiring"
)

// cliPath launches one container with whole processes and returns their
// peak RSS; remove, when set, removes it instead of server.remove.
type cliPath struct {
	name   string
	launch func(s *server, ctx context.Context, name string) (int64, error)
	remove func(s *server, ctx context.Context, name string) error
}

// The CLI round's paths, and the ratios of their medians.
const (
	swRun    = "sandwire run -d"
	pmRun    = "podman --remote run -d"
	swCreate = "sandwire create"
	pmCreate = "podman --remote create"
	execRun  = "exec: sandwire prepare + podman run -d"
)

var cliPaths = []cliPath{
	{name: swRun, launch: (*server).sandwireRun}, {name: pmRun, launch: (*server).podmanRun},
	{name: swCreate, launch: (*server).sandwireCreate}, {name: pmCreate, launch: (*server).podmanCreate},
	{name: execRun, launch: (*server).execCLI},
}

var cliRatios = []struct{ name, num, den string }{
	{"run -d: sandwire / podman", swRun, pmRun},
	{"create: sandwire / podman", swCreate, pmCreate},
	{"exec / sandwire run -d", execRun, swRun},
}

// cliRound times the CLI paths on every server (timePaths) and reports
// their medians and ratios.
func cliRound(ctx context.Context, servers []*server, n int) ([]ServerReport, error) {
	lat, rss, err := timePaths(ctx, servers, n, cliPaths, nil)
	if err != nil {
		return nil, err
	}
	reps := make([]ServerReport, len(servers))
	for i, s := range servers {
		r := s.report()
		r.CLI = map[string]Stats{}
		for name, l := range lat[i] {
			r.CLI[name] = summarize(l)
		}
		for _, q := range cliRatios {
			r.Ratios[q.name] = ratio(r.CLI, q.num, q.den)
		}
		peaks := rss[i][swCreate]
		slices.Sort(peaks)
		r.CLIPeakRSSKiB = peaks[len(peaks)/2]
		reps[i] = r
	}
	return reps, nil
}

// timePaths launches n containers per path and server, one at a time:
// each step runs every path on every server, rotating which goes first,
// so that drift in the machine hits all of them alike. It returns each
// server's latencies and peak RSS by path. A launch that failed is tried
// again, its time not counted, while retry (when not nil) says so.
func timePaths(ctx context.Context, servers []*server, n int, paths []cliPath, retry func(si int, p cliPath, err error) bool) ([]map[string][]time.Duration, []map[string][]int64, error) {
	launch := func(si int, p cliPath) (time.Duration, int64, error) {
		d, peak, err := servers[si].timeCLI(ctx, p)
		for err != nil && retry != nil && retry(si, p, err) {
			d, peak, err = servers[si].timeCLI(ctx, p)
		}
		return d, peak, err
	}
	lat := make([]map[string][]time.Duration, len(servers))
	rss := make([]map[string][]int64, len(servers))
	for i := range servers {
		lat[i], rss[i] = map[string][]time.Duration{}, map[string][]int64{}
		// Warm up: first-use costs (the page cache, the token store's
		// schema, the bridges dir) are not what is measured.
		for _, p := range paths {
			if _, _, err := launch(i, p); err != nil {
				return nil, nil, fmt.Errorf("warm-up %s: %w", p.name, err)
			}
		}
	}
	err := interleave(len(servers), n, 0, paths, func(si int, p cliPath, _ bool) error {
		d, peak, err := launch(si, p)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", servers[si].binary, p.name, err)
		}
		lat[si][p.name] = append(lat[si][p.name], d)
		rss[si][p.name] = append(rss[si][p.name], peak)
		return nil
	})
	return lat, rss, err
}

// interleave runs measure n+warmUp steps: each step runs every path on
// every server, rotating which server and which path go first, so that
// drift in the machine hits all of them alike. measured says whether the
// step is past the warm-up.
func interleave[P any](servers, n, warmUp int, paths []P, measure func(si int, p P, measured bool) error) error {
	for step := range n + warmUp {
		for i := range servers {
			for k := range paths {
				if err := measure((step+i)%servers, paths[(step+k)%len(paths)], step >= warmUp); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// timeCLI times one launch of path p and then, untimed, removes the
// container and its sandbox state and lets the service settle.
func (s *server) timeCLI(ctx context.Context, p cliPath) (time.Duration, int64, error) {
	name := containerName()
	start := time.Now()
	peak, err := p.launch(s, ctx, name)
	d := time.Since(start)
	remove := s.remove
	if p.remove != nil {
		remove = func(ctx context.Context, name string) error { return p.remove(s, ctx, name) }
	}
	if rmErr := remove(ctx, name); err == nil {
		err = rmErr
	}
	// The next launch, of whichever path, must not queue behind this
	// container's exit cleanup.
	s.svc.Settle(settleTimeout)
	return d, peak, err
}

// settleTimeout bounds the wait for a removed container's exit cleanup.
const settleTimeout = 10 * time.Second

func (s *server) sandwireRun(ctx context.Context, name string) (int64, error) {
	return s.sandwireCLI(ctx, "run", name, "-d")
}

func (s *server) sandwireCreate(ctx context.Context, name string) (int64, error) {
	return s.sandwireCLI(ctx, "create", name)
}

func (s *server) podmanRun(ctx context.Context, name string) (int64, error) {
	_, rss, err := s.podmanCLI(ctx, "run", "-d", "--name", name)
	return rss, err
}

func (s *server) podmanCreate(ctx context.Context, name string) (int64, error) {
	_, rss, err := s.podmanCLI(ctx, "create", "--name", name)
	return rss, err
}

// benchWiring is how every sandwire of the bench wires a container: scope
// set, shield off (there is no terok-shield here).
var benchWiring = []string{"--no-shield", "--scope", "bench"}

// sandwireCLI runs `sandwire run|create` for a wired container.
func (s *server) sandwireCLI(ctx context.Context, verb, name string, podmanFlags ...string) (int64, error) {
	args := slices.Concat([]string{"--url", s.svc.URL(), verb}, benchWiring, []string{name, "--"}, podmanFlags, []string{s.image, "true"})
	_, rss, err := s.process(ctx, s.sandwire, args...)
	return rss, err
}

// podmanCLI runs `podman --remote VERB FLAGS... IMAGE true`.
func (s *server) podmanCLI(ctx context.Context, verb string, flags ...string) ([]byte, int64, error) {
	args := append([]string{"--remote", "--url", s.svc.URL(), verb}, flags...)
	return s.process(ctx, s.remote, append(args, s.image, "true")...)
}

// execCLI is the old tool's path: `sandwire prepare` prints the flags,
// `podman --remote run -d` runs the container with them.
func (s *server) execCLI(ctx context.Context, name string) (int64, error) {
	out, rss, err := s.process(ctx, s.sandwire, slices.Concat([]string{"--url", s.svc.URL(), "prepare", "--json"}, benchWiring, []string{name})...)
	if err != nil {
		return 0, err
	}
	var flags []string
	if err := json.Unmarshal(out, &flags); err != nil {
		return 0, fmt.Errorf("sandwire prepare printed %q: %w", wiring.Redact(string(out)), err)
	}
	_, podmanRSS, err := s.podmanCLI(ctx, "run", append([]string{"-d"}, flags...)...)
	return max(rss, podmanRSS), err
}

// process runs one process in the CLI environment and returns its stdout
// and peak RSS.
func (s *server) process(ctx context.Context, bin string, args ...string) ([]byte, int64, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = s.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		// The exec path's arguments hold the tokens: never print them.
		line := wiring.Redact(strings.Join(args, " "))
		return nil, 0, fmt.Errorf("%s %s: %w: %s", filepath.Base(bin), line, err, wiring.Redact(strings.TrimSpace(stderr.String())))
	}
	return stdout.Bytes(), cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss, nil
}
