package wiring_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/sandwire/sandwire/wiring"
)

func TestMaterializeBridges(t *testing.T) {
	cfg := testConfig(t, wiring.ServicesSocket)
	dir, err := wiring.MaterializeBridges(cfg)
	if err != nil {
		t.Fatalf("MaterializeBridges = %v", err)
	}
	if ok, _ := regexp.MatchString(`^[0-9a-f]{16}$`, filepath.Base(dir)); !ok || filepath.Dir(dir) != filepath.Join(cfg.StateDir, "bridges") {
		t.Errorf("bridges dir = %s, want <state>/bridges/<16 hex digits>", dir)
	}
	assertMode(t, dir, os.ModeDir|0o755)

	script := filepath.Join(dir, "ensure-bridges.sh")
	binary := filepath.Join(dir, wiring.BridgeBinaryName)
	assertMode(t, script, 0o644)
	assertMode(t, binary, 0o755)
	if got, want := readFile(t, script), readFile(t, filepath.Join("bridges", "ensure-bridges.sh")); got != want {
		t.Errorf("the materialised script differs from bridges/ensure-bridges.sh")
	}
	if got, want := readFile(t, binary), readFile(t, cfg.BridgeBinary); got != want {
		t.Errorf("the materialised bridge program = %q, want %q", got, want)
	}
	if got := tree(t, filepath.Join(cfg.StateDir, "bridges")); !reflect.DeepEqual(got, []string{
		filepath.Base(dir), filepath.Join(filepath.Base(dir), "ensure-bridges.sh"), filepath.Join(filepath.Base(dir), wiring.BridgeBinaryName),
	}) {
		t.Errorf("bridges dir holds %q: a temporary dir was left behind or a file is missing", got)
	}

	again, err := wiring.MaterializeBridges(cfg)
	if err != nil || again != dir {
		t.Errorf("second MaterializeBridges = %q, %v; want %q", again, err, dir)
	}

	// A different program is a different version, in a dir of its own.
	other := cfg
	other.BridgeBinary = filepath.Join(t.TempDir(), "terok-bridge")
	writeFile(t, other.BridgeBinary, "another build")
	otherDir, err := wiring.MaterializeBridges(other)
	if err != nil {
		t.Fatalf("MaterializeBridges with another program = %v", err)
	}
	if otherDir == dir {
		t.Errorf("two different bridge programs share the dir %s", dir)
	}
	if got := readFile(t, filepath.Join(dir, wiring.BridgeBinaryName)); got != readFile(t, cfg.BridgeBinary) {
		t.Error("materialising another version changed the first one's files")
	}
}

func TestMaterializeBridgesConcurrently(t *testing.T) {
	cfg := testConfig(t, wiring.ServicesSocket)
	const n = 8
	dirs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dirs[i], errs[i] = wiring.MaterializeBridges(cfg)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || dirs[i] != dirs[0] {
			t.Errorf("MaterializeBridges #%d = %q, %v; want %q, nil", i, dirs[i], errs[i], dirs[0])
		}
	}
	if got := tree(t, filepath.Join(cfg.StateDir, "bridges")); len(got) != 3 {
		t.Errorf("bridges dir holds %q, want one version dir with two files", got)
	}
}

func TestMaterializeBridgesWithoutTheProgram(t *testing.T) {
	t.Run("configured program that is missing is an error", func(t *testing.T) {
		cfg := testConfig(t, wiring.ServicesSocket)
		cfg.BridgeBinary = filepath.Join(t.TempDir(), "missing")
		if _, err := wiring.MaterializeBridges(cfg); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("MaterializeBridges = %v, want an error wrapping fs.ErrNotExist", err)
		}
		if exists(t, filepath.Join(cfg.StateDir, "bridges")) {
			t.Error("a bridges dir was created without a program to put in it")
		}
	})
	t.Run("program found nowhere on the search path is a *BridgeBinaryNotFoundError", func(t *testing.T) {
		for _, d := range wiring.BridgeBinarySearchPath() {
			if _, err := os.Stat(filepath.Join(d, wiring.BridgeBinaryName)); err == nil {
				t.Skipf("%s is installed in %s", wiring.BridgeBinaryName, d)
			}
		}
		cfg := testConfig(t, wiring.ServicesSocket)
		cfg.BridgeBinary = ""
		_, err := wiring.MaterializeBridges(cfg)
		var nf *wiring.BridgeBinaryNotFoundError
		if !errors.As(err, &nf) || !reflect.DeepEqual(nf.Searched, wiring.BridgeBinarySearchPath()) {
			t.Errorf("MaterializeBridges = %v, want a *BridgeBinaryNotFoundError listing the search path", err)
		}
		if err != nil && !strings.Contains(err.Error(), wiring.BridgeBinaryName) {
			t.Errorf("error %q does not name the missing program", err)
		}
	})
	t.Run("compose that needs the bridges fails and rolls back without the program", func(t *testing.T) {
		cfg := testConfig(t, wiring.ServicesSocket)
		cfg.BridgeBinary = filepath.Join(t.TempDir(), "missing")
		store := testStore(t, cfg)
		if _, err := compose(t.Context(), cfg, "web", wiring.Request{Scope: "proj", NoShield: true},
			wiring.ComposeOptions{Tokens: store}); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Compose = %v, want an error wrapping fs.ErrNotExist", err)
		}
		for _, p := range statePaths(cfg, "web") {
			if exists(t, p) {
				t.Errorf("the failed launch left %s", p)
			}
		}
	})
}
