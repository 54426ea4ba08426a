package wiring_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/sandwire/sandwire/internal/vaulttest"
	"github.com/sandwire/sandwire/wiring"
)

// composeCase is one way of wiring a container, with what it must produce.
type composeCase struct {
	name string
	mode wiring.ServicesMode
	req  wiring.Request
	// wantPlan is the plan the request resolves to.
	wantPlan wiring.Plan
	// wantEdits and wantSidecar build the expected values from the
	// config and the launch (for its random tokens and ports).
	wantEdits   func(cfg wiring.Config, l *wiring.Launch, bridges string) *wiring.Edits
	wantSidecar func(cfg wiring.Config, l *wiring.Launch) wiring.Sidecar
	// wantSidecarExtra are the optional sidecar keys that must be present.
	wantSidecarExtra []string
	// wantTokens is how many phantom tokens the store holds for the name.
	wantTokens int
}

// contract values, spelled as DESIGN.md spells them.
const (
	bridgesInContainer = "/usr/local/share/terok-sandbox/bridges"
	runtimeInContainer = "/run/terok"
	vaultSocket        = "/run/terok/vault/vault.sock"
	signerSocket       = "/run/terok/signer/ssh-agent.sock"
	gateSocket         = "/run/terok/gate/gate-server.sock"
	sidecarAnnotation  = "terok.sandbox.sidecar"
	sidecarLabel       = "terok.sandbox.sidecar"
)

func sidecarPathOf(cfg wiring.Config, name string) string {
	return filepath.Join(cfg.StateDir, "sidecar", name+".json")
}

func runtimeDirOf(cfg wiring.Config, name string) string {
	return filepath.Join(cfg.RuntimeDir, "run", name)
}

func runStateDirOf(cfg wiring.Config, name string) string {
	return filepath.Join(cfg.StateDir, "sandbox", "runs", name)
}

func baseSidecar(cfg wiring.Config, l *wiring.Launch) wiring.Sidecar {
	return wiring.Sidecar{
		ContainerName:         l.Name,
		IPCMode:               string(cfg.ServicesMode),
		DBPath:                cfg.DBPath(),
		RoutesPath:            cfg.RoutesPath(),
		VaultSystemdCredsFile: cfg.VaultSystemdCredsFile(),
		CredentialsUseKeyring: cfg.CredentialsUseKeyring,
		ScopeID:               l.Plan.ScopeName(),
		RuntimeDir:            cfg.RuntimeDir,
	}
}

func bridgesMount(dir string) wiring.Mount {
	return wiring.Mount{Source: dir, Destination: bridgesInContainer, ReadOnly: true, Relabel: "z"}
}

func runtimeMount(cfg wiring.Config, name string) wiring.Mount {
	return wiring.Mount{Source: runtimeDirOf(cfg, name), Destination: runtimeInContainer, ReadOnly: true, Relabel: "z"}
}

func composeCases() []composeCase {
	return []composeCase{
		{
			name:     "socket mode with a scope wires broker, gate and SSH through sockets",
			mode:     wiring.ServicesSocket,
			req:      wiring.Request{Scope: "proj", NoShield: true},
			wantPlan: wiring.Plan{Scope: ptr("proj"), Gate: true, Broker: true, SSH: true},
			wantEdits: func(cfg wiring.Config, l *wiring.Launch, bridges string) *wiring.Edits {
				return &wiring.Edits{
					Name:   l.Name,
					Mounts: []wiring.Mount{bridgesMount(bridges), runtimeMount(cfg, l.Name)},
					Env: map[string]string{
						"TEROK_VAULT_LOOPBACK_PORT": "9419",
						"TEROK_VAULT_SOCKET":        vaultSocket,
						"TEROK_GATE_SOCKET":         gateSocket,
						"TEROK_GATE_TOKEN":          l.Edits.Env["TEROK_GATE_TOKEN"],
						"TEROK_SSH_SIGNER_SOCKET":   signerSocket,
						"TEROK_SSH_SIGNER_TOKEN":    l.Edits.Env["TEROK_SSH_SIGNER_TOKEN"],
					},
					Annotations: map[string]string{sidecarAnnotation: sidecarPathOf(cfg, l.Name)},
					Labels:      map[string]string{sidecarLabel: sidecarPathOf(cfg, l.Name)},
				}
			},
			wantSidecar: func(cfg wiring.Config, l *wiring.Launch) wiring.Sidecar {
				sc := baseSidecar(cfg, l)
				sc.ProjectID = "proj"
				sc.GateBasePath = ptr(cfg.GateBasePath())
				sc.GateToken = ptr(l.Edits.Env["TEROK_GATE_TOKEN"])
				return sc
			},
			wantSidecarExtra: []string{"gate_base_path", "gate_token"},
			wantTokens:       1,
		},
		{
			name:     "tcp mode with a scope wires broker, gate and SSH through loopback ports",
			mode:     wiring.ServicesTCP,
			req:      wiring.Request{Scope: "proj", NoShield: true},
			wantPlan: wiring.Plan{Scope: ptr("proj"), Gate: true, Broker: true, SSH: true},
			wantEdits: func(cfg wiring.Config, l *wiring.Launch, bridges string) *wiring.Edits {
				return &wiring.Edits{
					Name:   l.Name,
					Mounts: []wiring.Mount{bridgesMount(bridges)},
					Env: map[string]string{
						"TEROK_TOKEN_BROKER_PORT": strconv.Itoa(l.Resources.BrokerPort),
						"TEROK_GATE_PORT":         strconv.Itoa(l.Resources.GatePort),
						"TEROK_GATE_TOKEN":        l.Edits.Env["TEROK_GATE_TOKEN"],
						"TEROK_SSH_SIGNER_PORT":   strconv.Itoa(l.Resources.SignerPort),
						"TEROK_SSH_SIGNER_TOKEN":  l.Edits.Env["TEROK_SSH_SIGNER_TOKEN"],
					},
					Annotations: map[string]string{sidecarAnnotation: sidecarPathOf(cfg, l.Name)},
					Labels:      map[string]string{sidecarLabel: sidecarPathOf(cfg, l.Name)},
				}
			},
			wantSidecar: func(cfg wiring.Config, l *wiring.Launch) wiring.Sidecar {
				sc := baseSidecar(cfg, l)
				sc.ProjectID = "proj"
				sc.TCPPort, sc.SSHSignerPort, sc.GatePort = ptr(l.Resources.BrokerPort), ptr(l.Resources.SignerPort), ptr(l.Resources.GatePort)
				sc.GateBasePath = ptr(cfg.GateBasePath())
				sc.GateToken = ptr(l.Edits.Env["TEROK_GATE_TOKEN"])
				return sc
			},
			wantSidecarExtra: []string{"tcp_port", "ssh_signer_port", "gate_port", "gate_base_path", "gate_token"},
			wantTokens:       1,
		},
		{
			name:     "socket mode with no-gate wires broker and SSH without a gate token",
			mode:     wiring.ServicesSocket,
			req:      wiring.Request{Scope: "proj", NoShield: true, NoGate: true},
			wantPlan: wiring.Plan{Scope: ptr("proj"), Broker: true, SSH: true},
			wantEdits: func(cfg wiring.Config, l *wiring.Launch, bridges string) *wiring.Edits {
				return &wiring.Edits{
					Name:   l.Name,
					Mounts: []wiring.Mount{bridgesMount(bridges), runtimeMount(cfg, l.Name)},
					Env: map[string]string{
						"TEROK_VAULT_LOOPBACK_PORT": "9419",
						"TEROK_VAULT_SOCKET":        vaultSocket,
						"TEROK_SSH_SIGNER_SOCKET":   signerSocket,
						"TEROK_SSH_SIGNER_TOKEN":    l.Edits.Env["TEROK_SSH_SIGNER_TOKEN"],
					},
					Annotations: map[string]string{sidecarAnnotation: sidecarPathOf(cfg, l.Name)},
					Labels:      map[string]string{sidecarLabel: sidecarPathOf(cfg, l.Name)},
				}
			},
			wantSidecar: baseSidecar,
			wantTokens:  1,
		},
		{
			name:     "tcp mode with only SSH still records the broker and signer ports",
			mode:     wiring.ServicesTCP,
			req:      wiring.Request{Scope: "proj", NoShield: true, NoGate: true, NoBroker: true},
			wantPlan: wiring.Plan{Scope: ptr("proj"), SSH: true},
			wantEdits: func(cfg wiring.Config, l *wiring.Launch, bridges string) *wiring.Edits {
				return &wiring.Edits{
					Name:   l.Name,
					Mounts: []wiring.Mount{bridgesMount(bridges)},
					Env: map[string]string{
						"TEROK_SSH_SIGNER_PORT":  strconv.Itoa(l.Resources.SignerPort),
						"TEROK_SSH_SIGNER_TOKEN": l.Edits.Env["TEROK_SSH_SIGNER_TOKEN"],
					},
					Annotations: map[string]string{sidecarAnnotation: sidecarPathOf(cfg, l.Name)},
					Labels:      map[string]string{sidecarLabel: sidecarPathOf(cfg, l.Name)},
				}
			},
			wantSidecar: func(cfg wiring.Config, l *wiring.Launch) wiring.Sidecar {
				sc := baseSidecar(cfg, l)
				sc.TCPPort, sc.SSHSignerPort = ptr(l.Resources.BrokerPort), ptr(l.Resources.SignerPort)
				return sc
			},
			wantSidecarExtra: []string{"tcp_port", "ssh_signer_port"},
			wantTokens:       1,
		},
		{
			name:     "socket mode without a scope adds only the name and the sidecar annotation",
			mode:     wiring.ServicesSocket,
			req:      wiring.Request{NoShield: true},
			wantPlan: wiring.Plan{},
			wantEdits: func(cfg wiring.Config, l *wiring.Launch, bridges string) *wiring.Edits {
				return &wiring.Edits{
					Name:        l.Name,
					Annotations: map[string]string{sidecarAnnotation: sidecarPathOf(cfg, l.Name)},
					Labels:      map[string]string{sidecarLabel: sidecarPathOf(cfg, l.Name)},
				}
			},
			wantSidecar: baseSidecar,
		},
	}
}

func TestComposeWiresTheServices(t *testing.T) {
	ctx := context.Background()
	for _, tc := range composeCases() {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, tc.mode)
			store := testStore(t, cfg)
			const name = "web"
			l, err := compose(ctx, cfg, name, tc.req, wiring.ComposeOptions{Tokens: store})
			if err != nil {
				t.Fatalf("Compose = %v", err)
			}
			t.Cleanup(l.Commit)
			// Checked before bridgesDirOf below materialises them.
			if bridges := filepath.Join(cfg.StateDir, "bridges"); l.Plan.NeedsBridges() != exists(t, bridges) {
				t.Errorf("bridges materialised: %v, want %v", exists(t, bridges), l.Plan.NeedsBridges())
			}

			if l.Name != name || l.SidecarPath != sidecarPathOf(cfg, name) || l.Resources.RuntimeDir != runtimeDirOf(cfg, name) {
				t.Errorf("launch name %q, sidecar %q, runtime dir %q; want %q, %q, %q",
					l.Name, l.SidecarPath, l.Resources.RuntimeDir, name, sidecarPathOf(cfg, name), runtimeDirOf(cfg, name))
			}
			if !reflect.DeepEqual(l.Plan, tc.wantPlan) {
				t.Errorf("plan = %s, want %s", planJSON(t, l.Plan), planJSON(t, tc.wantPlan))
			}

			// Random values first: they must have the right form before the
			// whole-value comparison can use them.
			if tok, ok := l.Edits.Env["TEROK_GATE_TOKEN"]; ok && !gateTokenRE.MatchString(tok) {
				t.Errorf("TEROK_GATE_TOKEN = %q, want terok-g- and 32 hex digits", tok)
			}
			if tok, ok := l.Edits.Env["TEROK_SSH_SIGNER_TOKEN"]; ok {
				if !phantomTokenRE.MatchString(tok) {
					t.Errorf("TEROK_SSH_SIGNER_TOKEN = %q, want terok-p- and 32 hex digits", tok)
				}
				rec, found, err := store.Lookup(ctx, tok)
				want := wiring.TokenRecord{Scope: "proj", Subject: name, CredentialSet: "proj", Provider: "ssh"}
				if err != nil || !found || rec != want {
					t.Errorf("stored SSH token = %+v, %v, %v; want %+v", rec, found, err, want)
				}
			}
			if tc.mode == wiring.ServicesTCP {
				ports := []int{l.Resources.BrokerPort, l.Resources.SignerPort, l.Resources.GatePort}
				if ports[0] == 0 || ports[1] == 0 || ports[2] == 0 || ports[0] == ports[1] || ports[1] == ports[2] || ports[0] == ports[2] {
					t.Errorf("tcp ports = %v, want three distinct non-zero ports", ports)
				}
			} else if r := l.Resources; r.BrokerPort != 0 || r.SignerPort != 0 || r.GatePort != 0 {
				t.Errorf("socket mode picked ports: %+v", r)
			}

			if want := tc.wantEdits(cfg, l, bridgesDirOf(t, cfg)); !reflect.DeepEqual(l.Edits, want) {
				t.Errorf("edits =\n%s\nwant\n%s", editsJSON(t, l.Edits), editsJSON(t, want))
			}
			if err := l.Edits.Validate(); err != nil {
				t.Errorf("the composed edits do not validate: %v", err)
			}

			// Sidecar: content, schema and mode.
			sc, err := wiring.ReadSidecar(sidecarPathOf(cfg, name))
			if err != nil {
				t.Fatalf("ReadSidecar = %v", err)
			}
			if want := tc.wantSidecar(cfg, l); !reflect.DeepEqual(sc, want) {
				t.Errorf("sidecar =\n%+v\nwant\n%+v", sc, want)
			}
			data := []byte(readFile(t, sidecarPathOf(cfg, name)))
			if got, want := jsonKeys(t, data), sorted(schemaFields, tc.wantSidecarExtra); !reflect.DeepEqual(got, want) {
				t.Errorf("sidecar keys = %q, want %q", got, want)
			}
			assertMode(t, sidecarPathOf(cfg, name), 0o600)

			// Run state: meta.json is the plan.
			var meta wiring.Plan
			metaPath := filepath.Join(runStateDirOf(cfg, name), "meta.json")
			if err := json.Unmarshal([]byte(readFile(t, metaPath)), &meta); err != nil {
				t.Fatalf("decoding meta.json: %v", err)
			}
			if !reflect.DeepEqual(meta, l.Plan) {
				t.Errorf("meta.json = %s, want the plan %s", planJSON(t, meta), planJSON(t, l.Plan))
			}
			assertMode(t, metaPath, 0o600)
			assertMode(t, runStateDirOf(cfg, name), os.ModeDir|0o700)
			assertMode(t, runtimeDirOf(cfg, name), os.ModeDir|0o700)
			if got, want := tree(t, runtimeDirOf(cfg, name)), socketDirsOf(tc.mode, l.Plan); !reflect.DeepEqual(got, want) {
				t.Errorf("the runtime dir holds %q, want the socket dirs %q", got, want)
			}

			if tc.wantTokens == 0 {
				if exists(t, cfg.DBPath()) {
					t.Error("a launch that mints nothing created the token database")
				}
			} else if n, err := store.CountSubject(ctx, name); err != nil || n != tc.wantTokens {
				t.Errorf("CountSubject = %d, %v; want %d", n, err, tc.wantTokens)
			}
		})
	}
}

// socketDirsOf are the dirs a launch lays down in the runtime dir for the
// plan's sockets, as tree lists them; none in tcp mode.
func socketDirsOf(mode wiring.ServicesMode, p wiring.Plan) []string {
	var dirs []string
	for _, d := range []struct {
		on  bool
		dir string
	}{{p.Gate, "gate"}, {p.SSH, "signer"}, {p.Broker, "vault"}} {
		if mode == wiring.ServicesSocket && d.on {
			dirs = append(dirs, d.dir)
		}
	}
	return dirs
}

// bridgesDirOf is the bridges dir of the config's build; it materialises
// the bridges when they are not there yet (and returns the same dir when
// they are).
func bridgesDirOf(t *testing.T, cfg wiring.Config) string {
	t.Helper()
	dir, err := wiring.MaterializeBridges(cfg)
	if err != nil {
		t.Fatalf("MaterializeBridges = %v", err)
	}
	return dir
}

func editsJSON(t *testing.T, e *wiring.Edits) string {
	t.Helper()
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func assertMode(t *testing.T, p string, want os.FileMode) {
	t.Helper()
	st, err := os.Lstat(p)
	if err != nil {
		t.Errorf("lstat %s: %v", p, err)
		return
	}
	if st.Mode() != want {
		t.Errorf("%s has mode %v, want %v", p, st.Mode(), want)
	}
}

func TestComposeWithoutAScopeNotesTheSkippedSubsystems(t *testing.T) {
	cfg := testConfig(t, wiring.ServicesSocket)
	l, err := compose(context.Background(), cfg, "web", wiring.Request{NoShield: true}, wiring.ComposeOptions{})
	if err != nil {
		t.Fatalf("Compose = %v", err)
	}
	defer l.Commit()
	_, wantNotes, err := wiring.ResolvePlan(wiring.Request{NoShield: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(l.Notes, wantNotes) || len(l.Notes) != 2 {
		t.Errorf("notes = %q, want the plan's two notes %q", l.Notes, wantNotes)
	}
}

func TestComposeUserNamespace(t *testing.T) {
	cases := []struct {
		name     string
		rootless bool
		want     *wiring.UserNS
	}{
		{"rootless server maps the user to 1000:1000 with keep-id", true, &wiring.UserNS{Mode: "keep-id", UID: 1000, GID: 1000}},
		{"rootful server leaves the user namespace alone", false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, wiring.ServicesSocket)
			store := testStore(t, cfg)
			l, err := compose(context.Background(), cfg, "web", wiring.Request{Scope: "proj", NoShield: true},
				wiring.ComposeOptions{Tokens: store, ServerRootless: tc.rootless})
			if err != nil {
				t.Fatalf("Compose = %v", err)
			}
			defer l.Commit()
			if !reflect.DeepEqual(l.Edits.UserNS, tc.want) {
				t.Errorf("userns = %+v, want %+v", l.Edits.UserNS, tc.want)
			}
			if tc.want != nil {
				if got := l.Edits.UserNS.String(); got != "keep-id:uid=1000,gid=1000" {
					t.Errorf("userns renders as %q, want keep-id:uid=1000,gid=1000", got)
				}
			}
		})
	}
}

// assertNothingWritten fails when any of the config's dirs holds anything.
func assertNothingWritten(t *testing.T, cfg wiring.Config) {
	t.Helper()
	for _, dir := range []string{cfg.StateDir, cfg.RuntimeDir, cfg.VaultDir} {
		if !exists(t, dir) {
			continue
		}
		if got := tree(t, dir); len(got) != 0 {
			t.Errorf("%s holds %q, want nothing", dir, got)
		}
	}
}

func TestComposeRefusesBeforeWritingAnything(t *testing.T) {
	cases := []struct {
		name   string
		cname  string
		req    wiring.Request
		opts   func(*wiring.SQLiteStore) wiring.ComposeOptions
		mutate func(*wiring.Config)
		// check inspects the error.
		check func(error) bool
	}{
		{
			name:  "shield on without a shield fails closed",
			cname: "web", req: wiring.Request{Scope: "proj"},
			opts:  func(s *wiring.SQLiteStore) wiring.ComposeOptions { return wiring.ComposeOptions{Tokens: s} },
			check: func(err error) bool { return errors.Is(err, wiring.ErrShieldUnavailable) },
		},
		{
			name:  "shield on by default without a scope still fails closed",
			cname: "web", req: wiring.Request{},
			opts:  func(s *wiring.SQLiteStore) wiring.ComposeOptions { return wiring.ComposeOptions{Tokens: s} },
			check: func(err error) bool { return errors.Is(err, wiring.ErrShieldUnavailable) },
		},
		{
			name:  "SSH without a token store is refused",
			cname: "web", req: wiring.Request{Scope: "proj", NoShield: true},
			opts:  func(*wiring.SQLiteStore) wiring.ComposeOptions { return wiring.ComposeOptions{} },
			check: func(err error) bool { return err != nil && strings.Contains(err.Error(), "token store") },
		},
		{
			name:  "invalid name is refused",
			cname: "../web", req: wiring.Request{NoShield: true},
			opts:  func(s *wiring.SQLiteStore) wiring.ComposeOptions { return wiring.ComposeOptions{Tokens: s} },
			check: func(err error) bool { return errors.Is(err, wiring.ErrInvalidName) },
		},
		{
			name:  "invalid scope is refused",
			cname: "web", req: wiring.Request{Scope: "../x", NoShield: true},
			opts:  func(s *wiring.SQLiteStore) wiring.ComposeOptions { return wiring.ComposeOptions{Tokens: s} },
			check: func(err error) bool { return errors.Is(err, wiring.ErrInvalidScope) },
		},
		{
			name:  "invalid config is refused",
			cname: "web", req: wiring.Request{NoShield: true},
			opts:   func(s *wiring.SQLiteStore) wiring.ComposeOptions { return wiring.ComposeOptions{Tokens: s} },
			mutate: func(c *wiring.Config) { c.ServicesMode = "vsock" },
			check:  func(err error) bool { return errors.Is(err, wiring.ErrInvalidConfig) },
		},
		{
			name:  "too long a runtime dir in socket mode fails on the socket path",
			cname: "web", req: wiring.Request{Scope: "proj", NoShield: true},
			opts: func(s *wiring.SQLiteStore) wiring.ComposeOptions { return wiring.ComposeOptions{Tokens: s} },
			mutate: func(c *wiring.Config) {
				c.RuntimeDir = filepath.Join(c.RuntimeDir, strings.Repeat("r", wiring.MaxSocketPath))
			},
			check: func(err error) bool {
				var spe *wiring.SocketPathError
				return errors.As(err, &spe)
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, wiring.ServicesSocket)
			if tc.mutate != nil {
				tc.mutate(&cfg)
			}
			store := testStore(t, cfg)
			l, err := compose(context.Background(), cfg, tc.cname, tc.req, tc.opts(store))
			if err == nil {
				l.Commit()
				t.Fatal("Compose succeeded, want an error")
			}
			if !tc.check(err) {
				t.Errorf("Compose error = %v (%T): not the expected kind", err, err)
			}
			if l != nil {
				t.Errorf("Compose returned a launch alongside the error: %+v", l)
			}
			assertNothingWritten(t, cfg)
		})
	}
}

func TestComposeWithAVaultItCannotOpenLaysNothingDown(t *testing.T) {
	cases := []struct {
		name  string
		vault func(t *testing.T, path string)
		chain wiring.PassphraseChain
		want  error
	}{
		{"a locked vault", func(*testing.T, string) {}, nil, wiring.ErrVaultLocked},
		{"a wrong passphrase", func(t *testing.T, path string) {
			if err := vaulttest.MakeVault(path, plainPassphrase); err != nil {
				t.Fatal(err)
			}
		}, givenChain(testPassphrase), wiring.ErrWrongPassphrase},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, wiring.ServicesSocket)
			tc.vault(t, cfg.DBPath())
			before := snapshot(t, cfg.VaultDir)
			store := wiring.NewVaultStore(cfg.DBPath(), tc.chain)
			defer store.Close()
			_, err := compose(context.Background(), cfg, "web", wiring.Request{Scope: "proj", NoShield: true}, wiring.ComposeOptions{Tokens: store})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Compose = %v, want %v", err, tc.want)
			}
			if got := tree(t, cfg.StateDir); !slices.Equal(got, []string{"sandbox", "sandbox/locks", "sandbox/locks/web.lock"}) {
				t.Errorf("the state dir holds %q, want the name's lock alone", got)
			}
			if got := tree(t, cfg.RuntimeDir); len(got) != 0 {
				t.Errorf("the runtime dir holds %q, want nothing", got)
			}
			if !maps.EqualFunc(before, snapshot(t, cfg.VaultDir), bytes.Equal) {
				t.Error("the vault dir changed")
			}
		})
	}
}

func TestComposeSocketPathErrorNamesTheRuntimeDir(t *testing.T) {
	cfg := testConfig(t, wiring.ServicesSocket)
	cfg.RuntimeDir = filepath.Join(cfg.RuntimeDir, strings.Repeat("r", 90))
	_, err := compose(context.Background(), cfg, "web", wiring.Request{NoShield: true}, wiring.ComposeOptions{})
	var spe *wiring.SocketPathError
	if !errors.As(err, &spe) {
		t.Fatalf("Compose = %v, want a *SocketPathError", err)
	}
	if !strings.HasPrefix(spe.Path, runtimeDirOf(cfg, "web")+"/") {
		t.Errorf("SocketPathError path %q is not under the container's runtime dir %q", spe.Path, runtimeDirOf(cfg, "web"))
	}
	if exists(t, cfg.RuntimeDir) {
		t.Errorf("the runtime dir %s was created", cfg.RuntimeDir)
	}
	assertNothingWritten(t, cfg)
}

func TestComposeInTCPModeDoesNotCheckSocketPaths(t *testing.T) {
	cfg := testConfig(t, wiring.ServicesTCP)
	cfg.RuntimeDir = filepath.Join(cfg.RuntimeDir, strings.Repeat("r", 120))
	l, err := compose(context.Background(), cfg, "web", wiring.Request{NoShield: true}, wiring.ComposeOptions{})
	if err != nil {
		t.Fatalf("Compose = %v", err)
	}
	defer l.Commit()
	assertMode(t, runtimeDirOf(cfg, "web"), os.ModeDir|0o700)
}

func TestComposeShieldBypassLaunchesWithoutAShieldAndWarns(t *testing.T) {
	cfg := testConfig(t, wiring.ServicesSocket)
	cfg.ShieldBypass = true
	l, err := compose(context.Background(), cfg, "web", wiring.Request{}, wiring.ComposeOptions{})
	if err != nil {
		t.Fatalf("Compose = %v", err)
	}
	defer l.Commit()
	if l.Plan.Shield {
		t.Error("the plan has the shield on although the configuration bypasses it")
	}
	warned := 0
	for _, n := range l.Notes {
		if strings.Contains(n, "WARNING") && strings.Contains(n, "shield_bypass_firewall_no_protection") {
			warned++
		}
	}
	if warned != 1 {
		t.Errorf("notes = %q, want exactly one warning about the bypass", l.Notes)
	}
	plan, ok, err := wiring.ReadPlan(cfg, "web")
	if err != nil || !ok || plan.Shield {
		t.Errorf("meta.json plan = %+v, %v, %v; want the shield off", plan, ok, err)
	}
}

func TestComposeHoldsTheNameUntilCommit(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t, wiring.ServicesSocket)
	store := testStore(t, cfg)
	req := wiring.Request{Scope: "proj", NoShield: true}
	first, err := compose(ctx, cfg, "web", req, wiring.ComposeOptions{Tokens: store})
	if err != nil {
		t.Fatalf("first Compose = %v", err)
	}
	sidecarBefore := readFile(t, first.SidecarPath)
	stateBefore, runtimeBefore := tree(t, cfg.StateDir), tree(t, cfg.RuntimeDir)
	sshToken := first.Edits.Env["TEROK_SSH_SIGNER_TOKEN"]

	second, err := compose(ctx, cfg, "web", req, wiring.ComposeOptions{Tokens: store})
	var busy *wiring.NameBusyError
	if !errors.As(err, &busy) || busy.Name != "web" {
		t.Fatalf("second Compose = %v, %v; want a *NameBusyError for web", second, err)
	}
	if !strings.Contains(err.Error(), `"web"`) {
		t.Errorf("error %q does not name the container", err)
	}
	if _, err := wiring.Cleanup(ctx, cfg, "web", wiring.CleanupOptions{Tokens: store}); !errors.As(err, &busy) {
		t.Errorf("Cleanup during the launch = %v, want a *NameBusyError", err)
	}

	if got := readFile(t, first.SidecarPath); got != sidecarBefore {
		t.Errorf("the second launch changed the first's sidecar:\n%s\nwant\n%s", got, sidecarBefore)
	}
	if got := tree(t, cfg.StateDir); !reflect.DeepEqual(got, stateBefore) {
		t.Errorf("state dir = %q, want %q", got, stateBefore)
	}
	if got := tree(t, cfg.RuntimeDir); !reflect.DeepEqual(got, runtimeBefore) {
		t.Errorf("runtime dir = %q, want %q", got, runtimeBefore)
	}
	if _, ok, err := store.Lookup(ctx, sshToken); err != nil || !ok {
		t.Errorf("the first launch's token was revoked: %v, %v", ok, err)
	}

	// Another name is not held.
	other, err := compose(ctx, cfg, "db", req, wiring.ComposeOptions{Tokens: store})
	if err != nil {
		t.Fatalf("Compose of another name = %v", err)
	}
	other.Commit()
	if err := first.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestComposeAfterCommitFindsTheEarlierState(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t, wiring.ServicesSocket)
	store := testStore(t, cfg)
	req := wiring.Request{Scope: "proj", NoShield: true}
	first, err := compose(ctx, cfg, "web", req, wiring.ComposeOptions{Tokens: store})
	if err != nil {
		t.Fatalf("first Compose = %v", err)
	}
	first.Commit()
	sidecarBefore := readFile(t, first.SidecarPath)
	stateBefore, runtimeBefore := tree(t, cfg.StateDir), tree(t, cfg.RuntimeDir)

	second, err := compose(ctx, cfg, "web", req, wiring.ComposeOptions{Tokens: store})
	var exists *wiring.StateExistsError
	if !errors.As(err, &exists) || exists.Name != "web" {
		t.Fatalf("second Compose = %v, %v; want a *StateExistsError for web", second, err)
	}
	// The library says what is in the way; the advice to clean up is the
	// CLI's, which knows its verbs.
	if !errdefs.IsAlreadyExists(err) || !strings.Contains(err.Error(), cfg.RunStateDir("web")) {
		t.Errorf("error %q is not in the already-exists category naming the earlier state", err)
	}
	if got := readFile(t, first.SidecarPath); got != sidecarBefore {
		t.Errorf("the refused launch changed the sidecar")
	}
	if got := tree(t, cfg.StateDir); !reflect.DeepEqual(got, stateBefore) {
		t.Errorf("state dir = %q, want %q", got, stateBefore)
	}
	if got := tree(t, cfg.RuntimeDir); !reflect.DeepEqual(got, runtimeBefore) {
		t.Errorf("runtime dir = %q, want %q", got, runtimeBefore)
	}
	if n, err := store.CountSubject(ctx, "web"); err != nil || n != 1 {
		t.Errorf("CountSubject = %d, %v; want the first launch's 1 token", n, err)
	}
	// The refused launch released the name: a cleanup can take it.
	if found, err := wiring.Cleanup(ctx, cfg, "web", wiring.CleanupOptions{Tokens: store}); err != nil || !found {
		t.Errorf("Cleanup after the refused launch = %v, %v; want true, nil", found, err)
	}
}

func TestComposeRefusesUnreadableEarlierState(t *testing.T) {
	// A regular file where the runs dir should be makes the check for an
	// earlier run state fail with ENOTDIR, which must not pass for "none".
	cfg := testConfig(t, wiring.ServicesSocket)
	writeFile(t, cfg.RunsDir(), "not a dir")
	l, err := compose(context.Background(), cfg, "web", wiring.Request{NoShield: true}, wiring.ComposeOptions{})
	if err == nil {
		l.Commit()
		t.Fatal("Compose succeeded over an unreadable runs dir")
	}
	if got := readFile(t, cfg.RunsDir()); got != "not a dir" {
		t.Errorf("the runs dir file was changed to %q", got)
	}
	for _, p := range []string{sidecarPathOf(cfg, "web"), runtimeDirOf(cfg, "web")} {
		if exists(t, p) {
			t.Errorf("the refused launch wrote %s", p)
		}
	}
}

func TestComposeRollback(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []wiring.ServicesMode{wiring.ServicesSocket, wiring.ServicesTCP} {
		t.Run(string(mode)+" mode rollback removes exactly what the launch laid down", func(t *testing.T) {
			cfg := testConfig(t, mode)
			store := testStore(t, cfg)
			// Unrelated state next to where the launch writes.
			unrelated := map[string]string{
				filepath.Join(cfg.SidecarDir(), "other.json"):        "other sidecar",
				filepath.Join(cfg.RunStateDir("other"), "meta.json"): "other plan",
				filepath.Join(cfg.ContainerRuntimeDir("other"), "x"): "other runtime",
				filepath.Join(cfg.StateDir, "unrelated"):             "unrelated",
				filepath.Join(cfg.RuntimeDir, "unrelated"):           "unrelated",
			}
			for p, c := range unrelated {
				writeFile(t, p, c)
			}
			otherToken, err := store.Mint(ctx, "proj", "other", "proj", wiring.SSHProvider)
			if err != nil {
				t.Fatal(err)
			}

			l, err := compose(ctx, cfg, "web", wiring.Request{Scope: "proj", NoShield: true}, wiring.ComposeOptions{Tokens: store})
			if err != nil {
				t.Fatalf("Compose = %v", err)
			}
			if err := l.Rollback(ctx); err != nil {
				t.Fatalf("Rollback = %v", err)
			}
			for _, p := range []string{sidecarPathOf(cfg, "web"), runtimeDirOf(cfg, "web"), runStateDirOf(cfg, "web")} {
				if exists(t, p) {
					t.Errorf("Rollback left %s", p)
				}
			}
			if n, err := store.CountSubject(ctx, "web"); err != nil || n != 0 {
				t.Errorf("CountSubject(web) = %d, %v after Rollback; want 0", n, err)
			}
			for p, c := range unrelated {
				if got := readFile(t, p); got != c {
					t.Errorf("Rollback changed the unrelated %s: %q", p, got)
				}
			}
			if _, ok, err := store.Lookup(ctx, otherToken); err != nil || !ok {
				t.Errorf("Rollback revoked another container's token: %v, %v", ok, err)
			}
			if err := l.Rollback(ctx); err != nil {
				t.Errorf("a second Rollback = %v, want nil", err)
			}
			// The name is free again.
			again, err := compose(ctx, cfg, "web", wiring.Request{Scope: "proj", NoShield: true}, wiring.ComposeOptions{Tokens: store})
			if err != nil {
				t.Fatalf("Compose after Rollback = %v", err)
			}
			again.Commit()
		})
	}
}

func TestRollbackOfANilLaunchIsANoOp(t *testing.T) {
	var l *wiring.Launch
	if err := l.Rollback(context.Background()); err != nil {
		t.Errorf("Rollback on nil = %v", err)
	}
}

func TestRollbackAfterCommitKeepsTheState(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t, wiring.ServicesSocket)
	store := testStore(t, cfg)
	l, err := compose(ctx, cfg, "web", wiring.Request{Scope: "proj", NoShield: true}, wiring.ComposeOptions{Tokens: store})
	if err != nil {
		t.Fatalf("Compose = %v", err)
	}
	l.Commit()
	before := tree(t, cfg.StateDir)
	if err := l.Rollback(ctx); err != nil {
		t.Fatalf("Rollback = %v", err)
	}
	if got := tree(t, cfg.StateDir); !reflect.DeepEqual(got, before) {
		t.Errorf("Rollback after Commit changed the state: %q, want %q", got, before)
	}
	if n, err := store.CountSubject(ctx, "web"); err != nil || n != 1 {
		t.Errorf("CountSubject = %d, %v; want 1", n, err)
	}
}

func TestComposeRefusesSymlinkedState(t *testing.T) {
	cases := []struct {
		name string
		path func(cfg wiring.Config) string
		// dir says whether the symlink points at a directory.
		dir bool
	}{
		{"symlink at the run state dir is refused", func(cfg wiring.Config) string { return runStateDirOf(cfg, "web") }, true},
		{"symlink at the runtime dir is refused", func(cfg wiring.Config) string { return runtimeDirOf(cfg, "web") }, true},
		{"symlink at the sidecar is refused", func(cfg wiring.Config) string { return sidecarPathOf(cfg, "web") }, false},
		{"dangling symlink at the sidecar is refused", func(cfg wiring.Config) string { return sidecarPathOf(cfg, "web") }, false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := testConfig(t, wiring.ServicesSocket)
			store := testStore(t, cfg)
			victim := t.TempDir()
			target := victim
			if tc.dir {
				writeFile(t, filepath.Join(victim, "keep"), "keep")
			} else {
				target = filepath.Join(victim, "file")
				if i != 3 { // the dangling case leaves the target absent
					writeFile(t, target, "keep")
				}
			}
			victimBefore := tree(t, victim)
			link := tc.path(cfg)
			if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}

			l, err := compose(ctx, cfg, "web", wiring.Request{Scope: "proj", NoShield: true}, wiring.ComposeOptions{Tokens: store})
			var se *wiring.StateExistsError
			if !errors.As(err, &se) || se.Path != link {
				t.Fatalf("Compose = %v, %v; want a *StateExistsError at %s", l, err, link)
			}
			if got := tree(t, victim); !reflect.DeepEqual(got, victimBefore) {
				t.Errorf("the symlink target now holds %q, want %q", got, victimBefore)
			}
			if tc.dir {
				if got := readFile(t, filepath.Join(victim, "keep")); got != "keep" {
					t.Errorf("the symlink target's file was changed: %q", got)
				}
			}
			if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
				t.Errorf("the planted symlink was removed or replaced: %v", err)
			}
			if exists(t, cfg.DBPath()) {
				t.Error("a token store was opened for a refused launch")
			}
			for _, p := range []string{sidecarPathOf(cfg, "web"), runtimeDirOf(cfg, "web"), runStateDirOf(cfg, "web")} {
				if p == link {
					continue
				}
				if exists(t, p) {
					t.Errorf("the refused launch wrote %s", p)
				}
			}
		})
	}
}

func TestComposeMergesTheShieldEdits(t *testing.T) {
	ctx := context.Background()
	shieldEdits := func() *wiring.Edits {
		return &wiring.Edits{
			Network:     &wiring.Network{Mode: "pasta", Options: []string{"--map-host-loopback", "169.254.1.2"}},
			Hosts:       []string{"host.containers.internal:169.254.1.2"},
			Annotations: map[string]string{"terok.shield.profiles": "dev-standard"},
			CapDrop:     []string{"CAP_NET_ADMIN", "CAP_NET_RAW"},
			Mounts:      []wiring.Mount{{Source: "/host/resolv.conf", Destination: "/etc/resolv.conf", ReadOnly: true}},
		}
	}
	cases := []struct {
		name         string
		mode         wiring.ServicesMode
		req          wiring.Request
		rootless     bool
		network      string
		wantProfiles []string
	}{
		{"socket mode shield gets the configured profiles and no ports", wiring.ServicesSocket, wiring.Request{Scope: "proj"}, true, "pasta", []string{wiring.DefaultShieldProfile}},
		{"requested profiles override the configured ones", wiring.ServicesSocket, wiring.Request{Scope: "proj", Profiles: []string{"strict"}}, false, "", []string{"strict"}},
		{"tcp mode shield gets the loopback ports", wiring.ServicesTCP, wiring.Request{Scope: "proj"}, true, "slirp4netns", []string{wiring.DefaultShieldProfile}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, tc.mode)
			store := testStore(t, cfg)
			shield := &fakeShield{edits: shieldEdits()}
			l, err := compose(ctx, cfg, "web", tc.req, wiring.ComposeOptions{
				Tokens: store, Shield: shield, ServerRootless: tc.rootless, ServerRootlessNetwork: tc.network,
			})
			if err != nil {
				t.Fatalf("Compose = %v", err)
			}
			defer l.Commit()

			wantReq := wiring.ShieldRequest{
				Name: "web", StateDir: runStateDirOf(cfg, "web"), Profiles: tc.wantProfiles,
				LoopbackPorts: l.Resources.LoopbackPorts(), ServerRootless: tc.rootless, RootlessNetwork: tc.network,
			}
			if tc.mode == wiring.ServicesTCP && len(wantReq.LoopbackPorts) != 3 {
				t.Errorf("tcp mode loopback ports = %v, want three", wantReq.LoopbackPorts)
			}
			if !reflect.DeepEqual(shield.prepared, []wiring.ShieldRequest{wantReq}) {
				t.Errorf("shield requests = %+v, want exactly %+v", shield.prepared, wantReq)
			}

			// The expected edits are the shield's contribution merged with
			// what the same launch without a shield adds.
			want := shieldEdits()
			if tc.rootless {
				want.Append(&wiring.Edits{UserNS: &wiring.UserNS{Mode: "keep-id", UID: 1000, GID: 1000}})
			}
			base := composeCases()[0].wantEdits
			if tc.mode == wiring.ServicesTCP {
				base = composeCases()[1].wantEdits
			}
			want.Append(base(cfg, l, bridgesDirOf(t, cfg)))
			if !reflect.DeepEqual(l.Edits, want) {
				t.Errorf("edits =\n%s\nwant\n%s", editsJSON(t, l.Edits), editsJSON(t, want))
			}
			if !l.Plan.Shield {
				t.Error("the plan has the shield off")
			}
		})
	}
}

func TestComposeRollsBackWhenALaterStepFails(t *testing.T) {
	ctx := context.Background()
	errShield := errors.New("nft is missing")
	cases := []struct {
		name   string
		shield *fakeShield
		check  func(error) bool
	}{
		{
			name:   "failing shield rolls back everything",
			shield: &fakeShield{err: errShield},
			check:  func(err error) bool { return errors.Is(err, errShield) },
		},
		{
			name:   "shield edits outside the sandbox's namespace roll back the minted token",
			shield: &fakeShield{edits: &wiring.Edits{Env: map[string]string{"PATH": "/evil"}}},
			check:  func(err error) bool { return errors.Is(err, wiring.ErrInvalidEdits) },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, wiring.ServicesSocket)
			store := testStore(t, cfg)
			// A token minted before proves the store was opened, so a zero
			// count below means revoked, not never stored.
			if _, err := store.Mint(ctx, "proj", "other", "proj", wiring.SSHProvider); err != nil {
				t.Fatal(err)
			}
			l, err := compose(ctx, cfg, "web", wiring.Request{Scope: "proj"}, wiring.ComposeOptions{Tokens: store, Shield: tc.shield})
			if err == nil {
				l.Commit()
				t.Fatal("Compose succeeded, want an error")
			}
			if !tc.check(err) {
				t.Errorf("Compose error = %v: not the expected kind", err)
			}
			if len(tc.shield.prepared) != 1 {
				t.Errorf("the shield was asked %d times, want once", len(tc.shield.prepared))
			}
			for _, p := range []string{sidecarPathOf(cfg, "web"), runtimeDirOf(cfg, "web"), runStateDirOf(cfg, "web")} {
				if exists(t, p) {
					t.Errorf("the failed launch left %s", p)
				}
			}
			if n, err := store.CountSubject(ctx, "web"); err != nil || n != 0 {
				t.Errorf("CountSubject(web) = %d, %v; want 0", n, err)
			}
			if n, err := store.CountSubject(ctx, "other"); err != nil || n != 1 {
				t.Errorf("CountSubject(other) = %d, %v; want 1", n, err)
			}
			// The failed launch released the name.
			ok := &fakeShield{edits: &wiring.Edits{}}
			again, err := compose(ctx, cfg, "web", wiring.Request{Scope: "proj"}, wiring.ComposeOptions{Tokens: store, Shield: ok})
			if err != nil {
				t.Fatalf("Compose after the failure = %v", err)
			}
			again.Commit()
		})
	}
}

func TestShieldNetwork(t *testing.T) {
	cases := []struct {
		name     string
		rootless bool
		network  string
		want     *wiring.Edits
	}{
		{"rootful server needs no network of its own", false, "pasta", nil},
		{"rootless slirp4netns maps the host loopback through the gateway", true, "slirp4netns", &wiring.Edits{
			Network: &wiring.Network{Mode: "slirp4netns", Options: []string{"allow_host_loopback=true"}},
			Hosts:   []string{"host.containers.internal:" + wiring.SlirpGateway},
		}},
		{"rootless pasta maps the host loopback", true, "pasta", &wiring.Edits{
			Network: &wiring.Network{Mode: "pasta", Options: []string{"--map-host-loopback", wiring.PastaHostLoopback}},
			Hosts:   []string{"host.containers.internal:" + wiring.PastaHostLoopback},
		}},
		{"rootless server with an unknown default uses pasta", true, "", &wiring.Edits{
			Network: &wiring.Network{Mode: "pasta", Options: []string{"--map-host-loopback", wiring.PastaHostLoopback}},
			Hosts:   []string{"host.containers.internal:" + wiring.PastaHostLoopback},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := wiring.ShieldNetwork(tc.rootless, tc.network)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ShieldNetwork(%v, %q) = %+v, want %+v", tc.rootless, tc.network, got, tc.want)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("ShieldNetwork edits do not validate: %v", err)
			}
		})
	}
}

// TestParentDirLinksLeadNowhere: a symlink planted at a dir on the way to
// sandwire's files (<state>/sidecar, <state>/sandbox/runs, <runtime>/run,
// ...) pointing out of sandwire's trees is never followed: Compose fails
// and Cleanup removes nothing through it; the outside dir is untouched.
func TestParentDirLinksLeadNowhere(t *testing.T) {
	cases := []struct {
		name string
		dir  func(cfg wiring.Config) string
	}{
		{"the sidecar dir", func(cfg wiring.Config) string { return filepath.Dir(sidecarPathOf(cfg, "web")) }},
		{"the runs dir", func(cfg wiring.Config) string { return filepath.Dir(runStateDirOf(cfg, "web")) }},
		{"the sandbox dir", func(cfg wiring.Config) string { return filepath.Dir(filepath.Dir(runStateDirOf(cfg, "web"))) }},
		{"the runtime runs dir", func(cfg wiring.Config) string { return filepath.Dir(runtimeDirOf(cfg, "web")) }},
		{"the bridges dir", func(cfg wiring.Config) string { return filepath.Join(cfg.StateDir, "bridges") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := testConfig(t, wiring.ServicesSocket)
			store := testStore(t, cfg)
			outside := t.TempDir()
			// What a follower would find or write there.
			writeFile(t, filepath.Join(outside, "web.json"), `{"container_name":"web","scope_id":"proj"}`)
			writeFile(t, filepath.Join(outside, "web", "meta.json"), `{"scope":"proj"}`)
			writeFile(t, filepath.Join(outside, "runs", "web", "meta.json"), `{"scope":"proj"}`)
			before := tree(t, outside)
			link := tc.dir(cfg)
			if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, link); err != nil {
				t.Fatal(err)
			}

			l, err := compose(ctx, cfg, "web", wiring.Request{Scope: "proj", NoShield: true}, wiring.ComposeOptions{Tokens: store})
			if err == nil {
				l.Rollback(ctx)
				t.Fatalf("Compose through a link at %s succeeded", link)
			}
			if !strings.Contains(err.Error(), link+" is a symlink") {
				t.Errorf("Compose = %v; want it to name the link %s", err, link)
			}
			if _, err := wiring.Cleanup(ctx, cfg, "web", wiring.CleanupOptions{Tokens: store}); err != nil && !strings.Contains(err.Error(), "escapes") {
				t.Errorf("Cleanup = %v; want success or an escape refused", err)
			}
			if got := tree(t, outside); !reflect.DeepEqual(got, before) {
				t.Errorf("the dir outside now holds %q, want %q", got, before)
			}
			if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
				t.Errorf("the planted link was removed or replaced: %v", err)
			}
		})
	}
}
