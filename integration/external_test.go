package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sandwire/sandwire/integration/podmantest"
)

// externalProgram is a Go program as a sandwire user writes one: it
// imports sandwire's launch package and podman's specgen, nothing else of
// either project. "run NAME IMAGE" runs a wired container that prints its
// wiring; "cleanup NAME" undoes the sandbox's side of it.
const externalProgram = `package main

import (
	"context"
	"fmt"
	"os"

	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/sandwire/sandwire/launch"
)

func main() {
	cfg, err := launch.LoadConfig()
	if err != nil {
		fail(err)
	}
	sb, err := launch.New(cfg)
	if err != nil {
		fail(err)
	}
	defer sb.Close()
	ctx := context.Background()
	switch os.Args[1] {
	case "run":
		spec := specgen.NewSpecGenerator(os.Args[3], false)
		spec.Command = []string{"sh", "-c", "echo gate=$TEROK_GATE_SOCKET; echo token=${#TEROK_SSH_SIGNER_TOKEN}; ls /run/terok"}
		res, err := sb.Run(ctx, os.Args[2], spec, launch.Request{Scope: "proj", NoShield: true},
			&launch.RunOptions{Stdout: os.Stdout, Stderr: os.Stderr})
		if err != nil {
			fail(err)
		}
		fmt.Printf("exit=%d id=%s\n", res.ExitCode, res.ID)
	case "cleanup":
		found, err := sb.Cleanup(ctx, os.Args[2])
		if err != nil {
			fail(err)
		}
		fmt.Printf("cleaned=%v\n", found)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "Error:", launch.Redact(err.Error()))
	os.Exit(1)
}
`

// TestExternalProgramImportsOnlyLaunch builds a program in a module of its
// own, whose go.mod points at this checkout, that imports only launch and
// specgen; it runs a wired container with the library's defaults (the
// podman service from CONTAINER_HOST, the default token store), the test
// checks the container's wiring, and the program's cleanup leaves nothing.
func TestExternalProgramImportsOnlyLaunch(t *testing.T) {
	if podmantest.Rootless() {
		t.Skip("needs the Go toolchain and root's module cache to build a program; runs in the rootful rounds")
	}
	bin := buildExternalProgram(t)
	sb := newSandbox(t)
	// The program sets nothing itself: the bridge comes from the config
	// file, the service from CONTAINER_HOST, as for any library user.
	sb.writeConfig("bridge_binary = " + quoteTOML(filepath.Join(filepath.Dir(sandwireBin), "terok-bridge")) + "\n")
	const name = "sw-external"
	removeContainerAtEnd(t, name)
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(sb.environ(), "CONTAINER_HOST="+svc.URL())
		out, err := cmd.CombinedOutput()
		if anyTokenRE.Match(out) {
			t.Errorf("a token reached the program's output")
		}
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", filepath.Base(bin), args, err, out)
		}
		return string(out)
	}

	out := run("run", name, svc.Image())
	for _, want := range []string{"gate=/run/terok/gate/gate-server.sock", "token=40", "exit=0"} {
		if !strings.Contains(out, want) {
			t.Errorf("the program's container printed %q, want %q in it", out, want)
		}
	}
	c := inspect(t, name)
	if got := c.Config.Annotations[sidecarAnnotation]; got != sb.sidecarPath(name) {
		t.Errorf("sidecar annotation %q, want %q", got, sb.sidecarPath(name))
	}
	ro := 0
	for _, m := range c.Mounts {
		if (m.Destination == containerRuntimeDir || m.Destination == containerBridgesDir) && !m.RW {
			ro++
		}
	}
	if ro != 2 {
		t.Errorf("%d of the sandbox's 2 read-only mounts, in %+v", ro, c.Mounts)
	}
	if n := sb.tokenCount(name); n != 1 {
		t.Errorf("%d tokens for %s, want the SSH signer's", n, name)
	}

	if _, err := svc.Podman("rm", "-f", name); err != nil {
		t.Fatal(err)
	}
	if out := run("cleanup", name); !strings.Contains(out, "cleaned=true") {
		t.Errorf("cleanup printed %q", out)
	}
	sb.assertNoState(name)
	if n := sb.tokenCount(name); n != 0 {
		t.Errorf("%d tokens of %s outlive the cleanup", n, name)
	}
	if containerExists(t, name) {
		t.Errorf("container %s is left", name)
	}
}

// buildExternalProgram writes externalProgram into a module of its own in
// a temporary dir, with replace directives pointing at this checkout and
// its SQLite driver, checks that it imports nothing of sandwire but
// launch, and builds it.
func buildExternalProgram(t *testing.T) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	checkout := filepath.Dir(filepath.Dir(here))
	dir := t.TempDir()
	goMod := "module example.com/sandboxed\n\ngo 1.26\n\n" +
		"require (\n\tgithub.com/sandwire/sandwire v0.0.0\n\tgithub.com/containers/podman/v5 v5.8.2\n)\n\n" +
		"replace github.com/sandwire/sandwire => " + checkout + "\n" +
		// As the README says a program's go.mod must: one SQLite C library.
		"replace github.com/mattn/go-sqlite3 => " + filepath.Join(checkout, "third_party", "go-sqlite3") + "\n"
	sum, err := os.ReadFile(filepath.Join(checkout, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for file, data := range map[string][]byte{"go.mod": []byte(goMod), "go.sum": sum, "main.go": []byte(externalProgram)} {
		if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	goCmd := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	tags := "-tags=" + podmantest.BuildTags
	imports := strings.Fields(goCmd("list", tags, "-f", `{{join .Imports " "}}`, "."))
	var ours []string
	for _, imp := range imports {
		if strings.Contains(imp, ".") {
			ours = append(ours, imp)
		}
	}
	if want := []string{"github.com/containers/podman/v5/pkg/specgen", "github.com/sandwire/sandwire/launch"}; !slices.Equal(ours, want) {
		t.Fatalf("the program imports %q, want exactly %q", ours, want)
	}
	bin := filepath.Join(dir, "sandboxed")
	goCmd("build", tags, "-o", bin, ".")
	return bin
}

// quoteTOML quotes s as a TOML basic string.
func quoteTOML(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
