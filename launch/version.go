package launch

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/sandwire/sandwire/podmanapi"
)

// Version is one side of `sandwire version`: the client's build, or the
// podman service's.
type Version = podmanapi.ServerVersion

// ClientVersion is this build of sandwire: the module version (or
// "(devel)" for a build from a checkout), the Go version, the VCS commit
// and time when the build recorded them, and the platform.
func ClientVersion() Version {
	v := Version{Version: "(devel)", GoVersion: runtime.Version(), OsArch: runtime.GOOS + "/" + runtime.GOARCH}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if info.Main.Version != "" {
		v.Version = info.Main.Version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.GitCommit = s.Value
		case "vcs.time":
			if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
				v.BuiltTime = t.Format(time.ANSIC)
			}
		}
	}
	for _, dep := range info.Deps {
		if dep.Path == "github.com/containers/podman/v5" {
			// The API the client speaks is that of its podman bindings.
			v.APIVersion = strings.TrimPrefix(dep.Version, "v")
		}
	}
	return v
}

// versioner is a server that can say its version; *podmanapi.Client is one.
type versioner interface {
	ServerVersion(ctx context.Context) (podmanapi.ServerVersion, error)
}

// ServerVersion asks the podman service for its version.
func (s *Sandbox) ServerVersion(ctx context.Context) (Version, error) {
	srv, err := s.connect(ctx)
	if err != nil {
		return Version{}, err
	}
	v, ok := srv.(versioner)
	if !ok {
		return Version{}, fmt.Errorf("%w: this server cannot say its version", ErrNotFound)
	}
	return v.ServerVersion(ctx)
}
