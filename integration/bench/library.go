package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/sandwire/sandwire/launch"
)

// libraryPaths are the library rounds' paths, launched in this process.
var libraryPaths = []string{"bare", "wired", "exec"}

// libraryRounds times the library paths sequentially and with clients
// launches at once, interleaved batch by batch, into r.
func (s *server) libraryRounds(ctx context.Context, r *ServerReport, n, clients int) error {
	fns := map[string]func(context.Context, string) error{"bare": s.bare, "wired": s.wired, "exec": s.exec}
	for _, p := range libraryPaths {
		if err := s.measure(ctx, fns[p], nil); err != nil {
			return fmt.Errorf("warm-up %s: %w", p, err)
		}
	}
	r.Sequential, r.Parallel = map[string]Stats{}, map[string]Stats{}
	for _, round := range []struct {
		clients int
		into    map[string]Stats
	}{{1, r.Sequential}, {clients, r.Parallel}} {
		lat := map[string][]time.Duration{}
		for step := 0; step*round.clients < n; step++ {
			for k := range libraryPaths {
				p := libraryPaths[(step+k)%len(libraryPaths)]
				batch, err := s.batch(ctx, fns[p], round.clients)
				if err != nil {
					return fmt.Errorf("%s: %w", p, err)
				}
				lat[p] = append(lat[p], batch...)
			}
		}
		for name, l := range lat {
			round.into[name] = summarize(l)
		}
	}
	r.Ratios["library sequential wired / bare"] = ratio(r.Sequential, "wired", "bare")
	r.Ratios["library sequential exec / wired"] = ratio(r.Sequential, "exec", "wired")
	r.Ratios["library parallel wired / bare"] = ratio(r.Parallel, "wired", "bare")
	r.Ratios["library parallel exec / wired"] = ratio(r.Parallel, "exec", "wired")
	return nil
}

// bare is the floor: an unwired spec, created and started.
func (s *server) bare(ctx context.Context, name string) error {
	spec := s.spec()
	spec.Name = name
	c, err := s.client.Create(ctx, spec)
	if err != nil {
		return err
	}
	return s.client.Start(ctx, c.ID)
}

// wired is sandwire's path.
func (s *server) wired(ctx context.Context, name string) error {
	res, err := s.sb.Create(ctx, name, s.spec(), launch.Request{Scope: "bench", NoShield: true}, nil)
	if err != nil {
		return err
	}
	return s.client.Start(ctx, res.ID)
}

// exec is the old tool's path: the wiring as flags, `podman run -d` exec'd.
func (s *server) exec(ctx context.Context, name string) error {
	p, err := s.sb.Prepare(ctx, name, nil, launch.Request{Scope: "bench", NoShield: true})
	if err != nil {
		return err
	}
	args := append([]string{"--remote", "--url", s.svc.URL(), "run", "-d"}, p.Flags()...)
	args = append(args, s.image, "true")
	cmd := exec.CommandContext(ctx, s.remote, args...)
	cmd.Env = s.env
	if out, err := cmd.CombinedOutput(); err != nil {
		_, cleanupErr := s.sb.Cleanup(context.WithoutCancel(ctx), name)
		return errors.Join(fmt.Errorf("podman run: %w: %s", err, out), cleanupErr)
	}
	return nil
}
