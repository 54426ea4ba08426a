package wiring_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sandwire/sandwire/wiring"
)

// indexEntries are the names in the state dir's index of bridge versions.
func indexEntries(t *testing.T, cfg wiring.Config) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(cfg.StateDir, "bridge-versions"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestBridgeVersionsIndex(t *testing.T) {
	cases := []struct {
		name string
		// settle makes the program count as settled at once, else never.
		settle bool
		// entry, when set, replaces the indexed version before the next process.
		entry string
		// change rewrites the program before the next process.
		change bool
		// wantEntries is the index's size at the end; wantIndexed that the
		// next process took the indexed version.
		wantEntries int
		wantIndexed bool
	}{
		{name: "a settled program's version is indexed and taken from the index by the next process",
			settle: true, entry: "0123456789abcdef", wantEntries: 1, wantIndexed: true},
		{name: "a program changed within the timestamps' tick is not indexed", settle: false, wantEntries: 0},
		{name: "a changed program is another identity and is read again",
			settle: true, entry: "0123456789abcdef", change: true, wantEntries: 2},
		{name: "a malformed entry is not taken", settle: true, entry: "not a version", wantEntries: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, wiring.ServicesSocket)
			if tc.settle {
				wiring.SettleBridgesAt(t, 0)
			} else {
				wiring.SettleBridgesAt(t, 1<<62)
			}
			first, err := wiring.MaterializeBridges(cfg)
			if err != nil {
				t.Fatal(err)
			}
			entries := indexEntries(t, cfg)
			if tc.entry != "" {
				if len(entries) != 1 {
					t.Fatalf("index holds %q after the first process, want one entry", entries)
				}
				writeFile(t, filepath.Join(cfg.StateDir, "bridge-versions", entries[0]), tc.entry)
			}
			if tc.change {
				writeFile(t, cfg.BridgeBinary, "another build of the bridge")
			}
			wiring.ForgetBridgeVersions() // the next process
			second, err := wiring.MaterializeBridges(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := indexEntries(t, cfg); len(got) != tc.wantEntries {
				t.Errorf("index holds %q, want %d entries", got, tc.wantEntries)
			}
			switch {
			case tc.wantIndexed && filepath.Base(second) != tc.entry:
				t.Errorf("the next process materialised %s, want the indexed version %s", second, tc.entry)
			case !tc.wantIndexed && !tc.change && second != first:
				t.Errorf("the next process materialised %s, want the program's own version %s", second, first)
			case tc.change && second == first:
				t.Errorf("a changed program kept the version %s", first)
			}
		})
	}
}
