package launch

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/containers/podman/v5/pkg/api/handlers"
	"github.com/containers/podman/v5/pkg/domain/entities"
	"github.com/containers/podman/v5/pkg/specgen"
	dockerNetwork "github.com/docker/docker/api/types/network"
	dockerVolume "github.com/docker/docker/api/types/volume"
	spec "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sandwire/sandwire/specmutate"
	"github.com/sandwire/sandwire/wiring"
)

// Reasons of the guarded endpoints.
const (
	whyRename     = "a wired container's name keys its sandbox state and tokens"
	whyCommit     = "the image would carry the wired container's tokens"
	whyNetwork    = "the sandbox owns a wired container's network namespace"
	whyUpdateEnv  = "the sandbox owns a wired container's environment"
	whyCheckpoint = "an exported checkpoint would carry the wired container's tokens"
	whyRestore    = "a container restored from an archive is not wired"
	whyPrivExec   = "a privileged exec drops the confinement the sandbox relies on"
	whyPodNS      = "a pod may not share a namespace the sandbox owns with a wired container"
)

// wired reports whether the container named nameOrID carries the sandbox's
// sidecar annotation. A container the server does not know is not wired:
// the server answers the request with its own error.
func (p *proxy) wired(ctx context.Context, nameOrID string) (bool, error) {
	srv, err := p.sb.connect(ctx)
	if err != nil {
		return false, err
	}
	data, err := inspect(ctx, srv, nameOrID)
	if err != nil || data == nil || data.Config == nil {
		return false, err
	}
	return data.Config.Annotations[wiring.SidecarAnnotation] != "", nil
}

// refuseWired answers with a refusal, and reports it, when any of names is
// a wired container (or cannot be checked).
func (p *proxy) refuseWired(w http.ResponseWriter, r *http.Request, names []string, why string) bool {
	for _, name := range names {
		if name == "" {
			continue
		}
		ok, err := p.wired(r.Context(), name)
		if err != nil {
			writeError(w, statusOf(err), fmt.Errorf("checking whether container %q is wired: %w", name, err))
			return true
		}
		if ok {
			writeError(w, http.StatusForbidden, &Refusal{What: fmt.Sprintf("%s %s on container %q", r.Method, r.URL.Path, name), Why: why})
			return true
		}
	}
	return false
}

// target names the containers a request acts on.
type target func(r *http.Request, vars map[string]string) []string

// pathContainer is the {name} of the route.
func pathContainer(_ *http.Request, vars map[string]string) []string { return []string{vars["name"]} }

// queryContainer is every value podman's query decoder could read as
// "container" (it matches names case-insensitively).
func queryContainer(r *http.Request, _ map[string]string) []string {
	return queryValues(r.URL.Query(), "container")
}

// guardWired refuses the request when its target is a wired container,
// and passes it otherwise.
func guardWired(of target, why string) action {
	return func(p *proxy, w http.ResponseWriter, r *http.Request, vars map[string]string) {
		if !p.refuseWired(w, r, of(r, vars), why) {
			pass(p, w, r, vars)
		}
	}
}

// bodyGuard decodes the body as podman's handler does, refuses when the
// container it names is wired, and forwards the body's re-encoding.
func bodyGuard[T any](container func(*T) string, why string) action {
	return func(p *proxy, w http.ResponseWriter, r *http.Request, _ map[string]string) {
		body := new(T)
		if !p.decodeBody(w, r, body) || p.refuseWired(w, r, []string{container(body)}, why) {
			return
		}
		p.forwardEncoded(w, r, body)
	}
}

// The network endpoints take the container in their bodies.
var (
	networkConnectDocker = bodyGuard(func(b *dockerNetwork.ConnectOptions) string { return b.Container }, whyNetwork)
	networkConnectLibpod = bodyGuard(func(b *entities.NetworkConnectOptions) string { return b.Container }, whyNetwork)
	networkDisconnect    = bodyGuard(func(b *dockerNetwork.DisconnectOptions) string { return b.Container }, whyNetwork)
)

// queryValues is every value of every key podman's query decoder matches
// to name (gorilla/schema matches case-insensitively).
func queryValues(q url.Values, name string) []string {
	var vals []string
	for k, vs := range q {
		if strings.EqualFold(k, name) {
			vals = append(vals, vs...)
		}
	}
	return vals
}

// queryTrue reports whether podman could read the boolean query parameter
// name as true: any value of it that is not plainly false.
func queryTrue(q url.Values, name string) bool {
	for _, v := range queryValues(q, name) {
		if b, err := strconv.ParseBool(v); err != nil || b {
			return true
		}
	}
	return false
}

// updateWire is the body of libpod's update, as podman decodes it (limits
// may be -1, which its own type cannot hold).
type updateWire struct {
	handlers.UpdateEntities
	Rlimits []wireRlimit `json:"r_limits,omitempty"`
}

// wireRlimit is a POSIX rlimit whose limits may be -1 (unlimited).
type wireRlimit struct {
	Type string      `json:"type"`
	Hard json.Number `json:"hard"`
	Soft json.Number `json:"soft"`
}

// updateGuard refuses an update of a wired container's environment.
func updateGuard(p *proxy, w http.ResponseWriter, r *http.Request, vars map[string]string) {
	body := new(updateWire)
	if !p.decodeBody(w, r, body) {
		return
	}
	if len(body.Env) > 0 || len(body.UnsetEnv) > 0 {
		if p.refuseWired(w, r, []string{vars["name"]}, whyUpdateEnv) {
			return
		}
	}
	p.forwardEncoded(w, r, body)
}

// checkpointGuard refuses a checkpoint of a wired container that leaves
// the server (an export or an image).
func checkpointGuard(p *proxy, w http.ResponseWriter, r *http.Request, vars map[string]string) {
	q := r.URL.Query()
	if (queryTrue(q, "export") || len(queryValues(q, "createImage")) > 0) && p.refuseWired(w, r, []string{vars["name"]}, whyCheckpoint) {
		return
	}
	pass(p, w, r, vars)
}

// restoreGuard refuses a restore from an archive or image: it makes a
// container the sandbox did not create.
func restoreGuard(p *proxy, w http.ResponseWriter, r *http.Request, vars map[string]string) {
	if queryTrue(r.URL.Query(), "import") {
		writeError(w, http.StatusForbidden, &Refusal{What: "restoring a container with import", Why: whyRestore})
		return
	}
	pass(p, w, r, vars)
}

// execCreate refuses a privileged exec.
func execCreate(p *proxy, w http.ResponseWriter, r *http.Request, _ map[string]string) {
	body := new(handlers.ExecCreateConfig)
	if !p.decodeBody(w, r, body) {
		return
	}
	if body.Privileged {
		writeError(w, http.StatusForbidden, &Refusal{What: "a privileged exec", Why: whyPrivExec})
		return
	}
	p.forwardEncoded(w, r, body)
}

// execStart carries an exec's stream with its body re-encoded.
func execStart(p *proxy, w http.ResponseWriter, r *http.Request, vars map[string]string) {
	body := new(handlers.ExecStartConfig)
	if !p.decodeBody(w, r, body) {
		return
	}
	data, err := json.Marshal(body)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	setBody(r, data)
	hijack(p, w, r, vars)
}

// podCreate refuses a pod that would share a namespace with a wired
// container or show the sandbox's host state to its containers.
func podCreate(p *proxy, w http.ResponseWriter, r *http.Request, _ map[string]string) {
	body := &specgen.PodSpecGenerator{InfraContainerSpec: &specgen.SpecGenerator{}}
	if !p.decodeBody(w, r, body) {
		return
	}
	var joined []string
	for _, ns := range []specgen.Namespace{body.Ipc, body.Pid, body.Userns, body.UtsNs, body.NetNS} {
		if ns.NSMode == specgen.FromContainer {
			joined = append(joined, ns.Value)
		}
	}
	if p.refuseWired(w, r, joined, whyPodNS) {
		return
	}
	shown := &specgen.SpecGenerator{}
	shown.Mounts, shown.Volumes, shown.OverlayVolumes = body.Mounts, body.Volumes, body.OverlayVolumes
	if p.refuseExposure(w, "a pod", shown) {
		return
	}
	p.forwardEncoded(w, r, body)
}

// refuseExposure answers with a refusal, and reports it, when s would show
// a container the sandbox's host state.
func (p *proxy) refuseExposure(w http.ResponseWriter, what string, s *specgen.SpecGenerator) bool {
	err := specmutate.Exposures(s, nil, specmutate.ExposureDirs(p.sb.cfg), nil)
	if err == nil {
		return false
	}
	writeError(w, http.StatusForbidden, &Refusal{What: what, Why: err.Error()})
	return true
}

// binds is a spec that bind-mounts each host path, for refuseExposure.
func binds(sources ...string) *specgen.SpecGenerator {
	s := &specgen.SpecGenerator{}
	for _, src := range sources {
		if src != "" {
			s.Mounts = append(s.Mounts, spec.Mount{Type: "bind", Source: src, Destination: "/"})
		}
	}
	return s
}

// volumeCreateLibpod refuses a volume whose device is a host path that
// shows the sandbox's host state (a local volume made with o=bind).
func volumeCreateLibpod(p *proxy, w http.ResponseWriter, r *http.Request, _ map[string]string) {
	body := new(entities.VolumeCreateOptions)
	if !p.decodeBody(w, r, body) || p.refuseExposure(w, "a volume", binds(body.Options["device"])) {
		return
	}
	p.forwardEncoded(w, r, body)
}

// volumeCreateDocker is volumeCreateLibpod for Docker's body.
func volumeCreateDocker(p *proxy, w http.ResponseWriter, r *http.Request, _ map[string]string) {
	body := new(dockerVolume.CreateOptions)
	if !p.decodeBody(w, r, body) || p.refuseExposure(w, "a volume", binds(body.DriverOpts["device"])) {
		return
	}
	p.forwardEncoded(w, r, body)
}

// buildGuard refuses a build whose RUN steps would bind a host path that
// shows the sandbox's host state.
func buildGuard(p *proxy, w http.ResponseWriter, r *http.Request, vars map[string]string) {
	var sources []string
	for _, v := range queryValues(r.URL.Query(), "volume") {
		sources = append(sources, specgen.SplitVolumeString(v)[0])
	}
	if p.refuseExposure(w, "a build", binds(sources...)) {
		return
	}
	pass(p, w, r, vars)
}
