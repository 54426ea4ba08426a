package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"strconv"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/sandwire/sandwire/launch"
	"github.com/spf13/cobra"
)

func newServeCommand(g *globals) *cobra.Command {
	var w wiringFlags
	var listen, group string
	var scopes []string
	cmd := &cobra.Command{
		Use:   "serve [--listen unix:///PATH.sock|tcp://127.0.0.1:PORT] [options]",
		Short: "Serve a podman-compatible API that wires every container created through it",
		Long: `Listen on a socket that speaks podman's API (libpod and Docker-compatible) in
front of the podman service chosen as podman-remote chooses it. Every
container created through it is wired into the sandbox with the wiring
flags given here; requests that would bypass or undo the wiring are refused
with podman's error body; removals clean the sandbox state up; everything
else passes through. A creator may choose its container's vault scope with
the label terok.sandbox.scope=NAME, among the scopes --allow-scope names;
any other scope it names is refused. A unix socket is made with mode 0600 (0660 with
--group), and a path that is not a socket serve made is never replaced.
Without --listen, serve takes the socket systemd passes it (socket
activation; see contrib/systemd). SIGTERM or SIGINT stops it.`,
		Example: `  sandwire serve --listen unix:///run/user/1000/sandwire.sock --scope myproj
  podman --remote --url unix:///run/user/1000/sandwire.sock run --rm localhost/app:latest
  DOCKER_HOST=unix:///run/user/1000/sandwire.sock docker run --rm localhost/app:latest`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ln, err := listener(listen, group)
			if err != nil {
				return err
			}
			sb, err := g.sandbox()
			if err != nil {
				ln.Close()
				return err
			}
			defer sb.Close()
			return serve(cmd.Context(), sb, ln, launch.ServeOptions{Request: w.request(), Scopes: scopes})
		},
	}
	w.register(cmd.Flags())
	cmd.Flags().StringVar(&listen, "listen", "", "where to listen: unix:///PATH or tcp://127.0.0.1:PORT")
	cmd.Flags().StringVar(&group, "group", "", "group that may use the unix socket (mode 0660)")
	cmd.Flags().StringArrayVar(&scopes, "allow-scope", nil, "a vault scope a creator may choose with the label "+launch.ScopeLabel+" (can be given more than once)")
	return cmd
}

// serve answers on ln until ctx ends, then stops accepting and lets the
// requests in flight finish for a while. It follows the server's removals
// meanwhile, to clean up after containers removed other ways.
func serve(ctx context.Context, sb *launch.Sandbox, ln net.Listener, opts launch.ServeOptions) error {
	srv := &http.Server{Handler: sb.Handler(opts), ReadHeaderTimeout: 30 * time.Second}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go watchRemovals(watchCtx, sb)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		srv.Close()
	}
	<-done
	return nil
}

// watchRemovals follows the server's removals until ctx ends, reconnecting
// after a break.
func watchRemovals(ctx context.Context, sb *launch.Sandbox) {
	for ctx.Err() == nil {
		_ = sb.WatchRemovals(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// listener is the socket to serve on: addr's, or, without one, the one
// socket systemd's socket activation passes (LISTEN_FDS), as podman's
// system service takes it.
func listener(addr, group string) (net.Listener, error) {
	if addr != "" || os.Getenv("LISTEN_FDS") == "" {
		if addr == "" {
			return nil, usageErr(errors.New("serve requires --listen, or a socket passed by systemd's socket activation"))
		}
		return listenOn(addr, group)
	}
	if group != "" {
		return nil, usageErr(errors.New("--group applies to a socket serve makes; set SocketGroup= in the socket unit instead"))
	}
	lns, err := activation.Listeners()
	if err != nil {
		return nil, fmt.Errorf("socket activation: %w", err)
	}
	if len(lns) != 1 || lns[0] == nil {
		for _, ln := range lns {
			if ln != nil {
				ln.Close()
			}
		}
		return nil, fmt.Errorf("socket activation passed %d sockets; serve takes exactly one stream socket", len(lns))
	}
	return lns[0], nil
}

// listenOn opens the listening socket of addr.
func listenOn(addr, group string) (net.Listener, error) {
	u, err := url.Parse(addr)
	if err != nil {
		return nil, usageErr(fmt.Errorf("invalid --listen %q: %w", addr, err))
	}
	switch u.Scheme {
	case "unix":
		return listenUnix(u.Path, group)
	case "tcp":
		if group != "" {
			return nil, usageErr(errors.New("--group applies to unix sockets only"))
		}
		host := u.Hostname()
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, usageErr(fmt.Errorf("--listen %q: serve listens on loopback addresses only; anyone who reaches it can create containers", addr))
		}
		return net.Listen("tcp", u.Host)
	}
	return nil, usageErr(fmt.Errorf("invalid --listen %q: want unix:///PATH or tcp://127.0.0.1:PORT", addr))
}

// listenUnix makes the socket at path with mode 0600, or 0660 for group.
// An existing path is never replaced.
func listenUnix(path, group string) (net.Listener, error) {
	if path == "" {
		return nil, usageErr(errors.New("--listen unix:// needs a path"))
	}
	gid := -1
	if group != "" {
		grp, err := user.LookupGroup(group)
		if err != nil {
			return nil, usageErr(fmt.Errorf("--group: %w", err))
		}
		if gid, err = strconv.Atoi(grp.Gid); err != nil {
			return nil, err
		}
	}
	if _, err := os.Lstat(path); err == nil {
		// serve removes its socket when it stops; whatever is there now is
		// not serve's to replace.
		return nil, usageErr(fmt.Errorf("%s exists; serve makes its socket itself and replaces nothing (remove it if it is a stale socket of serve)", path))
	}
	// Made with no access, then opened up: no moment with a wider mode.
	old := umask(0o177)
	ln, err := net.Listen("unix", path)
	umask(old)
	if err != nil {
		return nil, err
	}
	if gid >= 0 {
		if err := os.Chown(path, -1, gid); err != nil {
			ln.Close()
			return nil, err
		}
		if err := os.Chmod(path, 0o660); err != nil {
			ln.Close()
			return nil, err
		}
	}
	return ln, nil
}
