package podmanapi

import (
	"fmt"

	"go.podman.io/common/pkg/config"
)

// LocalConfig is what this machine's containers.conf says about the podman
// that runs here. The API does not report these, so a local server is
// taken to share this configuration.
type LocalConfig struct {
	// HooksDirs are the OCI hooks directories.
	HooksDirs []string
	// RootlessNetwork is the default rootless network command.
	RootlessNetwork string
}

// ReadLocalConfig reads containers.conf as podman does (CONTAINERS_CONF
// and its drop-ins included).
func ReadLocalConfig() (LocalConfig, error) {
	conf, err := config.Default()
	if err != nil {
		return LocalConfig{}, fmt.Errorf("reading podman's configuration: %w", err)
	}
	lc := LocalConfig{HooksDirs: conf.Engine.HooksDir.Get(), RootlessNetwork: conf.Network.DefaultRootlessNetworkCmd}
	if lc.RootlessNetwork == "" {
		lc.RootlessNetwork = "pasta"
	}
	return lc, nil
}
