package launch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// A line stream — logs, events, stats — comes from podman a line at a
// time, each line written and flushed on its own. Read through the Go
// runtime's poller, every line wakes serve, and every line serve writes on
// wakes the client: two more wakeups per line than a client reading
// straight from the service, which on a two-core machine cost a tenth of
// the stream's throughput, whatever buffers serve used (BENCHMARKS.md,
// "Serve"). So serve reads such an answer from a blocking socket that no
// poller watches, and after a short read waits streamPace before it reads
// again: lines that arrive meanwhile wake nobody and are carried on
// together. A line that comes alone is carried at once, since the read
// was waiting for it; only a burst is gathered, by at most streamPace.
const (
	streamPace = 500 * time.Microsecond
	// streamShortRead is a read small enough to wait after: a bulk
	// transfer fills far more of the socket's buffer per read.
	streamShortRead = 32 << 10
	streamBuffer    = 256 << 10
)

// stream passes a request whose answer is a line stream, reading the
// answer as paced reads (see streamPace). A connection to the service that
// cannot be taken off the poller is passed as any other request.
func stream(p *proxy, w http.ResponseWriter, r *http.Request, vars map[string]string) {
	body, up, ok := p.bodyAndConn(w, r)
	if !ok {
		return
	}
	src, err := detach(up)
	if err != nil {
		logrus.Debugf("serve: %s %s passed unpaced: %v", r.Method, r.URL.Path, err)
		setBodyRaw(r, body)
		pass(p, w, r, vars)
		return
	}
	carryPaced(w, r, body, src)
}

// carryPaced sends r, with body, to the service on src, its own
// connection, and carries the answer back to w; src is closed at the end.
func carryPaced(w http.ResponseWriter, r *http.Request, body []byte, src *pacedConn) {
	defer src.Close()
	// A client that goes away ends the request: the blocking read is
	// woken by shutting the socket down.
	stop := context.AfterFunc(r.Context(), src.shutdown)
	defer stop()

	out := outbound(r)
	out.Close = true // the connection is this request's alone
	setBodyRaw(out, body)
	bw := bufio.NewWriter(src)
	err := out.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		badGateway(w, r, err)
		return
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(src, streamBuffer), out)
	if err != nil {
		writeError(w, http.StatusBadGateway, fmt.Errorf("reading the podman service's answer to %s %s: %w", r.Method, r.URL.Path, err))
		return
	}
	defer resp.Body.Close()
	copyEndToEnd(w.Header(), resp.Header)
	w.WriteHeader(resp.StatusCode)
	// The head goes at once, before the stream has a line.
	flush := http.NewResponseController(w).Flush
	if flush() != nil {
		return
	}
	buf := make([]byte, streamBuffer)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if werr := flush(); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && r.Context().Err() == nil {
				logrus.Debugf("serve: %s %s: the podman service's answer broke off: %v", r.Method, r.URL.Path, err)
			}
			return
		}
	}
}

// hopByHop are the headers of one connection (RFC 9110, 7.6.1), which a
// proxy does not carry on.
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// copyEndToEnd copies the headers of src that are not hop-by-hop to dst:
// neither one of hopByHop nor one that src's Connection header names.
func copyEndToEnd(dst, src http.Header) {
	named := src.Values("Connection")
	for k, vs := range src {
		if slices.Contains(hopByHop, k) || len(named) > 0 && connectionNames(named, k) {
			continue
		}
		dst[k] = append(dst[k][:0:0], vs...)
	}
}

// connectionNames reports whether the values of a Connection header name
// the header key.
func connectionNames(values []string, key string) bool {
	for _, v := range values {
		for name := range strings.SplitSeq(v, ",") {
			if http.CanonicalHeaderKey(strings.TrimSpace(name)) == key {
				return true
			}
		}
	}
	return false
}

// pacedConn is a connection to the service taken off the runtime's
// poller: a blocking socket, read as streamPace says. Its reads and writes
// hold an OS thread while they block.
type pacedConn struct {
	mu     sync.Mutex
	fd     int // -1 once closed
	paused bool
}

// errNotDetachable: the connection has no file descriptor of its own.
var errNotDetachable = errors.New("the connection to the podman service is not a socket of this process")

// detach takes c off the runtime's poller: its socket is duplicated,
// c closed (which takes the original out of the poller), and the
// duplicate made blocking. c is closed whatever the outcome.
func detach(c net.Conn) (*pacedConn, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		c.Close()
		return nil, errNotDetachable
	}
	raw, err := sc.SyscallConn()
	fd := -1
	if err == nil {
		var dupErr error
		err = raw.Control(func(f uintptr) { fd, dupErr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0) })
		err = errors.Join(err, dupErr)
	}
	c.Close()
	if err != nil {
		return nil, fmt.Errorf("duplicating the connection: %w", err)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("making the connection blocking: %w", err)
	}
	return &pacedConn{fd: fd}, nil
}

// Read reads what has arrived, first waiting streamPace when the last read
// was short.
func (c *pacedConn) Read(b []byte) (int, error) {
	if c.paused {
		time.Sleep(streamPace)
	}
	fd := c.current()
	if fd < 0 {
		return 0, net.ErrClosed
	}
	for {
		n, err := unix.Read(fd, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n == 0 && len(b) > 0 {
			return 0, io.EOF
		}
		c.paused = n < streamShortRead
		return n, nil
	}
}

// Write writes all of b.
func (c *pacedConn) Write(b []byte) (int, error) {
	fd := c.current()
	if fd < 0 {
		return 0, net.ErrClosed
	}
	written := 0
	for written < len(b) {
		n, err := unix.Write(fd, b[written:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return written, err
		}
		written += n
	}
	return written, nil
}

func (c *pacedConn) current() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fd
}

// shutdown wakes a read or write that blocks on the socket; the socket
// stays open (its number cannot be taken by another) until Close.
func (c *pacedConn) shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd >= 0 {
		_ = unix.Shutdown(c.fd, unix.SHUT_RDWR)
	}
}

// Close closes the socket. The caller's reads and writes are over by then.
func (c *pacedConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd < 0 {
		return nil
	}
	err := unix.Close(c.fd)
	c.fd = -1
	return err
}
