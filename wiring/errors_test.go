package wiring_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/sandwire/sandwire/wiring"
)

// TestErrorsFallInTheirCategory: a caller sorts wiring's errors with one
// errors.Is per category, however deeply they are wrapped.
func TestErrorsFallInTheirCategory(t *testing.T) {
	_, nameErr := wiring.Check(wiring.Config{}, "../x", wiring.Request{})
	_, _, scopeErr := wiring.ResolvePlan(wiring.Request{Scope: "a/b"})
	_, dossierErr := wiring.Check(wiring.Config{StateDir: "/s", RuntimeDir: "/r", VaultDir: "/v", ServicesMode: wiring.ServicesTCP}, "web",
		wiring.Request{Orchestrator: wiring.Orchestrator{DossierPath: "relative/dossier"}})
	if dossierErr == nil || !strings.Contains(dossierErr.Error(), "dossier path") {
		t.Fatalf("Check with a relative dossier path = %v", dossierErr)
	}
	_, notWiredErr := wiring.CheckWired(wiring.Config{}, "web", wiring.Recorded{})
	_, cleanedUpErr := wiring.CheckWired(wiring.Config{StateDir: "/nonexistent"}, "web", wiring.Recorded{Annotations: map[string]string{wiring.SidecarAnnotation: "/nonexistent/sidecar/web.json"}})
	for _, tc := range []struct {
		name     string
		err      error
		category error
		others   []error
	}{
		{"an invalid name is an invalid argument", nameErr, errdefs.ErrInvalidArgument, []error{wiring.ErrInvalidName}},
		{"an invalid scope is an invalid argument", scopeErr, errdefs.ErrInvalidArgument, []error{wiring.ErrInvalidScope}},
		{"a relative dossier path is an invalid argument", dossierErr, errdefs.ErrInvalidArgument, nil},
		{"an invalid configuration is an invalid argument", fmt.Errorf("x: %w", wiring.ErrInvalidConfig), errdefs.ErrInvalidArgument, nil},
		{"invalid edits are an invalid argument", (&wiring.Edits{Name: "/"}).Validate(), errdefs.ErrInvalidArgument, []error{wiring.ErrInvalidEdits}},
		{"a socket path that does not fit is an invalid argument", &wiring.SocketPathError{Path: "/x", Bytes: 200}, errdefs.ErrInvalidArgument, nil},
		{"earlier state is a name in use", fmt.Errorf("x: %w", &wiring.StateExistsError{Name: "web"}), errdefs.ErrAlreadyExists, nil},
		{"a name another launch holds is a name in use", &wiring.NameBusyError{Name: "web"}, errdefs.ErrAlreadyExists, nil},
		{"a missing bridge program is not found", &wiring.BridgeBinaryNotFoundError{}, errdefs.ErrNotFound, nil},
		{"no shield is unavailable", wiring.ErrShieldUnavailable, errdefs.ErrUnavailable, nil},
		{"a shield that failed is unavailable", &wiring.ShieldError{Name: "web", Err: errors.New("boom")}, errdefs.ErrUnavailable, nil},
		{"tokens a rollback could not revoke are unavailable", &wiring.TokensKeptError{Name: "web", Err: errors.New("locked")}, errdefs.ErrUnavailable, nil},
		{"a container not wired into this sandbox is a failed precondition", notWiredErr, errdefs.ErrFailedPrecondition, []error{wiring.ErrNotWired}},
		{"a container whose state was cleaned up is a failed precondition", cleanedUpErr, errdefs.ErrFailedPrecondition, []error{wiring.ErrCleanedUp}},
		{"bridges that cannot be put back are a failed precondition", fmt.Errorf("x: %w", wiring.ErrBridgesGone), errdefs.ErrFailedPrecondition, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil {
				t.Fatal("no error to sort")
			}
			if !errors.Is(tc.err, tc.category) {
				t.Errorf("errors.Is(%v, %v) = false", tc.err, tc.category)
			}
			for _, o := range tc.others {
				if !errors.Is(tc.err, o) {
					t.Errorf("errors.Is(%v, %v) = false", tc.err, o)
				}
			}
			for _, other := range []error{errdefs.ErrInvalidArgument, errdefs.ErrAlreadyExists, errdefs.ErrNotFound, errdefs.ErrUnavailable, errdefs.ErrFailedPrecondition} {
				if other != tc.category && errors.Is(tc.err, other) {
					t.Errorf("%v is also in category %v", tc.err, other)
				}
			}
		})
	}
}
