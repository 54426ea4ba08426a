package podmanapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/containers/podman/v5/pkg/bindings/images"
	"go.podman.io/common/pkg/config"
	"go.podman.io/image/v5/transports/alltransports"
)

// PullPolicy is podman's --pull: whether the image is pulled before the
// create. The zero value is podman's default, PullMissing.
type PullPolicy string

// podman's pull policies; ParsePullPolicy also takes podman's other
// spellings (ifmissing, ifnotpresent, ifnewer, any case).
const (
	// PullMissing pulls when the server has no such image.
	PullMissing PullPolicy = "missing"
	// PullAlways pulls every time, even when the server has the image.
	PullAlways PullPolicy = "always"
	// PullNever never pulls: a missing image fails the create.
	PullNever PullPolicy = "never"
	// PullNewer pulls when the registry's image differs from the server's
	// (by digest); when the registry cannot be asked, the server's image
	// is used.
	PullNewer PullPolicy = "newer"
)

// ParsePullPolicy reads a --pull value as podman does; "" is PullMissing.
func ParsePullPolicy(s string) (PullPolicy, error) {
	p, err := config.ParsePullPolicy(s)
	if err != nil {
		return "", err
	}
	return PullPolicy(p.String()), nil
}

// PullOptions are how an image is pulled: podman run's and create's pull
// flags. The zero value pulls a missing image with the server's defaults
// and shows no progress.
type PullOptions struct {
	// Policy is --pull; empty means PullMissing.
	Policy PullPolicy
	// TLSVerify is --tls-verify: nil leaves it to the server's
	// registries.conf (HTTPS and verified certificates unless a registry
	// is marked insecure there).
	TLSVerify *bool
	// Authfile is --authfile: this client's credentials file, read here
	// and sent to the server, as podman-remote does. Empty means the
	// default files (REGISTRY_AUTH_FILE, the containers and docker ones).
	Authfile string
	// Username and Password are --creds; they win over the auth file.
	Username, Password string
	// OS, Arch and Variant are --os, --arch and --variant (--platform is
	// OS/ARCH): the platform to choose from a multi-platform image. With
	// any of them set, PullMissing asks the registry as PullNewer does,
	// since a local image may declare the wrong platform.
	OS, Arch, Variant string
	// Retry and RetryDelay are --retry and --retry-delay; nil leaves them
	// to the server's containers.conf. Servers before podman 5 ignore them.
	Retry      *uint
	RetryDelay *time.Duration
	// Progress receives the server's pull messages as podman prints them
	// ("Trying to pull ...", "Copying blob ..."); nil shows none (podman's
	// --quiet).
	Progress io.Writer
}

// CustomPlatform reports whether o asks for a platform other than the
// server's own.
func (o PullOptions) CustomPlatform() bool {
	return o.OS != "" || o.Arch != "" || o.Variant != ""
}

// ImageExists reports whether the server has an image of that name or ID.
func (c *Client) ImageExists(ctx context.Context, ref string) (bool, error) {
	ok, err := images.Exists(c.with(ctx), ref, nil)
	if err != nil {
		return false, c.transportError("looking up image "+ref, err)
	}
	return ok, nil
}

// Pull has the server pull ref as podman-remote's run and create do before
// their create, and returns the image name to create from: ref itself, or
// the pulled image's ID when ref names a transport (docker://...), which a
// create does not take. The registry's refusal comes back as a *PullError;
// a server that refuses the request itself (a bad reference) as an
// *APIError.
func (c *Client) Pull(ctx context.Context, ref string, o PullOptions) (string, error) {
	ids, err := images.Pull(c.with(ctx), ref, pullParams(o))
	op := fmt.Sprintf("pulling image %q", ref)
	var transport *url.Error
	switch {
	case ctx.Err() != nil:
		// The bindings end a cancelled pull's stream without an error.
		return "", &InterruptedError{Op: op, Err: ctx.Err()}
	case err == nil && len(ids) == 0:
		return "", &PullError{Image: ref, Err: errors.New("the podman service reported no image")}
	case err == nil:
		return createName(ref, ids[len(ids)-1]), nil
	case responseCode(err) != 0:
		return "", c.apiError(op, err)
	case errors.As(err, &transport):
		return "", c.transportError(op, err)
	}
	return "", &PullError{Image: ref, Err: err}
}

// pullParams are the bindings' options for o: what was given, so that the
// server's defaults stand for the rest, and quiet without a progress sink,
// so that the server sends no progress at all.
func pullParams(o PullOptions) *images.PullOptions {
	policy := o.Policy
	if policy == "" {
		policy = PullMissing
	}
	opts := new(images.PullOptions).WithPolicy(string(policy)).WithQuiet(o.Progress == nil)
	if o.Progress != nil {
		opts.WithProgressWriter(o.Progress)
	}
	for _, f := range []struct {
		value string
		set   func(string) *images.PullOptions
	}{
		{o.Authfile, opts.WithAuthfile}, {o.Username, opts.WithUsername}, {o.Password, opts.WithPassword},
		{o.OS, opts.WithOS}, {o.Arch, opts.WithArch}, {o.Variant, opts.WithVariant},
	} {
		if f.value != "" {
			f.set(f.value)
		}
	}
	if o.TLSVerify != nil {
		opts.WithSkipTLSVerify(!*o.TLSVerify)
	}
	if o.Retry != nil {
		opts.WithRetry(*o.Retry)
	}
	if o.RetryDelay != nil {
		opts.WithRetryDelay(o.RetryDelay.String())
	}
	return opts
}

// createName is the name a create takes for an image pulled as ref: ref,
// so that the server resolves the repository and tag, unless ref names a
// transport, when it is the image's ID (podman's pullImage does the same).
func createName(ref, id string) string {
	if _, err := alltransports.ParseImageName(ref); err == nil {
		return id
	}
	return ref
}

// RemoveImage removes an image, as podman run --rmi does once the
// container is gone: one that is already gone is not an error, and one
// that other containers use is refused by the server.
func (c *Client) RemoveImage(ctx context.Context, ref string) error {
	_, errs := images.Remove(c.with(ctx), []string{ref}, new(images.RemoveOptions).WithIgnore(true))
	if err := errors.Join(errs...); err != nil {
		return c.apiError("removing image "+ref, err)
	}
	return nil
}
