// Command terok-bridge relays connections from a local listener to one of
// a sandbox's host services. It is the container side of the bridges that
// ensure-bridges.sh starts, so that images need no socat: it is static,
// uses only the standard library, and runs in any image.
//
// # Usage
//
//	terok-bridge [--token-env VAR] [--retry DURATION] LISTEN UPSTREAM
//
// LISTEN and UPSTREAM are tcp:HOST:PORT or unix:/path.
//
// # Protocol
//
// For every connection accepted on LISTEN the bridge dials UPSTREAM and
// relays bytes both ways until both directions have ended. When one side
// stops sending, the bridge shuts down writing on the other side, so it
// sees the end of the stream too (a half-close), and keeps relaying the
// other direction.
//
// Host services may bind after the container starts, so a failed dial is
// retried with exponential backoff, from 50ms, for --retry in total
// (default 10s). When it still fails, one line naming the upstream and
// the error goes to stderr and that client's connection is closed; the
// bridge keeps serving.
//
// With --token-env VAR the bridge opens every upstream connection with
// the SSH signer's phantom-token handshake before it relays anything: the
// token's length as a 4-byte big-endian integer, then the token's bytes.
// The token is read from the environment variable VAR once, at startup;
// the bridge refuses to start when VAR is empty, and never prints it.
//
// # Listening
//
// A unix LISTEN socket is created with mode 0600. A socket file already at
// its path is removed first, but only when nothing accepts connections on
// it. Once it listens, the bridge closes its standard output: a caller can
// wait until the bridge is ready (or has failed) by reading that to EOF.
//
// SIGTERM and SIGINT close the listener (which removes a unix socket) and
// the bridge exits 0. A SIGINT that was ignored when the bridge started, as
// it is for a background job of a non-interactive shell, stays ignored.
//
// Exit codes: 0 after a signal, 1 when it cannot listen, 2 on a usage error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const usage = `usage: terok-bridge [--token-env VAR] [--retry DURATION] LISTEN UPSTREAM

Relays every connection accepted on LISTEN to UPSTREAM, both ways.
LISTEN and UPSTREAM are tcp:HOST:PORT or unix:/path.

  --token-env VAR    open each upstream connection with the phantom-token
                     handshake (4-byte big-endian length, then the token),
                     the token read from environment variable VAR
  --retry DURATION   how long to keep retrying an upstream dial (default 10s)
`

// maxSocketPath is the longest path an AF_UNIX socket can bind: sun_path
// is 108 bytes including the terminating NUL.
const maxSocketPath = 107

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	opts, err := parseArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Print(usage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "terok-bridge: %v\n\n%s", err, usage)
		return 2
	}
	b := &bridge{upstream: opts.upstream, retry: opts.retry, log: log.New(os.Stderr, "terok-bridge: ", 0)}
	if opts.tokenEnv != "" {
		token := os.Getenv(opts.tokenEnv)
		if token == "" {
			fmt.Fprintf(os.Stderr, "terok-bridge: --token-env %s: the variable is empty or unset\n", opts.tokenEnv)
			return 2
		}
		b.handshake = handshake(token)
	}

	ln, err := listen(opts.listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "terok-bridge: listening on %s: %v\n", opts.listen, err)
		return 1
	}
	os.Stdout.Close() // ready: see "Listening" above

	sigs := []os.Signal{syscall.SIGTERM}
	if !signal.Ignored(os.Interrupt) {
		sigs = append(sigs, os.Interrupt)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, sigs...)
	go func() {
		<-stop
		ln.Close()
	}()

	b.serve(ln)
	return 0
}

type options struct {
	listen, upstream address
	tokenEnv         string
	retry            time.Duration
}

func parseArgs(args []string) (options, error) {
	var opts options
	fs := flag.NewFlagSet("terok-bridge", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&opts.tokenEnv, "token-env", "", "")
	fs.DurationVar(&opts.retry, "retry", 10*time.Second, "")
	if err := fs.Parse(args); err != nil {
		return opts, err
	}
	if opts.retry < 0 {
		return opts, fmt.Errorf("--retry %v: must not be negative", opts.retry)
	}
	if fs.NArg() != 2 {
		return opts, fmt.Errorf("want LISTEN and UPSTREAM, got %d arguments", fs.NArg())
	}
	var err error
	if opts.listen, err = parseAddress(fs.Arg(0)); err != nil {
		return opts, err
	}
	opts.upstream, err = parseAddress(fs.Arg(1))
	return opts, err
}

// address is a network ("tcp" or "unix") and an address in it.
type address struct{ network, addr string }

func (a address) String() string { return a.network + ":" + a.addr }

func parseAddress(s string) (address, error) {
	network, addr, _ := strings.Cut(s, ":")
	switch network {
	case "unix":
		if addr == "" {
			return address{}, fmt.Errorf("address %q: the socket path is empty", s)
		}
		if len(addr) > maxSocketPath {
			return address{}, fmt.Errorf("address %q: a socket path is at most %d bytes", s, maxSocketPath)
		}
		return address{network, addr}, nil
	case "tcp":
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return address{}, fmt.Errorf("address %q: %w", s, err)
		}
		if host == "" {
			return address{}, fmt.Errorf("address %q: the host is empty", s)
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return address{}, fmt.Errorf("address %q: the port is not a number from 0 to 65535", s)
		}
		return address{network, addr}, nil
	}
	return address{}, fmt.Errorf("address %q: want tcp:HOST:PORT or unix:/path", s)
}
