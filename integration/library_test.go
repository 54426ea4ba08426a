package integration

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/sandwire/sandwire/integration/podmantest"
	"github.com/sandwire/sandwire/launch"
	"github.com/sandwire/sandwire/podmanapi"
	"github.com/sandwire/sandwire/specmutate"
	"github.com/sandwire/sandwire/wiring"
)

// libraryConfig is the sandbox's configuration for a Go caller: the
// bridge program is not beside the test binary, so it is named.
func libraryConfig(sb *sandbox) wiring.Config {
	cfg := sb.config()
	cfg.BridgeBinary = filepath.Join(filepath.Dir(sandwireBin), wiring.BridgeBinaryName)
	return cfg
}

func connect(t *testing.T) (context.Context, *podmanapi.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	client, err := podmanapi.Connect(ctx, podmanapi.Options{URL: svc.URL()})
	if err != nil {
		t.Fatal(err)
	}
	facts, err := client.Facts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := facts.Rootless, podmantest.Rootless(); got != want {
		t.Fatalf("the test service reports rootless=%v; the harness started it with rootless=%v", got, want)
	}
	return ctx, client
}

// libOptions are one library launch's collaborators, for the tests that
// set them one by one. A nil Shield means no firewall here: a launch with
// the shield on fails closed.
type libOptions struct {
	Config  wiring.Config
	Request wiring.Request
	Tokens  wiring.TokenStore
	Shield  wiring.Shield
	Notes   func(string)
	// Pull is how the image is pulled; nil pulls a missing one.
	Pull *launch.PullOptions
}

// libCreate creates through a Sandbox built for this one launch, on client.
func libCreate(ctx context.Context, client *podmanapi.Client, name string, spec *specgen.SpecGenerator, o libOptions) (*launch.Container, error) {
	opts := []launch.Option{launch.WithServer(client), launch.WithShield(o.Shield), launch.WithNotes(o.Notes)}
	if o.Tokens != nil {
		opts = append(opts, launch.WithTokenStore(o.Tokens))
	}
	sb, err := launch.New(o.Config, opts...)
	if err != nil {
		return nil, err
	}
	defer sb.Close()
	return sb.Create(ctx, name, spec, o.Request, &launch.CreateOptions{Pull: o.Pull})
}

// TestLibraryCreate is the Go caller's path: a specgen spec, launch.Create,
// and the server's view of the result.
func TestLibraryCreate(t *testing.T) {
	sb := newSandbox(t)
	ctx, client := connect(t)
	const name = "sw-lib"
	removeContainerAtEnd(t, name)

	spec := specgen.NewSpecGenerator(svc.Image(), false)
	spec.Command = []string{"sleep", "300"}
	stopTimeout := uint(1)
	spec.StopTimeout = &stopTimeout
	spec.Env = map[string]string{"FOO": "bar"}
	var notes []string
	res, err := libCreate(ctx, client, name, spec, libOptions{
		Config:  libraryConfig(sb),
		Request: wiring.Request{Scope: "proj", NoShield: true},
		Notes:   func(n string) { notes = append(notes, n) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Name != name || !containerIDRE.MatchString(res.ID) {
		t.Errorf("result = %q %q", res.Name, res.ID)
	}
	if len(notes) != 0 {
		t.Errorf("notes for a launch with a scope: %q", notes)
	}
	// The caller's spec is left as it was.
	if spec.Name != "" || len(spec.Env) != 1 || len(spec.Mounts) != 0 || len(spec.Annotations) != 0 {
		t.Errorf("launch.Create changed the caller's spec: name %q env %v mounts %v annotations %v",
			spec.Name, spec.Env, spec.Mounts, spec.Annotations)
	}

	data, err := client.Inspect(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if data.ID != res.ID {
		t.Errorf("inspect ID %s, created %s", data.ID, res.ID)
	}
	for _, kv := range []string{"FOO=bar", "TEROK_GATE_SOCKET=/run/terok/gate/gate-server.sock", "TEROK_VAULT_LOOPBACK_PORT=9419"} {
		if !slices.Contains(data.Config.Env, kv) {
			t.Errorf("env lacks %s: %v", kv, wiring.Redact(strings.Join(data.Config.Env, " ")))
		}
	}
	if got := data.Config.Annotations[sidecarAnnotation]; got != sb.sidecarPath(name) {
		t.Errorf("sidecar annotation = %q, want %q", got, sb.sidecarPath(name))
	}
	found := 0
	for _, m := range data.Mounts {
		switch m.Destination {
		case containerRuntimeDir, containerBridgesDir:
			found++
			if m.RW {
				t.Errorf("%s is mounted read-write", m.Destination)
			}
		}
	}
	if found != 2 {
		t.Errorf("found %d of the 2 sandbox mounts: %+v", found, data.Mounts)
	}

	// Starting it through the client works too.
	if err := client.Start(ctx, name); err != nil {
		t.Fatal(err)
	}
	if err := client.Remove(ctx, name, true); err != nil {
		t.Fatal(err)
	}
	store := sb.vault()
	defer store.Close()
	if found, err := wiring.Cleanup(ctx, sb.config(), name, wiring.CleanupOptions{Tokens: store}); err != nil || !found {
		t.Fatalf("cleanup: found %v, err %v", found, err)
	}
	sb.assertNoState(name)
}

// TestLibraryCreateFailures: a Go caller gets typed errors, and a failed
// launch leaves nothing.
// noSuchImage is a spec of an image the server does not have, and no
// registry either.
func noSuchImage() *specgen.SpecGenerator {
	s := specgen.NewSpecGenerator("localhost/sandwire-no-such-image:latest", false)
	s.Command = []string{"true"}
	return s
}

func TestLibraryCreateFailures(t *testing.T) {
	ctx, client := connect(t)
	privileged := true
	tests := []struct {
		name     string
		ctrName  string
		spec     func() *specgen.SpecGenerator
		pull     *launch.PullOptions
		check    func(error) bool
		wantType string
	}{
		{
			name:    "a privileged spec is a conflict",
			ctrName: "sw-lib-priv",
			spec: func() *specgen.SpecGenerator {
				s := specgen.NewSpecGenerator(svc.Image(), false)
				s.Privileged = &privileged
				return s
			},
			check:    func(err error) bool { var c *specmutate.ConflictError; return errors.As(err, &c) },
			wantType: "*specmutate.ConflictError",
		},
		{
			name:    "a spec that names the container is a conflict",
			ctrName: "sw-lib-named",
			spec: func() *specgen.SpecGenerator {
				s := specgen.NewSpecGenerator(svc.Image(), false)
				s.Name = "something-else"
				return s
			},
			check:    func(err error) bool { var c *specmutate.ConflictError; return errors.As(err, &c) },
			wantType: "*specmutate.ConflictError",
		},
		{
			name:     "a missing image, with PullNever",
			ctrName:  "sw-lib-noimage",
			spec:     noSuchImage,
			pull:     &launch.PullOptions{Policy: launch.PullNever},
			check:    func(err error) bool { var e *podmanapi.ImageNotFoundError; return errors.As(err, &e) },
			wantType: "*podmanapi.ImageNotFoundError",
		},
		{
			name:     "a missing image that cannot be pulled",
			ctrName:  "sw-lib-nopull",
			spec:     noSuchImage,
			pull:     &launch.PullOptions{Retry: new(uint)},
			check:    func(err error) bool { var e *podmanapi.PullError; return errors.As(err, &e) },
			wantType: "*podmanapi.PullError",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sb := newSandbox(t)
			_, err := libCreate(ctx, client, tc.ctrName, tc.spec(), libOptions{
				Config: libraryConfig(sb), Request: wiring.Request{Scope: "proj", NoShield: true}, Pull: tc.pull,
			})
			if err == nil {
				removeContainerAtEnd(t, tc.ctrName)
				t.Fatal("launch.Create succeeded")
			}
			if !tc.check(err) {
				t.Errorf("error %T (%v), want a %s", err, err, tc.wantType)
			}
			sb.assertNoState(tc.ctrName)
			if containerExists(t, tc.ctrName) {
				removeContainerAtEnd(t, tc.ctrName)
				t.Errorf("container %q exists after a failed launch", tc.ctrName)
			}
		})
	}
}

// TestLibraryShieldFailsClosed: with the shield on and no shield given,
// nothing is launched and nothing written.
func TestLibraryShieldFailsClosed(t *testing.T) {
	sb := newSandbox(t)
	ctx, client := connect(t)
	const name = "sw-lib-shield"
	_, err := libCreate(ctx, client, name, specgen.NewSpecGenerator(svc.Image(), false), libOptions{
		Config: libraryConfig(sb), Request: wiring.Request{Scope: "proj"},
	})
	if !errors.Is(err, wiring.ErrShieldUnavailable) {
		t.Errorf("error %v, want wiring.ErrShieldUnavailable", err)
	}
	sb.assertUntouched()
	if containerExists(t, name) {
		removeContainerAtEnd(t, name)
		t.Errorf("container %q exists", name)
	}
	if _, err := os.Stat(sb.dbPath()); err == nil {
		t.Errorf("the token store was created by a refused launch")
	}
}
