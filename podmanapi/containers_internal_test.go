package podmanapi

import "testing"

func TestCreatesOneAtATimeOnlyOnRootlessPodmanBefore5(t *testing.T) {
	cases := []struct {
		name  string
		facts Facts
		want  bool
	}{
		{"rootless 4.3.1 crashes on overlapping keep-id creates", Facts{Rootless: true, Version: "4.3.1"}, true},
		{"rootless 5.8.2 reads the ranges safely", Facts{Rootless: true, Version: "5.8.2"}, false},
		{"rootful 4.3.1 asks for no keep-id namespace", Facts{Rootless: false, Version: "4.3.1"}, false},
		{"an unparsable version is not guessed at", Facts{Rootless: true, Version: "dev"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.facts.createsOneAtATime(); got != tc.want {
				t.Errorf("%+v.createsOneAtATime() = %v, want %v", tc.facts, got, tc.want)
			}
		})
	}
}
