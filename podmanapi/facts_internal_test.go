package podmanapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

func TestPeerFactsComeFromTheKernelOnlyWhenTheyCannotBeWrong(t *testing.T) {
	const pid, user = 4242, 1000
	sameConfig := []string{"CONTAINERS_CONF=" + os.Getenv("CONTAINERS_CONF"), "CONTAINERS_CONF_OVERRIDE=" + os.Getenv("CONTAINERS_CONF_OVERRIDE"),
		"XDG_CONFIG_HOME=" + os.Getenv("XDG_CONFIG_HOME"), "HOME=" + os.Getenv("HOME"), "PATH=/usr/bin"}
	service := []string{"podman", "system", "service", "--time=0"}
	podman := Process{Exe: "/usr/bin/podman", Comm: "podman", Environ: sameConfig, Cmdline: service}
	with := func(change func(*Process)) Process {
		p := podman
		change(&p)
		return p
	}
	pasta := func() (string, error) { return "pasta", nil }
	cases := []struct {
		name    string
		uidMap  string
		proc    Process
		peer    peer
		version string
		network func() (string, error)
		want    Facts
		ok      bool
	}{
		{name: "a podman listening as root is rootful", proc: podman, peer: peer{pid, 0}, version: "4.3.1",
			want: Facts{Version: "4.3.1", APIVersion: "4.3.1"}, ok: true},
		{name: "a podman listening as a user is rootless, and before 5 on slirp4netns", proc: podman, peer: peer{pid, user}, version: "4.3.1",
			want: Facts{Rootless: true, Version: "4.3.1", APIVersion: "4.3.1", RootlessNetwork: "slirp4netns"}, ok: true},
		{name: "a rootless podman 5 of this user with this user's configuration has its default network", proc: podman,
			peer: peer{pid, user}, version: "5.8.2", network: pasta,
			want: Facts{Rootless: true, Version: "5.8.2", APIVersion: "5.8.2", RootlessNetwork: "pasta"}, ok: true},
		{name: "a rootless podman re-executed as exe is known by its executable",
			proc: with(func(p *Process) { p.Comm = "exe" }), peer: peer{pid, user}, version: "4.3.1",
			want: Facts{Rootless: true, Version: "4.3.1", APIVersion: "4.3.1", RootlessNetwork: "slirp4netns"}, ok: true},
		{name: "a podman upgraded while it runs is still podman",
			proc: with(func(p *Process) { p.Exe = "/usr/bin/podman (deleted)" }), peer: peer{pid, 0}, version: "4.3.1",
			want: Facts{Version: "4.3.1", APIVersion: "4.3.1"}, ok: true},
		{name: "a podman whose executable cannot be seen is known by its name",
			proc: with(func(p *Process) { p.Exe = "" }), peer: peer{pid, 0}, version: "5.8.2",
			want: Facts{Version: "5.8.2", APIVersion: "5.8.2"}, ok: true},
		{name: "a proxy in front of the server is no podman",
			proc: with(func(p *Process) { p.Exe, p.Comm = "/usr/bin/socat", "socat" }), peer: peer{pid, 0}, version: "5.8.2"},
		{name: "a socket systemd activates is held by systemd, not podman",
			proc: with(func(p *Process) { p.Exe, p.Comm = "/usr/lib/systemd/systemd", "systemd" }), peer: peer{pid, 0}, version: "5.8.2"},
		{name: "a peer in another pid namespace cannot be looked at", proc: podman, peer: peer{0, 0}, version: "5.8.2"},
		{name: "in a user namespace of its own the client does not see the kernel's uids",
			uidMap: "0 1000 1\n", proc: podman, peer: peer{pid, 0}, version: "5.8.2"},
		{name: "another user's rootless podman 5 reads another configuration",
			proc: podman, peer: peer{pid, user + 1}, version: "5.8.2", network: pasta},
		{name: "a rootless podman 5 started with another CONTAINERS_CONF reads another configuration",
			proc: with(func(p *Process) { p.Environ = append(sameConfig[1:], "CONTAINERS_CONF=/elsewhere.conf") }),
			peer: peer{pid, user}, version: "5.8.2", network: pasta},
		{name: "a rootless podman 5 with a module of its own reads more configuration",
			proc: with(func(p *Process) { p.Cmdline = []string{"podman", "--module", "net.conf", "system", "service"} }),
			peer: peer{pid, user}, version: "5.8.2", network: pasta},
		{name: "a rootless podman 5 whose configuration cannot be read here is asked",
			proc: podman, peer: peer{pid, user}, version: "5.8.2", network: func() (string, error) { return "", errors.New("bad toml") }},
		{name: "a rootless server of no known version is asked", proc: podman, peer: peer{pid, user}, version: "dev", network: pasta},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			uidMap := tc.uidMap
			if uidMap == "" {
				uidMap = IdentityUIDMap
			}
			proc := procDir(FakeProc(t, uidMap, map[int]Process{pid: tc.proc}))
			got, ok := peerFacts(proc, tc.peer, tc.version, user, tc.network)
			if got != tc.want || ok != tc.ok {
				t.Errorf("peerFacts = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestSocketPeerIsTheProcessThatListensAndIsAskedForThePing(t *testing.T) {
	cases := []struct {
		name    string
		answer  int
		wantErr bool
	}{
		{"a server that answers the ping is this process, and the probe leaves no connection unanswered", http.StatusOK, false},
		{"a server that refuses the ping is not probed", http.StatusNotFound, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, err := net.Listen("unix", filepath.Join(t.TempDir(), "peer.sock"))
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var states []http.ConnState
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.answer)
			}))
			srv.Listener = l
			srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
				mu.Lock()
				defer mu.Unlock()
				states = append(states, st)
			}
			srv.Start()
			got, err := socketPeer(context.Background(), l.Addr().String())
			srv.Close() // waits for the connection to be closed
			if tc.wantErr {
				if err == nil {
					t.Fatalf("socketPeer = %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := (peer{PID: os.Getpid(), UID: os.Geteuid()}); got != want {
				t.Errorf("socketPeer = %+v, want %+v", got, want)
			}
			mu.Lock()
			defer mu.Unlock()
			// podman's idle tracker warns of a connection that closes
			// without ever being active.
			if want := []http.ConnState{http.StateNew, http.StateActive, http.StateClosed}; !slices.Equal(states, want) {
				t.Errorf("the probe's connection went %v, want %v", states, want)
			}
		})
	}
}

func TestDefaultRootlessNetworkFollowsTheServersMajorVersion(t *testing.T) {
	cases := []struct{ version, want string }{
		{"4.3.1", "slirp4netns"}, {"4.9.4", "slirp4netns"}, {"5.0.0", "pasta"}, {"5.8.2", "pasta"}, {"", "slirp4netns"},
	}
	for _, tc := range cases {
		if got := defaultRootlessNetwork(tc.version); got != tc.want {
			t.Errorf("defaultRootlessNetwork(%q) = %q, want %q", tc.version, got, tc.want)
		}
	}
}
