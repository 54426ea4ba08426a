package wiring_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sandwire/sandwire/wiring"
)

func TestEditsAppend(t *testing.T) {
	cases := []struct {
		name  string
		base  *wiring.Edits
		other *wiring.Edits
		want  *wiring.Edits
	}{
		{
			name:  "appending to a nil receiver allocates",
			base:  nil,
			other: &wiring.Edits{Name: "web", Env: map[string]string{"TEROK_A": "1"}},
			want:  &wiring.Edits{Name: "web", Env: map[string]string{"TEROK_A": "1"}},
		},
		{
			name:  "appending nil to a nil receiver gives empty edits",
			base:  nil,
			other: nil,
			want:  &wiring.Edits{},
		},
		{
			name:  "appending nil changes nothing",
			base:  &wiring.Edits{Name: "web", CapDrop: []string{"CAP_NET_RAW"}},
			other: nil,
			want:  &wiring.Edits{Name: "web", CapDrop: []string{"CAP_NET_RAW"}},
		},
		{
			name:  "later name wins",
			base:  &wiring.Edits{Name: "old"},
			other: &wiring.Edits{Name: "new"},
			want:  &wiring.Edits{Name: "new"},
		},
		{
			name:  "empty later name keeps the earlier one",
			base:  &wiring.Edits{Name: "old"},
			other: &wiring.Edits{Env: map[string]string{"TEROK_A": "1"}},
			want:  &wiring.Edits{Name: "old", Env: map[string]string{"TEROK_A": "1"}},
		},
		{
			name: "mount with an existing destination is replaced in place",
			base: &wiring.Edits{Mounts: []wiring.Mount{
				{Source: "/a", Destination: "/run/terok"},
				{Source: "/b", Destination: wiring.ContainerBridgesDir},
			}},
			other: &wiring.Edits{Mounts: []wiring.Mount{{Source: "/c", Destination: "/run/terok", ReadOnly: true, Relabel: "z"}}},
			want: &wiring.Edits{Mounts: []wiring.Mount{
				{Source: "/c", Destination: "/run/terok", ReadOnly: true, Relabel: "z"},
				{Source: "/b", Destination: wiring.ContainerBridgesDir},
			}},
		},
		{
			name:  "mount destinations are compared after cleaning",
			base:  &wiring.Edits{Mounts: []wiring.Mount{{Source: "/a", Destination: "/run/terok/"}}},
			other: &wiring.Edits{Mounts: []wiring.Mount{{Source: "/c", Destination: "//run/./terok"}}},
			want:  &wiring.Edits{Mounts: []wiring.Mount{{Source: "/c", Destination: "//run/./terok"}}},
		},
		{
			name:  "mount with a new destination is added after the others",
			base:  &wiring.Edits{Mounts: []wiring.Mount{{Source: "/a", Destination: "/run/terok"}}},
			other: &wiring.Edits{Mounts: []wiring.Mount{{Source: "/b", Destination: "/run/terok/x"}}},
			want: &wiring.Edits{Mounts: []wiring.Mount{
				{Source: "/a", Destination: "/run/terok"},
				{Source: "/b", Destination: "/run/terok/x"},
			}},
		},
		{
			name:  "env var with existing key is replaced",
			base:  &wiring.Edits{Env: map[string]string{"TEROK_A": "old", "TEROK_B": "b"}},
			other: &wiring.Edits{Env: map[string]string{"TEROK_A": "new", "TEROK_C": "c"}},
			want:  &wiring.Edits{Env: map[string]string{"TEROK_A": "new", "TEROK_B": "b", "TEROK_C": "c"}},
		},
		{
			name:  "annotation with existing key is replaced",
			base:  &wiring.Edits{Annotations: map[string]string{"terok.a": "old"}},
			other: &wiring.Edits{Annotations: map[string]string{"terok.a": "new", "terok.b": "b"}},
			want:  &wiring.Edits{Annotations: map[string]string{"terok.a": "new", "terok.b": "b"}},
		},
		{
			name:  "label with existing key is replaced",
			base:  &wiring.Edits{Labels: map[string]string{"terok.a": "old"}},
			other: &wiring.Edits{Labels: map[string]string{"terok.a": "new", "terok.b": "b"}},
			want:  &wiring.Edits{Labels: map[string]string{"terok.a": "new", "terok.b": "b"}},
		},
		{
			name:  "cap drops are unioned without duplicates, in first-seen order",
			base:  &wiring.Edits{CapDrop: []string{"CAP_NET_RAW", "CAP_SYS_ADMIN"}},
			other: &wiring.Edits{CapDrop: []string{"CAP_SYS_ADMIN", "CAP_MKNOD", "CAP_MKNOD"}},
			want:  &wiring.Edits{CapDrop: []string{"CAP_NET_RAW", "CAP_SYS_ADMIN", "CAP_MKNOD"}},
		},
		{
			name:  "later network wins",
			base:  &wiring.Edits{Network: &wiring.Network{Mode: "pasta"}},
			other: &wiring.Edits{Network: &wiring.Network{Mode: "slirp4netns", Options: []string{"allow_host_loopback=true"}}},
			want:  &wiring.Edits{Network: &wiring.Network{Mode: "slirp4netns", Options: []string{"allow_host_loopback=true"}}},
		},
		{
			name:  "nil later network keeps the earlier one",
			base:  &wiring.Edits{Network: &wiring.Network{Mode: "pasta"}},
			other: &wiring.Edits{Name: "x"},
			want:  &wiring.Edits{Name: "x", Network: &wiring.Network{Mode: "pasta"}},
		},
		{
			name:  "hosts entry with an existing name is replaced and moved last",
			base:  &wiring.Edits{Hosts: []string{"a:10.0.0.1", "b:10.0.0.2"}},
			other: &wiring.Edits{Hosts: []string{"a:10.0.0.9", "c:10.0.0.3"}},
			want:  &wiring.Edits{Hosts: []string{"b:10.0.0.2", "a:10.0.0.9", "c:10.0.0.3"}},
		},
		{
			name:  "later user namespace wins",
			base:  &wiring.Edits{UserNS: &wiring.UserNS{Mode: "auto"}},
			other: &wiring.Edits{UserNS: &wiring.UserNS{Mode: "keep-id", UID: 1000, GID: 1000}},
			want:  &wiring.Edits{UserNS: &wiring.UserNS{Mode: "keep-id", UID: 1000, GID: 1000}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.base.Append(tc.other)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Append =\n%+v\nwant\n%+v", got, tc.want)
			}
			if tc.base != nil && got != tc.base {
				t.Error("Append on a non-nil receiver returned another value")
			}
		})
	}
}

func TestEditsAppendDoesNotAliasTheAppendedValue(t *testing.T) {
	other := &wiring.Edits{
		Mounts:      []wiring.Mount{{Source: "/a", Destination: "/run/terok"}},
		Env:         map[string]string{"TEROK_A": "1"},
		Annotations: map[string]string{"terok.a": "1"},
		Labels:      map[string]string{"terok.l": "1"},
		Network:     &wiring.Network{Mode: "pasta", Options: []string{"-T", "none"}},
		UserNS:      &wiring.UserNS{Mode: "keep-id", UID: 1000},
		CapDrop:     []string{"CAP_NET_RAW"},
		Hosts:       []string{"h:10.0.0.1"},
	}
	got := (&wiring.Edits{}).Append(other)
	want := &wiring.Edits{
		Mounts:      []wiring.Mount{{Source: "/a", Destination: "/run/terok"}},
		Env:         map[string]string{"TEROK_A": "1"},
		Annotations: map[string]string{"terok.a": "1"},
		Labels:      map[string]string{"terok.l": "1"},
		Network:     &wiring.Network{Mode: "pasta", Options: []string{"-T", "none"}},
		UserNS:      &wiring.UserNS{Mode: "keep-id", UID: 1000},
		CapDrop:     []string{"CAP_NET_RAW"},
		Hosts:       []string{"h:10.0.0.1"},
	}

	other.Labels["terok.l"] = "changed"
	other.Hosts[0] = "h:10.9.9.9"
	other.Mounts[0].Source = "/changed"
	other.Env["TEROK_A"] = "changed"
	other.Annotations["terok.a"] = "changed"
	other.Network.Mode = "host"
	other.Network.Options[0] = "changed"
	other.UserNS.UID = 0
	other.CapDrop[0] = "CAP_CHANGED"

	if !reflect.DeepEqual(got, want) {
		t.Errorf("changing the appended value changed the result:\n%+v\nwant\n%+v", got, want)
	}
}

func TestEditsValidate(t *testing.T) {
	good := func() *wiring.Edits {
		return &wiring.Edits{
			Name: "web",
			Mounts: []wiring.Mount{
				{Source: "/host/bridges", Destination: wiring.ContainerBridgesDir, ReadOnly: true, Relabel: "z"},
				{Source: "/host/run", Destination: "/run/terok", ReadOnly: true, Relabel: "Z"},
				{Source: "/host/x", Destination: "/run/terok/x"},
			},
			Env:         map[string]string{"TEROK_GATE_TOKEN": "t"},
			Annotations: map[string]string{"terok.sandbox.sidecar": "/s"},
			Labels:      map[string]string{"terok.sandbox.sidecar": "/s"},
			Network:     &wiring.Network{Mode: "pasta"},
			UserNS:      &wiring.UserNS{Mode: "keep-id"},
		}
	}
	cases := []struct {
		name   string
		edits  func() *wiring.Edits
		wantOK bool
	}{
		{"nil edits are valid", func() *wiring.Edits { return nil }, true},
		{"empty edits are valid", func() *wiring.Edits { return &wiring.Edits{} }, true},
		{"edits inside the sandbox's namespace are valid", good, true},
		{"invalid name is rejected", func() *wiring.Edits { e := good(); e.Name = "a/b"; return e }, false},
		{"env var outside TEROK_ is rejected", func() *wiring.Edits { e := good(); e.Env["PATH"] = "/bin"; return e }, false},
		{"lower-case terok_ env var is rejected", func() *wiring.Edits { e := good(); e.Env["terok_x"] = "1"; return e }, false},
		{"annotation outside terok. is rejected", func() *wiring.Edits { e := good(); e.Annotations["io.podman.x"] = "1"; return e }, false},
		{"label outside terok. is rejected", func() *wiring.Edits { e := good(); e.Labels["app"] = "web"; return e }, false},
		{"mount destination outside the sandbox's paths is accepted, the sandbox claims it", func() *wiring.Edits {
			e := good()
			e.Mounts = append(e.Mounts, wiring.Mount{Source: "/host/resolv.conf", Destination: "/etc/resolv.conf", ReadOnly: true})
			return e
		}, true},
		{"hosts entries of NAME:IP are valid", func() *wiring.Edits {
			e := good()
			e.Hosts = []string{"host.containers.internal:169.254.1.2", "v6:fd00::1"}
			return e
		}, true},
		{"hosts entry without a colon is rejected", func() *wiring.Edits {
			e := good()
			e.Hosts = []string{"host.containers.internal"}
			return e
		}, false},
		{"hosts entry without a name is rejected", func() *wiring.Edits {
			e := good()
			e.Hosts = []string{":10.0.2.2"}
			return e
		}, false},
		{"hosts entry without an address is rejected", func() *wiring.Edits {
			e := good()
			e.Hosts = []string{"host.containers.internal:"}
			return e
		}, false},
		{"relative mount source is rejected", func() *wiring.Edits {
			e := good()
			e.Mounts[0].Source = "host/bridges"
			return e
		}, false},
		{"relative mount destination is rejected", func() *wiring.Edits {
			e := good()
			e.Mounts[1].Destination = "run/terok"
			return e
		}, false},
		{"empty mount source is rejected", func() *wiring.Edits {
			e := good()
			e.Mounts[0].Source = ""
			return e
		}, false},
		{"unknown relabel is rejected", func() *wiring.Edits {
			e := good()
			e.Mounts[0].Relabel = "shared"
			return e
		}, false},
		{"relabel smuggling a second option is rejected", func() *wiring.Edits {
			e := good()
			e.Mounts[0].Relabel = "z,rw"
			return e
		}, false},
		{"empty network mode is rejected", func() *wiring.Edits { e := good(); e.Network = &wiring.Network{}; return e }, false},
		{"empty user namespace mode is rejected", func() *wiring.Edits { e := good(); e.UserNS = &wiring.UserNS{UID: 1}; return e }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.edits().Validate()
			if tc.wantOK && err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
			if !tc.wantOK && !errors.Is(err, wiring.ErrInvalidEdits) {
				t.Fatalf("Validate() = %v, want an error wrapping ErrInvalidEdits", err)
			}
		})
	}
}

func TestEditsValidateWrapsTheNameError(t *testing.T) {
	err := (&wiring.Edits{Name: ".."}).Validate()
	if !errors.Is(err, wiring.ErrInvalidEdits) || !errors.Is(err, wiring.ErrInvalidName) {
		t.Fatalf("Validate() = %v, want it to wrap ErrInvalidEdits and ErrInvalidName", err)
	}
}

// flagsFixture sets every field Flags renders, with values that show the
// ordering rules (sorted env, annotation and label keys, mounts in order).
func flagsFixture() *wiring.Edits {
	return &wiring.Edits{
		Name: "web-1",
		Mounts: []wiring.Mount{
			{Source: "/var/lib/terok/sandbox/bridges/0123456789abcdef", Destination: wiring.ContainerBridgesDir, ReadOnly: true, Relabel: "z"},
			{Source: "/run/terok/sandbox/run/web-1", Destination: wiring.ContainerRuntimeDir, ReadOnly: true, Relabel: "z"},
			{Source: "/srv/plain", Destination: "/run/terok/plain"},
		},
		Env: map[string]string{
			"TEROK_VAULT_SOCKET":        "/run/terok/vault/vault.sock",
			"TEROK_VAULT_LOOPBACK_PORT": "9419",
			"TEROK_GATE_TOKEN":          "terok-g-00000000000000000000000000000000",
			"TEROK_NOTE":                "two words",
		},
		Annotations: map[string]string{
			"terok.sandbox.sidecar": "/var/lib/terok/sandbox/sidecar/web-1.json",
			"terok.shield.profiles": "dev-standard",
		},
		Labels: map[string]string{
			"terok.sandbox.sidecar": "/var/lib/terok/sandbox/sidecar/web-1.json",
			"terok.a":               "first",
		},
		Network: &wiring.Network{Mode: "slirp4netns", Options: []string{"allow_host_loopback=true", "enable_ipv6=false"}},
		UserNS:  &wiring.UserNS{Mode: "keep-id", UID: 1000, GID: 1000},
		CapDrop: []string{"CAP_NET_RAW", "CAP_NET_ADMIN"},
		Hosts:   []string{"host.containers.internal:10.0.2.2"},
	}
}

func TestEditsFlagsGolden(t *testing.T) {
	flags := flagsFixture().Flags()
	cases := []struct {
		name   string
		golden string
		got    string
	}{
		{"flags render one word per line", "flags.golden", strings.Join(flags, "\n") + "\n"},
		{"flags render as one shell-quoted line", "flags_quoted.golden", wiring.ShellQuote(flags) + "\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			compareGolden(t, filepath.Join("testdata", tc.golden), tc.got)
		})
	}
}

func compareGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the golden file (run with -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func TestEditsFlags(t *testing.T) {
	cases := []struct {
		name  string
		edits *wiring.Edits
		want  []string
	}{
		{"nil edits render no flags", nil, nil},
		{"empty edits render no flags", &wiring.Edits{}, nil},
		{
			name:  "mount without options has no options suffix",
			edits: &wiring.Edits{Mounts: []wiring.Mount{{Source: "/a", Destination: "/run/terok"}}},
			want:  []string{"-v", "/a:/run/terok"},
		},
		{
			name:  "read-only mount without relabel renders ro alone",
			edits: &wiring.Edits{Mounts: []wiring.Mount{{Source: "/a", Destination: "/run/terok", ReadOnly: true}}},
			want:  []string{"-v", "/a:/run/terok:ro"},
		},
		{
			name:  "relabel without read-only renders the relabel alone",
			edits: &wiring.Edits{Mounts: []wiring.Mount{{Source: "/a", Destination: "/run/terok", Relabel: "Z"}}},
			want:  []string{"-v", "/a:/run/terok:Z"},
		},
		{
			name:  "user namespace without IDs renders the bare mode",
			edits: &wiring.Edits{UserNS: &wiring.UserNS{Mode: "keep-id"}},
			want:  []string{"--userns", "keep-id"},
		},
		{
			name:  "user namespace with only a uid renders only the uid",
			edits: &wiring.Edits{UserNS: &wiring.UserNS{Mode: "keep-id", UID: 1000}},
			want:  []string{"--userns", "keep-id:uid=1000"},
		},
		{
			name:  "network without options renders the bare mode",
			edits: &wiring.Edits{Network: &wiring.Network{Mode: "pasta"}},
			want:  []string{"--network", "pasta"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.edits.Flags(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Flags() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestShellQuoteRoundTripsThroughSh(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on PATH")
	}
	cases := []struct {
		name string
		args []string
	}{
		{"plain words stay words", []string{"run", "--name", "web", "-v", "/a:/b:ro,z"}},
		{"empty word survives", []string{"", "x", ""}},
		{"space is kept inside one word", []string{"two words", " lead", "trail "}},
		{"single quotes survive", []string{"it's", "'", "''", "a'b'c"}},
		{"double quotes survive", []string{`"double"`, `a"b`}},
		{"dollar is not expanded", []string{"$HOME", "${PATH}", "$(id)", "$"}},
		{"backquote is not executed", []string{"`id`"}},
		{"backslash survives", []string{`back\slash`, `\`, `\\n`}},
		{"newline survives", []string{"a\nb", "\n", "trailing\n"}},
		{"tab survives", []string{"a\tb"}},
		{"glob characters are not expanded", []string{"*", "?", "[a-z]", "~", "~root"}},
		{"shell operators are not interpreted", []string{";", "&&", "|", ">", "<", "&", "(x)", "{a,b}", "#comment", "!bang"}},
		{"env and annotation values survive", []string{"-e", "TEROK_X=a b=c", "--annotation", "terok.x=$v'"}},
		{"non-ASCII survives", []string{"ünïcode", "\u0430"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			line := wiring.ShellQuote(tc.args)
			out, err := exec.Command(sh, "-c", `printf '%s\0' `+line).Output()
			if err != nil {
				t.Fatalf("sh -c on %q: %v", line, err)
			}
			got := strings.Split(string(bytes.TrimSuffix(out, []byte{0})), "\x00")
			if !reflect.DeepEqual(got, tc.args) {
				t.Errorf("sh split %q into %q, want %q", line, got, tc.args)
			}
		})
	}
}

func TestShellQuoteLeavesSafeWordsBare(t *testing.T) {
	words := []string{"run", "--name", "web-1", "/a:/b:ro,z", "TEROK_X=9419", "user@host", "50%", "a+b"}
	if got, want := wiring.ShellQuote(words), strings.Join(words, " "); got != want {
		t.Errorf("ShellQuote(%q) = %q, want %q", words, got, want)
	}
}

func TestOwnsPath(t *testing.T) {
	cases := []struct {
		name string
		dest string
		want bool
	}{
		{"runtime dir is owned", "/run/terok", true},
		{"runtime dir with a trailing slash is owned", "/run/terok/", true},
		{"runtime dir with a double leading slash is owned", "//run/terok", true},
		{"runtime dir spelled with a dot is owned", "/run/./terok", true},
		{"runtime dir spelled with a dot-dot is owned", "/run/x/../terok", true},
		{"socket under the runtime dir is owned", "/run/terok/vault/vault.sock", true},
		{"relative runtime dir is read as absolute and owned", "run/terok", true},
		{"sibling with a common prefix is not owned", "/run/terokx", false},
		{"sibling with a dash is not owned", "/run/terok-x", false},
		{"parent of the runtime dir is not owned", "/run", false},
		{"dot-dot out of the runtime dir is not owned", "/run/terok/..", false},
		{"root is not owned", "/", false},
		{"empty path is not owned", "", false},
		{"bridges dir is owned", wiring.ContainerBridgesDir, true},
		{"bridges dir with a trailing slash is owned", wiring.ContainerBridgesDir + "/", true},
		{"file under the bridges dir is owned", wiring.ContainerBridgesDir + "/ensure-bridges.sh", true},
		{"parent of the bridges dir is not owned", filepath.Dir(wiring.ContainerBridgesDir), false},
		{"sibling of the bridges dir with a common prefix is not owned", wiring.ContainerBridgesDir + "x", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := wiring.OwnsPath(tc.dest); got != tc.want {
				t.Errorf("OwnsPath(%q) = %v, want %v", tc.dest, got, tc.want)
			}
		})
	}
}

func TestOwnsEnvAndAnnotation(t *testing.T) {
	cases := []struct {
		name string
		own  func(string) bool
		key  string
		want bool
	}{
		{"TEROK_ variable is owned", wiring.OwnsEnv, "TEROK_GATE_TOKEN", true},
		{"bare TEROK_ prefix is owned", wiring.OwnsEnv, "TEROK_", true},
		{"TEROK without underscore is not owned", wiring.OwnsEnv, "TEROK", false},
		{"TEROKX_ is not owned", wiring.OwnsEnv, "TEROKX_A", false},
		{"lower-case terok_ is not owned", wiring.OwnsEnv, "terok_a", false},
		{"TEROK_ in the middle is not owned", wiring.OwnsEnv, "X_TEROK_A", false},
		{"empty variable name is not owned", wiring.OwnsEnv, "", false},
		{"terok. annotation is owned", wiring.OwnsAnnotation, "terok.sandbox.sidecar", true},
		{"shield annotation is owned", wiring.OwnsAnnotation, "terok.shield.profiles", true},
		{"bare terok. prefix is owned", wiring.OwnsAnnotation, "terok.", true},
		{"terok without a dot is not owned", wiring.OwnsAnnotation, "terok", false},
		{"terokx. is not owned", wiring.OwnsAnnotation, "terokx.a", false},
		{"upper-case TEROK. is not owned", wiring.OwnsAnnotation, "TEROK.a", false},
		{"terok. in the middle is not owned", wiring.OwnsAnnotation, "io.terok.a", false},
		{"empty annotation key is not owned", wiring.OwnsAnnotation, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.own(tc.key); got != tc.want {
				t.Errorf("owns(%q) = %v, want %v", tc.key, got, tc.want)
			}
		})
	}
}
