package launch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// A bulk download — cp out of a container, export, image save — is a
// long answer podman writes in chunks of 32 KiB. Copied through serve's
// buffers, every byte crosses into serve and out again, and decoding and
// re-encoding the chunks took serve as much CPU as podman took to make
// the tar: on a two-core machine a tenth of a direct client's throughput
// (BENCHMARKS.md, "Serve"). So serve carries such an answer's body with
// splice(2), through a pipe, on blocking sockets no poller watches: the
// kernel moves its pages, podman's chunks reach the client as they came,
// framing and all, and serve never reads them. The connections on both
// sides are the answer's alone, and both heads say so: serve holds the
// client's socket once the HTTP server has let it go, and knows the end
// of the answer only by podman closing its own.

// bulkPipe is the pipe's size, and the most one splice moves.
const bulkPipe = 1 << 20

// bulk passes a GET whose answer is a bulk download; any other request to
// the endpoint is passed as pass passes it.
func bulk(p *proxy, w http.ResponseWriter, r *http.Request, vars map[string]string) {
	if r.Method != http.MethodGet || !bodiless(r) || !r.ProtoAtLeast(1, 1) {
		pass(p, w, r, vars)
		return
	}
	up, err := p.dial(r.Context())
	if err != nil {
		badGateway(w, r, err)
		return
	}
	carryBulk(w, r, up)
}

// carryBulk sends r to the service on conn, its own connection, and
// carries the answer back to w; conn is closed at the end. An answer that
// is not in chunks (an error, say), or a client connection that cannot be
// taken over, is carried as passBodiless carries it.
func carryBulk(w http.ResponseWriter, r *http.Request, conn net.Conn) {
	defer conn.Close()
	up := &upConn{Conn: conn, br: bufio.NewReaderSize(conn, 64<<10), bw: bufio.NewWriter(conn)}
	out := outbound(r)
	out.Body, out.ContentLength = http.NoBody, 0
	out.Close = true // its end is the end of the answer
	stop := context.AfterFunc(r.Context(), func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	resp, err := exchange(up, out)
	if !stop() {
		return // the client went away
	}
	if err != nil {
		badGateway(w, r, err)
		return
	}
	if !inChunks(resp) {
		answer(w, resp, up.br.Buffered)
		return
	}
	client, clientBuf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// A handler embedded behind a writer that cannot hijack.
		answer(w, resp, up.br.Buffered)
		return
	}
	defer client.Close()
	head := &http.Response{Status: resp.Status, ProtoMajor: 1, ProtoMinor: 1, Header: make(http.Header, len(resp.Header)+2)}
	copyEndToEnd(head.Header, resp.Header)
	head.Header.Set("Transfer-Encoding", "chunked")
	head.Header.Set("Connection", "close")
	// What reading the head took of the body goes with the head.
	early, _ := up.br.Peek(up.br.Buffered())
	if err := writeHead(clientBuf.Writer, head, early...); err != nil {
		return
	}
	if err := carryRest(client, conn); err != nil {
		logrus.Debugf("serve: %s %s: the answer broke off: %v", r.Method, r.URL.Path, err)
	}
}

// inChunks reports whether resp's body comes in chunks, and only so.
func inChunks(resp *http.Response) bool {
	return resp.ContentLength < 0 && len(resp.TransferEncoding) == 1 && resp.TransferEncoding[0] == "chunked"
}

// carryRest moves what src sends to dst until src ends: spliced when both
// are sockets of this process, copied otherwise. A spliced connection is
// closed by the time it returns.
func carryRest(dst, src net.Conn) error {
	_, dstOK := dst.(syscall.Conn)
	_, srcOK := src.(syscall.Conn)
	if !dstOK || !srcOK {
		_, err := io.Copy(dst, src)
		return err
	}
	from, err := detach(src)
	if err != nil {
		return err
	}
	defer from.Close()
	to, err := detach(dst)
	if err != nil {
		return err
	}
	defer to.Close()
	_, err = spliceAll(to.current(), from.current())
	return err
}

// spliceAll moves what src sends to dst through a pipe until src ends.
// Both are blocking sockets: a splice that waits holds its thread, and
// wakes no poller.
func spliceAll(dst, src int) (int64, error) {
	var pipe [2]int
	if err := unix.Pipe2(pipe[:], unix.O_CLOEXEC); err != nil {
		return 0, fmt.Errorf("making a pipe: %w", err)
	}
	defer unix.Close(pipe[0])
	defer unix.Close(pipe[1])
	// A larger pipe moves more per splice; the default one still works.
	size := 64 << 10
	if got, err := unix.FcntlInt(uintptr(pipe[1]), unix.F_SETPIPE_SZ, bulkPipe); err == nil {
		size = got
	}
	var total int64
	for {
		n, err := unix.Splice(src, nil, pipe[1], nil, size, unix.SPLICE_F_MOVE)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return total, fmt.Errorf("reading the podman service's answer: %w", err)
		}
		if n == 0 {
			return total, nil
		}
		for n > 0 {
			m, err := unix.Splice(pipe[0], nil, dst, nil, int(n), unix.SPLICE_F_MOVE)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return total, fmt.Errorf("writing to the client: %w", err)
			}
			n -= m
			total += m
		}
	}
}
