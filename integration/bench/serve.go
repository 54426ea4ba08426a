package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sandwire/sandwire/wiring"
)

// The serve round puts `sandwire serve` (started with the CLI round's
// wiring flags, benchWiring, on state dirs and a vault of its own, with the
// same passphrase configuration) in front of each private podman service
// and measures, side by side with the direct paths and interleaved:
//
//	(a) `podman --remote run -d` through serve against `sandwire run -d`;
//	(b) an inspect and a _ping sent from this process, through serve
//	    against straight to the service, on kept-alive connections;
//	(c) `podman --remote logs` of a 100 MB stream and `podman --remote cp`
//	    of a 100 MB file out of a container, through serve against direct;
//	(d) parallel clients that each create containers through serve: every
//	    one must be wired on the server, and once they are removed through
//	    serve nothing of them may be left (state, token rows, containers).
//
// A failure of (d), or anything of serve's left at the end, fails the run.

// The serve round's paths.
const (
	viaServeRun   = "podman --remote run -d through serve"
	inspectDirect = "inspect direct"
	inspectServe  = "inspect through serve"
	pingDirect    = "_ping direct"
	pingServe     = "_ping through serve"
	logsDirect    = "logs direct"
	logsServe     = "logs through serve"
	cpDirect      = "cp direct"
	cpServe       = "cp through serve"
)

// servePaths are (a)'s whole-process paths: wired through serve, wired
// by sandwire's CLI, and podman's own unwired for reference.
var servePaths = []cliPath{
	{name: swRun, launch: (*server).sandwireRun, remove: retried((*server).remove)},
	{name: viaServeRun, launch: (*server).podmanRunServed, remove: retried((*server).removeServed)},
	{name: pmRun, launch: (*server).podmanRun, remove: retried((*server).remove)},
}

// maxRetries bounds the launches of one path that are tried again.
const maxRetries = 10

// netavarkRace reports whether a launch failed on the host's iptables,
// which every podman service on the machine shares: netavark's chains are
// named after the network, and each service has the default network, so
// one service's set-up or teardown can fail on another's ("Chain already
// exists", "CHAIN_DEL failed (Device or resource busy)"). Such a launch is
// tried again and its time is not counted; the report says how often.
func netavarkRace(err error) bool {
	return strings.Contains(err.Error(), "netavark") && strings.Contains(err.Error(), "iptables")
}

// retried is an untimed removal tried again, up to three times, when it
// failed on a netavark race.
func retried(remove func(*server, context.Context, string) error) func(*server, context.Context, string) error {
	return func(s *server, ctx context.Context, name string) error {
		err := remove(s, ctx, name)
		for attempt := 1; err != nil && netavarkRace(err) && attempt < 3; attempt++ {
			time.Sleep(time.Second)
			err = remove(s, ctx, name)
		}
		return err
	}
}

// streamBytes is the size of (c)'s log stream and file: 100 MB.
const streamBytes = 100_000_000

// streamScript is the stream container's command: 100 MB of 100-byte
// lines on stdout, then a 100 MB file at /big. The test image links few
// applets; busybox has the rest.
var streamScript = fmt.Sprintf("/bin/busybox yes %s | /bin/busybox head -c %d; /bin/busybox head -c %d /dev/zero > /big",
	strings.Repeat("x", 99), streamBytes, streamBytes)

// ServeReport is the serve round's share of one server's report.
type ServeReport struct {
	// Wiring is serve's wiring flags, as the direct sandwire's.
	Wiring []string `json:"wiring"`
	// CLI holds (a)'s whole-process latencies by path; Retried counts the
	// launches of each path tried again after a netavark race (netavarkRace).
	CLI     map[string]Stats `json:"cli"`
	Retried map[string]int   `json:"retried"`
	// Requests holds (b)'s per-request latencies by path.
	Requests map[string]Stats `json:"requests"`
	// Streams holds (c)'s transfers by path.
	Streams  map[string]Stream `json:"streams"`
	Parallel Parallel          `json:"parallel"`
	// Targets are the round's measures against their targets; Ratios
	// are (a)'s other ratios of medians, for reference.
	Targets []Target           `json:"targets"`
	Ratios  map[string]float64 `json:"ratios"`
}

// Stream is one path's transfers: their durations, the bytes each
// carried and the throughput at the median.
type Stream struct {
	Stats
	Bytes int64   `json:"bytes"`
	MBps  float64 `json:"median_mb_per_s"`
}

// Parallel is (d): clients creating PerClient containers each through
// serve, all at once, then removing them through serve.
type Parallel struct {
	Clients   int `json:"clients"`
	PerClient int `json:"per_client"`
	// Created counts the containers made; WallSeconds is how long all the
	// creates took, Create one create process's latency.
	Created     int     `json:"created"`
	WallSeconds float64 `json:"wall_s"`
	Create      Stats   `json:"create"`
	// Unwired and Leaked name each container found unwired after its
	// create, or with something left after its removal, and why.
	Unwired []string `json:"unwired"`
	Leaked  []string `json:"leaked"`
}

// Target is one measure of the round and its target: Value ≤ Limit when
// AtMost, else Value ≥ Limit.
type Target struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	AtMost bool    `json:"at_most"`
	Limit  float64 `json:"limit"`
	Met    bool    `json:"met"`
}

func target(name string, value float64, atMost bool, limit float64) Target {
	met := value >= limit
	if atMost {
		met = value <= limit
	}
	return Target{Name: name, Value: value, AtMost: atMost, Limit: limit, Met: met}
}

// served is one `sandwire serve` process in front of a server's service.
type served struct {
	socket string
	// cfg is serve's configuration: its own state dirs and vault.
	cfg    wiring.Config
	cmd    *exec.Cmd
	done   chan error
	log    string
	client *http.Client
	// libpod prefixes serve's libpod paths, as podman's own clients do:
	// podman routes libpod's endpoints with a version only.
	libpod string
	// names are the containers created through serve, for the final check.
	mu    sync.Mutex
	names []string
}

// serveRound runs the serve round on every server into reps. failed is
// what (d) or the final check found: the caller reports it after the
// report is written.
func serveRound(ctx context.Context, servers []*server, reps []ServerReport, o options) (failed, err error) {
	defer func() {
		for _, s := range servers {
			if s.served != nil {
				err = errors.Join(err, s.served.stop())
				s.served = nil
			}
		}
	}()
	for i, s := range servers {
		if s.served, err = s.startServe(filepath.Join(filepath.Dir(s.cfg.StateDir), "serve")); err != nil {
			return nil, fmt.Errorf("%s: %w", s.binary, err)
		}
		reps[i].Serve = &ServeReport{Wiring: benchWiring}
	}
	retries := make([]map[string]int, len(servers))
	for i := range servers {
		retries[i] = map[string]int{}
	}
	lat, _, err := timePaths(ctx, servers, o.n, servePaths, func(si int, p cliPath, err error) bool {
		if !netavarkRace(err) || retries[si][p.name] >= maxRetries {
			return false
		}
		retries[si][p.name]++
		return true
	})
	if err != nil {
		return nil, err
	}
	// The stream container, made through serve once (a) is done: wired,
	// as the containers whose logs are read and files copied through it
	// are. Made before (a), the writeback of its 200 MB went on under
	// (a)'s first launches.
	streams := make([]string, len(servers))
	for i, s := range servers {
		if streams[i], err = s.streamContainer(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", s.binary, err)
		}
	}
	reqs, err := requestRound(ctx, servers, streams, o.requests)
	if err != nil {
		return nil, err
	}
	xfers, err := streamRound(ctx, servers, streams, o.streams)
	if err != nil {
		return nil, err
	}
	var fails []error
	for i, s := range servers {
		r := reps[i].Serve
		r.CLI, r.Retried, r.Requests, r.Streams = map[string]Stats{}, retries[i], reqs[i], xfers[i]
		for name, l := range lat[i] {
			r.CLI[name] = summarize(l)
		}
		if r.Parallel, err = s.parallelCreates(ctx, o.clients, o.perClient); err != nil {
			return nil, fmt.Errorf("%s: %w", s.binary, err)
		}
		if err := retried((*server).removeServed)(s, ctx, streams[i]); err != nil {
			return nil, fmt.Errorf("%s: %w", s.binary, err)
		}
		// Everything serve made, the round's (a) containers included, is
		// gone now: nothing of it may be left, nor anything else on the server.
		r.Parallel.Leaked = append(r.Parallel.Leaked, s.leftovers(ctx, s.served.created(), true)...)
		r.Targets = serveTargets(r)
		r.Ratios = map[string]float64{
			"run -d: through serve / podman (unwired)":   ratio(r.CLI, viaServeRun, pmRun),
			"run -d: sandwire run -d / podman (unwired)": ratio(r.CLI, swRun, pmRun),
		}
		if len(r.Parallel.Unwired)+len(r.Parallel.Leaked) > 0 {
			fails = append(fails, fmt.Errorf("%s: %d containers created through serve were not wired, %d things left after removal through serve",
				s.binary, len(r.Parallel.Unwired), len(r.Parallel.Leaked)))
		}
	}
	return errors.Join(fails...), nil
}

// serveTargets are the round's measures against the targets.
func serveTargets(r *ServeReport) []Target {
	throughput := func(direct, serve string) float64 { return r.Streams[direct].Median / r.Streams[serve].Median }
	return []Target{
		target("(a) run -d: serve / sandwire run -d", ratio(r.CLI, viaServeRun, swRun), true, 1.05),
		target("(b) inspect: serve - direct, ms", r.Requests[inspectServe].Median-r.Requests[inspectDirect].Median, true, 0.5),
		target("(b) _ping: serve - direct, ms", r.Requests[pingServe].Median-r.Requests[pingDirect].Median, true, 0.5),
		target("(c) logs: serve / direct throughput", throughput(logsDirect, logsServe), false, 0.95),
		target("(c) cp: serve / direct throughput", throughput(cpDirect, cpServe), false, 0.95),
		target(fmt.Sprintf("(d) %dx%d creates: unwired", r.Parallel.Clients, r.Parallel.PerClient), float64(len(r.Parallel.Unwired)), true, 0),
		target(fmt.Sprintf("(d) %dx%d creates: left after removal", r.Parallel.Clients, r.Parallel.PerClient), float64(len(r.Parallel.Leaked)), true, 0),
	}
}

// startServe starts `sandwire serve` with benchWiring in front of the
// server's service, on state dirs and a vault under dir, and waits until
// it answers.
func (s *server) startServe(dir string) (*served, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cfg := s.cfg
	cfg.StateDir, cfg.RuntimeDir, cfg.VaultDir = filepath.Join(dir, "state"), filepath.Join(dir, "run"), filepath.Join(dir, "vault")
	dirs := map[string]string{wiring.EnvStateDir: cfg.StateDir, wiring.EnvRuntimeDir: cfg.RuntimeDir, wiring.EnvVaultDir: cfg.VaultDir}
	env := slices.DeleteFunc(slices.Clone(s.env), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		_, ok := dirs[k]
		return ok
	})
	for k, v := range dirs {
		env = append(env, k+"="+v)
	}
	sv := &served{socket: filepath.Join(dir, "serve.sock"), cfg: cfg, log: filepath.Join(dir, "serve.log"), done: make(chan error, 1),
		libpod: "/v" + s.facts.Version + "/libpod"}
	sv.client = unixClient(sv.socket)
	logFile, err := os.Create(sv.log)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	args := append([]string{"--url", s.svc.URL(), "serve", "--listen", "unix://" + sv.socket}, benchWiring...)
	sv.cmd = exec.Command(s.sandwire, args...)
	sv.cmd.Env, sv.cmd.Stdout, sv.cmd.Stderr = env, logFile, logFile
	if err := sv.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { sv.done <- sv.cmd.Wait() }()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := sv.get(context.Background(), "/_ping"); err == nil {
			return sv, nil
		} else if time.Now().After(deadline) {
			return nil, errors.Join(fmt.Errorf("sandwire serve never answered: %w: %s", err, sv.logTail()), sv.stop())
		}
		select {
		case err := <-sv.done:
			sv.done <- err
			return nil, fmt.Errorf("sandwire serve exited: %v: %s", err, sv.logTail())
		default:
		}
	}
}

// stop stops serve with SIGTERM, as its unit would; it must exit 0 and
// take its socket away.
func (sv *served) stop() error {
	_ = sv.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-sv.done:
	case <-time.After(30 * time.Second):
		_ = sv.cmd.Process.Kill()
		err = errors.Join(errors.New("did not stop within 30s of SIGTERM"), <-sv.done)
	}
	if _, statErr := os.Lstat(sv.socket); !errors.Is(statErr, os.ErrNotExist) {
		err = errors.Join(err, fmt.Errorf("left its socket %s behind", sv.socket))
	}
	if err != nil {
		return fmt.Errorf("sandwire serve: %w: %s", err, sv.logTail())
	}
	return nil
}

func (sv *served) logTail() string {
	data, _ := os.ReadFile(sv.log)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}

// url is serve's URL for a podman client.
func (sv *served) url() string { return "unix://" + sv.socket }

// unixClient is an HTTP client of the unix socket at path, keeping its
// connections alive as podman's clients do.
func unixClient(path string) *http.Client {
	return &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
		DisableCompression: true,
	}}
}

// get sends GET path to serve and requires a 2xx answer.
func (sv *served) get(ctx context.Context, path string) ([]byte, error) {
	return do(ctx, sv.client, http.MethodGet, path)
}

// do sends one request without a body and reads the whole answer.
func do(ctx context.Context, c *http.Client, method, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://d"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode/100 != 2 {
		err = &statusError{fmt.Sprintf("%s %s", method, path), resp.StatusCode, string(bytes.TrimSpace(data))}
	}
	return data, err
}

// statusError is an answer other than 2xx.
type statusError struct {
	request string
	code    int
	body    string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s: %d %s: %s", e.request, e.code, http.StatusText(e.code), e.body)
}

// remove removes a container through serve, as a client would, which
// cleans its sandbox state up before it answers. A container that is not
// there (an earlier try removed it) is not an error.
func (sv *served) remove(ctx context.Context, name string) error {
	_, err := do(ctx, sv.client, http.MethodDelete, sv.libpod+"/containers/"+name+"?force=true")
	if e, ok := errors.AsType[*statusError](err); ok && e.code == http.StatusNotFound {
		return nil
	}
	return err
}

// created records names created through serve; created lists them.
func (sv *served) record(names ...string) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	sv.names = append(sv.names, names...)
}

func (sv *served) created() []string {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return slices.Clone(sv.names)
}

// podmanRunServed is (a)'s path through serve: `podman --remote run -d`
// of the service's client, pointed at serve.
func (s *server) podmanRunServed(ctx context.Context, name string) (int64, error) {
	s.served.record(name)
	_, rss, err := s.podmanAt(ctx, s.served.url(), "run", "-d", "--name", name, s.image, "true")
	return rss, err
}

func (s *server) removeServed(ctx context.Context, name string) error {
	return s.served.remove(ctx, name)
}

// podmanAt runs `podman --remote --url url ARGS...`.
func (s *server) podmanAt(ctx context.Context, url string, args ...string) ([]byte, int64, error) {
	return s.process(ctx, s.remote, append([]string{"--remote", "--url", url}, args...)...)
}

// streamContainer runs the stream container through serve and waits until
// it has written its stream and file.
func (s *server) streamContainer(ctx context.Context) (string, error) {
	name := containerName()
	s.served.record(name)
	for attempt := 1; ; attempt++ {
		_, _, err := s.podmanAt(ctx, s.served.url(), "run", "-d", "--name", name, "--log-driver", "k8s-file", s.image, "sh", "-c", streamScript)
		if err == nil {
			break
		}
		if !netavarkRace(err) || attempt == 3 {
			return "", err
		}
		if err := retried((*server).removeServed)(s, ctx, name); err != nil {
			return "", err
		}
	}
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		c, err := s.client.Inspect(ctx, name)
		if err != nil {
			return "", err
		}
		if c.State != nil && c.State.Status == "exited" {
			if c.State.ExitCode != 0 {
				return "", fmt.Errorf("the stream container exited %d", c.State.ExitCode)
			}
			return name, nil
		}
		if time.Now().After(deadline) {
			return "", errors.New("the stream container did not finish within 5 minutes")
		}
	}
}

// requestPath is one of (b)'s paths: the request's path for a server and
// container, sent straight to the service or through serve.
type requestPath struct {
	name  string
	serve bool
	path  func(s *server, container string) string
}

// requestRound is (b): n inspects of each server's stream container and n
// pings, each straight to the service and through serve, from this
// process on kept-alive connections; the order rotates every step.
func requestRound(ctx context.Context, servers []*server, containers []string, n int) ([]map[string]Stats, error) {
	inspect := func(s *server, c string) string { return "/v" + s.facts.Version + "/libpod/containers/" + c + "/json" }
	ping := func(*server, string) string { return "/_ping" }
	paths := []requestPath{{inspectDirect, false, inspect}, {inspectServe, true, inspect}, {pingDirect, false, ping}, {pingServe, true, ping}}
	direct := make([]*http.Client, len(servers))
	lat := make([]map[string][]time.Duration, len(servers))
	for i, s := range servers {
		direct[i], lat[i] = unixClient(s.svc.Socket()), map[string][]time.Duration{}
	}
	err := interleave(len(servers), n, 10, paths, func(si int, p requestPath, measured bool) error {
		s, client := servers[si], direct[si]
		if p.serve {
			client = s.served.client
		}
		start := time.Now()
		if _, err := do(ctx, client, http.MethodGet, p.path(s, containers[si])); err != nil {
			return fmt.Errorf("%s: %s: %w", s.binary, p.name, err)
		}
		if measured {
			lat[si][p.name] = append(lat[si][p.name], time.Since(start))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]map[string]Stats, len(servers))
	for i := range servers {
		out[i] = map[string]Stats{}
		for name, l := range lat[i] {
			out[i][name] = summarize(l)
		}
	}
	return out, nil
}

// streamPath is one of (c)'s paths: a podman command's arguments for a
// container, pointed at the service or at serve.
type streamPath struct {
	name  string
	serve bool
	args  func(container string) []string
}

// streamRound is (c): n transfers per path of each server's stream
// container — `podman --remote logs` of its 100 MB stream and
// `podman --remote cp` of its 100 MB file to stdout (a tar stream) —
// straight from the service and through serve, the order rotating. Each
// path must carry the same bytes as its direct counterpart.
func streamRound(ctx context.Context, servers []*server, containers []string, n int) ([]map[string]Stream, error) {
	logs := func(c string) []string { return []string{"logs", c} }
	cp := func(c string) []string { return []string{"cp", c + ":/big", "-"} }
	paths := []streamPath{{logsDirect, false, logs}, {logsServe, true, logs}, {cpDirect, false, cp}, {cpServe, true, cp}}
	lat := make([]map[string][]time.Duration, len(servers))
	size := make([]map[string]int64, len(servers))
	for i := range servers {
		lat[i], size[i] = map[string][]time.Duration{}, map[string]int64{}
	}
	err := interleave(len(servers), n, 1, paths, func(si int, p streamPath, measured bool) error {
		s, url := servers[si], servers[si].svc.URL()
		if p.serve {
			url = s.served.url()
		}
		d, nbytes, err := s.streamOut(ctx, url, p.args(containers[si])...)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", s.binary, p.name, err)
		}
		if prev, ok := size[si][p.name]; ok && prev != nbytes || nbytes < streamBytes {
			return fmt.Errorf("%s: %s carried %d bytes (before: %d)", s.binary, p.name, nbytes, prev)
		}
		size[si][p.name] = nbytes
		if measured {
			lat[si][p.name] = append(lat[si][p.name], d)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]map[string]Stream, len(servers))
	for i, s := range servers {
		out[i] = map[string]Stream{}
		for _, pair := range [][2]string{{logsDirect, logsServe}, {cpDirect, cpServe}} {
			if size[i][pair[0]] != size[i][pair[1]] {
				return nil, fmt.Errorf("%s: %s carried %d bytes, %s %d", s.binary, pair[0], size[i][pair[0]], pair[1], size[i][pair[1]])
			}
		}
		for name, l := range lat[i] {
			st := summarize(l)
			out[i][name] = Stream{Stats: st, Bytes: size[i][name], MBps: float64(size[i][name]) / 1e3 / st.Median}
		}
	}
	return out, nil
}

// streamOut runs `podman --remote --url url ARGS...`, counting what it
// writes to stdout, and returns how long it took and the count.
func (s *server) streamOut(ctx context.Context, url string, args ...string) (time.Duration, int64, error) {
	cmd := exec.CommandContext(ctx, s.remote, append([]string{"--remote", "--url", url}, args...)...)
	cmd.Env = s.env
	var stderr bytes.Buffer
	var out counter
	cmd.Stdout, cmd.Stderr = &out, &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("podman %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return d, int64(out), nil
}

// counter counts the bytes written to it.
type counter int64

func (c *counter) Write(p []byte) (int, error) {
	*c += counter(len(p))
	return len(p), nil
}

// parallelCreates is (d): clients `podman --remote create` processes at
// once, perClient each in turn, through serve; then every container is
// checked on the server, removed through serve (each client's in one
// `podman --remote rm`, all clients at once) and checked gone.
func (s *server) parallelCreates(ctx context.Context, clients, perClient int) (Parallel, error) {
	r := Parallel{Clients: clients, PerClient: perClient}
	names := make([][]string, clients)
	lat := make([][]time.Duration, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range clients {
		wg.Go(func() {
			for range perClient {
				name := containerName()
				s.served.record(name)
				t := time.Now()
				if _, _, err := s.podmanAt(ctx, s.served.url(), "create", "--name", name, s.image, "true"); err != nil {
					errs[c] = err
					return
				}
				lat[c] = append(lat[c], time.Since(t))
				names[c] = append(names[c], name)
			}
		})
	}
	wg.Wait()
	r.WallSeconds = time.Since(start).Seconds()
	if err := errors.Join(errs...); err != nil {
		return r, err
	}
	all := slices.Concat(names...)
	r.Created, r.Create = len(all), summarize(slices.Concat(lat...))
	var err error
	if r.Unwired, err = s.unwired(ctx, all); err != nil {
		return r, err
	}
	for c := range clients {
		wg.Go(func() {
			_, _, errs[c] = s.podmanAt(ctx, s.served.url(), append([]string{"rm"}, names[c]...)...)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return r, err
	}
	r.Leaked = s.leftovers(ctx, all, false)
	return r, nil
}

var (
	gateTokenRE = regexp.MustCompile(`^` + wiring.GateTokenPrefix + `[0-9a-f]{32}$`)
	sshTokenRE  = regexp.MustCompile(`^` + wiring.PhantomTokenPrefix + `[0-9a-f]{32}$`)
)

// unwired checks on the real server that each container is wired as
// benchWiring wires it: the sidecar annotation and label naming serve's
// sidecar file, which exists; the TEROK_* variables of socket mode with
// both tokens well-formed; one token row. It names each one that is not.
func (s *server) unwired(ctx context.Context, names []string) ([]string, error) {
	vault := s.served.vault()
	defer vault.Close()
	bad := []string{}
	for _, name := range names {
		c, err := s.client.Inspect(ctx, name)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		sidecar := s.served.cfg.SidecarPath(name)
		env := map[string]string{}
		for _, kv := range c.Config.Env {
			if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, wiring.EnvPrefix) {
				env[k] = v
			}
		}
		var why []string
		if c.Config.Annotations[wiring.SidecarAnnotation] != sidecar || c.Config.Labels[wiring.SidecarLabel] != sidecar {
			why = append(why, fmt.Sprintf("annotation %q, label %q", c.Config.Annotations[wiring.SidecarAnnotation], c.Config.Labels[wiring.SidecarLabel]))
		}
		if _, err := os.Stat(sidecar); err != nil {
			why = append(why, err.Error())
		}
		if !gateTokenRE.MatchString(env[wiring.EnvGateToken]) || !sshTokenRE.MatchString(env[wiring.EnvSSHSignerToken]) ||
			env[wiring.EnvVaultSocket] == "" || env[wiring.EnvGateSocket] == "" || env[wiring.EnvSSHSignerSocket] == "" {
			why = append(why, fmt.Sprintf("%d TEROK_* variables, tokens well-formed: gate %v, ssh %v", len(env),
				gateTokenRE.MatchString(env[wiring.EnvGateToken]), sshTokenRE.MatchString(env[wiring.EnvSSHSignerToken])))
		}
		if n, err := vault.CountSubject(ctx, name); err != nil || n != 1 {
			why = append(why, fmt.Sprintf("%d token rows (%v)", n, err))
		}
		if len(why) > 0 {
			bad = append(bad, name+": "+strings.Join(why, "; "))
		}
	}
	return bad, nil
}

// leftovers names what is left of removed containers: each name's
// container on the server, sidecar, run state, runtime dir and token rows;
// with all, also any other container on the server and anything else in
// serve's sidecar, run state and runtime dirs.
func (s *server) leftovers(ctx context.Context, names []string, all bool) []string {
	vault := s.served.vault()
	defer vault.Close()
	live, err := s.client.Names(ctx)
	if err != nil {
		return []string{fmt.Sprintf("listing the server's containers: %v", err)}
	}
	cfg := s.served.cfg
	left := []string{}
	for _, name := range names {
		if slices.Contains(live, name) {
			left = append(left, name+": the container")
		}
		for _, p := range []string{cfg.SidecarPath(name), cfg.RunStateDir(name), cfg.ContainerRuntimeDir(name)} {
			if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
				left = append(left, fmt.Sprintf("%s: %s (%v)", name, p, err))
			}
		}
		if n, err := vault.CountSubject(ctx, name); err != nil || n != 0 {
			left = append(left, fmt.Sprintf("%s: %d token rows (%v)", name, n, err))
		}
	}
	if !all {
		return left
	}
	for _, name := range live {
		if !slices.Contains(names, name) {
			left = append(left, name+": a container on the server")
		}
	}
	for _, dir := range []string{cfg.SidecarDir(), cfg.RunsDir(), cfg.RuntimeRunsDir()} {
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			left = append(left, fmt.Sprintf("reading %s: %v", dir, err))
		}
		for _, e := range entries {
			if name := strings.TrimSuffix(e.Name(), ".json"); !slices.Contains(names, name) {
				left = append(left, filepath.Join(dir, e.Name()))
			}
		}
	}
	return left
}

// vault opens serve's vault as serve does, through the same passphrase
// configuration.
func (sv *served) vault() *wiring.VaultStore {
	return wiring.NewVaultStore(sv.cfg.DBPath(), sv.cfg.PassphraseChain(func(string) (string, bool) { return "", false }, nil))
}

func (r *ServeReport) print() {
	fmt.Printf("\nserve round: sandwire serve %s in front of the service\n", strings.Join(r.Wiring, " "))
	fmt.Printf("%-40s %10s %10s\n", "(a) whole process", "median ms", "p95 ms")
	for _, p := range servePaths {
		fmt.Printf("%-40s %10.1f %10.1f\n", p.name, r.CLI[p.name].Median, r.CLI[p.name].P95)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Retried)) {
		fmt.Printf("    %s: %d launches tried again after a netavark race\n", k, r.Retried[k])
	}
	fmt.Printf("%-40s %10s %10s\n", "(b) one request, kept-alive", "median ms", "p95 ms")
	for _, p := range []string{inspectDirect, inspectServe, pingDirect, pingServe} {
		fmt.Printf("%-40s %10.3f %10.3f\n", p, r.Requests[p].Median, r.Requests[p].P95)
	}
	fmt.Printf("%-40s %10s %10s\n", "(c) 100 MB out of a container", "median ms", "MB/s")
	for _, p := range []string{logsDirect, logsServe, cpDirect, cpServe} {
		fmt.Printf("%-40s %10.1f %10.1f\n", p, r.Streams[p].Median, r.Streams[p].MBps)
	}
	pr := r.Parallel
	fmt.Printf("(d) %d clients x %d creates through serve: %d in %.1f s, create median %.1f ms, p95 %.1f ms\n",
		pr.Clients, pr.PerClient, pr.Created, pr.WallSeconds, pr.Create.Median, pr.Create.P95)
	for _, why := range slices.Concat(pr.Unwired, pr.Leaked) {
		fmt.Printf("    %s\n", why)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Ratios)) {
		fmt.Printf("%-44s %8.3f\n", k, r.Ratios[k])
	}
	for _, t := range r.Targets {
		op, verdict := "≥", "met"
		if t.AtMost {
			op = "≤"
		}
		if !t.Met {
			verdict = "MISSED"
		}
		fmt.Printf("%-44s %8.3f  target %s %.2f  %s\n", t.Name, t.Value, op, t.Limit, verdict)
	}
}
