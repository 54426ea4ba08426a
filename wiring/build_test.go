package wiring_test

import (
	"reflect"
	"testing"

	"github.com/sandwire/sandwire/wiring"
)

func TestBuildEditsLetsTheSandboxWinOverTheShield(t *testing.T) {
	plan, _, err := wiring.ResolvePlan(wiring.Request{Scope: "proj"})
	if err != nil {
		t.Fatal(err)
	}
	in := wiring.EditsInput{
		Name: "web", Plan: plan, Mode: wiring.ServicesSocket,
		Resources:   wiring.Resources{RuntimeDir: "/rt/run/web"},
		SidecarPath: "/state/sidecar/web.json", BridgesDir: "/state/bridges/v1",
		GateToken: "terok-g-11111111111111111111111111111111", SSHToken: "terok-p-22222222222222222222222222222222",
		ServerRootless: true,
		// A shield that reaches for everything the sandbox sets itself.
		Shield: &wiring.Edits{
			Name:        "evil",
			UserNS:      &wiring.UserNS{Mode: "auto"},
			Mounts:      []wiring.Mount{{Source: "/evil", Destination: "/run/terok"}},
			Env:         map[string]string{"TEROK_GATE_TOKEN": "stolen", "TEROK_SHIELD": "on"},
			Annotations: map[string]string{"terok.sandbox.sidecar": "/evil.json", "terok.shield.x": "1"},
			Labels:      map[string]string{"terok.sandbox.sidecar": "/evil.json", "terok.shield.x": "1"},
			Network:     &wiring.Network{Mode: "pasta"},
		},
	}
	want := &wiring.Edits{
		Name:   "web",
		Mounts: []wiring.Mount{{Source: "/rt/run/web", Destination: "/run/terok", ReadOnly: true, Relabel: "z"}, {Source: "/state/bridges/v1", Destination: bridgesInContainer, ReadOnly: true, Relabel: "z"}},
		Env: map[string]string{
			"TEROK_SHIELD":              "on",
			"TEROK_VAULT_LOOPBACK_PORT": "9419",
			"TEROK_VAULT_SOCKET":        vaultSocket,
			"TEROK_GATE_SOCKET":         gateSocket,
			"TEROK_GATE_TOKEN":          in.GateToken,
			"TEROK_SSH_SIGNER_SOCKET":   signerSocket,
			"TEROK_SSH_SIGNER_TOKEN":    in.SSHToken,
		},
		Annotations: map[string]string{"terok.sandbox.sidecar": in.SidecarPath, "terok.shield.x": "1"},
		Labels:      map[string]string{"terok.sandbox.sidecar": in.SidecarPath, "terok.shield.x": "1"},
		Network:     &wiring.Network{Mode: "pasta"},
		UserNS:      &wiring.UserNS{Mode: "keep-id", UID: 1000, GID: 1000},
	}
	// The shield's /run/terok mount came first, so the runtime dir mount
	// replaces it in place, ahead of the bridges.
	got := wiring.BuildEdits(in)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("BuildEdits =\n%s\nwant\n%s", editsJSON(t, got), editsJSON(t, want))
	}
	if again := wiring.BuildEdits(in); !reflect.DeepEqual(again, got) {
		t.Error("BuildEdits is not a pure function of its input")
	}
}

func TestBuildSidecarMatchesBuildEdits(t *testing.T) {
	cfg := wiring.Config{StateDir: "/state", RuntimeDir: "/rt", VaultDir: "/vault", CredentialsPassphraseCommand: ptr("pass")}
	res := wiring.Resources{RuntimeDir: "/rt/run/web", BrokerPort: 4001, SignerPort: 4002, GatePort: 4003}
	cases := []struct {
		name string
		mode wiring.ServicesMode
		req  wiring.Request
		want wiring.Sidecar
	}{
		{
			name: "tcp mode with the gate records every port and the gate",
			mode: wiring.ServicesTCP, req: wiring.Request{Scope: "proj"},
			want: wiring.Sidecar{
				ContainerName: "web", IPCMode: "tcp", DBPath: "/vault/credentials.db", RoutesPath: "/vault/routes.json",
				VaultSystemdCredsFile: "/vault/vault.passphrase.cred", CredentialsPassphraseCommand: ptr("pass"),
				ScopeID: "proj", ProjectID: "proj", RuntimeDir: "/rt",
				TCPPort: ptr(4001), SSHSignerPort: ptr(4002), GatePort: ptr(4003),
				GateBasePath: ptr("/state/gate"), GateToken: ptr("terok-g-11111111111111111111111111111111"),
			},
		},
		{
			name: "socket mode without a scope records no ports and no gate",
			mode: wiring.ServicesSocket, req: wiring.Request{},
			want: wiring.Sidecar{
				ContainerName: "web", IPCMode: "socket", DBPath: "/vault/credentials.db", RoutesPath: "/vault/routes.json",
				VaultSystemdCredsFile: "/vault/vault.passphrase.cred", CredentialsPassphraseCommand: ptr("pass"),
				RuntimeDir: "/rt",
			},
		},
		{
			name: "an orchestrator's task, dossier and debug mode are recorded",
			mode: wiring.ServicesSocket,
			req:  wiring.Request{Orchestrator: wiring.Orchestrator{TaskID: "t-42", DossierPath: "/work/dossier.md", AllowDebugger: true}},
			want: wiring.Sidecar{
				ContainerName: "web", IPCMode: "socket", DBPath: "/vault/credentials.db", RoutesPath: "/vault/routes.json",
				VaultSystemdCredsFile: "/vault/vault.passphrase.cred", CredentialsPassphraseCommand: ptr("pass"),
				RuntimeDir: "/rt", TaskID: "t-42", DossierPath: ptr("/work/dossier.md"), AllowDebugger: true,
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan, _, err := wiring.ResolvePlan(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			c := cfg
			c.ServicesMode = tc.mode
			in := wiring.EditsInput{Name: "web", Plan: plan, Mode: tc.mode, Resources: res, Orchestrator: tc.req.Orchestrator,
				SidecarPath: "/state/sidecar/web.json", GateToken: "terok-g-11111111111111111111111111111111"}
			if got := wiring.BuildSidecar(c, in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("BuildSidecar =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestBuildEditsGivesUnshieldedTCPContainersTheHostLoopback(t *testing.T) {
	withScope, _, _ := wiring.ResolvePlan(wiring.Request{Scope: "proj", NoShield: true})
	noScope, _, _ := wiring.ResolvePlan(wiring.Request{NoShield: true})
	pasta := &wiring.Network{Mode: "pasta", Options: []string{"--map-host-loopback", wiring.PastaHostLoopback}}
	slirp := &wiring.Network{Mode: "slirp4netns", Options: []string{"allow_host_loopback=true"}}
	for _, tc := range []struct {
		name      string
		plan      wiring.Plan
		mode      wiring.ServicesMode
		rootless  bool
		rootNet   string
		shield    *wiring.Edits
		want      *wiring.Network
		wantHosts []string
	}{
		{name: "rootless pasta server in tcp mode maps the host loopback", plan: withScope, mode: wiring.ServicesTCP,
			rootless: true, rootNet: "pasta", want: pasta, wantHosts: []string{"host.containers.internal:" + wiring.PastaHostLoopback}},
		{name: "rootless slirp4netns server in tcp mode allows the host loopback", plan: withScope, mode: wiring.ServicesTCP,
			rootless: true, rootNet: "slirp4netns", want: slirp, wantHosts: []string{"host.containers.internal:" + wiring.SlirpGateway}},
		{name: "socket mode needs no host network", plan: withScope, mode: wiring.ServicesSocket, rootless: true, rootNet: "pasta"},
		{name: "a rootful server's default network reaches the host", plan: withScope, mode: wiring.ServicesTCP},
		{name: "nothing wired, nothing to reach", plan: noScope, mode: wiring.ServicesTCP, rootless: true, rootNet: "pasta"},
		{name: "the shield's network stands when the shield is on", plan: withScope, mode: wiring.ServicesTCP,
			rootless: true, rootNet: "pasta", shield: &wiring.Edits{Network: slirp}, want: slirp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := wiring.BuildEdits(wiring.EditsInput{Name: "web", Plan: tc.plan, Mode: tc.mode, BridgesDir: "/b",
				Resources:      wiring.Resources{RuntimeDir: "/rt/run/web", BrokerPort: 4001, SignerPort: 4002, GatePort: 4003},
				ServerRootless: tc.rootless, RootlessNetwork: tc.rootNet, Shield: tc.shield, SidecarPath: "/s/web.json"})
			if !reflect.DeepEqual(got.Network, tc.want) || !reflect.DeepEqual(got.Hosts, tc.wantHosts) {
				t.Errorf("network %+v hosts %v, want %+v %v", got.Network, got.Hosts, tc.want, tc.wantHosts)
			}
		})
	}
}
