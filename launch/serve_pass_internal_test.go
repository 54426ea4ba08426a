package launch

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// bodilessFront is serve's pass of bodiless requests in front of the
// service h; conns counts the connections the service was opened.
func bodilessFront(t *testing.T, h http.Handler) (client *http.Client, conns *atomic.Int32, svc *httptest.Server) {
	t.Helper()
	conns = new(atomic.Int32)
	path := filepath.Join(t.TempDir(), "svc.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	svc = httptest.NewUnstartedServer(h)
	svc.Listener = l
	svc.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	svc.Start()
	t.Cleanup(svc.Close)
	p := &proxy{dial: func(ctx context.Context) (net.Conn, error) { return (&net.Dialer{}).DialContext(ctx, "unix", path) }}
	front := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { pass(p, w, r, nil) }))
	return clientOf(front), conns, svc
}

func doReq(t *testing.T, c *http.Client, method, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestBodilessRequestsShareOneKeptConnection(t *testing.T) {
	c, conns, _ := bodilessFront(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", r.Method, r.URL.RequestURI())
	}))
	for i := range 20 {
		want := fmt.Sprintf("GET /v5.8.2/libpod/containers/c%d/json?size=true", i)
		if _, body := doReq(t, c, http.MethodGet, "http://podman/v5.8.2/libpod/containers/c"+fmt.Sprint(i)+"/json?size=true", nil); body != want {
			t.Fatalf("answer %q, want %q", body, want)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("20 requests one after the other opened %d connections to the service, want 1", n)
	}
}

func TestBodilessPassCarriesTheEndToEndHeadersOnly(t *testing.T) {
	var seen http.Header
	c, _, _ := bodilessFront(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		w.Header().Set("X-Answer", "kept")
		w.Header().Set("Content-Length", "2")
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "ok")
	}))
	resp, body := doReq(t, c, http.MethodGet, "http://podman/_ping", http.Header{
		"X-Asked":    {"kept"},
		"User-Agent": {"podman/5.8.2"},
		"Connection": {"X-Hop"},
		"X-Hop":      {"the client's hop only"},
	})
	if resp.StatusCode != http.StatusAccepted || body != "ok" || resp.Header.Get("X-Answer") != "kept" || resp.ContentLength != 2 {
		t.Errorf("answer %d %q (length %d) with %v, want the service's 202 \"ok\" with its headers", resp.StatusCode, body, resp.ContentLength, resp.Header)
	}
	if seen.Get("X-Asked") != "kept" || seen.Get("X-Hop") != "" {
		t.Errorf("the service was sent %v, want X-Asked and not X-Hop", seen)
	}
	if ua := seen.Values("User-Agent"); len(ua) != 1 || ua[0] != "podman/5.8.2" {
		t.Errorf("the service was sent User-Agent %q, want the client's", ua)
	}
}

func TestBodilessAnswerInChunksArrivesWhole(t *testing.T) {
	chunk := strings.Repeat("x", 3000)
	c, _, _ := bodilessFront(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 5 {
			io.WriteString(w, chunk)
			w.(http.Flusher).Flush()
		}
	}))
	if _, body := doReq(t, c, http.MethodGet, "http://podman/v4.3.1/libpod/containers/c/json", nil); body != strings.Repeat(chunk, 5) {
		t.Errorf("carried %d bytes, want %d", len(body), 5*len(chunk))
	}
}

func TestBodilessGetIsSentAgainWhenTheKeptConnectionWasClosed(t *testing.T) {
	c, conns, svc := bodilessFront(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "answer")
	}))
	doReq(t, c, http.MethodGet, "http://podman/_ping", nil)
	svc.CloseClientConnections() // as a service that ends idle connections
	if resp, body := doReq(t, c, http.MethodGet, "http://podman/_ping", nil); resp.StatusCode != http.StatusOK || body != "answer" {
		t.Errorf("after the service closed the kept connection: %d %q, want the answer", resp.StatusCode, body)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections to the service, want 2", n)
	}
}

func TestBodilessWaitEndsWhenTheClientGoesAway(t *testing.T) {
	for _, tc := range []struct {
		name      string
		headFirst bool
	}{
		{"after the service sent the head", true},
		{"before the service answered at all", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gone, arrived := make(chan struct{}), make(chan struct{}, 1)
			c, conns, _ := bodilessFront(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/_ping" {
					io.WriteString(w, "OK")
					return
				}
				arrived <- struct{}{}
				if tc.headFirst {
					w.WriteHeader(http.StatusOK)
					w.(http.Flusher).Flush()
				}
				<-r.Context().Done() // a wait that never ends on its own
				close(gone)
			}))
			ctx, cancel := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://podman/v5.8.2/libpod/containers/c/wait", nil)
			if tc.headFirst {
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				cancel()
				resp.Body.Close()
			} else {
				done := make(chan struct{})
				go func() {
					defer close(done)
					if _, err := c.Do(req); err == nil {
						t.Error("the client had an answer to a wait the service never answered")
					}
				}()
				<-arrived // the client gives up once the service has the request
				cancel()
				<-done
			}
			select {
			case <-gone:
			case <-time.After(10 * time.Second):
				t.Fatal("the service's wait went on after the client went away")
			}
			// The connection of the broken exchange is not used again.
			if _, body := doReq(t, c, http.MethodGet, "http://podman/_ping", nil); body != "OK" {
				t.Errorf("a request after the broken one: %q", body)
			}
			if n := conns.Load(); n != 2 {
				t.Errorf("%d connections to the service, want 2 (the broken one is not kept)", n)
			}
		})
	}
}

func TestBodilessPassOfAnUnreachableServiceIsABadGateway(t *testing.T) {
	p := &proxy{dial: func(ctx context.Context) (net.Conn, error) {
		return nil, fmt.Errorf("%w: no service", ErrUnavailable)
	}}
	rec := httptest.NewRecorder()
	pass(p, rec, httptest.NewRequest(http.MethodGet, "/_ping", nil), nil)
	if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), "no service") {
		t.Errorf("%d %s, want 502 naming the cause", rec.Code, rec.Body)
	}
}
