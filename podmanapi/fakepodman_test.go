package podmanapi_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/containers/podman/v5/libpod/define"
	"github.com/containers/podman/v5/pkg/domain/entities/types"
	"github.com/containers/podman/v5/pkg/errorhandling"
	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/containers/podman/v5/version"
)

// fakePodman is a libpod API service that answers the requests a connect
// and a create make the way podman v5.8.2's service does
// (pkg/api/server/register_*.go and the handlers they register):
//
//	GET  /_ping, /v{version}/libpod/_ping       200 "OK" (the bindings ping the latter)
//	GET  /v{version}/libpod/info                200 define.Info (counted)
//	POST /v{version}/libpod/containers/create   what create answers
//	GET  /v{version}/libpod/images/{name}/exists      204, or 404 with an error body
//	GET  /v{version}/libpod/containers/{name}/exists  204, or 404 with an error body
//	GET  /v{version}/libpod/events              what events answers
//	POST /v{version}/libpod/images/pull         what pull answers
//	POST /v{version}/libpod/containers/{name}/kill    what kill answers, 204 by default
//
// Every answer carries the API version headers of podman's API handler.
type fakePodman struct {
	// images and containers are the names the server knows.
	images, containers []string
	// create answers a create whose spec decoded.
	create func(w http.ResponseWriter, r *http.Request, s *specgen.SpecGenerator)
	// events answers an events request.
	events http.HandlerFunc
	// pull answers a pull; pulls are the queries of the pulls it got.
	pull  func(w http.ResponseWriter, r *http.Request)
	pulls []url.Values
	// kill, when set, answers a kill; kills are the signals the kills named.
	kill  func(w http.ResponseWriter, r *http.Request)
	kills []string
	// rootless, serverVersion and rootlessNetwork are what the info
	// reports; infos counts the info requests.
	rootless        bool
	serverVersion   string
	rootlessNetwork string
	infos           atomic.Int32
}

// start serves f on a unix socket at path and returns its URI.
func (f *fakePodman) start(t *testing.T, path string) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_ping", ping)
	mux.HandleFunc("GET /{version}/libpod/_ping", versioned(ping))
	mux.HandleFunc("GET /{version}/libpod/info", versioned(f.info))
	mux.HandleFunc("POST /{version}/libpod/containers/create", versioned(f.createContainer))
	mux.HandleFunc("GET /{version}/libpod/images/{rest...}", versioned(f.imageExists))
	mux.HandleFunc("GET /{version}/libpod/containers/{name}/exists", versioned(f.containerExists))
	if f.events != nil {
		mux.HandleFunc("GET /{version}/libpod/events", versioned(f.events))
	}
	mux.HandleFunc("POST /{version}/libpod/images/pull", versioned(f.pullImage))
	mux.HandleFunc("POST /{version}/libpod/containers/{name}/kill", versioned(f.killContainer))
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(withAPIHeaders(mux))
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return "unix://" + path
}

// versionPath is what podman's router takes for the {version} segment.
var versionPath = regexp.MustCompile(`^v[0-9][0-9A-Za-z.-]*$`)

func versioned(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !versionPath.MatchString(r.PathValue("version")) {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}
}

func withAPIHeaders(h http.Handler) http.Handler {
	compat := version.APIVersion[version.Compat][version.CurrentAPI]
	libpod := version.APIVersion[version.Libpod][version.CurrentAPI].String()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("API-Version", compat.String())
		w.Header().Set("Libpod-API-Version", libpod)
		w.Header().Set("Server", "Libpod/"+libpod+" (linux)")
		h.ServeHTTP(w, r)
	})
}

func ping(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("OK"))
}

func (f *fakePodman) info(w http.ResponseWriter, _ *http.Request) {
	f.infos.Add(1)
	v := f.serverVersion
	if v == "" {
		v = version.Version.String()
	}
	info := define.Info{
		Host:    &define.HostInfo{Security: define.SecurityInfo{Rootless: f.rootless}, RootlessNetworkCmd: f.rootlessNetwork},
		Store:   &define.StoreInfo{},
		Version: define.Version{Version: v, APIVersion: v},
	}
	writeJSON(w, http.StatusOK, info)
}

func (f *fakePodman) createContainer(w http.ResponseWriter, r *http.Request) {
	var s specgen.SpecGenerator
	if err := json.NewDecoder(r.Body).Decode(&s); err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	f.create(w, r, &s)
}

func (f *fakePodman) pullImage(w http.ResponseWriter, r *http.Request) {
	f.pulls = append(f.pulls, r.URL.Query())
	f.pull(w, r)
}

func (f *fakePodman) killContainer(w http.ResponseWriter, r *http.Request) {
	f.kills = append(f.kills, r.URL.Query().Get("signal"))
	if f.kill == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	f.kill(w, r)
}

func (f *fakePodman) imageExists(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutSuffix(r.PathValue("rest"), "/exists")
	if !ok {
		http.NotFound(w, r)
		return
	}
	exists(w, f.images, name)
}

func (f *fakePodman) containerExists(w http.ResponseWriter, r *http.Request) {
	exists(w, f.containers, r.PathValue("name"))
}

func exists(w http.ResponseWriter, known []string, name string) {
	for _, k := range known {
		if k == name {
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	writeError(w, http.StatusNotFound, fmt.Errorf("%s is not known", name))
}

// writeError writes podman's error body for err with the status code.
func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, errorhandling.ErrorModel{
		Because:      errorhandling.Cause(err).Error(),
		Message:      err.Error(),
		ResponseCode: code,
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// created answers a create with the container's ID.
func created(id string, warnings ...string) func(http.ResponseWriter, *http.Request, *specgen.SpecGenerator) {
	return func(w http.ResponseWriter, _ *http.Request, _ *specgen.SpecGenerator) {
		writeJSON(w, http.StatusCreated, types.ContainerCreateResponse{ID: id, Warnings: warnings})
	}
}

// refused answers a create with podman's error body.
func refused(code int, err error) func(http.ResponseWriter, *http.Request, *specgen.SpecGenerator) {
	return func(w http.ResponseWriter, _ *http.Request, _ *specgen.SpecGenerator) {
		writeError(w, code, err)
	}
}

// pulled answers a pull as podman's handler does when it streams: each
// progress message, then the image IDs, or error when it is not empty.
func pulled(pullErr string, progress ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		enc := json.NewEncoder(w)
		for _, p := range progress {
			_ = enc.Encode(types.ImagePullReport{Stream: p})
		}
		if pullErr != "" {
			_ = enc.Encode(types.ImagePullReport{Error: pullErr})
			return
		}
		_ = enc.Encode(types.ImagePullReport{Images: []string{pulledID}, ID: pulledID})
	}
}

// pulledID is the ID of every image the fake pulls.
const pulledID = "8f1e2d3c4b5a69788f1e2d3c4b5a69788f1e2d3c4b5a69788f1e2d3c4b5a6978"

// hangUp closes the connection without an answer, as a service that dies
// mid-request does.
func hangUp(w http.ResponseWriter, _ *http.Request, _ *specgen.SpecGenerator) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

// holdUntilGone never answers; the client must give up. It closes arrived
// once the request is in.
func holdUntilGone(arrived chan<- struct{}) func(http.ResponseWriter, *http.Request, *specgen.SpecGenerator) {
	return func(_ http.ResponseWriter, r *http.Request, _ *specgen.SpecGenerator) {
		close(arrived)
		<-r.Context().Done()
	}
}

// socketPath is the i-th socket's path in dir, short enough for sun_path.
func socketPath(dir string, i int) string {
	return filepath.Join(dir, strconv.Itoa(i)+".sock")
}
