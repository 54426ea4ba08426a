package wiring_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sandwire/sandwire/wiring"
)

func TestResolvePlan(t *testing.T) {
	cases := []struct {
		name string
		req  wiring.Request
		want wiring.Plan
		// wantNotes are the subsystems ("gate", "broker") that must each
		// have exactly one note; no other note may appear.
		wantNotes []string
	}{
		{
			name:      "zero request turns the shield on and skips gate and broker with one note each",
			req:       wiring.Request{},
			want:      wiring.Plan{Shield: true},
			wantNotes: []string{"gate", "broker"},
		},
		{
			name: "scope turns shield, gate, broker and SSH on without notes",
			req:  wiring.Request{Scope: "proj"},
			want: wiring.Plan{Scope: ptr("proj"), Shield: true, Gate: true, Broker: true, SSH: true},
		},
		{
			name:      "no-gate without a scope silences only the gate note",
			req:       wiring.Request{NoGate: true},
			want:      wiring.Plan{Shield: true},
			wantNotes: []string{"broker"},
		},
		{
			name:      "no-broker without a scope silences only the broker note",
			req:       wiring.Request{NoBroker: true},
			want:      wiring.Plan{Shield: true},
			wantNotes: []string{"gate"},
		},
		{
			name: "no-gate and no-broker without a scope give no notes",
			req:  wiring.Request{NoGate: true, NoBroker: true},
			want: wiring.Plan{Shield: true},
		},
		{
			name:      "no-shield turns only the shield off",
			req:       wiring.Request{NoShield: true},
			want:      wiring.Plan{},
			wantNotes: []string{"gate", "broker"},
		},
		{
			name: "no-gate and no-broker with a scope keep SSH on",
			req:  wiring.Request{Scope: "proj", NoGate: true, NoBroker: true},
			want: wiring.Plan{Scope: ptr("proj"), Shield: true, SSH: true},
		},
		{
			name: "everything off with a scope leaves SSH on",
			req:  wiring.Request{Scope: "p", NoShield: true, NoGate: true, NoBroker: true},
			want: wiring.Plan{Scope: ptr("p"), SSH: true},
		},
		{
			name: "scope of 64 characters is accepted",
			req:  wiring.Request{Scope: strings.Repeat("s", 64)},
			want: wiring.Plan{Scope: ptr(strings.Repeat("s", 64)), Shield: true, Gate: true, Broker: true, SSH: true},
		},
		{
			name: "scope with dots, dashes and underscores is accepted",
			req:  wiring.Request{Scope: "a.b-c_d"},
			want: wiring.Plan{Scope: ptr("a.b-c_d"), Shield: true, Gate: true, Broker: true, SSH: true},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, notes, err := wiring.ResolvePlan(tc.req)
			if err != nil {
				t.Fatalf("ResolvePlan(%+v) = %v", tc.req, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("plan = %s, want %s", planJSON(t, got), planJSON(t, tc.want))
			}
			if len(notes) != len(tc.wantNotes) {
				t.Fatalf("notes = %q, want one for each of %q", notes, tc.wantNotes)
			}
			for _, subsystem := range tc.wantNotes {
				n := 0
				for _, note := range notes {
					if strings.Contains(note, "--"+subsystem+" ") && strings.Contains(note, "--no-"+subsystem) {
						n++
					}
				}
				if n != 1 {
					t.Errorf("notes = %q: %d name --%s and --no-%s, want exactly 1", notes, n, subsystem, subsystem)
				}
			}
		})
	}
}

func TestResolvePlanRejectsAnInvalidScope(t *testing.T) {
	cases := []struct {
		name  string
		scope string
	}{
		{"path traversal", "../x"},
		{"slash", "a/b"},
		{"leading dot", ".a"},
		{"leading dash", "-a"},
		{"space", "a b"},
		{"newline", "a\n"},
		{"65 characters", strings.Repeat("s", 65)},
		{"Cyrillic look-alike", "\u0430"},
	}
	for _, tc := range cases {
		t.Run(tc.name+" in a scope is rejected", func(t *testing.T) {
			plan, notes, err := wiring.ResolvePlan(wiring.Request{Scope: tc.scope})
			if !errors.Is(err, wiring.ErrInvalidScope) {
				t.Fatalf("ResolvePlan(scope %q) error = %v, want ErrInvalidScope", tc.scope, err)
			}
			if !reflect.DeepEqual(plan, wiring.Plan{}) || notes != nil {
				t.Errorf("ResolvePlan(scope %q) = %+v, %q alongside the error, want the zero plan and no notes", tc.scope, plan, notes)
			}
		})
	}
}

func planJSON(t *testing.T, p wiring.Plan) string {
	t.Helper()
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestPlanJSON(t *testing.T) {
	cases := []struct {
		name string
		plan wiring.Plan
		want string
	}{
		{
			name: "plan without a scope has a null scope",
			plan: wiring.Plan{Shield: true},
			want: `{"scope":null,"shield":true,"gate":false,"broker":false,"ssh":false}`,
		},
		{
			name: "plan with a scope names it",
			plan: wiring.Plan{Scope: ptr("proj"), Shield: false, Gate: true, Broker: true, SSH: true},
			want: `{"scope":"proj","shield":false,"gate":true,"broker":true,"ssh":true}`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := planJSON(t, tc.plan); got != tc.want {
				t.Errorf("json = %s, want %s", got, tc.want)
			}
			var back wiring.Plan
			if err := json.Unmarshal([]byte(tc.want), &back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tc.plan) {
				t.Errorf("decoding %s = %+v, want %+v", tc.want, back, tc.plan)
			}
		})
	}
}

func TestPlanHelpers(t *testing.T) {
	cases := []struct {
		name        string
		plan        wiring.Plan
		wantScope   string
		wantBridges bool
	}{
		{"empty plan needs no bridges", wiring.Plan{Shield: true}, "", false},
		{"gate alone needs the bridges", wiring.Plan{Scope: ptr("s"), Gate: true}, "s", true},
		{"broker alone needs the bridges", wiring.Plan{Scope: ptr("s"), Broker: true}, "s", true},
		{"SSH alone needs the bridges", wiring.Plan{Scope: ptr("s"), SSH: true}, "s", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.plan.ScopeName(); got != tc.wantScope {
				t.Errorf("ScopeName() = %q, want %q", got, tc.wantScope)
			}
			if got := tc.plan.NeedsBridges(); got != tc.wantBridges {
				t.Errorf("NeedsBridges() = %v, want %v", got, tc.wantBridges)
			}
		})
	}
}

func TestReadPlan(t *testing.T) {
	cfg := testConfig(t, wiring.ServicesSocket)
	want := wiring.Plan{Scope: ptr("proj"), Gate: true, SSH: true}
	writeFile(t, filepath.Join(cfg.RunStateDir("saved"), "meta.json"), planJSON(t, want))
	writeFile(t, filepath.Join(cfg.RunStateDir("broken"), "meta.json"), "{not json")
	outside := filepath.Join(t.TempDir(), "meta.json")
	writeFile(t, outside, planJSON(t, want))
	if err := os.MkdirAll(cfg.RunStateDir("linked"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(cfg.RunStateDir("linked"), "meta.json")); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name    string
		cname   string
		want    wiring.Plan
		wantOK  bool
		wantErr bool
	}{
		{"saved plan is read back", "saved", want, true, false},
		{"missing plan is not an error", "never", wiring.Plan{}, false, false},
		{"malformed plan is an error", "broken", wiring.Plan{}, true, true},
		{"symlinked meta.json is refused", "linked", wiring.Plan{}, false, true},
		{"invalid name is an error", "../x", wiring.Plan{}, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := wiring.ReadPlan(cfg, tc.cname)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ReadPlan(%q) error = %v, want error %v", tc.cname, err, tc.wantErr)
			}
			if ok != tc.wantOK {
				t.Errorf("ReadPlan(%q) ok = %v, want %v", tc.cname, ok, tc.wantOK)
			}
			if !tc.wantErr && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ReadPlan(%q) = %+v, want %+v", tc.cname, got, tc.want)
			}
		})
	}
}
