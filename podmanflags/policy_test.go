package podmanflags

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// img is the image argument of every test line.
const img = "localhost/app:latest"

// line is a passthrough: flags, then the image, then the container's command.
func line(flags []string, command ...string) []string {
	args := append(append([]string(nil), flags...), img)
	return append(args, command...)
}

// refused is what CheckPolicy should refuse: the fields of *PolicyError.
type refused struct {
	managed, volumes, labels, denied []string
}

func TestCheckPolicyRefuses(t *testing.T) {
	const (
		runtimeDir = "/run/terok"
		vaultSock  = "/run/terok/vault/vault.sock"
		bridgesDir = "/usr/local/share/terok-sandbox/bridges"
	)
	tests := []struct {
		name  string
		flags []string
		want  refused
	}{
		// Managed flags, spaced and with "=". None of them has a short
		// form in podman (TestManagedFlagsHaveNoShortForm keeps it so).
		{"--name spaced", []string{"--name", "x"}, refused{managed: []string{"--name"}}},
		{"--name with =", []string{"--name=x"}, refused{managed: []string{"--name"}}},
		{"--name with = and an empty value", []string{"--name="}, refused{managed: []string{"--name"}}},
		{"--network spaced", []string{"--network", "host"}, refused{managed: []string{"--network"}}},
		{"--network with =", []string{"--network=host"}, refused{managed: []string{"--network"}}},
		{"--net alias spaced", []string{"--net", "host"}, refused{managed: []string{"--net"}}},
		{"--net alias with =", []string{"--net=none"}, refused{managed: []string{"--net"}}},
		{"--hooks-dir spaced", []string{"--hooks-dir", "/etc/hooks"}, refused{managed: []string{"--hooks-dir"}}},
		{"--hooks-dir with =", []string{"--hooks-dir=/etc/hooks"}, refused{managed: []string{"--hooks-dir"}}},
		{"--annotation spaced", []string{"--annotation", "a=b"}, refused{managed: []string{"--annotation"}}},
		{"--annotation with =", []string{"--annotation=terok.sandbox.sidecar=/x"}, refused{managed: []string{"--annotation"}}},
		{"--cap-add spaced", []string{"--cap-add", "SYS_ADMIN"}, refused{managed: []string{"--cap-add"}}},
		{"--cap-add with =", []string{"--cap-add=all"}, refused{managed: []string{"--cap-add"}}},
		{"--cap-drop spaced", []string{"--cap-drop", "NET_RAW"}, refused{managed: []string{"--cap-drop"}}},
		{"--cap-drop with =", []string{"--cap-drop=ALL"}, refused{managed: []string{"--cap-drop"}}},
		{"--userns spaced", []string{"--userns", "host"}, refused{managed: []string{"--userns"}}},
		{"--userns with =", []string{"--userns=keep-id"}, refused{managed: []string{"--userns"}}},
		{"managed flag after harmless ones", []string{"-it", "--rm", "-e", "A=1", "--name", "x"}, refused{managed: []string{"--name"}}},

		// Volume targets at the sandbox's paths, in every spelling of -v.
		{"-v spaced", []string{"-v", "/tmp:" + runtimeDir}, refused{volumes: []string{runtimeDir}}},
		{"--volume spaced", []string{"--volume", "/tmp:" + runtimeDir}, refused{volumes: []string{runtimeDir}}},
		{"--volume with =", []string{"--volume=/tmp:" + runtimeDir}, refused{volumes: []string{runtimeDir}}},
		{"-v clustered with its value", []string{"-v/tmp:" + runtimeDir}, refused{volumes: []string{runtimeDir}}},
		{"-v with = and its value", []string{"-v=/tmp:" + runtimeDir}, refused{volumes: []string{runtimeDir}}},
		{"-v last in a cluster of booleans, value spaced", []string{"-itv", "/tmp:" + runtimeDir}, refused{volumes: []string{runtimeDir}}},
		{"-v last in a cluster of booleans, value clustered", []string{"-itv/tmp:" + runtimeDir}, refused{volumes: []string{runtimeDir}}},
		{"-v with options", []string{"-v", "/tmp:" + runtimeDir + ":ro"}, refused{volumes: []string{runtimeDir}}},
		{"-v overlay", []string{"-v", "/tmp:" + runtimeDir + ":O"}, refused{volumes: []string{runtimeDir}}},
		{"-v named volume", []string{"-v", "vol:" + runtimeDir}, refused{volumes: []string{runtimeDir}}},
		{"-v anonymous volume", []string{"-v", runtimeDir}, refused{volumes: []string{runtimeDir}}},
		{"-v anonymous volume with = ", []string{"--volume=" + runtimeDir + "/"}, refused{volumes: []string{runtimeDir}}},
		{"-v at the vault socket", []string{"-v", "/tmp/s:" + vaultSock}, refused{volumes: []string{vaultSock}}},
		{"-v below the runtime dir", []string{"-v", "/tmp:/run/terok/x"}, refused{volumes: []string{"/run/terok/x"}}},
		{"-v at the bridges dir", []string{"-v", "/tmp:" + bridgesDir}, refused{volumes: []string{bridgesDir}}},
		{"-v below the bridges dir", []string{"--volume", "/tmp:" + bridgesDir + "/bin:ro"}, refused{volumes: []string{bridgesDir + "/bin"}}},
		{"-v target with a trailing slash", []string{"-v", "/tmp:/run/terok/"}, refused{volumes: []string{runtimeDir}}},
		{"-v target with a doubled leading slash", []string{"-v", "/tmp://run/terok"}, refused{volumes: []string{runtimeDir}}},
		{"-v target with a dot segment", []string{"-v", "/tmp:/run/./terok"}, refused{volumes: []string{runtimeDir}}},
		{"-v target climbing back in", []string{"-v", "/tmp:/run/terokx/../terok"}, refused{volumes: []string{runtimeDir}}},

		// Labels in the sandbox's namespace, in every spelling of --label.
		{"--label spaced", []string{"--label", "terok.sandbox.sidecar=/x"}, refused{labels: []string{"terok.sandbox.sidecar"}}},
		{"--label with =", []string{"--label=terok.x=y"}, refused{labels: []string{"terok.x"}}},
		{"--label without a value", []string{"--label", "terok.x"}, refused{labels: []string{"terok.x"}}},
		{"-l spaced", []string{"-l", "terok.x=y"}, refused{labels: []string{"terok.x"}}},
		{"-l clustered with its value", []string{"-lterok.x=y"}, refused{labels: []string{"terok.x"}}},
		{"-l last in a cluster of booleans", []string{"-itl", "terok.x=y"}, refused{labels: []string{"terok.x"}}},
		{"two labels, one the sandbox's", []string{"-l", "app=web", "--label", "terok.shield.x=1"}, refused{labels: []string{"terok.shield.x"}}},

		// Isolation-weakening flags.
		{"--privileged", []string{"--privileged"}, refused{denied: []string{"--privileged"}}},
		{"--privileged=true", []string{"--privileged=true"}, refused{denied: []string{"--privileged"}}},
		{"--privileged=false is refused all the same", []string{"--privileged=false"}, refused{denied: []string{"--privileged"}}},
		{"--security-opt spaced", []string{"--security-opt", "label=disable"}, refused{denied: []string{"--security-opt"}}},
		{"--security-opt with =", []string{"--security-opt=seccomp=unconfined"}, refused{denied: []string{"--security-opt"}}},
		{"--security-opt harmless-looking", []string{"--security-opt", "no-new-privileges"}, refused{denied: []string{"--security-opt"}}},

		// Several offenders: every one is reported, once, in one error.
		{"every kind at once", []string{
			"--name", "x", "--net=host", "--cap-add", "ALL", "--userns=host",
			"-v", "/a:/run/terok", "--volume=/b:" + bridgesDir,
			"--privileged", "--security-opt", "label=disable", "-l", "terok.a=b",
		}, refused{
			managed: []string{"--cap-add", "--name", "--net", "--userns"},
			volumes: []string{runtimeDir, bridgesDir},
			labels:  []string{"terok.a"},
			denied:  []string{"--privileged", "--security-opt"},
		}},
		{"a flag repeated is named once", []string{"--name", "a", "--name=b", "--cap-drop", "X", "--cap-drop", "Y"},
			refused{managed: []string{"--cap-drop", "--name"}}},
		{"--net and --network are named as spelled", []string{"--net", "host", "--network", "none"},
			refused{managed: []string{"--net", "--network"}}},
		{"two volume targets", []string{"-v", "/a:" + vaultSock, "-v/b:/run/terok/gate"},
			refused{volumes: []string{"/run/terok/gate", vaultSock}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := line(tt.flags, "sh")
			err := CheckPolicy(args)
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("CheckPolicy(%q) = %v, want a *PolicyError", args, err)
			}
			got := refused{managed: pe.Managed, volumes: pe.Volumes, labels: pe.Labels, denied: pe.Denied}
			if !equalLists(got.managed, tt.want.managed) || !equalLists(got.volumes, tt.want.volumes) ||
				!equalLists(got.labels, tt.want.labels) || !equalLists(got.denied, tt.want.denied) {
				t.Errorf("CheckPolicy(%q):\n got %+v\nwant %+v", args, got, tt.want)
			}
			msg := err.Error()
			for _, name := range slices.Concat(tt.want.managed, tt.want.volumes, tt.want.labels, tt.want.denied) {
				if !strings.Contains(msg, name) {
					t.Errorf("message %q does not name %q", msg, name)
				}
			}
		})
	}
}

func TestCheckPolicyAccepts(t *testing.T) {
	tests := []struct {
		name    string
		flags   []string
		command []string
	}{
		{"a bind mount elsewhere", []string{"-v", "/tmp:/data"}, nil},
		{"a target that only starts like the runtime dir", []string{"-v", "/tmp:/run/terokx"}, nil},
		{"a target that only starts like the bridges dir", []string{"-v", "/tmp:/usr/local/share/terok-sandbox/bridges2"}, nil},
		{"the parent of the runtime dir", []string{"-v", "/tmp:/run"}, nil},
		{"a source at the runtime dir", []string{"-v", "/run/terok:/data:ro"}, nil},
		{"a named volume called like the runtime dir", []string{"-v", "terok:/data"}, nil},
		{"an anonymous volume elsewhere", []string{"--volume", "/cache"}, nil},
		{"-e", []string{"-e", "FOO=bar"}, nil},
		{"-it", []string{"-it"}, nil},
		{"--rm", []string{"--rm"}, nil},
		{"-d", []string{"-d"}, nil},
		{"a workdir at the runtime dir is no mount", []string{"-w", "/run/terok"}, nil},
		{"--name=x as the value of -e", []string{"-e", "--name=x"}, nil},
		{"--name=x clustered as the value of -e", []string{"-e--name=x"}, nil},
		{"--name as the value of --hostname", []string{"--hostname", "--name"}, nil},
		{"--privileged as the value of -h", []string{"-h", "--privileged"}, nil},
		{"--cap-add as the value of --label", []string{"--label", "--cap-add=ALL"}, nil},
		{"a label that only starts like the sandbox's namespace", []string{"--label", "terokx=1", "-l", "terok_a=1", "-l", "io.terok.a=1"}, nil},
		{"a terok. label as the value of -e", []string{"-e", "terok.x=y"}, nil},
		{"a volume flag as the value of -e", []string{"-e", "-v", "--label", "x=/tmp:/run/terok"}, nil},
		{"--privileged in the container's command", nil, []string{"sh", "-c", "--privileged"}},
		{"--name in the container's command", nil, []string{"--name", "x"}},
		{"-v at the runtime dir in the container's command", nil, []string{"-v", "/tmp:/run/terok"}},
		{"everything after the image is the command", []string{"-it", "--rm"}, []string{"--security-opt", "label=disable", "--net=host"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := line(tt.flags, tt.command...)
			if err := CheckPolicy(args); err != nil {
				t.Fatalf("CheckPolicy(%q) = %v, want nil", args, err)
			}
			// Podman reads the line the same way: it is valid, and the
			// managed-looking words set nothing the sandbox owns.
			p, err := Parse(args, Run)
			if err != nil {
				t.Fatalf("Parse(%q): %v", args, err)
			}
			if p.Image != img {
				t.Errorf("Parse(%q) took %q for the image, want %q", args, p.Image, img)
			}
			if v := ownedTouched(p.Spec, ""); len(v) > 0 {
				t.Errorf("Parse(%q) touches what the sandbox owns: %s", args, strings.Join(v, "; "))
			}
			if len(tt.command) > 0 && !reflect.DeepEqual(p.Spec.Command, tt.command) {
				t.Errorf("Parse(%q).Spec.Command = %q, want %q", args, p.Spec.Command, tt.command)
			}
		})
	}
}

// TestCheckPolicyReadsLabelFiles: a --label-file is read as podman reads
// it, and a key in the sandbox's namespace is refused with the file named;
// a file without one, or one podman cannot read, is left to Parse.
func TestCheckPolicyReadsLabelFiles(t *testing.T) {
	dir := t.TempDir()
	owned := filepath.Join(dir, "owned")
	plain := filepath.Join(dir, "plain")
	for file, content := range map[string]string{
		owned: "# a comment\napp=web\n  terok.sandbox.sidecar=/etc/passwd\n",
		plain: "app=web\nterokx=1\n",
	} {
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, flags := range [][]string{{"--label-file", owned}, {"--label-file=" + owned}} {
		args := line(flags)
		var pe *PolicyError
		if err := CheckPolicy(args); !errors.As(err, &pe) || !equalLists(pe.Labels, []string{"terok.sandbox.sidecar (in " + owned + ")"}) {
			t.Errorf("CheckPolicy(%q) = %v, want the file's terok.sandbox.sidecar refused", args, err)
		}
	}
	for _, flags := range [][]string{{"--label-file", plain}, {"--label-file", filepath.Join(dir, "missing")}} {
		if err := CheckPolicy(line(flags)); err != nil {
			t.Errorf("CheckPolicy(%q) = %v, want nil", flags, err)
		}
	}
}

func TestCheckPolicyStopsAtTheImage(t *testing.T) {
	// "--" ends the flags: what follows is the image and its command, for
	// podman as for the policy.
	args := []string{"-it", "--", img, "--privileged", "--name", "x"}
	if err := CheckPolicy(args); err != nil {
		t.Fatalf("CheckPolicy(%q) = %v, want nil", args, err)
	}
	p, err := Parse(args, Run)
	if err != nil {
		t.Fatal(err)
	}
	if p.Image != img || p.Spec.Name != "" || (p.Spec.Privileged != nil && *p.Spec.Privileged) {
		t.Errorf("Parse(%q): image %q, name %q, privileged %v", args, p.Image, p.Spec.Name, p.Spec.Privileged)
	}
}

// TestCheckPolicyOnLinesPodmanRefuses: lines podman itself refuses never
// reach the server, whatever gate 1 says; gate 1 must still not panic, and
// names what it recognises before the bad flag.
func TestCheckPolicyOnLinesPodmanRefuses(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		managed []string
	}{
		{"an unknown long flag before a managed one", []string{"--bogus", "--name", "x", img}, []string{"--name"}},
		{"an unknown short flag in a cluster", []string{"-Xv", "/tmp:/run/terok", img}, nil},
		{"-v without its value", []string{"-v"}, nil},
		{"--volume without its value", []string{"--volume"}, nil},
		{"--name without its value", []string{"--name"}, []string{"--name"}},
		{"--hooks-dir without its value", []string{"--hooks-dir"}, []string{"--hooks-dir"}},
		{"a bad long flag", []string{"---name", "x", img}, nil},
		{"an empty long flag", []string{"--=x", img}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPolicy(tt.args)
			var pe *PolicyError
			if errors.As(err, &pe) {
				if !equalLists(pe.Managed, tt.managed) || len(pe.Volumes)+len(pe.Labels)+len(pe.Denied) > 0 {
					t.Errorf("CheckPolicy(%q) = %+v, want managed %q", tt.args, pe, tt.managed)
				}
			} else if err != nil || len(tt.managed) > 0 {
				t.Errorf("CheckPolicy(%q) = %v, want managed %q", tt.args, err, tt.managed)
			}
			for _, mode := range []Mode{Create, Run} {
				if _, err := Parse(tt.args, mode); err == nil {
					t.Errorf("Parse(%q, %s) accepts it", tt.args, modeName(mode))
				}
			}
		})
	}
}

func TestCheckPolicyEmpty(t *testing.T) {
	for _, args := range [][]string{nil, {}, {img}, {"-"}, {"--"}} {
		if err := CheckPolicy(args); err != nil {
			t.Errorf("CheckPolicy(%q) = %v, want nil", args, err)
		}
	}
}

// TestManagedFlagsHaveNoShortForm pins what the table above relies on: of
// the flags the policy refuses, only --volume has a short form in podman.
// If podman adds one, add its spelling to TestCheckPolicyRefuses.
func TestManagedFlagsHaveNoShortForm(t *testing.T) {
	fs := policyFlags()
	for _, name := range []string{"name", "network", "annotation", "cap-add", "cap-drop", "userns", "privileged", "security-opt"} {
		f := fs.Lookup(name)
		if f == nil {
			t.Errorf("podman's run flags have no --%s", name)
			continue
		}
		if f.Shorthand != "" {
			t.Errorf("--%s has the short form -%s, which TestCheckPolicyRefuses does not cover", name, f.Shorthand)
		}
	}
	if f := fs.Lookup("volume"); f == nil || f.Shorthand != "v" {
		t.Errorf("--volume's short form is not -v: %+v", f)
	}
	if f := fs.Lookup("hooks-dir"); f != nil {
		t.Errorf("podman-remote's run flags now define --hooks-dir (%+v); CheckPolicy's special case for it can go", f)
	}
}

func TestPolicyErrorMessage(t *testing.T) {
	err := &PolicyError{Managed: []string{"--name"}, Volumes: []string{"/run/terok"}, Labels: []string{"terok.x"}, Denied: []string{"--privileged"}}
	want := "flag(s) managed by sandwire, cannot override: --name; " +
		"volume target(s) managed by sandwire, cannot override: /run/terok; " +
		"label(s) managed by sandwire, cannot set: terok.x; " +
		"flag(s) not allowed in passthrough args: --privileged (isolation-weakening flags are refused)"
	if got := err.Error(); got != want {
		t.Errorf("Error() =\n%q\nwant\n%q", got, want)
	}
}

func equalLists(a, b []string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}
