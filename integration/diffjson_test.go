package integration

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
)

func TestDiffJSON(t *testing.T) {
	decode := func(s string) any {
		t.Helper()
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatalf("decoding %s: %v", s, err)
		}
		return v
	}
	tests := []struct {
		name string
		a, b string
		want []string
	}{
		{name: "equal values differ nowhere", a: `{"a":1,"b":{"c":[1,2]}}`, b: `{"a":1,"b":{"c":[1,2]}}`},
		{name: "a key only one side has is a difference", a: `{"a":1}`, b: `{"a":1,"z":2}`,
			want: []string{"  z: podman-remote null, sandwire 2"}},
		{name: "keys of both sides in sorted order", a: `{"y":1,"b":1}`, b: `{"y":2,"a":1}`,
			want: []string{"  a: podman-remote null, sandwire 1", "  b: podman-remote 1, sandwire null", "  y: podman-remote 1, sandwire 2"}},
		{name: "nested paths are dotted", a: `{"Config":{"Env":["A=1"]}}`, b: `{"Config":{"Env":["A=2"]}}`,
			want: []string{`  Config.Env: podman-remote ["A=1"], sandwire ["A=2"]`}},
		{name: "empty and absent are alike", a: `{"a":[],"b":{}}`, b: `{"c":null}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := diffJSON("", decode(tc.a), decode(tc.b)); !slices.Equal(got, tc.want) {
				t.Errorf("diffJSON(%s, %s) = %q, want %q", tc.a, tc.b, got, tc.want)
			}
		})
	}
}

func TestNormalizeDropsSandboxEditsAndSortsEnv(t *testing.T) {
	var c map[string]any
	if err := json.Unmarshal([]byte(`{
		"Id": "abc",
		"Config": {
			"Annotations": {"terok.sandbox.sidecar": "/x", "app": "y"},
			"Env": ["PATH=/bin", "HOSTNAME=abc", "TEROK_GATE_TOKEN=t", "FOO=bar"]
		},
		"HostConfig": {"Annotations": {"terok.shield.state": "up", "other": "z"}},
		"NetworkSettings": {"Networks": {"sandwire42": {"Aliases": ["abc"], "Gateway": "10.128.0.1"}}}
	}`), &c); err != nil {
		t.Fatal(err)
	}
	normalize(c, "name")
	want := map[string]any{
		"Config": map[string]any{
			"Annotations": map[string]any{"app": "y"},
			"Env":         []any{"FOO=bar", "PATH=/bin"},
		},
		"HostConfig":      map[string]any{"Annotations": map[string]any{"other": "z"}},
		"NetworkSettings": map[string]any{"Networks": map[string]any{"sandwire42": map[string]any{"Gateway": "10.128.0.1"}}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("normalize made\n%v\nwant\n%v", c, want)
	}
}
