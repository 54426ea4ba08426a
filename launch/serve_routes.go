package launch

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// action is what serve does with a request to one endpoint; vars are the
// route's variables ({name}, {id}), unescaped.
type action func(p *proxy, w http.ResponseWriter, r *http.Request, vars map[string]string)

// endpoint is one route of podman's API and serve's decision on it.
type endpoint struct {
	methods []string
	// route is podman's path template after the optional /v{version}
	// prefix: {x} is one path segment, {x:.*} any run of them, and a
	// leading [/libpod] stands for both the Docker-compatible route and
	// libpod's, which podman decides alike.
	route string
	do    action
	// why is the reason for the decision, quoted in refusals.
	why string
	// libpod and segs are route, parsed by compile; run is the index in
	// segs of its run variable, or -1 when it has none.
	libpod libpodPrefix
	segs   []segment
	run    int
}

// libpodPrefix says whether a route is libpod's (/libpod/...), Docker's
// (no prefix) or both ([/libpod]).
type libpodPrefix int

const (
	dockerOnly libpodPrefix = iota
	libpodOnly
	eitherAPI
)

// segment is one segment of a route: a literal, or a variable. A variable
// takes one non-empty segment ({x}), except the endpoint's run variable
// ({x:.*}, endpoint.run), which takes one or more, any of them empty.
type segment struct {
	lit, name string
}

// Methods, for the table.
var (
	get    = []string{http.MethodGet}
	head   = []string{http.MethodGet, http.MethodHead}
	post   = []string{http.MethodPost}
	del    = []string{http.MethodDelete}
	put    = []string{http.MethodPut}
	anyOf  = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete}
	getPut = []string{http.MethodGet, http.MethodPut, http.MethodHead}
)

// The reasons, by group.
const (
	whyRead       = "reads state the client may see anyway"
	whyLifecycle  = "runs or stops a container as it is, wired or not"
	whyImage      = "works on images, not on containers"
	whyObject     = "works on objects that hold no wiring (networks, secrets, volumes, artifacts)"
	whyStream     = "a stream podman hijacks; carried both ways, half-closes included"
	whyLineStream = "reads state the client may see anyway, as a stream of lines carried in batches"
	whyBulk       = "reads state the client may see anyway, as a download the kernel carries (splice)"
	whyCreate     = "a create: wired as sandwire create wires it"
	whyRemove     = "a removal: the removed containers' sandbox state is cleaned up"
	whyKube       = "it creates containers from a kube YAML, which the sandbox cannot wire"
	whyQuadlet    = "it installs systemd units that create containers the sandbox cannot wire"
	whyHostPath   = "it reads a path on the server's host, where the sandbox keeps its state"
	whyUnsupp     = "podman does not support it; its own answer is passed on"
	whyKubeApply  = "it deploys to a Kubernetes cluster with the server's credentials"
)

// endpoints is every route of podman's API (v5.8.2, pkg/api/server) and
// serve's decision on it. A route that is not here is refused; the first
// match wins, as in podman's router.
var endpoints = compile([]endpoint{
	// Creates.
	{methods: post, route: "/libpod/containers/create", do: createLibpod, why: whyCreate},
	{methods: post, route: "/containers/create", do: createDocker, why: whyCreate},

	// Removals.
	{methods: del, route: "[/libpod]/containers/{name}", do: removal, why: whyRemove},
	{methods: post, route: "[/libpod]/containers/prune", do: removal, why: whyRemove},
	{methods: del, route: "/libpod/pods/{name}", do: removal, why: whyRemove},
	{methods: post, route: "/libpod/pods/prune", do: removal, why: whyRemove},
	{methods: post, route: "/libpod/system/prune", do: removal, why: whyRemove},
	{methods: del, route: "/libpod/kube/play", do: removal, why: whyRemove},
	{methods: del, route: "/libpod/play/kube", do: removal, why: whyRemove},

	// Hijacked streams.
	{methods: post, route: "[/libpod]/containers/{name}/attach", do: hijack, why: whyStream},
	{methods: post, route: "[/libpod]/exec/{id}/start", do: execStart, why: whyStream},

	// Refused outright: what they create or read bypasses the wiring.
	{methods: post, route: "/libpod/play/kube", do: refusing(whyKube), why: whyKube},
	{methods: post, route: "/libpod/kube/play", do: refusing(whyKube), why: whyKube},
	{methods: post, route: "/libpod/kube/apply", do: refusing(whyKubeApply), why: whyKubeApply},
	{methods: post, route: "/libpod/quadlets", do: refusing(whyQuadlet), why: whyQuadlet},
	{methods: post, route: "/libpod/local/build", do: refusing(whyHostPath), why: whyHostPath},
	{methods: post, route: "/libpod/local/images/load", do: refusing(whyHostPath), why: whyHostPath},
	{methods: post, route: "/libpod/artifacts/local/add", do: refusing(whyHostPath), why: whyHostPath},

	// Decided on the request: refused when it would undo a container's
	// wiring or show the sandbox's host state, else passed.
	{methods: post, route: "[/libpod]/containers/{name}/rename", do: guardWired(pathContainer, whyRename), why: "rename"},
	{methods: post, route: "[/libpod]/commit", do: guardWired(queryContainer, whyCommit), why: "commit"},
	{methods: post, route: "/networks/{name}/connect", do: networkConnectDocker, why: "network connect"},
	{methods: post, route: "/libpod/networks/{name}/connect", do: networkConnectLibpod, why: "network connect"},
	{methods: post, route: "[/libpod]/networks/{name}/disconnect", do: networkDisconnect, why: "network disconnect"},
	{methods: post, route: "/libpod/containers/{name}/update", do: updateGuard, why: "update"},
	{methods: post, route: "/libpod/containers/{name}/checkpoint", do: checkpointGuard, why: "checkpoint"},
	{methods: post, route: "/libpod/containers/{name}/restore", do: restoreGuard, why: "restore"},
	{methods: post, route: "[/libpod]/containers/{name}/exec", do: execCreate, why: "exec create"},
	{methods: post, route: "/libpod/pods/create", do: podCreate, why: "pod create"},
	{methods: post, route: "/volumes/create", do: volumeCreateDocker, why: "volume create"},
	{methods: post, route: "/libpod/volumes/create", do: volumeCreateLibpod, why: "volume create"},
	{methods: post, route: "[/libpod]/build", do: buildGuard, why: "build"},

	// Containers as they are: reads, lifecycle, streams over HTTP.
	{methods: get, route: "[/libpod]/containers/json", do: pass, why: whyRead},
	{methods: get, route: "/libpod/containers/showmounted", do: pass, why: whyRead},
	{methods: get, route: "/libpod/containers/stats", do: stream, why: whyLineStream},
	{methods: get, route: "/libpod/containers/{name:.*}/healthcheck", do: pass, why: whyLifecycle},
	{methods: getPut, route: "[/libpod]/containers/{name}/archive", do: bulk, why: whyBulk},
	{methods: get, route: "[/libpod]/containers/{name}/changes", do: pass, why: whyRead},
	{methods: get, route: "/libpod/containers/{name}/exists", do: pass, why: whyRead},
	{methods: get, route: "[/libpod]/containers/{name}/export", do: bulk, why: whyBulk},
	{methods: get, route: "[/libpod]/containers/{name}/json", do: pass, why: whyRead},
	{methods: get, route: "[/libpod]/containers/{name}/logs", do: stream, why: whyLineStream},
	{methods: get, route: "[/libpod]/containers/{name}/stats", do: stream, why: whyLineStream},
	{methods: get, route: "[/libpod]/containers/{name}/top", do: pass, why: whyRead},
	{methods: post, route: "/libpod/containers/{name}/init", do: pass, why: whyLifecycle},
	{methods: post, route: "[/libpod]/containers/{name}/kill", do: pass, why: whyLifecycle},
	{methods: post, route: "/libpod/containers/{name}/mount", do: pass, why: whyLifecycle},
	{methods: post, route: "/libpod/containers/{name}/unmount", do: pass, why: whyLifecycle},
	{methods: post, route: "[/libpod]/containers/{name}/pause", do: pass, why: whyLifecycle},
	{methods: post, route: "[/libpod]/containers/{name}/unpause", do: pass, why: whyLifecycle},
	{methods: post, route: "[/libpod]/containers/{name}/resize", do: pass, why: whyLifecycle},
	{methods: post, route: "[/libpod]/containers/{name}/restart", do: pass, why: whyLifecycle},
	{methods: post, route: "[/libpod]/containers/{name}/start", do: pass, why: whyLifecycle},
	{methods: post, route: "[/libpod]/containers/{name}/stop", do: pass, why: whyLifecycle},
	{methods: post, route: "[/libpod]/containers/{name}/wait", do: pass, why: whyLifecycle},
	// Docker's update sets resources only (no env, no mounts).
	{methods: post, route: "/containers/{name}/update", do: pass, why: whyLifecycle},
	{methods: get, route: "[/libpod]/exec/{id}/json", do: pass, why: whyRead},
	{methods: post, route: "[/libpod]/exec/{id}/resize", do: pass, why: whyLifecycle},
	{methods: post, route: "/libpod/exec/{id}/remove", do: pass, why: whyLifecycle},
	{methods: get, route: "/libpod/generate/kube", do: pass, why: whyRead},
	{methods: get, route: "/libpod/kube/generate", do: pass, why: whyRead},
	{methods: get, route: "/libpod/generate/{name:.*}/systemd", do: pass, why: whyRead},

	// Pods (creates decided above; none can hold a wired container, whose
	// namespaces the sandbox owns).
	{methods: get, route: "/libpod/pods/json", do: pass, why: whyRead},
	{methods: get, route: "/libpod/pods/stats", do: pass, why: whyRead},
	{methods: get, route: "/libpod/pods/{name}/exists", do: pass, why: whyRead},
	{methods: get, route: "/libpod/pods/{name}/json", do: pass, why: whyRead},
	{methods: get, route: "/libpod/pods/{name}/top", do: pass, why: whyRead},
	{methods: post, route: "/libpod/pods/{name}/kill", do: pass, why: whyLifecycle},
	{methods: post, route: "/libpod/pods/{name}/pause", do: pass, why: whyLifecycle},
	{methods: post, route: "/libpod/pods/{name}/restart", do: pass, why: whyLifecycle},
	{methods: post, route: "/libpod/pods/{name}/start", do: pass, why: whyLifecycle},
	{methods: post, route: "/libpod/pods/{name}/stop", do: pass, why: whyLifecycle},
	{methods: post, route: "/libpod/pods/{name}/unpause", do: pass, why: whyLifecycle},

	// Images.
	{methods: post, route: "/images/create", do: pass, why: whyImage},
	{methods: get, route: "/images/get", do: bulk, why: whyImage},
	{methods: get, route: "[/libpod]/images/json", do: pass, why: whyImage},
	{methods: post, route: "[/libpod]/images/load", do: pass, why: whyImage},
	{methods: post, route: "[/libpod]/images/prune", do: pass, why: whyImage},
	{methods: get, route: "[/libpod]/images/search", do: pass, why: whyImage},
	{methods: get, route: "[/libpod]/images/{name:.*}/get", do: bulk, why: whyImage},
	{methods: get, route: "[/libpod]/images/{name:.*}/history", do: pass, why: whyImage},
	{methods: get, route: "[/libpod]/images/{name:.*}/json", do: pass, why: whyImage},
	{methods: post, route: "[/libpod]/images/{name:.*}/push", do: pass, why: whyImage},
	{methods: post, route: "[/libpod]/images/{name:.*}/tag", do: pass, why: whyImage},
	{methods: del, route: "[/libpod]/images/{name:.*}", do: pass, why: whyImage},
	{methods: get, route: "/libpod/images/export", do: bulk, why: whyImage},
	{methods: post, route: "/libpod/images/import", do: pass, why: whyImage},
	{methods: post, route: "/libpod/images/pull", do: pass, why: whyImage},
	{methods: del, route: "/libpod/images/remove", do: pass, why: whyImage},
	{methods: post, route: "/libpod/images/scp/{name:.*}", do: pass, why: whyImage},
	{methods: get, route: "/libpod/images/{name:.*}/exists", do: pass, why: whyImage},
	{methods: get, route: "/libpod/images/{name:.*}/resolve", do: pass, why: whyImage},
	{methods: get, route: "/libpod/images/{name:.*}/tree", do: pass, why: whyImage},
	{methods: post, route: "/libpod/images/{name:.*}/untag", do: pass, why: whyImage},
	{methods: get, route: "/libpod/images/{name}/changes", do: pass, why: whyImage},
	{methods: anyOf, route: "/libpod/manifests/{name:.*}", do: pass, why: whyImage},
	{methods: post, route: "/auth", do: pass, why: whyImage},

	// Artifacts, networks, secrets, volumes (creates and connects decided above).
	{methods: post, route: "/libpod/artifacts/add", do: pass, why: whyObject},
	{methods: get, route: "/libpod/artifacts/json", do: pass, why: whyObject},
	{methods: post, route: "/libpod/artifacts/pull", do: pass, why: whyObject},
	{methods: del, route: "/libpod/artifacts/remove", do: pass, why: whyObject},
	{methods: get, route: "/libpod/artifacts/{name:.*}/extract", do: pass, why: whyObject},
	{methods: get, route: "/libpod/artifacts/{name:.*}/json", do: pass, why: whyObject},
	{methods: post, route: "/libpod/artifacts/{name:.*}/push", do: pass, why: whyObject},
	{methods: del, route: "/libpod/artifacts/{name:.*}", do: pass, why: whyObject},
	{methods: get, route: "/networks", do: pass, why: whyObject},
	{methods: post, route: "[/libpod]/networks/create", do: pass, why: whyObject},
	{methods: post, route: "[/libpod]/networks/prune", do: pass, why: whyObject},
	{methods: get, route: "[/libpod]/networks/{name}", do: pass, why: whyObject},
	{methods: del, route: "[/libpod]/networks/{name}", do: pass, why: whyObject},
	{methods: get, route: "/libpod/networks/json", do: pass, why: whyObject},
	{methods: get, route: "/libpod/networks/{name}/exists", do: pass, why: whyObject},
	{methods: get, route: "/libpod/networks/{name}/json", do: pass, why: whyObject},
	{methods: post, route: "/libpod/networks/{name}/update", do: pass, why: whyObject},
	{methods: get, route: "/secrets", do: pass, why: whyObject},
	{methods: post, route: "[/libpod]/secrets/create", do: pass, why: whyObject},
	{methods: get, route: "/secrets/{name}", do: pass, why: whyObject},
	{methods: del, route: "[/libpod]/secrets/{name}", do: pass, why: whyObject},
	{methods: post, route: "/secrets/{name}/update", do: pass, why: whyObject},
	{methods: get, route: "/libpod/secrets/json", do: pass, why: whyObject},
	{methods: get, route: "/libpod/secrets/{name}/exists", do: pass, why: whyObject},
	{methods: get, route: "/libpod/secrets/{name}/json", do: pass, why: whyObject},
	{methods: get, route: "/volumes", do: pass, why: whyObject},
	{methods: post, route: "[/libpod]/volumes/prune", do: pass, why: whyObject},
	{methods: get, route: "/volumes/{name}", do: pass, why: whyObject},
	{methods: del, route: "[/libpod]/volumes/{name}", do: pass, why: whyObject},
	{methods: get, route: "/libpod/volumes/json", do: pass, why: whyObject},
	{methods: get, route: "/libpod/volumes/{name}/exists", do: pass, why: whyObject},
	{methods: get, route: "/libpod/volumes/{name}/export", do: bulk, why: whyObject},
	{methods: post, route: "/libpod/volumes/{name}/import", do: pass, why: whyObject},
	{methods: get, route: "/libpod/volumes/{name}/json", do: pass, why: whyObject},
	{methods: get, route: "/libpod/quadlets/json", do: pass, why: whyRead},
	{methods: get, route: "/libpod/quadlets/{name}/exists", do: pass, why: whyRead},
	{methods: get, route: "/libpod/quadlets/{name}/file", do: pass, why: whyRead},
	{methods: del, route: "/libpod/quadlets", do: pass, why: "removes units, which creates nothing"},
	{methods: del, route: "/libpod/quadlets/{name}", do: pass, why: "removes a unit, which creates nothing"},

	// The service itself.
	{methods: head, route: "[/libpod]/_ping", do: pass, why: whyRead},
	{methods: get, route: "[/libpod]/events", do: stream, why: whyLineStream},
	{methods: get, route: "[/libpod]/info", do: pass, why: whyRead},
	{methods: get, route: "[/libpod]/version", do: pass, why: whyRead},
	{methods: get, route: "[/libpod]/system/df", do: pass, why: whyRead},
	{methods: post, route: "/libpod/system/check", do: pass, why: "checks and repairs storage, which holds no wiring"},
	{methods: get, route: "/libpod/swagger", do: pass, why: whyRead},
	{methods: anyOf, route: "/monitor", do: pass, why: whyUnsupp},
	{methods: anyOf, route: "/plugins", do: pass, why: whyUnsupp},
	{methods: anyOf, route: "/distribution/{name}/json", do: pass, why: whyUnsupp},
	{methods: anyOf, route: "/configs/{rest:.*}", do: pass, why: whyUnsupp},
	{methods: anyOf, route: "/nodes/{rest:.*}", do: pass, why: whyUnsupp},
	{methods: anyOf, route: "/services/{rest:.*}", do: pass, why: whyUnsupp},
	{methods: anyOf, route: "/swarm/{rest:.*}", do: pass, why: whyUnsupp},
	{methods: anyOf, route: "/tasks/{rest:.*}", do: pass, why: whyUnsupp},
})

// routeIndex holds the endpoints by the first segment of their route
// after the version and libpod prefixes, in table order: every route
// begins with a literal segment, so only the endpoints of a path's own
// first segment can match it, and the route table is read a few entries
// at a time rather than all of it for every request.
var routeIndex = index(endpoints)

// compile parses each endpoint's route into its prefix and segments. A
// path is matched on its segments, not with a regular expression: a
// request's routing is then a few string comparisons, where the
// expressions' backtracking over a long container ID cost a proxied
// inspect tens of microseconds.
func compile(eps []endpoint) []endpoint {
	for i := range eps {
		route := eps[i].route
		switch {
		case strings.HasPrefix(route, "[/libpod]/"):
			eps[i].libpod, route = eitherAPI, strings.TrimPrefix(route, "[/libpod]")
		case strings.HasPrefix(route, "/libpod/"):
			eps[i].libpod, route = libpodOnly, strings.TrimPrefix(route, "/libpod")
		}
		eps[i].run = -1
		for _, seg := range strings.Split(strings.TrimPrefix(route, "/"), "/") {
			inner, isVar := strings.CutPrefix(seg, "{")
			if !isVar {
				if seg == "" || strings.ContainsAny(seg, "{}[]") {
					panic("route " + eps[i].route + ": a malformed segment " + seg)
				}
				eps[i].segs = append(eps[i].segs, segment{lit: seg})
				continue
			}
			inner, ok := strings.CutSuffix(inner, "}")
			name, run := strings.CutSuffix(inner, ":.*")
			if !ok || name == "" || strings.ContainsAny(name, "{}:/") {
				panic("route " + eps[i].route + ": a malformed variable " + seg)
			}
			if run {
				if eps[i].run >= 0 {
					panic("route " + eps[i].route + ": more than one run variable")
				}
				eps[i].run = len(eps[i].segs)
			}
			eps[i].segs = append(eps[i].segs, segment{name: name})
		}
		if eps[i].segs[0].name != "" {
			panic("route " + eps[i].route + ": a route begins with a literal segment")
		}
	}
	return eps
}

// index is routeIndex of eps.
func index(eps []endpoint) map[string][]*endpoint {
	idx := map[string][]*endpoint{}
	for i := range eps {
		key := eps[i].segs[0].lit
		idx[key] = append(idx[key], &eps[i])
	}
	return idx
}

// splitPath is an escaped request path as routes are matched on it: its
// segments once an optional version prefix (/v1.41, /v5.8.2: a v, a
// digit, then digits, letters, dots and dashes, as podman's router takes
// it) and then /libpod are taken off. A path that does not begin with a
// slash has no segments.
func splitPath(escaped string) (segs []string, libpod bool) {
	rest, ok := strings.CutPrefix(escaped, "/")
	if !ok {
		return nil, false
	}
	segs = strings.Split(rest, "/")
	if len(segs) > 1 && isVersion(segs[0]) {
		segs = segs[1:]
	}
	if len(segs) > 1 && segs[0] == "libpod" {
		segs, libpod = segs[1:], true
	}
	return segs, libpod
}

// isVersion reports whether a path segment is an API version prefix.
func isVersion(seg string) bool {
	if len(seg) < 2 || seg[0] != 'v' || seg[1] < '0' || seg[1] > '9' {
		return false
	}
	for _, c := range []byte(seg[2:]) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// bind reports whether ep's route matches a path split by splitPath and,
// when vars is not nil, puts the route's variables in it, still escaped.
// match binds twice, without vars and then with them, so that a path is
// tried against its candidates without allocating.
func (ep *endpoint) bind(segs []string, libpod bool, vars map[string]string) bool {
	if libpod && ep.libpod == dockerOnly || !libpod && ep.libpod == libpodOnly {
		return false
	}
	// The run variable takes what the other segments leave, at least one.
	runLen := len(segs) - (len(ep.segs) - 1)
	if ep.run < 0 && runLen != 1 || runLen < 1 {
		return false
	}
	i := 0
	for j, s := range ep.segs {
		take := 1
		if j == ep.run {
			take = runLen
		}
		v := segs[i : i+take]
		i += take
		switch {
		case s.name == "":
			if v[0] != s.lit {
				return false
			}
			continue
		case j != ep.run && v[0] == "":
			return false
		}
		if vars != nil {
			vars[s.name] = strings.Join(v, "/")
		}
	}
	return true
}

// match finds the endpoint of method and the escaped path, and its
// variables unescaped. Without one, code says why: 403 for a path podman's
// API does not have (as far as serve knows: serve refuses what it has not
// decided), 405 for a method it does not take there, 400 for a variable
// that does not unescape.
func match(method, escaped string) (*endpoint, map[string]string, int) {
	code := http.StatusForbidden
	segs, libpod := splitPath(escaped)
	if len(segs) == 0 {
		return nil, nil, code
	}
	for _, ep := range routeIndex[segs[0]] {
		if !ep.bind(segs, libpod, nil) {
			continue
		}
		if !slices.Contains(ep.methods, method) {
			code = http.StatusMethodNotAllowed
			continue
		}
		vars := map[string]string{}
		ep.bind(segs, libpod, vars)
		for name, v := range vars {
			u, err := url.PathUnescape(v)
			if err != nil {
				return nil, nil, http.StatusBadRequest
			}
			vars[name] = u
		}
		return ep, vars, 0
	}
	return nil, nil, code
}

// refusing answers a request serve never passes, with why.
func refusing(why string) action {
	return func(_ *proxy, w http.ResponseWriter, r *http.Request, _ map[string]string) {
		writeError(w, http.StatusForbidden, &Refusal{What: r.Method + " " + r.URL.Path, Why: why})
	}
}
