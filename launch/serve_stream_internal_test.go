package launch

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serveUnix serves h on a unix socket in a temp dir and returns its path.
func serveUnix(t *testing.T, h http.Handler) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return path
}

// pacedFront is a server that carries each request to the service at
// upstream the way stream does; done receives once each handler returns.
func pacedFront(t *testing.T, upstream string, done chan<- struct{}) *http.Client {
	t.Helper()
	return clientOf(frontOf(t, upstream, done, func(w http.ResponseWriter, r *http.Request, up net.Conn) {
		src, err := detach(up)
		if err != nil {
			t.Error(err)
			return
		}
		carryPaced(w, r, nil, src)
	}))
}

// frontOf is a server that carries each request on a new connection to
// the service at upstream with carry, and returns its socket; done
// receives once each handler returns.
func frontOf(t *testing.T, upstream string, done chan<- struct{}, carry func(w http.ResponseWriter, r *http.Request, up net.Conn)) string {
	t.Helper()
	return serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if done != nil {
				done <- struct{}{}
			}
		}()
		up, err := net.Dial("unix", upstream)
		if err != nil {
			t.Error(err)
			return
		}
		carry(w, r, up)
	}))
}

// clientOf is an HTTP client of the unix socket at path.
func clientOf(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}
}

// rawUnix answers each connection on a unix socket with answer, once it
// has read the request's head, and closes it.
func rawUnix(t *testing.T, answer func(w *bufio.Writer)) string {
	t.Helper()
	return rawService(t, nil, func(_ *http.Request, w *bufio.Writer) { answer(w) })
}

// rawService answers each connection on a unix socket with what answer
// writes for the request read, and closes it; each request read is sent
// on got, when there is one.
func rawService(t *testing.T, got chan<- *http.Request, answer func(r *http.Request, w *bufio.Writer)) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "raw.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				if got != nil {
					got <- r
				}
				w := bufio.NewWriter(c)
				answer(r, w)
				w.Flush()
			}()
		}
	}()
	return path
}

func TestStreamCarriesEveryLineInOrderWithTheEndToEndHeaders(t *testing.T) {
	const lines = 20000
	// As podman writes a stream: chunked, a line a chunk, each flushed;
	// with a header that its Connection header names as this hop's.
	up := rawUnix(t, func(w *bufio.Writer) {
		fmt.Fprint(w, "HTTP/1.1 200 OK\r\nContent-Type: application/x-lines\r\nX-Kept: yes\r\nConnection: X-Hop\r\nX-Hop: this connection's only\r\nTransfer-Encoding: chunked\r\n\r\n")
		for i := range lines {
			line := fmt.Sprintf("line %d of a stream written and flushed a line at a time\n", i)
			fmt.Fprintf(w, "%x\r\n%s\r\n", len(line), line)
			w.Flush()
		}
		fmt.Fprint(w, "0\r\n\r\n")
	})
	resp, err := pacedFront(t, up, nil).Get("http://podman/v5.8.2/libpod/containers/x/logs?follow=false")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	for i := range lines {
		fmt.Fprintf(&want, "line %d of a stream written and flushed a line at a time\n", i)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("carried %d bytes, want the %d the service wrote, in order", len(got), want.Len())
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-lines" || resp.Header.Get("X-Kept") != "yes" {
		t.Errorf("answer %d with headers %v, want 200 with the service's end-to-end headers", resp.StatusCode, resp.Header)
	}
	if v := resp.Header.Get("X-Hop"); v != "" {
		t.Errorf("a header the service's Connection header named was carried on: X-Hop: %s", v)
	}
}

func TestStreamCarriesALoneLineAtOnce(t *testing.T) {
	next := make(chan struct{})
	up := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "first")
		w.(http.Flusher).Flush()
		// The second line is written only once the client has the first:
		// a first line held back for company would never arrive.
		select {
		case <-next:
		case <-r.Context().Done():
			return
		}
		fmt.Fprintln(w, "second")
	}))
	resp, err := pacedFront(t, up, nil).Get("http://podman/v5.8.2/libpod/events?stream=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	first := make(chan string, 1)
	go func() {
		line, _ := br.ReadString('\n')
		first <- line
	}()
	select {
	case line := <-first:
		if line != "first\n" {
			t.Fatalf("first line %q", line)
		}
	case <-time.After(10 * time.Second):
		close(next)
		t.Fatal("the first line did not arrive while the service waited for the client to have it")
	}
	close(next)
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "second\n" {
		t.Errorf("rest %q, %v; want the second line and the end", rest, err)
	}
}

func TestStreamEndsWhenTheClientGoesAway(t *testing.T) {
	gone := make(chan struct{})
	up := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "a line, then nothing for as long as the client stays")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		close(gone)
	}))
	done := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://podman/v5.8.2/libpod/containers/x/logs?follow=true", nil)
	resp, err := pacedFront(t, up, done).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil || !strings.HasPrefix(line, "a line") {
		t.Fatalf("first line %q, %v", line, err)
	}
	cancel()
	resp.Body.Close()
	for what, ch := range map[string]<-chan struct{}{"the service saw its client go": gone, "the handler returned": done} {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Errorf("after the client went away, not so: %s", what)
		}
	}
}

func TestDetachRefusesAConnectionWithoutASocket(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	if _, err := detach(a); !errors.Is(err, errNotDetachable) {
		t.Errorf("detach(net.Pipe) = %v, want %v", err, errNotDetachable)
	}
	if _, err := a.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("the connection was left open: write gives %v", err)
	}
}

func TestStreamHeadArrivesBeforeAnyLine(t *testing.T) {
	next := make(chan struct{})
	up := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush() // as podman's events before the first event
		select {
		case <-next:
		case <-r.Context().Done():
			return
		}
		fmt.Fprintln(w, "an event")
	}))
	answered := make(chan *http.Response, 1)
	go func() {
		resp, err := pacedFront(t, up, nil).Get("http://podman/v5.8.2/libpod/events?stream=true")
		if err != nil {
			t.Error(err)
		}
		answered <- resp
	}()
	var resp *http.Response
	select {
	case resp = <-answered:
	case <-time.After(10 * time.Second):
		close(next)
		t.Fatal("the client had no answer while the stream had no line yet")
	}
	close(next)
	if resp == nil {
		return
	}
	defer resp.Body.Close()
	if body, err := io.ReadAll(resp.Body); err != nil || string(body) != "an event\n" {
		t.Errorf("stream %q, %v", body, err)
	}
}
