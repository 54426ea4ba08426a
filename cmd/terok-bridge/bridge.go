package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"os"
	"syscall"
	"time"
)

// Dial backoff: the first retry waits firstBackoff, each later one twice
// as long, up to maxBackoff. One attempt gives up after dialTimeout.
const (
	firstBackoff = 50 * time.Millisecond
	maxBackoff   = time.Second
	dialTimeout  = 5 * time.Second
)

// bridge relays connections to one upstream.
type bridge struct {
	upstream  address
	handshake []byte        // written first on every upstream connection; nil for none
	retry     time.Duration // how long to keep retrying a failed dial
	log       *log.Logger   // one line per connection that could not be relayed
}

// handshake returns the phantom-token handshake: the token's length as a
// 4-byte big-endian integer, then the token.
func handshake(token string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(token)))
	return append(b, token...)
}

// serve relays every connection accepted on ln until ln is closed.
func (b *bridge) serve(ln net.Listener) {
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil { // e.g. out of file descriptors: wait and retry, as net/http does
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			b.log.Printf("accepting on %s: %v; retrying in %v", ln.Addr(), err, delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		go b.handle(c)
	}
}

func (b *bridge) handle(client net.Conn) {
	defer client.Close()
	up, err := b.dial()
	if err != nil {
		b.log.Printf("upstream %s: %v", b.upstream, err)
		return
	}
	defer up.Close()
	if b.handshake != nil {
		if _, err := up.Write(b.handshake); err != nil {
			b.log.Printf("upstream %s: sending the token handshake: %v", b.upstream, err)
			return
		}
	}
	relay(client, up)
}

// dial connects to the upstream, retrying with exponential backoff until
// b.retry has passed.
func (b *bridge) dial() (net.Conn, error) {
	deadline := time.Now().Add(b.retry)
	delay := firstBackoff
	for {
		c, err := net.DialTimeout(b.upstream.network, b.upstream.addr, dialTimeout)
		if err == nil {
			return c, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("gave up after %v: %w", b.retry, err)
		}
		time.Sleep(min(delay, left))
		delay = min(2*delay, maxBackoff)
	}
}

// relay copies bytes between a and b, both ways, until both directions
// have ended.
func relay(a, b net.Conn) {
	done := make(chan struct{})
	go func() {
		pipe(b, a)
		close(done)
	}()
	pipe(a, b)
	<-done
}

// pipe copies src to dst. At the end of src it shuts down writing on dst,
// so dst's peer sees the end too while the other direction goes on. When
// the copy fails, it closes both connections, so the other direction
// cannot wait forever on a connection that is gone.
func pipe(dst, src net.Conn) {
	if _, err := io.Copy(dst, src); err != nil {
		src.Close()
		dst.Close()
		return
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	} else {
		dst.Close()
	}
}

// listen listens on a. A unix socket is created with mode 0600, after
// removing a stale socket file at its path.
func listen(a address) (net.Listener, error) {
	if a.network != "unix" {
		return net.Listen(a.network, a.addr)
	}
	if err := removeStaleSocket(a.addr); err != nil {
		return nil, err
	}
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", a.addr)
	syscall.Umask(old)
	return ln, err
}

// removeStaleSocket removes the socket file at path if nothing accepts
// connections on it. Anything else at path is left alone, and an error.
func removeStaleSocket(path string) error {
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	switch {
	case err == nil:
		c.Close()
		return fmt.Errorf("something is already listening on %s", path)
	case errors.Is(err, syscall.ECONNREFUSED):
		return os.Remove(path)
	case errors.Is(err, fs.ErrNotExist):
		return nil
	}
	return fmt.Errorf("cannot tell whether %s is in use: %w", path, err)
}
