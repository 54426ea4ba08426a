package podmanapi

import (
	"context"

	"github.com/containers/podman/v5/pkg/bindings/system"
)

// ServerVersion is what the podman service says of its own build, as
// `podman version` shows it under "Server".
type ServerVersion struct {
	Version, APIVersion, GoVersion, GitCommit, BuiltTime, OsArch string
}

// ServerVersion asks the service for its version.
func (c *Client) ServerVersion(ctx context.Context) (ServerVersion, error) {
	report, err := system.Version(c.with(ctx), nil)
	if err != nil {
		return ServerVersion{}, c.apiError("asking the podman service for its version", err)
	}
	if report.Server == nil {
		return ServerVersion{}, nil
	}
	v := report.Server
	return ServerVersion{Version: v.Version, APIVersion: v.APIVersion, GoVersion: v.GoVersion,
		GitCommit: v.GitCommit, BuiltTime: v.BuiltTime, OsArch: v.OsArch}, nil
}
