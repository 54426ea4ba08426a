package podmantest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// BuildTags are the tags sandwire builds with (the Makefile's BUILDTAGS).
const BuildTags = "remote,containers_image_openpgp,exclude_graphdriver_btrfs,exclude_graphdriver_devicemapper"

// BuildSandwire builds the sandwire CLI (with BuildTags) and, beside it
// where sandwire looks for it, the static container-side bridge program
// terok-bridge, as `make build` does, into dir. It returns sandwire's
// path. It must run inside the module. With EnvPrebuilt set it builds
// nothing and returns the sandwire found there.
func BuildSandwire(dir string) (string, error) {
	if bin := os.Getenv(EnvPrebuilt); bin != "" {
		return prebuilt(bin)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	build := func(env []string, args ...string) error {
		cmd := exec.CommandContext(ctx, goBin, append([]string{"build"}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = io.Discard, &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return nil
	}
	sandwire := filepath.Join(dir, "sandwire")
	if err := build(nil, "-tags", BuildTags, "-o", sandwire, "github.com/sandwire/sandwire/cmd/sandwire"); err != nil {
		return "", err
	}
	if err := build([]string{"CGO_ENABLED=0"}, "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "terok-bridge"),
		"github.com/sandwire/sandwire/cmd/terok-bridge"); err != nil {
		return "", err
	}
	return sandwire, nil
}

// EnvPrebuilt names a directory holding sandwire and terok-bridge built
// beforehand (`make build`'s bin/): the rootless round runs the suite as a
// user who cannot build them, having no module cache.
const EnvPrebuilt = "SANDWIRE_TEST_BINDIR"

func prebuilt(dir string) (string, error) {
	for _, name := range []string{"sandwire", "terok-bridge"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%s=%s holds no executable %s (run make build): %v", EnvPrebuilt, dir, name, err)
		}
	}
	return filepath.Join(dir, "sandwire"), nil
}
