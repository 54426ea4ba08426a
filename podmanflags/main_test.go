package podmanflags

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"go.podman.io/common/pkg/config"
)

// testConf is the containers.conf every test runs with.
const testConf = "testdata/containers.conf"

// reexecMarker guards TestMain against re-executing in a loop.
const reexecMarker = "SANDWIRE_PODMANFLAGS_TEST_REEXEC"

// hostEnv lists the variables that would let the machine running the tests
// change what podman's client code produces: containers.conf itself (read
// at package initialisation, see TestMain) and the systemd unit label that
// FillOutSpecGen copies from the environment.
var hostEnv = []string{"CONTAINERS_CONF", "CONTAINERS_CONF_OVERRIDE", "PODMAN_SYSTEMD_UNIT"}

// TestMain points CONTAINERS_CONF at testdata/containers.conf before any
// podman code reads it.
//
// t.Setenv, or os.Setenv here, would be too late: podman's
// cmd/podman/common declares `var podmanConfig = registry.PodmanConfig()`,
// which loads containers.conf (config.New with SetDefault, the value
// config.Default() then returns from its cache) while the package is
// initialised, before TestMain runs. The variable has to be in the
// environment the test binary starts with, so TestMain re-executes the
// binary (same PID, same arguments, same streams) with it set. Fuzz
// workers inherit the environment and do not re-execute.
func TestMain(m *testing.M) {
	conf, err := filepath.Abs(testConf)
	if err != nil {
		fmt.Fprintln(os.Stderr, "podmanflags tests:", err)
		os.Exit(1)
	}
	if !isolated(conf) {
		if os.Getenv(reexecMarker) != "" {
			fmt.Fprintln(os.Stderr, "podmanflags tests: re-executed, but CONTAINERS_CONF is still not", conf)
			os.Exit(1)
		}
		exe, err := os.Executable()
		if err == nil {
			err = syscall.Exec(exe, os.Args, isolatedEnv(conf))
		}
		fmt.Fprintln(os.Stderr, "podmanflags tests: re-executing with CONTAINERS_CONF:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func isolated(conf string) bool {
	if os.Getenv("CONTAINERS_CONF") != conf {
		return false
	}
	for _, k := range hostEnv[1:] {
		if _, set := os.LookupEnv(k); set {
			return false
		}
	}
	return true
}

func isolatedEnv(conf string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		keep := k != reexecMarker
		for _, drop := range hostEnv {
			keep = keep && k != drop
		}
		if keep {
			env = append(env, kv)
		}
	}
	return append(env, "CONTAINERS_CONF="+conf, reexecMarker+"=1")
}

func TestContainersConfIsIsolated(t *testing.T) {
	// The sentinel in testdata/containers.conf is in the cached default
	// config, so the file podman loaded is ours and nothing else.
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Engine.ImageDefaultFormat; got != "oci" {
		t.Fatalf("config.Default().Engine.ImageDefaultFormat = %q, want the sentinel %q of %s: "+
			"the machine's containers.conf leaked in", got, "oci", testConf)
	}
}
