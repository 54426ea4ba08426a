package podmanapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/containers/podman/v5/pkg/bindings/volumes"
)

// BoundDevice is the host path a named volume binds, when it is a volume
// of the local driver made with "o=bind" and "device=PATH" (podman volume
// create --opt type=none --opt o=bind --opt device=PATH): mounting it shows
// the container that host path. It reports false for every other volume,
// and for one that does not exist yet (the server makes it empty).
func (c *Client) BoundDevice(ctx context.Context, name string) (string, bool, error) {
	v, err := volumes.Inspect(c.with(ctx), name, nil)
	if err != nil {
		if responseCode(err) == http.StatusNotFound {
			return "", false, nil
		}
		return "", false, c.apiError("inspecting volume "+name, err)
	}
	if v.Driver != "" && v.Driver != "local" {
		return "", false, nil
	}
	for _, o := range strings.Split(v.Options["o"], ",") {
		if o == "bind" || o == "rbind" {
			return v.Options["device"], v.Options["device"] != "", nil
		}
	}
	return "", false, nil
}
