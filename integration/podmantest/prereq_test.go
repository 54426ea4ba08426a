package podmantest

import (
	"os"
	"path/filepath"
	"testing"
)

func TestHasSubordinateRange(t *testing.T) {
	const name, uid = "sandwire-test", "1001"
	tests := []struct {
		name    string
		content string // "" with noFile: the file does not exist
		noFile  bool
		want    bool
	}{
		{name: "a range for the user's name", content: "sandwire-test:100000:65536\n", want: true},
		{name: "a range for the user's uid", content: "1001:100000:65536\n", want: true},
		{name: "the user's line among others", content: "root:200000:65536\nsandwire-test:100000:65536\nother:300000:65536\n", want: true},
		{name: "no newline after the last line", content: "sandwire-test:100000:65536", want: true},
		{name: "only other users", content: "root:200000:65536\nother:300000:65536\n", want: false},
		{name: "a name that only starts with the user's", content: "sandwire-tester:100000:65536\n", want: false},
		{name: "a range of no IDs", content: "sandwire-test:100000:0\n", want: false},
		{name: "a line without a count", content: "sandwire-test:100000\n", want: false},
		{name: "an empty file", content: "", want: false},
		{name: "no file", noFile: true, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "subuid")
			if !tc.noFile {
				if err := os.WriteFile(file, []byte(tc.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := hasSubordinateRange(file, name, uid); got != tc.want {
				t.Errorf("hasSubordinateRange(%q) = %v, want %v", tc.content, got, tc.want)
			}
		})
	}
}
