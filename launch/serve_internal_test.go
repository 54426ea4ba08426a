package launch

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/containers/podman/v5/libpod/define"
	"github.com/containers/podman/v5/pkg/api/handlers"
	"github.com/sandwire/sandwire/specmutate"
	"github.com/sandwire/sandwire/wiring"
)

// actionName names an endpoint's action, for the table test.
func actionName(a action) string {
	name := runtime.FuncForPC(reflect.ValueOf(a).Pointer()).Name()
	if strings.Contains(name, ".refusing.") {
		return "refusing"
	}
	name = name[strings.LastIndex(name, ".")+1:]
	return strings.TrimSuffix(name, "-fm")
}

func TestEndpointTable(t *testing.T) {
	cases := []struct {
		name, method, path string
		want               string // the action, or "" for refused
		code               int
	}{
		{"a libpod create is wired", "POST", "/v5.0.0/libpod/containers/create", "createLibpod", 0},
		{"a Docker create without a version is wired", "POST", "/containers/create", "createDocker", 0},
		{"a Docker create with a version is wired", "POST", "/v1.41/containers/create", "createDocker", 0},
		{"a container removal cleans up", "DELETE", "/v1.41/containers/abc", "removal", 0},
		{"a libpod prune cleans up", "POST", "/v4.0.0/libpod/containers/prune", "removal", 0},
		{"a pod removal cleans up", "DELETE", "/v5.0.0/libpod/pods/p", "removal", 0},
		{"kube down cleans up", "DELETE", "/v5.0.0/libpod/kube/play", "removal", 0},
		{"attach is hijacked", "POST", "/v1.41/containers/abc/attach", "hijack", 0},
		{"exec start is hijacked", "POST", "/v5.0.0/libpod/exec/123/start", "execStart", 0},
		{"logs are streamed", "GET", "/v1.41/containers/abc/logs", "stream", 0},
		{"libpod events are streamed", "GET", "/v5.0.0/libpod/events", "stream", 0},
		{"a container's stats are streamed", "GET", "/v1.41/containers/abc/stats", "stream", 0},
		{"cp out of a container is carried by the kernel", "GET", "/v1.41/containers/abc/archive", "bulk", 0},
		{"an export is carried by the kernel", "GET", "/v5.0.0/libpod/containers/abc/export", "bulk", 0},
		{"an image save is carried by the kernel", "GET", "/v5.0.0/libpod/images/localhost/app:latest/get", "bulk", 0},
		{"an inspect passes", "GET", "/v5.0.0/libpod/containers/abc/json", "pass", 0},
		{"an image name with slashes passes", "GET", "/v5.0.0/libpod/images/localhost/app:latest/json", "pass", 0},
		{"ping passes with HEAD", "HEAD", "/_ping", "pass", 0},
		{"pull passes", "POST", "/v5.0.0/libpod/images/pull", "pass", 0},
		{"play kube is refused", "POST", "/v5.0.0/libpod/play/kube", "refusing", 0},
		{"an unknown endpoint is refused", "POST", "/v5.0.0/libpod/containers/abc/clone", "", http.StatusForbidden},
		{"a known path with another method is refused", "PUT", "/v1.41/containers/create", "", http.StatusMethodNotAllowed},
		{"a version podman's router does not take is refused", "POST", "/vX/containers/create", "", http.StatusForbidden},
		{"a route is matched case-sensitively, as podman's router does", "POST", "/v1.41/Containers/create", "", http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ep, _, code := match(tc.method, tc.path)
			switch {
			case tc.want == "" && ep != nil:
				t.Errorf("matched %q (%s), want a refusal", ep.route, actionName(ep.do))
			case tc.want == "" && code != tc.code:
				t.Errorf("code %d, want %d", code, tc.code)
			case tc.want != "" && ep == nil:
				t.Errorf("refused with %d, want %s", code, tc.want)
			case tc.want != "" && actionName(ep.do) != tc.want:
				t.Errorf("action %s (route %q), want %s", actionName(ep.do), ep.route, tc.want)
			}
		})
	}
}

func TestEveryEndpointHasAReason(t *testing.T) {
	for _, ep := range endpoints {
		if ep.why == "" || len(ep.methods) == 0 || ep.do == nil {
			t.Errorf("endpoint %q is not decided: methods %v, reason %q", ep.route, ep.methods, ep.why)
		}
	}
}

func TestRouteVariablesAreUnescaped(t *testing.T) {
	_, vars, _ := match("POST", "/v1.41/containers/a%2Fb/rename")
	if vars["name"] != "a/b" {
		t.Errorf("name = %q, want a/b", vars["name"])
	}
}

func dockerBody(t *testing.T, js string) *handlers.CreateContainerConfig {
	t.Helper()
	body := new(handlers.CreateContainerConfig)
	if err := json.Unmarshal([]byte(js), body); err != nil {
		t.Fatal(err)
	}
	return body
}

var testEdits = &wiring.Edits{
	Name:        "box",
	Mounts:      []wiring.Mount{{Source: "/state/bridges/v1", Destination: "/usr/local/share/terok-sandbox/bridges", ReadOnly: true, Relabel: "z"}},
	Env:         map[string]string{"TEROK_GATE_TOKEN": "t", "TEROK_VAULT_SOCKET": "/run/terok/vault/vault.sock"},
	Annotations: map[string]string{wiring.SidecarAnnotation: "/state/sidecar/box.json"},
	Labels:      map[string]string{wiring.SidecarLabel: "/state/sidecar/box.json"},
	Network:     &wiring.Network{Mode: "slirp4netns", Options: []string{"allow_host_loopback=true"}},
	UserNS:      &wiring.UserNS{Mode: "keep-id", UID: 1000, GID: 1000},
	CapDrop:     []string{"CAP_NET_RAW"},
	Hosts:       []string{"host.terok:10.0.2.2"},
}

func TestWireDocker(t *testing.T) {
	cases := []struct {
		name  string
		body  string
		check func(t *testing.T, c *handlers.CreateContainerConfig)
	}{
		{"the client's env is kept and the sandbox's is added in sorted order", `{"Env":["FOO=old","BAR=1"]}`, func(t *testing.T, c *handlers.CreateContainerConfig) {
			want := []string{"FOO=old", "BAR=1", "TEROK_GATE_TOKEN=t", "TEROK_VAULT_SOCKET=/run/terok/vault/vault.sock"}
			if !slices.Equal(c.Config.Env, want) {
				t.Errorf("Env = %v, want %v", c.Config.Env, want)
			}
		}},
		{"an env var with the sandbox's key is replaced, not duplicated", `{"Env":["TEROK_GATE_TOKEN=t"]}`, func(t *testing.T, c *handlers.CreateContainerConfig) {
			n := 0
			for _, kv := range c.Config.Env {
				if strings.HasPrefix(kv, "TEROK_GATE_TOKEN=") {
					n++
				}
			}
			if n != 1 {
				t.Errorf("Env = %v, want TEROK_GATE_TOKEN once", c.Config.Env)
			}
		}},
		{"the sandbox's mounts become read-only, relabelled binds", `{"HostConfig":{"Binds":["/data:/data"]}}`, func(t *testing.T, c *handlers.CreateContainerConfig) {
			want := []string{"/data:/data", "/state/bridges/v1:/usr/local/share/terok-sandbox/bridges:ro,z"}
			if !slices.Equal(c.HostConfig.Binds, want) {
				t.Errorf("Binds = %v, want %v", c.HostConfig.Binds, want)
			}
		}},
		{"the sidecar label joins the client's labels, for the watch", `{"Labels":{"app":"web"}}`, func(t *testing.T, c *handlers.CreateContainerConfig) {
			if c.Config.Labels["app"] != "web" || c.Config.Labels[wiring.SidecarLabel] != "/state/sidecar/box.json" {
				t.Errorf("Labels = %v, want the client's and the sidecar label", c.Config.Labels)
			}
		}},
		{"annotations are merged and the user namespace recorded", `{"HostConfig":{"Annotations":{"a":"b"}}}`, func(t *testing.T, c *handlers.CreateContainerConfig) {
			a := c.HostConfig.Annotations
			if a["a"] != "b" || a[wiring.SidecarAnnotation] != "/state/sidecar/box.json" || a[define.UserNsAnnotation] != "keep-id:uid=1000,gid=1000" {
				t.Errorf("Annotations = %v", a)
			}
		}},
		{"the network, user namespace, capability drops and hosts are the sandbox's", `{"HostConfig":{"NetworkMode":"default","CapDrop":["cap_net_raw","CAP_SYS_ADMIN"]},"NetworkingConfig":{"EndpointsConfig":{"default":{}}}}`, func(t *testing.T, c *handlers.CreateContainerConfig) {
			h := c.HostConfig
			if h.NetworkMode != "slirp4netns:allow_host_loopback=true" || c.NetworkingConfig.EndpointsConfig != nil {
				t.Errorf("network %q, endpoints %v", h.NetworkMode, c.NetworkingConfig.EndpointsConfig)
			}
			if h.UsernsMode != "keep-id:uid=1000,gid=1000" {
				t.Errorf("UsernsMode = %q", h.UsernsMode)
			}
			if !slices.Equal(h.CapDrop, []string{"cap_net_raw", "CAP_SYS_ADMIN"}) {
				t.Errorf("CapDrop = %v, want the client's, with CAP_NET_RAW not repeated", h.CapDrop)
			}
			if !slices.Equal(h.ExtraHosts, []string{"host.terok:10.0.2.2"}) {
				t.Errorf("ExtraHosts = %v", h.ExtraHosts)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := dockerBody(t, tc.body)
			before, _ := json.Marshal(body)
			got := wireDocker(body, testEdits)
			tc.check(t, got)
			if after, _ := json.Marshal(body); string(after) != string(before) {
				t.Errorf("the client's body was changed:\n%s\nwas\n%s", after, before)
			}
		})
	}
}

func TestWireDockerTwiceGivesTheSameBody(t *testing.T) {
	body := dockerBody(t, `{"Env":["FOO=old"],"HostConfig":{"Binds":["/data:/data"]}}`)
	once := wireDocker(body, testEdits)
	twice := wireDocker(once, testEdits)
	a, _ := json.Marshal(once)
	b, _ := json.Marshal(twice)
	if string(a) != string(b) {
		t.Errorf("applying the edits again changed the body:\n%s\n%s", a, b)
	}
}

func TestDockerSpecFeedsGate2(t *testing.T) {
	cfg := wiring.DefaultConfig(0, func(string) (string, bool) { return "", false })
	cfg.StateDir, cfg.RuntimeDir, cfg.VaultDir = "/var/lib/sw/state", "/run/sw", "/var/lib/sw/vault"
	cases := []struct {
		name, body string
		refused    string // "" when the gate passes it
	}{
		{"a plain docker run passes", `{"Image":"x","Env":["FOO=1"],"HostConfig":{"NetworkMode":"default"},"NetworkingConfig":{"EndpointsConfig":{"default":{}}}}`, ""},
		{"a bind of another host dir passes", `{"HostConfig":{"Binds":["/srv/data:/data:ro"]}}`, ""},
		{"a bind at /run/terok is refused", `{"HostConfig":{"Binds":["/x:/run/terok/vault"]}}`, "/run/terok"},
		{"a bind of the state dir, spelled with ..", `{"HostConfig":{"Binds":["/var/lib/sw/vault/../state/sidecar:/s"]}}`, "state dir"},
		{"an anonymous volume at the bridge dir is refused", `{"Volumes":{"/usr/local/share/terok-sandbox/bridges":{}}}`, "bridges"},
		{"a tmpfs at /run/terok is refused", `{"HostConfig":{"Tmpfs":{"/run/terok":""}}}`, "/run/terok"},
		{"a mount of type bind of the vault dir is refused", `{"HostConfig":{"Mounts":[{"Type":"bind","Source":"/var/lib/sw/vault","Target":"/v"}]}}`, "vault dir"},
		{"a TEROK variable is refused", `{"Env":["TEROK_GATE_TOKEN=mine"]}`, "TEROK_GATE_TOKEN"},
		{"a terok annotation is refused", `{"HostConfig":{"Annotations":{"terok.sandbox.sidecar":"/x"}}}`, "terok.sandbox.sidecar"},
		{"a terok label is refused", `{"Labels":{"terok.sandbox.sidecar":"/x"}}`, "terok.sandbox.sidecar"},
		{"a label of the user's passes", `{"Labels":{"app":"web"}}`, ""},
		{"privileged is refused", `{"HostConfig":{"Privileged":true}}`, "--privileged"},
		{"a seccomp override is refused", `{"HostConfig":{"SecurityOpt":["seccomp=unconfined"]}}`, "seccomp"},
		{"no-new-privileges passes", `{"HostConfig":{"SecurityOpt":["no-new-privileges"]}}`, ""},
		{"a capability add is refused", `{"HostConfig":{"CapAdd":["SYS_ADMIN"]}}`, "--cap-add"},
		{"a named network is refused", `{"HostConfig":{"NetworkMode":"mynet"}}`, "--network"},
		{"an endpoint on another network is refused", `{"NetworkingConfig":{"EndpointsConfig":{"mynet":{}}}}`, "--network"},
		{"host PID is refused", `{"HostConfig":{"PidMode":"host"}}`, "--pid"},
		{"another container's IPC is refused", `{"HostConfig":{"IpcMode":"container:other"}}`, "--ipc"},
		{"a user namespace is refused", `{"HostConfig":{"UsernsMode":"host"}}`, "--userns"},
		{"volumes-from is refused", `{"HostConfig":{"VolumesFrom":["other"]}}`, "--volumes-from"},
		{"a device at /run/terok is refused", `{"HostConfig":{"Devices":[{"PathOnHost":"/dev/null","PathInContainer":"/run/terok/x"}]}}`, "/run/terok"},
	}
	sb, err := New(cfg, WithNotes(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := dockerSpec(dockerBody(t, tc.body))
			if err != nil {
				t.Fatal(err)
			}
			err = sb.CheckSpec("box", s)
			switch {
			case tc.refused == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused)):
				t.Errorf("got %v, want a refusal naming %q", err, tc.refused)
			}
			var conflict *specmutate.ConflictError
			if err != nil && !errors.As(err, &conflict) {
				t.Errorf("refusal %v is not gate 2's", err)
			}
		})
	}
}

func TestQueryTrueReadsWhatPodmanCouldRead(t *testing.T) {
	cases := []struct {
		name  string
		query map[string][]string
		want  bool
	}{
		{"absent is false", nil, false},
		{"false is false", map[string][]string{"import": {"false"}}, false},
		{"another key case counts", map[string][]string{"IMPORT": {"1"}}, true},
		{"a repeated value counts if any is true", map[string][]string{"import": {"true", "false"}}, true},
		{"a value podman may fail on counts as true", map[string][]string{"import": {"yes"}}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := queryTrue(tc.query, "import"); got != tc.want {
				t.Errorf("queryTrue = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestServeScopeLabelChoosesAnAllowedScope(t *testing.T) {
	opts := ServeOptions{Request: Request{Scope: "default", NoShield: true}, Scopes: []string{"alpha", "beta"}}
	cases := []struct {
		name      string
		opts      ServeOptions
		labels    map[string]string
		wantScope string
		wantRest  map[string]string
		refused   bool
	}{
		{"no label keeps serve's scope", opts, map[string]string{"app": "web"}, "default", map[string]string{"app": "web"}, false},
		{"an allowed scope is taken and the label taken off", opts, map[string]string{ScopeLabel: "beta", "app": "web"}, "beta", map[string]string{"app": "web"}, false},
		{"a scope serve does not allow is refused", opts, map[string]string{ScopeLabel: "gamma"}, "", nil, true},
		{"an empty scope is refused", opts, map[string]string{ScopeLabel: ""}, "", nil, true},
		{"without --allow-scope every choice is refused", ServeOptions{Request: Request{Scope: "default"}}, map[string]string{ScopeLabel: "default"}, "", nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, had := tc.labels[ScopeLabel]
			req, rest, err := tc.opts.requestFor(tc.labels)
			if _, has := tc.labels[ScopeLabel]; has != had {
				t.Errorf("the caller's labels were changed")
			}
			if tc.refused {
				var r *Refusal
				if !errors.As(err, &r) || !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), ScopeLabel) {
					t.Fatalf("requestFor = %v, want a refusal naming %s", err, ScopeLabel)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if req.Scope != tc.wantScope || !req.NoShield && tc.opts.Request.NoShield || !reflect.DeepEqual(rest, tc.wantRest) {
				t.Errorf("request %+v, labels %v; want scope %q, the rest of serve's request, labels %v", req, rest, tc.wantScope, tc.wantRest)
			}
		})
	}
}

// routeVar is a variable of a route template.
var routeVar = regexp.MustCompile(`\{([a-z]+)(:\.\*)?\}`)

// routeRegexp is what a route means, as a regular expression over the
// escaped path: podman's optional version prefix, [/libpod] optional,
// {x} one segment, {x:.*} any run of characters.
func routeRegexp(route string) *regexp.Regexp {
	pat := regexp.QuoteMeta(route)
	pat = strings.NewReplacer(`\{`, `{`, `\}`, `}`, `\.\*`, `.*`, `\[/libpod\]`, `(?:/libpod)?`).Replace(pat)
	pat = routeVar.ReplaceAllStringFunc(pat, func(v string) string {
		m := routeVar.FindStringSubmatch(v)
		if m[2] != "" {
			return `(?P<` + m[1] + `>.*)`
		}
		return `(?P<` + m[1] + `>[^/]+)`
	})
	return regexp.MustCompile(`^(?:/v[0-9][0-9A-Za-z.-]*)?` + pat + `$`)
}

// regexpMatch is an endpoint whose regular expression matches a path,
// with its variables unescaped (nil when one does not unescape).
type regexpMatch struct {
	ep   *endpoint
	vars map[string]string
}

// regexpMatches are the endpoints whose regular expressions match an
// escaped path, in table order.
func regexpMatches(res []*regexp.Regexp, escaped string) []regexpMatch {
	var out []regexpMatch
	for i := range endpoints {
		m := res[i].FindStringSubmatch(escaped)
		if m == nil {
			continue
		}
		vars := map[string]string{}
		for j, name := range res[i].SubexpNames() {
			if name == "" {
				continue
			}
			v, err := url.PathUnescape(m[j])
			if err != nil {
				vars = nil
				break
			}
			vars[name] = v
		}
		out = append(out, regexpMatch{&endpoints[i], vars})
	}
	return out
}

// matchAll is match by the routes' regular expressions, over the whole
// table in order, without the index.
func matchAll(matches []regexpMatch, method string) (*endpoint, map[string]string, int) {
	code := http.StatusForbidden
	for _, m := range matches {
		if !slices.Contains(m.ep.methods, method) {
			code = http.StatusMethodNotAllowed
			continue
		}
		if m.vars == nil {
			return nil, nil, http.StatusBadRequest
		}
		return m.ep, m.vars, 0
	}
	return nil, nil, code
}

func TestRoutesMatchAsTheirRegularExpressionsWould(t *testing.T) {
	res := make([]*regexp.Regexp, len(endpoints))
	for i, ep := range endpoints {
		res[i] = routeRegexp(ep.route)
	}
	var paths []string
	for _, ep := range endpoints {
		for _, route := range []string{strings.ReplaceAll(ep.route, "[/libpod]", ""), strings.ReplaceAll(ep.route, "[/libpod]", "/libpod")} {
			for _, fill := range []string{"x", "a%2Fb", "v1.41", "a/b", "", "%zz"} {
				p := routeVar.ReplaceAllString(route, fill)
				paths = append(paths, p, "/v1-rc.2"+p, "/v5.8.2/libpod"+p, "/vx"+p, "/v1.41/v1.41"+p, p+"/more", p+"/")
			}
		}
	}
	paths = append(paths, "", "/", "x/containers/json", "/v1.41", "/v1.41/", "/libpod", "/libpod/", "/v5.8.2/libpod", "/v5.8.2/libpod/",
		"//containers/json", "/v/containers/json", "/V1.41/containers/json", "/v1/libpod", "/containers/json/",
		"/libpod/libpod/containers/json", "/v1.41_x/containers/json", "/v1.41/libpod/libpod/_ping")
	methods := []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch}
	for _, p := range paths {
		matches := regexpMatches(res, p)
		for _, m := range methods {
			got, gotVars, gotCode := match(m, p)
			want, wantVars, wantCode := matchAll(matches, m)
			if got != want || gotCode != wantCode || !reflect.DeepEqual(gotVars, wantVars) {
				t.Errorf("%s %s: matched %v %v (%d), its regular expressions give %v %v (%d)", m, p, routeOf(got), gotVars, gotCode, routeOf(want), wantVars, wantCode)
			}
		}
	}
}

func routeOf(ep *endpoint) string {
	if ep == nil {
		return "no endpoint"
	}
	return ep.route
}

func BenchmarkMatch(b *testing.B) {
	for _, path := range []string{"/v4.3.1/libpod/containers/web/json", "/_ping", "/v1.41/volumes/v"} {
		b.Run(path, func(b *testing.B) {
			for b.Loop() {
				match(http.MethodGet, path)
			}
		})
	}
}
