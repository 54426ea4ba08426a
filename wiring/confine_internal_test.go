package wiring

import "testing"

func TestTreeFindsTheDeepestSandwireDirHoldingThePath(t *testing.T) {
	cfg := Config{StateDir: "/var/lib/sw", RuntimeDir: "/var/lib/sw/rt"}
	cases := []struct {
		name, path     string
		wantTop, wantR string
		wantErr        bool
	}{
		{"a file in the state dir", "/var/lib/sw/sidecar/web.json", "/var/lib/sw", "sidecar/web.json", false},
		{"a runtime dir nested in the state dir belongs to the runtime tree", "/var/lib/sw/rt/run/web", "/var/lib/sw/rt", "run/web", false},
		{"the top itself is no path within a tree", "/var/lib/sw", "", "", true},
		{"a sibling sharing the prefix is outside", "/var/lib/swx/web.json", "", "", true},
		{"a path climbing out is outside", "/var/lib/sw/../etc/passwd", "", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			top, rel, err := cfg.tree(tc.path)
			if (err != nil) != tc.wantErr || top != tc.wantTop || rel != tc.wantR {
				t.Errorf("tree(%q) = %q, %q, %v; want %q, %q, error %v", tc.path, top, rel, err, tc.wantTop, tc.wantR, tc.wantErr)
			}
		})
	}
}
