package shield

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"gopkg.in/yaml.v3"
)

// EnvConfigDir is where terok-shield's CLI looks for its config dir
// (config.yml and profiles/) before the XDG default.
const EnvConfigDir = "TEROK_SHIELD_CONFIG_DIR"

// configFile is terok-shield's configuration file in its config dir.
const configFile = "config.yml"

// loopbackKey is the config.yml key terok-shield reads the host loopback
// ports from, the only way its CLI takes them.
const loopbackKey = "loopback_ports"

// userConfigDir is the config dir the shield would read for this user:
// TEROK_SHIELD_CONFIG_DIR, else $XDG_CONFIG_HOME/terok/shield, else
// ~/.config/terok/shield.
func userConfigDir(lookup func(string) (string, bool)) string {
	if dir, ok := lookup(EnvConfigDir); ok && dir != "" {
		return dir
	}
	if xdg, ok := lookup("XDG_CONFIG_HOME"); ok && xdg != "" {
		return filepath.Join(xdg, "terok", "shield")
	}
	home, _ := lookup("HOME")
	return filepath.Join(home, ".config", "terok", "shield")
}

// launchConfig writes, in dir, the config dir one prepare runs with: the
// user's config.yml with the launch's loopback ports added to its own, and
// the user's profiles/ reachable through a link, so that everything the
// shield would read for the user it still reads. It returns dir.
func launchConfig(dir, userDir string, ports []int) (string, error) {
	cfg := map[string]any{}
	data, err := os.ReadFile(filepath.Join(userDir, configFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return "", fmt.Errorf("reading the shield's configuration: %w", err)
	default:
		if err := yaml.Unmarshal(data, &cfg); err != nil {
			return "", fmt.Errorf("the shield's configuration %s is not valid YAML: %w", filepath.Join(userDir, configFile), err)
		}
		if cfg == nil {
			cfg = map[string]any{}
		}
	}
	cfg[loopbackKey] = mergePorts(cfg[loopbackKey], ports)
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("creating the shield's config dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, configFile), out, 0o600); err != nil {
		return "", fmt.Errorf("writing the shield's configuration: %w", err)
	}
	if st, err := os.Stat(filepath.Join(userDir, "profiles")); err == nil && st.IsDir() {
		if err := os.Symlink(filepath.Join(userDir, "profiles"), filepath.Join(dir, "profiles")); err != nil && !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("linking the user's shield profiles: %w", err)
		}
	}
	return dir, nil
}

// mergePorts is the user's loopback_ports (a port or a list, as
// terok-shield accepts) with ports added, each once, in order.
func mergePorts(user any, ports []int) []int {
	var out []int
	switch v := user.(type) {
	case int:
		out = append(out, v)
	case []any:
		for _, p := range v {
			if n, ok := p.(int); ok {
				out = append(out, n)
			}
		}
	}
	for _, p := range ports {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}
