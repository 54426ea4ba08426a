package wiring_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sandwire/sandwire/wiring"
)

func TestValidateName(t *testing.T) {
	cases := []struct {
		name  string
		input string
		ok    bool
	}{
		{"single letter is accepted", "a", true},
		{"single digit is accepted", "0", true},
		{"upper case is accepted", "Web", true},
		{"dashes, underscores and dots after the first byte are accepted", "my-app_1.2", true},
		{"inner double dot is still one path component", "a..b", true},
		{"trailing dash is accepted", "a-", true},
		{"name of exactly the maximum length is accepted", strings.Repeat("a", wiring.MaxNameLen), true},

		{"empty name is rejected", "", false},
		{"dot is rejected", ".", false},
		{"dot dot is rejected", "..", false},
		{"slash is rejected", "/", false},
		{"name with a slash is rejected", "a/b", false},
		{"backslash is rejected", `\`, false},
		{"name with a backslash is rejected", `a\b`, false},
		{"NUL byte is rejected", "a\x00b", false},
		{"newline is rejected", "a\nb", false},
		{"trailing newline is rejected", "a\n", false},
		{"tab is rejected", "a\tb", false},
		{"space is rejected", "a b", false},
		{"leading dash is rejected", "-a", false},
		{"leading dot is rejected", ".a", false},
		{"leading underscore is rejected", "_a", false},
		{"colon is rejected", "a:b", false},
		{"name one byte over the maximum is rejected", strings.Repeat("a", wiring.MaxNameLen+1), false},
		{"Cyrillic a look-alike is rejected", "\u0430", false},
		{"Latin name with a Cyrillic e is rejected", "w\u0435b", false},
		{"fullwidth solidus is rejected", "a\uff0fb", false},
		{"invalid UTF-8 is rejected", "a\xffb", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := wiring.ValidateName(tc.input)
			if tc.ok {
				if err != nil {
					t.Fatalf("ValidateName(%q) = %v, want nil", tc.input, err)
				}
				return
			}
			if !errors.Is(err, wiring.ErrInvalidName) {
				t.Fatalf("ValidateName(%q) = %v, want an error wrapping ErrInvalidName", tc.input, err)
			}
		})
	}
}

func TestMaxNameLenLeavesRoomForTheSidecarFileName(t *testing.T) {
	// "<name>.json" must fit in the 255 bytes a file name may have.
	if got := wiring.MaxNameLen + len(".json"); got > 255 {
		t.Fatalf("the longest sidecar file name is %d bytes, more than 255", got)
	}
}

func FuzzValidateName(f *testing.F) {
	for _, seed := range []string{
		"", ".", "..", "/", "a/b", `\`, "a\x00", "a\n", "a b", "-a", ".a", "web",
		"my-app_1.2", "\u0430", strings.Repeat("a", wiring.MaxNameLen+1), "a..b", "a/../b",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := wiring.ValidateName(name)
		if err != nil {
			if !errors.Is(err, wiring.ErrInvalidName) {
				t.Fatalf("ValidateName(%q) = %v, which does not wrap ErrInvalidName", name, err)
			}
			return
		}
		switch {
		case name == "":
			t.Fatal("the empty name was accepted")
		case name == "." || name == "..":
			t.Fatalf("%q was accepted", name)
		case strings.ContainsAny(name, "/\\\x00\n\r\t "):
			t.Fatalf("%q was accepted although it has a separator, NUL or whitespace", name)
		case len(name) > wiring.MaxNameLen:
			t.Fatalf("%q was accepted although it is %d bytes long", name, len(name))
		case !utf8.ValidString(name):
			t.Fatalf("%q was accepted although it is not UTF-8", name)
		case name[0] == '-' || name[0] == '.':
			t.Fatalf("%q was accepted although it starts with %q", name, name[0])
		}
		for _, r := range name {
			if r >= utf8.RuneSelf {
				t.Fatalf("%q was accepted although it has the non-ASCII rune %q", name, r)
			}
		}
	})
}
