package wiring

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkComposeWithoutIO measures the pure part of a launch: resolving
// the plan and composing the edits and the sidecar.
func BenchmarkComposeWithoutIO(b *testing.B) {
	cfg := benchConfig(b)
	req := Request{Scope: "proj", NoShield: true}
	b.ReportAllocs()
	for b.Loop() {
		plan, _, err := ResolvePlan(req)
		if err != nil {
			b.Fatal(err)
		}
		in := EditsInput{Name: "box", Plan: plan, Mode: ServicesSocket,
			Resources:   Resources{RuntimeDir: cfg.ContainerRuntimeDir("box")},
			SidecarPath: cfg.SidecarPath("box"), BridgesDir: "/var/lib/terok/sandbox/bridges/0123456789abcdef",
			GateToken: "terok-g-00000000000000000000000000000000", SSHToken: "terok-p-00000000000000000000000000000000"}
		if err := BuildEdits(in).Validate(); err != nil {
			b.Fatal(err)
		}
		_ = BuildSidecar(cfg, in)
	}
}

// BenchmarkComposeWithIO measures a whole Compose — lock, dirs, meta.json,
// sidecar, bridges check and a token insert — and its Rollback.
func BenchmarkComposeWithIO(b *testing.B) {
	cfg := benchConfig(b)
	store := NewSQLiteStore(cfg.DBPath())
	defer store.Close()
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		name := fmt.Sprintf("box%d", i)
		i++
		in, err := Check(cfg, name, Request{Scope: "proj", NoShield: true})
		if err != nil {
			b.Fatal(err)
		}
		l, err := Compose(ctx, in, ComposeOptions{Tokens: store})
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Rollback(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func benchConfig(b *testing.B) Config {
	dir := b.TempDir()
	bridge := filepath.Join(dir, "terok-bridge")
	if err := os.WriteFile(bridge, []byte("#!/bin/sh\n"), 0o755); err != nil {
		b.Fatal(err)
	}
	cfg := DefaultConfig(0, func(string) (string, bool) { return "", false })
	cfg.StateDir, cfg.RuntimeDir, cfg.VaultDir = filepath.Join(dir, "s"), filepath.Join(dir, "r"), filepath.Join(dir, "v")
	cfg.BridgeBinary = bridge
	return cfg
}
