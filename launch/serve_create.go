package launch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/containers/podman/v5/pkg/api/handlers"
	"github.com/containers/podman/v5/pkg/domain/entities"
	"github.com/containers/podman/v5/pkg/errorhandling"
	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/docker/docker/pkg/namesgenerator"
	spec "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sandwire/sandwire/podmanapi"
	"github.com/sandwire/sandwire/wiring"
)

// nameAttempts bounds the generated names a create tries before it gives up.
const nameAttempts = 5

// specWire is libpod's create body as podman decodes it: a SpecGenerator,
// with rlimits that may be -1 (unlimited).
type specWire struct {
	*specgen.SpecGenerator
	Rlimits []wireRlimit `json:"r_limits,omitempty"`
}

// createLibpod wires a libpod create through Create, the path of
// sandwire create.
func createLibpod(p *proxy, w http.ResponseWriter, r *http.Request, _ map[string]string) {
	// podman's defaults for fields a client leaves out (NewSpecGenerator's
	// health settings), so that the spec sent on means what it meant.
	wire := specWire{SpecGenerator: specgen.NewSpecGenerator("", false)}
	if !p.decodeBody(w, r, &wire) {
		return
	}
	s := wire.SpecGenerator
	rl, err := rlimits(wire.Rlimits)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	s.Rlimits = rl
	if s.EnvHost != nil && *s.EnvHost {
		writeError(w, http.StatusForbidden, &Refusal{What: "env_host", Why: "the container would get the environment of the serve host, not its client's"})
		return
	}
	req, labels, err := p.opts.requestFor(s.Labels)
	if err != nil {
		writeError(w, http.StatusForbidden, err)
		return
	}
	s.Labels = labels
	ctr, err := p.withName(r.Context(), s.Name, func(name string) (*Container, error) {
		spec := *s
		spec.Name = ""
		// The libpod create never pulls: podman-remote pulls first, through
		// the images endpoint, which serve passes on.
		return p.sb.Create(r.Context(), name, &spec, req, &CreateOptions{Pull: &PullOptions{Policy: PullNever}})
	})
	if err != nil {
		writeLaunchError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, entities.ContainerCreateResponse{ID: ctr.ID, Warnings: []string{}})
}

// rlimits turns wire rlimits into the spec's, -1 meaning unlimited.
func rlimits(in []wireRlimit) ([]spec.POSIXRlimit, error) {
	var out []spec.POSIXRlimit
	for _, l := range in {
		hard, err := rlimitValue(l.Hard)
		if err != nil {
			return nil, err
		}
		soft, err := rlimitValue(l.Soft)
		if err != nil {
			return nil, err
		}
		out = append(out, spec.POSIXRlimit{Type: l.Type, Hard: hard, Soft: soft})
	}
	return out, nil
}

func rlimitValue(n json.Number) (uint64, error) {
	if n == "-1" {
		return math.MaxUint64, nil
	}
	if n == "" {
		return 0, nil
	}
	v, err := strconv.ParseUint(string(n), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid rlimit %q: %w", n, err)
	}
	return v, nil
}

// withName runs create with the client's name, or, when it gave none,
// with names generated as podman generates them until one is free.
func (p *proxy) withName(ctx context.Context, name string, create func(string) (*Container, error)) (*Container, error) {
	if name != "" {
		return create(name)
	}
	var err error
	for range nameAttempts {
		var ctr *Container
		if ctr, err = create(namesgenerator.GetRandomName(0)); !errors.Is(err, ErrAlreadyExists) {
			return ctr, err
		}
	}
	return nil, err
}

// createDocker wires a Docker create: gate 2 runs on the spec podman will
// make of the body (dockerSpec), the edits are put on the body in Docker's
// own form (wireDocker), and the re-encoded body goes to the server.
func createDocker(p *proxy, w http.ResponseWriter, r *http.Request, _ map[string]string) {
	body := new(handlers.CreateContainerConfig)
	if !p.decodeBody(w, r, body) {
		return
	}
	q := r.URL.Query()
	names := queryValues(q, "name")
	for _, n := range names[min(1, len(names)):] {
		if n != names[0] {
			writeError(w, http.StatusBadRequest, fmt.Errorf("the create names the container more than once (%q, %q)", names[0], n))
			return
		}
	}
	for k := range q {
		if strings.EqualFold(k, "name") {
			q.Del(k) // set again, once, to the name decided on
		}
	}
	req, labels, err := p.opts.requestFor(body.Config.Labels)
	if err != nil {
		writeError(w, http.StatusForbidden, err)
		return
	}
	body.Config.Labels = labels
	check, err := dockerSpec(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	var answer []byte
	given := ""
	if len(names) > 0 {
		given = names[0] // podman takes the name from the query, never the body
	}
	_, err = p.withName(r.Context(), given, func(name string) (*Container, error) {
		q.Set("name", name)
		path := r.URL.Path + "?" + q.Encode()
		// Docker's create never pulls: the client pulls first.
		return p.sb.launchChecked(r.Context(), name, check, req, func(context.Context, Server) (sender, error) {
			return func(ctx context.Context, l *wiring.Launch) (podmanapi.Created, error) {
				created, data, err := p.sendDocker(ctx, path, wireDocker(body, l.Edits))
				if err == nil {
					err = p.requireAnnotated(ctx, created.ID, l.SidecarPath)
				}
				answer = data
				return created, err
			}, nil
		})
	})
	if err != nil {
		writeLaunchError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(answer)
}

// ErrAnnotationsDropped: the server made a Docker create without its
// annotations (podman before 5 ignores HostConfig.Annotations), so the
// container could not carry the sandbox's sidecar annotation.
var ErrAnnotationsDropped = fmt.Errorf("%w: this podman service ignores the annotations of Docker-compatible creates, so the container cannot be wired; create it through the libpod API (podman --remote) or use podman 5", ErrFailedPrecondition)

// requireAnnotated checks that the server kept the sidecar annotation on
// the container it made of a Docker create, and removes the container when
// it did not: nothing created through serve is left unwired.
func (p *proxy) requireAnnotated(ctx context.Context, id, sidecar string) error {
	srv, err := p.sb.connect(ctx)
	if err != nil {
		return err
	}
	data, err := srv.Inspect(ctx, id)
	if err == nil && data.Config != nil && data.Config.Annotations[wiring.SidecarAnnotation] == sidecar {
		return nil
	}
	if rmErr := srv.Remove(context.WithoutCancel(ctx), id, true); rmErr != nil {
		return errors.Join(err, rmErr)
	}
	if err != nil {
		return err
	}
	return ErrAnnotationsDropped
}

// createTurner is a server whose creates may have to wait their turn;
// *podmanapi.Client is one.
type createTurner interface {
	CreateTurn(ctx context.Context) (done func(), err error)
}

// sendDocker posts a Docker create body to the server and returns the
// created container and the server's answer as it came.
func (p *proxy) sendDocker(ctx context.Context, path string, body *handlers.CreateContainerConfig) (podmanapi.Created, []byte, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return podmanapi.Created{}, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://podman"+path, bytes.NewReader(data))
	if err != nil {
		return podmanapi.Created{}, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	// The create takes its turn as Create's do: on rootless podman before
	// 5, two at once crash the service (compose sends them together).
	srv, err := p.sb.connect(ctx)
	if err != nil {
		return podmanapi.Created{}, nil, err
	}
	if t, ok := srv.(createTurner); ok {
		done, err := t.CreateTurn(ctx)
		if err != nil {
			return podmanapi.Created{}, nil, err
		}
		defer done()
	}
	resp, err := p.transport.RoundTrip(req)
	if err != nil {
		if ctx.Err() != nil {
			return podmanapi.Created{}, nil, &podmanapi.InterruptedError{Op: "creating the container", Err: err}
		}
		return podmanapi.Created{}, nil, &podmanapi.UnreachableError{Err: err}
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, p.opts.MaxBodyBytes))
	if err != nil {
		return podmanapi.Created{}, nil, &podmanapi.InterruptedError{Op: "creating the container", Err: err}
	}
	if resp.StatusCode >= 300 {
		model := &errorhandling.ErrorModel{ResponseCode: resp.StatusCode}
		if json.Unmarshal(answer, model) != nil || model.Message == "" {
			model.Message = string(answer)
		}
		model.ResponseCode = resp.StatusCode
		return podmanapi.Created{}, nil, &podmanapi.APIError{Code: resp.StatusCode, Err: model}
	}
	var created entities.ContainerCreateResponse
	if err := json.Unmarshal(answer, &created); err != nil {
		return podmanapi.Created{}, nil, fmt.Errorf("decoding the server's answer: %w", err)
	}
	return podmanapi.Created{ID: created.ID, Warnings: created.Warnings}, answer, nil
}

// removal passes a request that removes containers, then cleans up the
// sandbox state of every wired container it removed, before the client
// hears back.
func removal(p *proxy, w http.ResponseWriter, r *http.Request, vars map[string]string) {
	before, err := p.sb.List(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Errorf("listing the sandbox state: %w", err))
		return
	}
	rp := *p.forward
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.StatusCode < 300 {
			p.cleanupRemoved(r.Context(), before)
		}
		return nil
	}
	r.Header.Del("Upgrade")
	r.Header.Del("Connection")
	rp.ServeHTTP(w, r)
}

// cleanupRemoved cleans up each name of before whose container existed
// then and is gone now. It finishes even when the client hangs up.
func (p *proxy) cleanupRemoved(ctx context.Context, before []Entry) {
	ctx = context.WithoutCancel(ctx)
	srv, err := p.sb.connect(ctx)
	if err != nil {
		p.sb.note(fmt.Sprintf("WARNING: cannot tell which containers were removed, to clean their state up: %v", err))
		return
	}
	live, err := p.sb.liveNames(ctx)
	if err != nil {
		p.sb.note(fmt.Sprintf("WARNING: cannot tell which containers were removed, to clean their state up: %v", err))
		return
	}
	for _, e := range before {
		if e.Container == Exists && !live[e.Name] {
			p.sb.cleanupGone(ctx, srv, e.Name)
		}
	}
}

// cleanupGone cleans up the sandbox state of name, whose container srv
// removed, unless the name holds a container again. serve's removal and
// the server's event of it reach here at about the same moment: the one
// that finds the name held by the other waits for it, so the state is
// gone before the removal's client hears back.
func (s *Sandbox) cleanupGone(ctx context.Context, srv Server, name string) {
	err := s.cleanupOnceFree(context.WithoutCancel(ctx), name, func() (bool, error) {
		data, err := inspect(ctx, srv, name)
		return data != nil, err
	})
	if err != nil && ctx.Err() == nil {
		s.note(fmt.Sprintf("WARNING: cleaning up the sandbox state of removed container %q: %v", name, err))
	}
}

// remover is a server whose removals can be followed; *podmanapi.Client is one.
type remover interface {
	Removals(ctx context.Context, removed func(name string)) error
}

// WatchRemovals cleans up the sandbox state of every container the server
// removes by other means than the handler (podman's --rm, another client),
// until ctx ends; it returns the error that stopped it. A removed name
// that holds a container again is left alone.
func (s *Sandbox) WatchRemovals(ctx context.Context) error {
	srv, err := s.connect(ctx)
	if err != nil {
		return err
	}
	r, ok := srv.(remover)
	if !ok {
		return fmt.Errorf("%w: the podman service's events cannot be followed", ErrUnavailable)
	}
	return r.Removals(ctx, func(name string) {
		if _, ok, _ := wiring.ReadPlan(s.cfg, name); ok {
			s.cleanupGone(ctx, srv, name)
		}
	})
}
