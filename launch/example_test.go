package launch_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/sandwire/sandwire/launch"
)

// exampleSandbox is a Sandbox over an in-memory podman service, so that
// the examples run anywhere; a program leaves WithServer out, and the
// sandbox connects as podman-remote does.
func exampleSandbox(opts ...launch.Option) (*launch.Sandbox, func()) {
	dir, err := os.MkdirTemp("", "sw-example")
	if err != nil {
		log.Fatal(err)
	}
	cfg, err := launch.LoadConfig()
	if err != nil {
		log.Fatal(err)
	}
	cfg.StateDir, cfg.RuntimeDir, cfg.VaultDir = dir+"/state", dir+"/run", dir+"/vault"
	cfg.BridgeBinary = dir + "/terok-bridge"
	if err := os.WriteFile(cfg.BridgeBinary, []byte("#!/bin/sh\n"), 0o755); err != nil {
		log.Fatal(err)
	}
	// The vault's passphrase, from a file of the operator's through
	// terok's passphrase_command; the OS keyring is left out of it.
	if err := os.WriteFile(dir+"/vault-passphrase", []byte("example passphrase\n"), 0o600); err != nil {
		log.Fatal(err)
	}
	command := "cat " + dir + "/vault-passphrase"
	cfg.CredentialsPassphraseCommand, cfg.CredentialsUseKeyring = &command, false
	sb, err := launch.New(cfg, append([]launch.Option{launch.WithServer(newFakeServer()), launch.WithNotes(nil)}, opts...)...)
	if err != nil {
		log.Fatal(err)
	}
	return sb, func() { sb.Close(); os.RemoveAll(dir) }
}

// A Go program creates a wired container from its own spec, and undoes
// the sandbox's side of it once the container is gone.
func ExampleSandbox_Create() {
	sb, done := exampleSandbox()
	defer done()
	ctx := context.Background()

	spec := specgen.NewSpecGenerator("localhost/app:latest", false)
	spec.Command = []string{"sleep", "1d"}
	c, err := sb.Create(ctx, "mybox", spec, launch.Request{Scope: "myproj", NoShield: true}, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Name, "ssh:", c.Plan.SSH, "gate:", c.Plan.Gate)

	found, err := sb.Cleanup(ctx, "mybox")
	fmt.Println("cleaned up:", found, err)
	// Output:
	// mybox ssh: true gate: true
	// cleaned up: true <nil>
}

// A spec that touches what the sandbox owns is refused, with every
// conflict named, before anything is written.
func ExampleSandbox_Create_refused() {
	sb, done := exampleSandbox()
	defer done()

	spec := specgen.NewSpecGenerator("localhost/app:latest", false)
	spec.CapAdd = []string{"SYS_ADMIN"}
	_, err := sb.Create(context.Background(), "mybox", spec, launch.Request{NoShield: true}, nil)
	fmt.Println(errors.Is(err, launch.ErrInvalidArgument))
	fmt.Println(strings.Contains(err.Error(), "--cap-add (SYS_ADMIN)"))
	// Output:
	// true
	// true
}

// The image is pulled first, as podman create pulls it; PullNever pulls
// nothing, so an image the server lacks fails the create.
func ExampleSandbox_Create_pull() {
	sb, done := exampleSandbox()
	defer done()

	spec := specgen.NewSpecGenerator("localhost/app:latest", false)
	never := &launch.CreateOptions{Pull: &launch.PullOptions{Policy: launch.PullNever}}
	_, err := sb.Create(context.Background(), "mybox", spec, launch.Request{NoShield: true}, never)
	var missing *launch.ImageNotFoundError
	fmt.Println(errors.As(err, &missing), errors.Is(err, launch.ErrNotFound))

	newer := &launch.CreateOptions{Pull: &launch.PullOptions{Policy: launch.PullNewer, Progress: os.Stderr}}
	c, err := sb.Create(context.Background(), "mybox", spec, launch.Request{NoShield: true}, newer)
	fmt.Println(c.Name, err)
	// Output:
	// true true
	// mybox <nil>
}

// Run is podman run: create, start, attach, wait, and remove with --rm.
func ExampleSandbox_Run() {
	sb, done := exampleSandbox()
	defer done()

	spec := specgen.NewSpecGenerator("localhost/app:latest", false)
	spec.Command = []string{"true"}
	res, err := sb.Run(context.Background(), "job", spec, launch.Request{NoShield: true, NoGate: true, NoBroker: true},
		&launch.RunOptions{Remove: true, Stdout: os.Stdout, Stderr: os.Stderr})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("exit code", res.ExitCode)
	// Output:
	// exit code 0
}

// Prepare lays the state down for a container the caller runs itself and
// returns the flags that wire it.
func ExampleSandbox_Prepare() {
	var notes []string
	sb, done := exampleSandbox(launch.WithNotes(func(n string) { notes = append(notes, n) }))
	defer done()

	p, err := sb.Prepare(context.Background(), "mybox", nil, launch.Request{NoShield: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.Join(p.Flags()[:3], " "))
	fmt.Println(len(notes), "notes:", notes[0])
	// Output:
	// --name mybox --annotation
	// 2 notes: note: --gate requires --scope; skipping (use --no-gate to silence)
}

// Start is podman start for a wired container: after a reboot emptied its
// runtime dir, the dir is re-created before the container starts.
func ExampleSandbox_Start() {
	sb, done := exampleSandbox()
	defer done()
	ctx := context.Background()

	spec := specgen.NewSpecGenerator("localhost/app:latest", false)
	if _, err := sb.Create(ctx, "mybox", spec, launch.Request{Scope: "myproj", NoShield: true}, nil); err != nil {
		log.Fatal(err)
	}
	os.RemoveAll(sb.Config().RuntimeDir) // what a reboot does to /run

	res, err := sb.Start(ctx, "mybox", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Name, "re-created:", len(res.Restored) > 0)
	again, err := sb.Start(ctx, "mybox", nil) // a no-op, as with podman
	fmt.Println("was running:", again.WasRunning, err)
	// Output:
	// mybox re-created: true
	// was running: true <nil>
}

// A long-running program watches the podman service and cleans up after
// every wired container that any client removes. A program would end the
// watch with signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM).
func ExampleSandbox_Watch() {
	srv := newFakeServer()
	notes := make(chan string, 16)
	sb, done := exampleSandbox(launch.WithServer(srv), launch.WithNotes(func(n string) { notes <- n }))
	defer done()
	ctx, stop := context.WithCancel(context.Background())
	if _, err := sb.Create(ctx, "mybox", specgen.NewSpecGenerator("localhost/app:latest", false),
		launch.Request{Scope: "myproj", NoShield: true}, nil); err != nil {
		log.Fatal(err)
	}

	watching := make(chan error, 1)
	go func() { watching <- sb.Watch(ctx, nil) }()
	for n := range notes {
		if strings.HasPrefix(n, "watch: following") {
			break
		}
	}
	// Another client removes the container: podman rm mybox.
	if err := srv.Remove(ctx, "mybox", true); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-notes)
	stop()
	fmt.Println("Watch returned", <-watching)
	// Output:
	// watch: "mybox" was removed: tokens revoked, sandbox state removed
	// Watch returned <nil>
}
