package launch_test

import (
	"bytes"
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/sandwire/sandwire/launch"
	"github.com/sandwire/sandwire/podmanapi"
)

// TestCreatePullsAsPodmansPolicySays: before its create, a launch asks the
// server what podman run would for each policy, and creates from the
// image the pull left.
func TestCreatePullsAsPodmansPolicySays(t *testing.T) {
	const image = "localhost/img"
	rootfs := func() *specgen.SpecGenerator {
		s := specgen.NewSpecGenerator("/srv/rootfs", true)
		s.Env = map[string]string{"FOO": "bar"}
		return s
	}
	for _, tc := range []struct {
		name    string
		opts    *launch.PullOptions
		present bool
		spec    func() *specgen.SpecGenerator
		// pulledAs is the name the server's pull answers with.
		pulledAs string
		// asked are the images the launch asked about; pulls the policies
		// of the pulls it sent; created the image the create was sent.
		asked   []string
		pulls   []launch.PullPolicy
		created string
	}{
		{name: "no options pull a missing image: the server is asked, then pulls",
			asked: []string{image}, pulls: []launch.PullPolicy{launch.PullMissing}, created: image},
		{name: "missing with the image present pulls nothing",
			opts: &launch.PullOptions{Policy: launch.PullMissing}, present: true, asked: []string{image}, created: image},
		{name: "podman's other spelling of missing is missing",
			opts: &launch.PullOptions{Policy: "IfNotPresent"}, present: true, asked: []string{image}, created: image},
		{name: "missing with a platform leaves it to the server, which asks the registry",
			opts: &launch.PullOptions{Arch: "arm64"}, present: true, pulls: []launch.PullPolicy{launch.PullMissing}, created: image},
		{name: "always pulls although the server has the image",
			opts: &launch.PullOptions{Policy: launch.PullAlways}, present: true, pulls: []launch.PullPolicy{launch.PullAlways}, created: image},
		{name: "newer leaves the digest comparison to the server",
			opts: &launch.PullOptions{Policy: launch.PullNewer}, present: true, pulls: []launch.PullPolicy{launch.PullNewer}, created: image},
		{name: "never pulls nothing and asks nothing",
			opts: &launch.PullOptions{Policy: launch.PullNever}, present: true, created: image},
		{name: "a rootfs has no image to pull",
			spec: rootfs, created: ""},
		{name: "an image pulled by a transport reference is created from its ID",
			opts: &launch.PullOptions{Policy: launch.PullAlways}, pulledAs: "0123abcd", pulls: []launch.PullPolicy{launch.PullAlways}, created: "0123abcd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.srv.images[image] = tc.present
			f.srv.pulledAs = tc.pulledAs
			s := spec()
			if tc.spec != nil {
				s = tc.spec()
			}
			if _, err := f.sb.Create(t.Context(), "web", s, proj, &launch.CreateOptions{Pull: tc.opts}); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(f.srv.asked, tc.asked) {
				t.Errorf("the launch asked about %q, want %q", f.srv.asked, tc.asked)
			}
			var pulls []launch.PullPolicy
			for _, p := range f.srv.pulls {
				pulls = append(pulls, p.Opts.Policy)
				if p.Ref != image {
					t.Errorf("the launch pulled %q, want %q", p.Ref, image)
				}
			}
			if !reflect.DeepEqual(pulls, tc.pulls) {
				t.Errorf("the launch pulled with policies %q, want %q", pulls, tc.pulls)
			}
			if len(f.srv.specs) != 1 || f.srv.specs[0].Image != tc.created {
				t.Fatalf("the create was sent %d specs, want one of image %q", len(f.srv.specs), tc.created)
			}
			if s.Image != "" && s.Image != image {
				t.Errorf("the caller's spec now names image %q", s.Image)
			}
		})
	}
}

func TestCreatePassesThePullOptionsOn(t *testing.T) {
	f := newFixture(t)
	verify, retry := false, uint(3)
	var progress bytes.Buffer
	opts := launch.PullOptions{Policy: launch.PullAlways, TLSVerify: &verify, Authfile: "/auth.json", Username: "u", Password: "p",
		OS: "linux", Arch: "arm64", Variant: "v8", Retry: &retry, Progress: &progress}
	if _, err := f.sb.Run(t.Context(), "web", spec(), proj, &launch.RunOptions{Pull: &opts}); err != nil {
		t.Fatal(err)
	}
	if want := []pullCall{{Ref: "localhost/img", Opts: opts}}; !reflect.DeepEqual(f.srv.pulls, want) {
		t.Errorf("the server was asked to pull %+v, want %+v", f.srv.pulls, want)
	}
}

// TestCreatePullsBeforeAnythingIsWritten: the pull comes after the checks
// and before anything is minted or written, so a check that fails asks
// for no pull, and a pull that fails leaves nothing and sends no create.
func TestCreatePullsBeforeAnythingIsWritten(t *testing.T) {
	refused := &podmanapi.PullError{Image: "localhost/img", Err: errors.New("reading manifest latest in localhost/img: manifest unknown")}
	for _, tc := range []struct {
		name     string
		setup    func(f fixture)
		reqName  string
		spec     func() *specgen.SpecGenerator
		opts     *launch.PullOptions
		category error
		wantMsg  string
		// wantPulls is how many pulls reached the server; rolledBack is
		// set when the launch failed after it wrote, and rolled back.
		wantPulls  int
		rolledBack bool
	}{
		{name: "a pull the registry refuses leaves nothing and creates nothing",
			setup:    func(f fixture) { f.srv.pullErr = refused },
			category: launch.ErrNotFound, wantMsg: "manifest unknown", wantPulls: 1},
		{name: "a pull the registry refuses names the image",
			setup:    func(f fixture) { f.srv.pullErr = refused },
			category: launch.ErrNotFound, wantMsg: `"localhost/img"`, wantPulls: 1},
		{name: "an unknown policy is refused before the server is asked",
			opts: &launch.PullOptions{Policy: "sometimes"}, category: launch.ErrInvalidArgument, wantMsg: `"sometimes"`},
		{name: "an unsafe name is refused before the pull",
			reqName: "../web", category: launch.ErrInvalidArgument},
		{name: "a spec that sets what the sandbox owns is refused before the pull",
			spec:     func() *specgen.SpecGenerator { s := spec(); s.CapAdd = []string{"SYS_ADMIN"}; return s },
			category: launch.ErrInvalidArgument, wantMsg: "--cap-add"},
		{name: "a remote server is refused before the pull",
			setup:    func(f fixture) { f.srv.remote = true },
			category: launch.ErrRemoteServer},
		{name: "never with a missing image is the server's image not found, rolled back",
			opts: &launch.PullOptions{Policy: launch.PullNever}, category: launch.ErrNotFound, wantMsg: "not known", rolledBack: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			name, s := "web", spec()
			if tc.reqName != "" {
				name = tc.reqName
			}
			if tc.spec != nil {
				s = tc.spec()
			}
			_, err := f.sb.Run(t.Context(), name, s, proj, &launch.RunOptions{Pull: tc.opts})
			if !errors.Is(err, tc.category) {
				t.Fatalf("Run = %v, want an error in category %v", err, tc.category)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not say %q", err, tc.wantMsg)
			}
			if len(f.srv.pulls) != tc.wantPulls {
				t.Errorf("%d pulls reached the server, want %d", len(f.srv.pulls), tc.wantPulls)
			}
			if len(f.srv.started) != 0 {
				t.Errorf("%d containers were started", len(f.srv.started))
			}
			f.assertNothingLeft(t, "web")
			if !tc.rolledBack {
				assertNothingWritten(t, f)
			}
		})
	}
}

// TestCreateWithPullNeverGetsTheImageNotFoundError: a Go caller's PullNever
// launch of an image the server lacks fails as before pulls existed.
func TestCreateWithPullNeverGetsTheImageNotFoundError(t *testing.T) {
	f := newFixture(t)
	_, err := f.sb.Create(t.Context(), "web", spec(), proj, &launch.CreateOptions{Pull: &launch.PullOptions{Policy: launch.PullNever}})
	var missing *launch.ImageNotFoundError
	if !errors.As(err, &missing) || missing.Image != "localhost/img" {
		t.Fatalf("Create = %v, want an *ImageNotFoundError for localhost/img", err)
	}
	if len(f.srv.asked) != 0 || len(f.srv.pulls) != 0 {
		t.Errorf("the launch asked about %q and pulled %d times, want neither", f.srv.asked, len(f.srv.pulls))
	}
}

// assertNothingWritten fails when the launch wrote anything at all to the
// sandbox's dirs or minted a token: not even a name lock.
func assertNothingWritten(t *testing.T, f fixture) {
	t.Helper()
	for _, dir := range []string{f.cfg.StateDir, f.cfg.RuntimeDir, f.cfg.VaultDir} {
		err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
			if err == nil && p != dir {
				t.Errorf("%s was written by a launch that failed before it wrote", p)
			}
			return err
		})
		if err != nil {
			t.Error(err)
		}
	}
	if n := len(f.tokens.tokens); n != 0 {
		t.Errorf("%d tokens were minted", n)
	}
}
