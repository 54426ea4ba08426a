package integration

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestServeDecidesOnTheBytesPodmanActsOn sends requests whose framing or
// spelling could make a proxy decide on one reading and podman act on
// another (a chunked or oversized body, a second JSON value, a name given
// twice, an Upgrade where podman hijacks nothing, a query key in another
// case) and checks the answer and the real server afterwards.
func TestServeDecidesOnTheBytesPodmanActsOn(t *testing.T) {
	sb := newSandbox(t)
	s := startServe(t, sb, "--scope", "proj", "--no-shield")
	podman4 := serverMajor(t) < 5
	img := svc.Image()
	const wired = "sw-hostile-wired"
	removeContainerAtEnd(t, wired)
	s.podman(t, "create", "--name", wired, img, "true")

	cases := []struct {
		name, method, path, body string
		chunked, upgrade         bool
		wantCode                 int
		// made is the container the request may make, checked to be
		// wired and unprivileged; "" wants none made.
		made string
	}{
		{name: "a chunked Docker create is read whole and refused", method: "POST", path: "/v1.41/containers/create?name=sw-hostile-1",
			body: `{"Image":"` + img + `","HostConfig":{"Privileged":true}}`, chunked: true, wantCode: http.StatusForbidden},
		{name: "a chunked libpod create is read whole and wired", method: "POST", path: "/v5.0.0/libpod/containers/create",
			body: `{"image":"` + img + `","name":"sw-hostile-2"}`, chunked: true, wantCode: http.StatusCreated, made: "sw-hostile-2"},
		{name: "an empty create body is refused", method: "POST", path: "/v1.41/containers/create?name=sw-hostile-3",
			body: "", wantCode: http.StatusBadRequest},
		{name: "a body over the bound is refused", method: "POST", path: "/v5.0.0/libpod/containers/create",
			body: `{"image":"` + img + `","name":"sw-hostile-4","env":{"A":"` + strings.Repeat("x", 5<<20) + `"}}`, wantCode: http.StatusRequestEntityTooLarge},
		{name: "a second JSON value after the body never reaches podman", method: "POST", path: "/v1.41/containers/create?name=sw-hostile-5",
			body: `{"Image":"` + img + `"}{"Image":"` + img + `","HostConfig":{"Privileged":true}}`, wantCode: 0, made: "sw-hostile-5"},
		{name: "two names in the query in two cases are refused", method: "POST", path: "/v1.41/containers/create?name=sw-hostile-6&NAME=sw-hostile-7",
			body: `{"Image":"` + img + `"}`, wantCode: http.StatusBadRequest},
		{name: "the query's name wins over the body's, as in podman", method: "POST", path: "/v1.41/containers/create?Name=sw-hostile-8",
			body: `{"Image":"` + img + `","Name":"sw-hostile-9"}`, wantCode: 0, made: "sw-hostile-8"},
		{name: "an Upgrade where podman hijacks nothing gets a plain answer", method: "GET", path: "/v1.41/containers/json",
			upgrade: true, wantCode: http.StatusOK},
		{name: "a restore with import in another case is refused", method: "POST", path: "/v5.0.0/libpod/containers/" + wired + "/restore?IMPORT=TRUE",
			wantCode: http.StatusForbidden},
		{name: "a commit naming the container in another case is refused", method: "POST", path: "/v1.41/commit?Container=" + wired,
			wantCode: http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.made != "" {
				removeContainerAtEnd(t, tc.made)
			}
			req, err := http.NewRequest(tc.method, "http://d"+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.chunked {
				req.ContentLength, req.TransferEncoding = -1, []string{"chunked"}
			}
			req.Header.Set("Content-Type", "application/json")
			if tc.upgrade {
				req.Header.Set("Connection", "Upgrade")
				req.Header.Set("Upgrade", "tcp")
			}
			resp, err := s.client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want, made := tc.wantCode, tc.made
			if want == 0 {
				// A Docker create that serve lets through: podman 4 drops
				// its annotations, and serve takes the container away.
				want = http.StatusCreated
				if podman4 {
					want, made = http.StatusPreconditionFailed, ""
				}
			}
			if resp.StatusCode != want {
				t.Fatalf("answer %d %s, want %d", resp.StatusCode, data, want)
			}
			if made == "" {
				if tc.made != "" && containerExists(t, tc.made) {
					t.Errorf("%s was left on the server", tc.made)
				}
				return
			}
			sb.assertWired(made)
			if inspect(t, made).HostConfig.Privileged {
				t.Errorf("%s is privileged", made)
			}
		})
	}
	for _, n := range []string{"sw-hostile-1", "sw-hostile-3", "sw-hostile-4", "sw-hostile-6", "sw-hostile-7", "sw-hostile-9"} {
		if containerExists(t, n) {
			removeContainerAtEnd(t, n)
			t.Errorf("%s was made", n)
		}
		sb.assertNoState(n)
	}
	if c := inspect(t, wired); c.Name != wired {
		t.Errorf("the wired container is now %q", c.Name)
	}
}
