package podmanapi_test

import (
	"context"
	"os"
	"testing"

	"github.com/containers/podman/v5/version"
	"github.com/sandwire/sandwire/podmanapi"
)

func TestConnectMakesNoInfoRequest(t *testing.T) {
	f := &fakePodman{}
	connectTo(t, f, socketPath(t.TempDir(), 0))
	if n := f.infos.Load(); n != 0 {
		t.Errorf("Connect made %d info requests, want none", n)
	}
}

func TestFactsOfAServerThatIsNotPodmanItselfAreAskedOfItOnce(t *testing.T) {
	cases := []struct {
		name   string
		server *fakePodman
		want   podmanapi.Facts
	}{
		{"a rootful server has no rootless network", &fakePodman{serverVersion: "5.8.2", rootlessNetwork: "pasta"},
			podmanapi.Facts{Version: "5.8.2", APIVersion: "5.8.2"}},
		{"a rootless server's own default network is used", &fakePodman{rootless: true, serverVersion: "5.8.2", rootlessNetwork: "slirp4netns"},
			podmanapi.Facts{Rootless: true, Version: "5.8.2", APIVersion: "5.8.2", RootlessNetwork: "slirp4netns"}},
		{"a rootless podman 4 that reports no network used slirp4netns", &fakePodman{rootless: true, serverVersion: "4.3.1"},
			podmanapi.Facts{Rootless: true, Version: "4.3.1", APIVersion: "4.3.1", RootlessNetwork: "slirp4netns"}},
		{"a rootless podman 5.0 that reports no network uses pasta", &fakePodman{rootless: true, serverVersion: "5.0.3"},
			podmanapi.Facts{Rootless: true, Version: "5.0.3", APIVersion: "5.0.3", RootlessNetwork: "pasta"}},
	}
	dir := t.TempDir()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The server is this test binary, which is no podman.
			client, _ := connectTo(t, tc.server, socketPath(dir, i))
			for range 2 {
				got, err := client.Facts(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if got != tc.want {
					t.Errorf("Facts = %+v, want %+v", got, tc.want)
				}
			}
			if n := tc.server.infos.Load(); n != 1 {
				t.Errorf("Facts made %d info requests, want 1 for both calls", n)
			}
		})
	}
}

func TestFactsOfAPodmanListeningHereAreReadFromTheKernel(t *testing.T) {
	f := &fakePodman{rootless: true, serverVersion: "0.0.1"}
	client, _ := connectTo(t, f, socketPath(t.TempDir(), 0))
	// This process listens on the socket; the fake /proc calls it podman.
	env := []string{"CONTAINERS_CONF=" + os.Getenv("CONTAINERS_CONF"), "XDG_CONFIG_HOME=" + os.Getenv("XDG_CONFIG_HOME"), "HOME=" + os.Getenv("HOME")}
	podmanapi.UseProc(client, podmanapi.FakeProc(t, podmanapi.IdentityUIDMap, map[int]podmanapi.Process{
		os.Getpid(): {Exe: "/usr/bin/podman", Comm: "podman", Environ: env, Cmdline: []string{"podman", "system", "service"}},
	}))
	got, err := client.Facts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	v := version.APIVersion[version.Libpod][version.CurrentAPI].String() // the ping's header
	want := podmanapi.Facts{Rootless: os.Geteuid() != 0, Version: v, APIVersion: v}
	if want.Rootless {
		local, err := podmanapi.ReadLocalConfig()
		if err != nil {
			t.Fatal(err)
		}
		want.RootlessNetwork = local.RootlessNetwork
	}
	if got != want {
		t.Errorf("Facts = %+v, want %+v", got, want)
	}
	if n := f.infos.Load(); n != 0 {
		t.Errorf("Facts made %d info requests, want none", n)
	}
}
