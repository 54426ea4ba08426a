package launch

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"testing"
	"time"
)

// bulkFront is a server that carries each request to the service at
// upstream the way bulk does, and returns its socket; done receives once
// each handler returns.
func bulkFront(t *testing.T, upstream string, done chan<- struct{}) string {
	t.Helper()
	return frontOf(t, upstream, done, carryBulk)
}

// rawGet sends a GET for target on a new connection to the unix socket at
// path and returns all the bytes that come back until the server closes.
func rawGet(t *testing.T, path, target string) []byte {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: d\r\nConnection: keep-alive\r\n\r\n", target)
	all, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading until serve closes the connection: %v", err)
	}
	return all
}

// chunked frames data in chunks of the sizes given in turn, as a server
// that wrote it in pieces would, with a chunk extension on the first.
func chunked(data []byte, sizes ...int) []byte {
	var b bytes.Buffer
	for i := 0; len(data) > 0; i++ {
		n := min(sizes[i%len(sizes)], len(data))
		ext := ""
		if i == 0 {
			ext = ";name=value"
		}
		fmt.Fprintf(&b, "%x%s\r\n%s\r\n", n, ext, data[:n])
		data = data[n:]
	}
	b.WriteString("0\r\n\r\n")
	return b.Bytes()
}

func TestBulkCarriesTheServicesChunksAsTheyCame(t *testing.T) {
	data := make([]byte, 5<<20+17)
	for i := range data {
		data[i] = byte(rand.IntN(256))
	}
	body := chunked(data, 32<<10, 1, 200<<10, 4096)
	got := make(chan *http.Request, 1)
	up := rawService(t, got, func(_ *http.Request, w *bufio.Writer) {
		w.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nX-Docker-Container-Path-Stat: e30=\r\n" +
			"Connection: X-Hop\r\nX-Hop: this connection's only\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\n\r\n")
		w.Write(body)
	})
	all := rawGet(t, bulkFront(t, up, nil), "/v5.8.2/libpod/containers/x/archive?path=/big")

	if req := <-got; !req.Close {
		t.Errorf("the service was asked with Connection %q; want close, its end being the answer's", req.Header.Get("Connection"))
	}
	br := bufio.NewReader(bytes.NewReader(all))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the answer's head: %v", err)
	}
	rest, _ := io.ReadAll(br)
	if !bytes.Equal(rest, body) {
		t.Errorf("the body came as %d bytes, not as the service's %d bytes of chunks", len(rest), len(body))
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-tar" || resp.Header.Get("X-Docker-Container-Path-Stat") != "e30=" {
		t.Errorf("answer %d with headers %v, want 200 with the service's end-to-end headers", resp.StatusCode, resp.Header)
	}
	if !resp.Close || len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("head says close %v and transfer encoding %v; want close and chunked", resp.Close, resp.TransferEncoding)
	}
	for _, h := range []string{"X-Hop", "Keep-Alive"} {
		if v := resp.Header.Get(h); v != "" {
			t.Errorf("the service's hop-by-hop header was carried on: %s: %s", h, v)
		}
	}
	decoded, err := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(body)))
	if err != nil || !bytes.Equal(decoded, data) {
		t.Errorf("the chunks decode to %d bytes (%v), want the %d written", len(decoded), err, len(data))
	}
}

func TestBulkAnswerWithALengthIsPassedOnAKeptConnection(t *testing.T) {
	const msg = `{"cause":"no such file or directory","message":"\"/nope\" could not be found on container x","response":404}`
	up := rawUnix(t, func(w *bufio.Writer) {
		fmt.Fprintf(w, "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(msg), msg)
	})
	resp, err := clientOf(bulkFront(t, up, nil)).Get("http://d/v5.8.2/libpod/containers/x/archive?path=/nope")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNotFound || string(got) != msg {
		t.Errorf("answer %d %q, want the service's 404 and its body", resp.StatusCode, got)
	}
	if resp.Close {
		t.Error("an answer with a length closed the client's connection")
	}
}

func TestBulkBehindAWriterThatCannotHijackIsCopied(t *testing.T) {
	data := bytes.Repeat([]byte("tar bytes "), 100000)
	up := rawUnix(t, func(w *bufio.Writer) {
		w.WriteString("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
		w.Write(chunked(data, 32<<10))
	})
	conn, err := net.Dial("unix", up)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder() // no Hijack, as a wrapping middleware's writer
	carryBulk(w, httptest.NewRequest(http.MethodGet, "/v5.8.2/libpod/containers/x/export", nil), conn)
	if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), data) {
		t.Errorf("answer %d with %d bytes, want 200 with the %d the service sent", w.Code, w.Body.Len(), len(data))
	}
}

func TestBulkEndsWhenTheClientGoesAway(t *testing.T) {
	gone := make(chan struct{})
	up := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(gone)
		chunk := bytes.Repeat([]byte{'x'}, 32<<10)
		for {
			if _, err := w.Write(chunk); err != nil {
				return // as podman's archive writer, once its client is gone
			}
		}
	}))
	done := make(chan struct{}, 1)
	c, err := net.Dial("unix", bulkFront(t, up, done))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(c, "GET /v5.8.2/libpod/containers/x/archive?path=/big HTTP/1.1\r\nHost: d\r\n\r\n")
	if _, err := io.ReadFull(c, make([]byte, 1<<20)); err != nil {
		t.Fatalf("the answer's first MiB: %v", err)
	}
	c.Close()
	for what, ch := range map[string]<-chan struct{}{"the service saw its client go": gone, "the handler returned": done} {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Errorf("after the client went away, not so: %s", what)
		}
	}
}
