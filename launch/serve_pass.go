package launch

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// A request without a body — inspect, ping, list, start, wait — is most
// of what a client sends. httputil.ReverseProxy hands each request to its
// Transport's writer and reader goroutines and back, and on two cores
// those handoffs cost as much as the hop itself (BENCHMARKS.md, "Serve").
// passBodiless carries such a request in the handler's own goroutine on
// a kept-alive connection of upPool, as a byte pipe would but knowing
// where each answer ends.

// copyBufs are answer's buffers: most answers without a length are an
// inspect or a list, and a buffer made for each would be garbage at once.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// upPool keeps idle connections to the podman service.
type upPool struct {
	mu   sync.Mutex
	idle []*upConn
}

// maxIdleUp bounds the idle connections kept, as MaxIdleConnsPerHost does
// for the Transport.
const maxIdleUp = 16

// upConn is a connection to the service with its buffers.
type upConn struct {
	net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

func (u *upPool) get() *upConn {
	u.mu.Lock()
	defer u.mu.Unlock()
	if n := len(u.idle); n > 0 {
		c := u.idle[n-1]
		u.idle = u.idle[:n-1]
		return c
	}
	return nil
}

func (u *upPool) put(c *upConn) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.idle) >= maxIdleUp {
		c.Close()
		return
	}
	u.idle = append(u.idle, c)
}

// bodiless reports whether r has no body to carry.
func bodiless(r *http.Request) bool {
	return r.ContentLength == 0 && len(r.TransferEncoding) == 0
}

// passBodiless forwards a request without a body and streams the answer
// back, as ReverseProxy would: hop-by-hop headers dropped both ways, an
// answer without a length flushed as it comes.
func (p *proxy) passBodiless(w http.ResponseWriter, r *http.Request) {
	out := outbound(r)
	out.Body, out.ContentLength = http.NoBody, 0
	for {
		up, reused, err := p.upConn(r.Context())
		if err != nil {
			badGateway(w, r, err)
			return
		}
		// A client that goes away before the service has answered, or
		// while it still is (a wait, a stream), ends the exchange; the
		// connection is not kept.
		stop := context.AfterFunc(r.Context(), func() { _ = up.SetDeadline(time.Unix(1, 0)) })
		resp, err := exchange(up, out)
		if err != nil {
			stop()
			up.Close()
			// A kept connection the service closed meanwhile fails before
			// any answer: a read (GET, HEAD), which podman may be sent
			// twice, is sent again.
			if reused && r.Context().Err() == nil && (out.Method == http.MethodGet || out.Method == http.MethodHead) {
				logrus.Debugf("serve: a kept connection to the podman service failed (%v); sending again", err)
				continue
			}
			badGateway(w, r, err)
			return
		}
		keep := answer(w, resp, up.br.Buffered)
		if !stop() {
			keep = false // its deadline is set, or being set
		}
		if keep && !resp.Close {
			p.up.put(up)
			return
		}
		up.Close()
		return
	}
}

// outbound is the request to send the service for r, as a proxy sends it:
// the client's end-to-end headers, not its connection's.
func outbound(r *http.Request) *http.Request {
	out := r.Clone(context.WithoutCancel(r.Context()))
	out.RequestURI = ""
	out.Close = false // the client's connection is not the service's
	out.Header = make(http.Header, len(r.Header))
	copyEndToEnd(out.Header, r.Header)
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header.Set("User-Agent", "") // Write would add Go's own
	}
	return out
}

// upConn is an idle connection, or a new one.
func (p *proxy) upConn(ctx context.Context) (_ *upConn, reused bool, _ error) {
	if c := p.up.get(); c != nil {
		return c, true, nil
	}
	conn, err := p.dial(ctx)
	if err != nil {
		return nil, false, err
	}
	return &upConn{Conn: conn, br: bufio.NewReaderSize(conn, 64<<10), bw: bufio.NewWriter(conn)}, false, nil
}

// exchange writes out on c and reads the answer's head.
func exchange(c *upConn, out *http.Request) (*http.Response, error) {
	if err := out.Write(c.bw); err != nil {
		return nil, err
	}
	if err := c.bw.Flush(); err != nil {
		return nil, err
	}
	return http.ReadResponse(c.br, out)
}

// answer writes resp to w and reports whether its body was read to the
// end, so that the connection it came on may carry another. An answer
// without a length is flushed whenever what has arrived of it is written
// (buffered says how much is left): a stream as it comes, and an answer
// the service wrote in several chunks in one write to the client.
func answer(w http.ResponseWriter, resp *http.Response, buffered func() int) bool {
	defer resp.Body.Close()
	copyEndToEnd(w.Header(), resp.Header)
	w.WriteHeader(resp.StatusCode)
	if resp.ContentLength >= 0 {
		_, err := io.Copy(w, resp.Body)
		return err == nil
	}
	// The head goes at once when nothing of the body came with it: podman
	// flushes it alone before a wait or a stream has anything to say, and
	// a client waits for it. An answer that came with its head (an
	// inspect, a list) goes out with it, sparing the client a write and a
	// wakeup for the head alone.
	flush := http.NewResponseController(w).Flush
	if buffered() == 0 && flush() != nil {
		return false
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return false
			}
		}
		if errors.Is(err, io.EOF) {
			return true
		}
		if err == nil && buffered() == 0 && flush() != nil {
			return false
		}
		if err != nil {
			return false
		}
	}
}
