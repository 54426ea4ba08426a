package integration

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/sandwire/sandwire/integration/podmantest"
	"github.com/sandwire/sandwire/launch"
	"github.com/sandwire/sandwire/wiring"
)

// Pulls: `sandwire run` and `create` pull the image as `podman run` and
// `podman create` do, from a registry the test starts (plain HTTP on
// 127.0.0.1, so every pull says --tls-verify=false, as a user of such a
// registry would).

// insecure are the pull flags for the test registry.
var insecure = []string{"--tls-verify=false"}

// pullLaunch runs `sandwire VERB --scope proj --no-shield NAME -- FLAGS
// IMAGE true`: run with --rm, so a run that succeeds leaves nothing; a
// created container is removed, and its state cleaned up, when the test
// ends.
func pullLaunch(t *testing.T, sb *sandbox, verb, name, image string, flags ...string) result {
	t.Helper()
	args := []string{"--url", svc.URL(), verb, "--scope", "proj", "--no-shield", name, "--"}
	if verb == "run" {
		args = append(args, "--rm")
	} else {
		removeContainerAtEnd(t, name)
		t.Cleanup(func() { sb.sandwire("cleanup", name) })
	}
	args = append(append(args, flags...), image, "true")
	return sb.sandwire(args...)
}

// pulled reports whether a launch's stderr shows the server pulling ref:
// podman's "Trying to pull REF..." comes only when it copies the image.
func pulled(r result, ref string) bool {
	return strings.Contains(r.stderr, "Trying to pull "+ref)
}

// localImageID is the ID of the server's image ref, or "" when it has none.
func localImageID(t *testing.T, ref string) string {
	t.Helper()
	if _, err := svc.Podman("image", "exists", ref); err != nil {
		return ""
	}
	out, err := svc.Podman("image", "inspect", "--format", "{{.Id}}", ref)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// removeLocalImage removes the server's image ref, now and when the test
// ends, so that each test starts without it.
func removeLocalImage(t *testing.T, ref string) {
	t.Helper()
	rm := func() { _, _ = svc.Podman("rmi", "--force", "--ignore", ref) }
	rm()
	t.Cleanup(rm)
}

// withoutImage is a fresh sandbox on a server that lacks the image ref.
func withoutImage(t *testing.T, ref string) *sandbox {
	t.Helper()
	removeLocalImage(t, ref)
	return newSandbox(t)
}

// startRegistryWith starts a registry for t holding the test image as repo;
// with auth, it asks for those credentials.
func startRegistryWith(t *testing.T, repo string, auth *podmantest.RegistryAuth) (*podmantest.Registry, string) {
	t.Helper()
	reg := podmantest.StartRegistry(t, auth)
	ref := reg.Ref(repo)
	if err := reg.Push(svc, svc.Image(), ref); err != nil {
		t.Fatal(err)
	}
	removeLocalImage(t, ref)
	return reg, ref
}

// TestPullPolicies: each --pull policy does on `sandwire run` and `create`
// what it does on podman's.
func TestPullPolicies(t *testing.T) {
	reg, ref := startRegistryWith(t, "sandwire/pull:latest", nil)

	t.Run("missing pulls an absent image once, and is the default", func(t *testing.T) {
		sb := withoutImage(t, ref)
		r := pullLaunch(t, sb, "create", "sw-pull-missing", ref, insecure...)
		mustSucceed(t, r)
		if !pulled(r, ref) || localImageID(t, ref) == "" {
			t.Errorf("create of an absent image did not pull it:\n%s", r)
		}
		relAssertWired(t, sb, "sw-pull-missing")
		r = pullLaunch(t, sb, "run", "sw-pull-missing-run", ref, append([]string{"--pull=missing"}, insecure...)...)
		mustSucceed(t, r)
		if pulled(r, ref) {
			t.Errorf("run --pull=missing pulled an image the server has:\n%s", r)
		}
	})

	t.Run("always pulls every time", func(t *testing.T) {
		sb := withoutImage(t, ref)
		for i, verb := range []string{"run", "run", "create"} {
			r := pullLaunch(t, sb, verb, "sw-pull-always", ref, append([]string{"--pull", "always"}, insecure...)...)
			mustSucceed(t, r)
			if !pulled(r, ref) {
				t.Errorf("%s --pull always (launch %d) did not pull:\n%s", verb, i+1, r)
			}
		}
	})

	t.Run("never fails on an absent image and uses a present one", func(t *testing.T) {
		sb := withoutImage(t, ref)
		const name = "sw-pull-never"
		r := pullLaunch(t, sb, "create", name, ref, "--pull=never")
		relAssertFailed(t, r, 1, ref, "not known")
		relAssertNothingLeft(t, sb, name)
		r = pullLaunch(t, sb, "run", name, ref, "--pull=never")
		relAssertFailed(t, r, 125, ref, "not known")
		relAssertNothingLeft(t, sb, name)
		if localImageID(t, ref) != "" {
			t.Fatal("--pull=never pulled the image")
		}

		if _, err := svc.Podman("pull", "--quiet", "--tls-verify=false", ref); err != nil {
			t.Fatal(err)
		}
		r = pullLaunch(t, sb, "run", name, ref, "--pull=never")
		mustSucceed(t, r)
		if pulled(r, ref) {
			t.Errorf("run --pull=never pulled:\n%s", r)
		}
	})

	t.Run("newer pulls when the registry's digest differs", func(t *testing.T) {
		sb := withoutImage(t, ref)
		newer := append([]string{"--pull", "newer"}, insecure...)
		r := pullLaunch(t, sb, "run", "sw-pull-newer", ref, newer...)
		mustSucceed(t, r)
		first := localImageID(t, ref)
		if !pulled(r, ref) || first == "" {
			t.Fatalf("run --pull newer of an absent image did not pull it:\n%s", r)
		}
		r = pullLaunch(t, sb, "run", "sw-pull-newer", ref, newer...)
		mustSucceed(t, r)
		if pulled(r, ref) || localImageID(t, ref) != first {
			t.Errorf("run --pull newer pulled although the registry's digest is the server's:\n%s", r)
		}

		const variant = "localhost/sw-pull-variant:latest"
		t.Cleanup(func() { _, _ = svc.Podman("rmi", "--force", "--ignore", variant) })
		if err := svc.ImportVariant(variant, "generation=2"); err != nil {
			t.Fatal(err)
		}
		if err := reg.Push(svc, variant, ref); err != nil {
			t.Fatal(err)
		}
		r = pullLaunch(t, sb, "create", "sw-pull-newer", ref, newer...)
		mustSucceed(t, r)
		if !pulled(r, ref) || localImageID(t, ref) == first {
			t.Errorf("create --pull newer did not pull the registry's new image (local ID %s, was %s):\n%s", localImageID(t, ref), first, r)
		}
	})

	t.Run("-q silences the progress", func(t *testing.T) {
		sb := withoutImage(t, ref)
		r := pullLaunch(t, sb, "run", "sw-pull-quiet", ref, append([]string{"-q"}, insecure...)...)
		mustSucceed(t, r)
		if r.stderr != "" || localImageID(t, ref) == "" {
			t.Errorf("run -q of an absent image: stderr %q, image pulled: %v; want it pulled in silence", r.stderr, localImageID(t, ref) != "")
		}
	})
}

// TestPullFailureLeavesNothing: a pull that fails stops the launch before
// anything is minted or written, with run's 125 and create's 1, naming the
// image and the registry's answer; so does a plain-HTTP registry that the
// pull was not told to trust (--tls-verify is podman's, and is passed on).
func TestPullFailureLeavesNothing(t *testing.T) {
	reg, ref := startRegistryWith(t, "sandwire/pull-fail:latest", nil)
	missing := reg.Ref("sandwire/no-such-image:latest")
	// --retry 0: a podman 5 server would otherwise retry a refused
	// connection for seconds (podman 4 ignores it, and retries anyway).
	quick := append([]string{"--retry", "0"}, insecure...)
	cases := []struct {
		name  string
		image string
		flags []string
		// answer is a part of the registry's answer; down stops the
		// registry first.
		answer string
		down   bool
	}{
		{name: "no such image on the registry", image: missing, flags: quick, answer: "manifest unknown"},
		{name: "a plain-HTTP registry without --tls-verify=false", image: ref, flags: []string{"--retry", "0"}, answer: "HTTP response to HTTPS client"},
		{name: "the registry is down", image: ref, flags: quick, answer: "connection refused", down: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.down {
				if err := reg.Stop(); err != nil {
					t.Fatal(err)
				}
			}
			sb := newSandbox(t)
			const name = "sw-pull-fails"
			for _, v := range []struct {
				verb string
				code int
			}{{"create", 1}, {"run", 125}} {
				r := pullLaunch(t, sb, v.verb, name, tc.image, tc.flags...)
				relAssertFailed(t, r, v.code, tc.image, tc.answer)
				sb.assertUntouched()
				relAssertNothingLeft(t, sb, name)
				if localImageID(t, tc.image) != "" {
					t.Errorf("%s left the image %s on the server", v.verb, tc.image)
				}
			}
		})
	}
}

// TestLibraryPull: a Go caller's launch pulls with the options it gives,
// and one that says PullNever of an absent image gets the
// *ImageNotFoundError it always got.
func TestLibraryPull(t *testing.T) {
	_, ref := startRegistryWith(t, "sandwire/pull-lib:latest", nil)
	sb := newSandbox(t)
	ctx, client := connect(t)
	const name = "sw-pull-lib"
	removeContainerAtEnd(t, name)
	spec := specgen.NewSpecGenerator(ref, false)
	spec.Command = []string{"true"}
	o := libOptions{Config: libraryConfig(sb), Request: wiring.Request{Scope: "proj", NoShield: true}}

	o.Pull = &launch.PullOptions{Policy: launch.PullNever}
	_, err := libCreate(ctx, client, name, spec, o)
	var notFound *launch.ImageNotFoundError
	if !errors.As(err, &notFound) || notFound.Image != ref {
		t.Fatalf("launch.Create with PullNever of an absent image = %v, want an *ImageNotFoundError for %s", err, ref)
	}
	relAssertNothingLeft(t, sb, name)

	verify := false
	var progress strings.Builder
	o.Pull = &launch.PullOptions{TLSVerify: &verify, Progress: &progress}
	if _, err := libCreate(ctx, client, name, spec, o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "Trying to pull "+ref) {
		t.Errorf("the pull's progress is %q, want podman's messages", progress.String())
	}
	relAssertWired(t, sb, name)
	mustSucceed(t, sb.sandwire("cleanup", name))
}

// TestPullCredentials: --creds and --authfile reach the registry as they
// do from podman run and create (the client reads the auth file and sends
// the credentials to the server); without them the registry's refusal is
// the launch's error.
func TestPullCredentials(t *testing.T) {
	auth := &podmantest.RegistryAuth{Username: "puller", Password: "s3cret-pass"}
	reg, ref := startRegistryWith(t, "sandwire/pull-auth:latest", auth)
	authfile := filepath.Join(t.TempDir(), "auth.json")
	login := base64.StdEncoding.EncodeToString([]byte(auth.Username + ":" + auth.Password))
	if err := os.WriteFile(authfile, fmt.Appendf(nil, `{"auths": {%q: {"auth": %q}}}`, reg.Addr(), login), 0o600); err != nil {
		t.Fatal(err)
	}
	quick := append([]string{"--retry", "0"}, insecure...)
	const name = "sw-pull-auth"

	sb := withoutImage(t, ref)
	r := pullLaunch(t, sb, "run", name, ref, quick...)
	relAssertFailed(t, r, 125, ref, "authentication required")
	sb.assertUntouched()

	r = pullLaunch(t, sb, "run", name, ref, append([]string{"--creds", auth.Username + ":" + auth.Password}, quick...)...)
	mustSucceed(t, r)
	if !pulled(r, ref) {
		t.Errorf("run --creds did not pull:\n%s", r)
	}

	removeLocalImage(t, ref)
	r = pullLaunch(t, sb, "create", name, ref, append([]string{"--authfile", authfile}, quick...)...)
	mustSucceed(t, r)
	if !pulled(r, ref) {
		t.Errorf("create --authfile did not pull:\n%s", r)
	}
	if strings.Contains(r.stderr, auth.Password) {
		t.Errorf("the password reached stderr:\n%s", r.stderr)
	}
}
