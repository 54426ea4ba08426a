package podmanflags

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"testing"

	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/sandwire/sandwire/specmutate"
	"github.com/sandwire/sandwire/wiring"
)

// fuzzName is the container name the sandbox gives in the gate tests.
const fuzzName = "n"

// maxFuzzArgs caps the argument list built from a fuzz input.
const maxFuzzArgs = 40

// fuzzArgs turns fuzz bytes into an argument list: arguments are separated
// by NUL or newline, and there are at most maxFuzzArgs of them.
func fuzzArgs(data []byte) []string {
	if len(data) == 0 {
		return nil
	}
	args := strings.Split(strings.ReplaceAll(string(data), "\n", "\x00"), "\x00")
	if len(args) > maxFuzzArgs {
		args = args[:maxFuzzArgs]
	}
	return args
}

// checkGates runs both gates on args as `sandwire create|run` does
// (cmd/sandwire/create.go, launch) and fails t when a line gets through
// both while touching what the sandbox owns. A panic in either gate or in
// Parse fails the test like any other.
func checkGates(t *testing.T, args []string) {
	t.Helper()
	gate1 := CheckPolicy(args)
	if gate1 != nil {
		var pe *PolicyError
		if !errors.As(gate1, &pe) {
			t.Fatalf("CheckPolicy(%q) = %T %v, want a *PolicyError", args, gate1, gate1)
		}
		if len(pe.Managed)+len(pe.Volumes)+len(pe.Labels)+len(pe.Denied) == 0 || pe.Error() == "" {
			t.Fatalf("CheckPolicy(%q) returned an empty *PolicyError", args)
		}
		for _, v := range pe.Volumes {
			if !ownsDest(v) {
				t.Errorf("CheckPolicy(%q) refuses the volume target %q, which the sandbox does not own", args, v)
			}
		}
		for _, f := range append(append([]string(nil), pe.Managed...), pe.Denied...) {
			if !strings.HasPrefix(f, "--") {
				t.Errorf("CheckPolicy(%q) names %q, which is no long flag as spelled", args, f)
			}
		}
	}
	for _, mode := range []Mode{Create, Run} {
		p, err := Parse(args, mode)
		if err != nil {
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("Parse(%q, %s) = %T %v, want a *UsageError", args, modeName(mode), err, err)
			}
			continue
		}
		if p == nil || p.Spec == nil {
			t.Fatalf("Parse(%q, %s) returned no spec and no error", args, modeName(mode))
		}
		if gate1 == nil {
			// Gate 1 on its own: what only refused flags can set is unset.
			if v := gate1Touched(p.Spec); len(v) > 0 {
				t.Errorf("%s %q: CheckPolicy accepts it, yet the spec sets %s", modeName(mode), args, strings.Join(v, "; "))
			}
		}
		gate2 := errors.Join(specmutate.Conflicts(p.Spec, &wiring.Edits{Name: fuzzName}),
			specmutate.Exposures(p.Spec, &wiring.Edits{Name: fuzzName}, fuzzDirs, nil))
		if gate2 != nil {
			var ce *specmutate.ConflictError
			if !errors.As(gate2, &ce) || len(ce.Conflicts) == 0 {
				t.Fatalf("Conflicts on %q = %T %v, want a *specmutate.ConflictError", args, gate2, gate2)
			}
		}
		if gate1 == nil && gate2 == nil {
			if v := ownedTouched(p.Spec, fuzzName); len(v) > 0 {
				t.Errorf("%s %q passes both gates but touches what the sandbox owns: %s", modeName(mode), args, strings.Join(v, "; "))
			}
			if v := exposedTouched(p.Spec); len(v) > 0 {
				t.Errorf("%s %q passes both gates but lets the container see the sandbox's host state: %s", modeName(mode), args, strings.Join(v, "; "))
			}
		}
	}
}

// TestGatesTogether: lines whose flag names gate 1 does not know, but
// whose spec touches what the sandbox owns, are refused by gate 2.
func TestGatesTogether(t *testing.T) {
	tests := []struct {
		name  string
		flags []string
		field string // the field gate 2 names, in podman's flag vocabulary
	}{
		{"--mount bind at the runtime dir", []string{"--mount", "type=bind,src=/tmp,dst=/run/terok"}, "--mount /run/terok"},
		{"--mount bind below the runtime dir, target spelled oddly", []string{"--mount", "type=bind,source=/tmp,target=//run/terok/vault/"}, "--mount /run/terok/vault"},
		{"--mount volume at the bridges dir", []string{"--mount", "type=volume,src=v,dst=/usr/local/share/terok-sandbox/bridges"}, "--volume /usr/local/share/terok-sandbox/bridges"},
		{"--mount image at the runtime dir", []string{"--mount", "type=image,src=img,dst=/run/terok"}, "--mount /run/terok"},
		{"--mount tmpfs at the runtime dir", []string{"--mount", "type=tmpfs,dst=/run/terok"}, "--mount /run/terok"},
		{"--tmpfs at the runtime dir", []string{"--tmpfs", "/run/terok"}, "--mount /run/terok"},
		{"--tmpfs below the bridges dir", []string{"--tmpfs=/usr/local/share/terok-sandbox/bridges/x:size=1m"}, "--mount /usr/local/share/terok-sandbox/bridges/x"},
		{"--volumes-from", []string{"--volumes-from", "other"}, "--volumes-from"},
		{"--pod", []string{"--pod", "p"}, "--pod"},
		{"--pod new:", []string{"--pod=new:p"}, "--pod"},
		{"--uidmap", []string{"--uidmap", "0:100000:65536"}, "--uidmap"},
		{"--gidmap", []string{"--gidmap", "0:100000:65536"}, "--gidmap"},
		{"--ip puts the container on a network", []string{"--ip", "10.88.0.5"}, "--network"},
		{"--network-alias puts the container on a network", []string{"--network-alias", "a"}, "--network"},
		{"-e TEROK_", []string{"-e", "TEROK_X=1"}, "--env"},
		{"-e TEROK_ sandbox variable", []string{"-e", "TEROK_GATE_TOKEN=terok-g-00000000000000000000000000000000"}, "--env"},
		{"--env-merge TEROK_", []string{"--env-merge", "TEROK_X=${TEROK_X}:y"}, "--env-merge"},
		{"--secret as a TEROK_ variable", []string{"--secret", "s,type=env,target=TEROK_X"}, "--secret"},
		{"--secret named TEROK_ as a variable", []string{"--secret", "TEROK_X,type=env"}, "--secret"},
		{"--secret mounted at the vault socket", []string{"--secret", "s,type=mount,target=/run/terok/vault/vault.sock"}, "--secret /run/terok/vault/vault.sock"},
		// podman mounts a relative secret target at /run/secrets/TARGET
		// (libpod makeBindMounts, which does not refuse ".."), so these
		// land in the runtime dir too.
		{"--secret with a relative target climbing into the runtime dir", []string{"--secret", "s,type=mount,target=../terok/vault/vault.sock"}, "--secret /run/terok/vault/vault.sock"},
		{"--secret with a relative target at the runtime dir", []string{"--secret", "s,target=../terok"}, "--secret /run/terok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := line(tt.flags, "sh")
			if err := CheckPolicy(args); err != nil {
				t.Fatalf("CheckPolicy(%q) = %v; this table is for what gate 1 lets through", args, err)
			}
			p, err := Parse(args, Run)
			if err != nil {
				t.Fatalf("Parse(%q): %v", args, err)
			}
			if v := ownedTouched(p.Spec, fuzzName); len(v) == 0 {
				t.Fatalf("the spec of %q touches nothing the sandbox owns; the case tests nothing", args)
			}
			err = specmutate.Conflicts(p.Spec, &wiring.Edits{Name: fuzzName})
			var ce *specmutate.ConflictError
			if !errors.As(err, &ce) {
				t.Fatalf("gate 2 lets %q through: Conflicts = %v", args, err)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("gate 2's error %q does not name %q", err, tt.field)
			}
			checkGates(t, args)
		})
	}
}

// TestGatesAgreeOnAcceptedLines: an ordinary line passes both gates.
func TestGatesAgreeOnAcceptedLines(t *testing.T) {
	for _, args := range [][]string{
		line(nil),
		line([]string{"-it", "--rm", "-e", "FOO=bar", "-v", "/srv:/data:ro", "--tmpfs", "/tmp", "-w", "/work"}, "sh"),
		line([]string{"--mount", "type=bind,src=/tmp,dst=/run/terokx", "--secret", "s,type=mount,target=x", "--secret", "t"}),
		line([]string{"--env-merge", "PATH=${PATH}:/x", "--label", "terokx=y", "-l", "io.terok.x=y", "-e", "terok_lower=1"}),
	} {
		if err := CheckPolicy(args); err != nil {
			t.Errorf("CheckPolicy(%q) = %v", args, err)
		}
		p, err := Parse(args, Run)
		if err != nil {
			t.Fatalf("Parse(%q): %v", args, err)
		}
		if err := specmutate.Conflicts(p.Spec, &wiring.Edits{Name: fuzzName}); err != nil {
			t.Errorf("Conflicts on %q = %v", args, err)
		}
		checkGates(t, args)
	}
}

// fuzzDirs are the sandbox's host dirs in the gate tests: the root
// defaults, which no test machine needs to have.
var fuzzDirs = []specmutate.HostDir{
	{Role: "state dir", Path: "/var/lib/terok/sandbox"},
	{Role: "runtime dir", Path: "/run/terok/sandbox"},
	{Role: "vault dir", Path: "/var/lib/terok/vault"},
}

// exposedTouched is the property's oracle, written apart from the gate:
// every host path the spec makes visible, cleaned, must neither lie in nor
// hold a sandbox dir, and no PID or IPC namespace may be shared.
func exposedTouched(s *specgen.SpecGenerator) []string {
	var sources []string
	for _, m := range s.Mounts {
		if m.Type == "bind" {
			sources = append(sources, m.Source)
		}
	}
	for _, o := range s.OverlayVolumes {
		sources = append(sources, o.Source)
	}
	for _, d := range s.Devices {
		sources = append(sources, strings.SplitN(d.Path, ":", 2)[0])
	}
	if s.Rootfs != "" {
		sources = append(sources, strings.TrimSuffix(s.Rootfs, ":O"))
	}
	var v []string
	for _, src := range sources {
		clean := path.Clean("/" + src)
		for _, d := range fuzzDirs {
			if clean == d.Path || strings.HasPrefix(clean, d.Path+"/") || clean == "/" || strings.HasPrefix(d.Path, clean+"/") {
				v = append(v, fmt.Sprintf("host path %q shows the %s", src, d.Role))
			}
		}
	}
	for flag, ns := range map[string]specgen.Namespace{"--pid": s.PidNS, "--ipc": s.IpcNS} {
		if ns.NSMode == specgen.Host || ns.NSMode == specgen.FromContainer {
			v = append(v, fmt.Sprintf("%s %s", flag, ns.NSMode))
		}
	}
	return v
}

// fuzzSeeds start FuzzGates near the lines that matter.
var fuzzSeeds = [][]string{
	line([]string{"-v", "/:/host"}),
	line([]string{"-v", "/var/lib/terok:/x:ro"}),
	line([]string{"--volume=/var/lib/terok/sandbox//sidecar:/x"}),
	line([]string{"--mount", "type=bind,src=/var/lib/../lib/terok/vault,dst=/x"}),
	line([]string{"-v", "/run/terok/sandbox/run/x:/x:O"}),
	line([]string{"--device", "/var/lib/terok/vault/credentials.db:/dev/x"}),
	line([]string{"--rootfs", "/"}),
	line([]string{"--pid", "host", "--ipc=container:other"}),
	line([]string{"--uts", "host", "--cgroupns", "host", "--pid", "private"}),
	line([]string{"--unsetenv", "TEROK_GATE_TOKEN", "--unsetenv-all"}),
	line(nil),
	line([]string{"-it", "--rm"}, "sh", "-c", "--privileged"),
	line([]string{"--name", "x"}),
	line([]string{"--name=x"}),
	line([]string{"--network", "host"}),
	line([]string{"--net=none"}),
	line([]string{"--hooks-dir", "/h"}),
	line([]string{"--annotation", "terok.a=b"}),
	line([]string{"--annotation=io.x=y"}),
	line([]string{"--label", "terok.a=b"}),
	line([]string{"-lterok.sandbox.sidecar=/x"}),
	line([]string{"--cap-add=all"}),
	line([]string{"--cap-drop", "NET_RAW"}),
	line([]string{"--userns", "keep-id"}),
	line([]string{"--privileged"}),
	line([]string{"--security-opt", "label=disable"}),
	line([]string{"--security-opt=seccomp=unconfined"}),
	line([]string{"-v", "/tmp:/run/terok"}),
	line([]string{"-v", "/tmp:/run/terok/vault/vault.sock:ro"}),
	line([]string{"--volume=/tmp:/usr/local/share/terok-sandbox/bridges"}),
	line([]string{"-v/tmp://run/terok/"}),
	line([]string{"-itv", "/tmp:/run/terok"}),
	line([]string{"-itv/tmp:/run/terokx"}),
	line([]string{"-v", "/run/terok"}),
	line([]string{"-v", "vol:/run/terok:O"}),
	line([]string{"-v", "/tmp:/data"}),
	line([]string{"--mount", "type=bind,src=/tmp,dst=/run/terok"}),
	line([]string{"--mount", "type=volume,src=v,dst=/run/terok/x"}),
	line([]string{"--mount", "type=image,src=i,dst=/usr/local/share/terok-sandbox/bridges"}),
	line([]string{"--mount", "type=tmpfs,destination=/run/terok"}),
	line([]string{"--mount", "type=glob,src=/tmp/*,dst=/run/terok"}),
	line([]string{"--tmpfs", "/run/terok"}),
	line([]string{"--tmpfs", "/tmp"}),
	line([]string{"--volumes-from", "other"}),
	line([]string{"--pod", "p"}),
	line([]string{"--uidmap", "0:100000:65536", "--gidmap", "0:100000:65536"}),
	line([]string{"--ip", "10.88.0.5"}),
	line([]string{"--network-alias", "a"}),
	line([]string{"-e", "TEROK_X=1"}),
	line([]string{"-e", "FOO=bar", "-e", "TEROK_GATE_TOKEN=x"}),
	line([]string{"--env-merge", "TEROK_X=${TEROK_X}:y"}),
	line([]string{"--secret", "s,type=env,target=TEROK_X"}),
	line([]string{"--secret", "TEROK_X,type=env"}),
	line([]string{"--secret", "s,type=mount,target=/run/terok/x"}),
	line([]string{"--secret", "s,type=mount,target=x"}),
	line([]string{"--secret", "s,type=mount,target=../x"}),
	line([]string{"--secret", "s,target=../terok/vault/vault.sock"}),
	line([]string{"--device", "/dev/null:/run/terok/x"}),
	line([]string{"-e", "--name=x", "--hostname", "--name"}),
	line([]string{"--label", "--cap-add=ALL", "-h", "--privileged"}),
	line([]string{"--", img, "--privileged"}),
	line([]string{"-d", "--sig-proxy=false", "--detach-keys", "ctrl-a"}),
	line([]string{"--seccomp-policy", "image"}),
	line([]string{"--read-only", "--init", "--cpus", "1.5", "--memory", "256m", "-p", "8080:80"}),
}

// FuzzGates builds argument lists from fuzz bytes and checks that gate 1
// and Parse never panic, that a line gate 1 accepts sets none of what only
// its flags can set, and that a line that passes both gates touches none
// of what the sandbox owns (see ownedTouched).
//
//	go test -tags ... -run '^$' -fuzz FuzzGates -fuzztime 60s ./podmanflags/
func FuzzGates(f *testing.F) {
	for _, seed := range fuzzSeeds {
		f.Add([]byte(strings.Join(seed, "\n")))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		args := fuzzArgs(data)
		for _, a := range args {
			// Files the client reads (--env-file, --label-file,
			// --pod-id-file, ...) must not be a device or a kernel file
			// that blocks or never ends; /dev/null is harmless.
			a = strings.ReplaceAll(a, "/dev/null", "")
			if strings.Contains(a, "/dev/") || strings.Contains(a, "/proc/") || strings.Contains(a, "/sys/") {
				t.Skip("names a special file")
			}
		}
		checkGates(t, args)
	})
}
