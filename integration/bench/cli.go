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
// peak RSS.
type cliPath struct {
	name   string
	launch func(s *server, ctx context.Context, name string) (int64, error)
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
	{swRun, (*server).sandwireRun}, {pmRun, (*server).podmanRun},
	{swCreate, (*server).sandwireCreate}, {pmCreate, (*server).podmanCreate},
	{execRun, (*server).execCLI},
}

var cliRatios = []struct{ name, num, den string }{
	{"run -d: sandwire / podman", swRun, pmRun},
	{"create: sandwire / podman", swCreate, pmCreate},
	{"exec / sandwire run -d", execRun, swRun},
}

// cliRound launches n containers per path and server, one at a time:
// each step runs every path on every server, rotating which goes first,
// so that drift in the machine hits all of them alike.
func cliRound(ctx context.Context, servers []*server, n int) ([]ServerReport, error) {
	lat := make([]map[string][]time.Duration, len(servers))
	rss := make([][]int64, len(servers))
	for i, s := range servers {
		lat[i] = map[string][]time.Duration{}
		// Warm up: first-use costs (the page cache, the token store's
		// schema, the bridges dir) are not what is measured.
		for _, p := range cliPaths {
			if _, _, err := s.timeCLI(ctx, p); err != nil {
				return nil, fmt.Errorf("warm-up %s: %w", p.name, err)
			}
		}
	}
	for step := range n {
		for i := range servers {
			si := (step + i) % len(servers)
			for k := range cliPaths {
				p := cliPaths[(step+k)%len(cliPaths)]
				d, peak, err := servers[si].timeCLI(ctx, p)
				if err != nil {
					return nil, fmt.Errorf("%s: %s: %w", servers[si].binary, p.name, err)
				}
				lat[si][p.name] = append(lat[si][p.name], d)
				if p.name == swCreate {
					rss[si] = append(rss[si], peak)
				}
			}
		}
	}
	reps := make([]ServerReport, len(servers))
	for i, s := range servers {
		r := ServerReport{Binary: s.binary, Server: s.facts.Version, APIVersion: s.facts.APIVersion, Rootless: s.facts.Rootless,
			CLI: map[string]Stats{}, Ratios: map[string]float64{}}
		for name, l := range lat[i] {
			r.CLI[name] = summarize(l)
		}
		for _, q := range cliRatios {
			r.Ratios[q.name] = ratio(r.CLI, q.num, q.den)
		}
		slices.Sort(rss[i])
		r.CLIPeakRSSKiB = rss[i][len(rss[i])/2]
		reps[i] = r
	}
	return reps, nil
}

// timeCLI times one launch of path p and then, untimed, removes the
// container and its sandbox state.
func (s *server) timeCLI(ctx context.Context, p cliPath) (time.Duration, int64, error) {
	name := containerName()
	start := time.Now()
	peak, err := p.launch(s, ctx, name)
	d := time.Since(start)
	if rmErr := s.remove(ctx, name); err == nil {
		err = rmErr
	}
	return d, peak, err
}

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

// sandwireCLI runs `sandwire run|create` for a wired container (scope
// set, shield off: there is no terok-shield here).
func (s *server) sandwireCLI(ctx context.Context, verb, name string, podmanFlags ...string) (int64, error) {
	args := append([]string{"--url", s.svc.URL(), verb, "--no-shield", "--scope", "bench", name, "--"}, podmanFlags...)
	_, rss, err := s.process(ctx, s.sandwire, append(args, s.image, "true")...)
	return rss, err
}

// podmanCLI runs `podman --remote VERB FLAGS... IMAGE true`.
func (s *server) podmanCLI(ctx context.Context, verb string, flags ...string) ([]byte, int64, error) {
	args := append([]string{"--remote", "--url", s.svc.URL(), verb}, flags...)
	return s.process(ctx, s.svc.Binary(), append(args, s.image, "true")...)
}

// execCLI is the old tool's path: `sandwire prepare` prints the flags,
// `podman --remote run -d` runs the container with them.
func (s *server) execCLI(ctx context.Context, name string) (int64, error) {
	out, rss, err := s.process(ctx, s.sandwire, "--url", s.svc.URL(), "prepare", "--json", "--no-shield", "--scope", "bench", name)
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
