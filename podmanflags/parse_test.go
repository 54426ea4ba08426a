package podmanflags

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containers/podman/v5/pkg/specgen"
	spec "github.com/opencontainers/runtime-spec/specs-go"
	nettypes "go.podman.io/common/libnetwork/types"
)

func ptr[T any](v T) *T { return &v }

// envFilePlaceholder in a test line is replaced by the path of an env file
// written into t.TempDir().
const envFilePlaceholder = "$ENVFILE"

const envFileContent = "A=from-file\n# a comment\n\nB=two words\n"

// fields are expected spec fields by name (promoted fields of specgen's
// embedded structs included), compared with reflect.DeepEqual.
type fields map[string]any

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		flags   []string
		command []string
		runOnly bool // the flags exist for `podman run` only
		spec    fields
		check   func(t *testing.T, p *Parsed) // the rest of Parsed
	}{
		{name: "a bare image",
			spec: fields{"Image": img, "RawImageName": img, "Command": []string(nil), "Env": map[string]string{},
				"Terminal": ptr(false), "Stdin": ptr(false), "Remove": ptr(false), "Name": ""}},
		{name: "the container's command follows the image", command: []string{"sh", "-c", "echo hi"},
			spec: fields{"Image": img, "Command": []string{"sh", "-c", "echo hi"}}},
		{name: "-e", flags: []string{"-e", "FOO=bar", "--env", "EMPTY=", "-e=X=1"},
			spec: fields{"Env": map[string]string{"FOO": "bar", "EMPTY": "", "X": "1"}}},
		{name: "-e without a value takes nothing the host does not have", flags: []string{"-e", "SANDWIRE_TEST_SURELY_UNSET"},
			spec: fields{"Env": map[string]string{}}},
		{name: "--env-file, overridden by -e", flags: []string{"--env-file", envFilePlaceholder, "-e", "A=from-flag"},
			spec: fields{"Env": map[string]string{"A": "from-flag", "B": "two words"}}},
		{name: "-v with options", flags: []string{"-v", "/tmp:/data:ro"},
			spec: fields{"Mounts": []spec.Mount{{Destination: "/data", Type: "bind", Source: "/tmp", Options: []string{"ro"}}}}},
		{name: "-v named volume", flags: []string{"-v", "cache:/cache"},
			spec: fields{"Volumes": []*specgen.NamedVolume{{Name: "cache", Dest: "/cache"}}, "Mounts": []spec.Mount{}}},
		{name: "--mount bind", flags: []string{"--mount", "type=bind,src=/tmp,dst=/m"},
			spec: fields{"Mounts": []spec.Mount{{Destination: "/m", Type: "bind", Source: "/tmp", Options: []string{}}}}},
		{name: "--tmpfs", flags: []string{"--tmpfs", "/scratch"},
			spec: fields{"Mounts": []spec.Mount{{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs"}}}},
		{name: "-p", flags: []string{"-p", "8080:80"},
			spec: fields{"PortMappings": []nettypes.PortMapping{{HostPort: 8080, ContainerPort: 80, Range: 1}}}},
		{name: "-w", flags: []string{"-w", "/work"}, spec: fields{"WorkDir": "/work"}},
		{name: "-u", flags: []string{"-u", "1000:1000"}, spec: fields{"User": "1000:1000"}},
		{name: "--entrypoint", flags: []string{"--entrypoint", "/bin/sh"}, command: []string{"-c", "true"},
			spec: fields{"Entrypoint": []string{"/bin/sh"}, "Command": []string{"-c", "true"}}},
		{name: "--entrypoint as JSON", flags: []string{"--entrypoint", `["/bin/sh","-c"]`},
			spec: fields{"Entrypoint": []string{"/bin/sh", "-c"}}},
		{name: "--entrypoint empty", flags: []string{"--entrypoint="},
			spec: fields{"Entrypoint": []string{""}}},
		{name: "--label", flags: []string{"--label", "app=web", "-l", "tier=front"},
			spec: fields{"Labels": map[string]string{"app": "web", "tier": "front"}}},
		{name: "--memory", flags: []string{"--memory", "256m"},
			spec: fields{"ResourceLimits": &spec.LinuxResources{Memory: &spec.LinuxMemory{Limit: ptr(int64(256 << 20)), Swap: ptr(int64(512 << 20))}}}},
		{name: "--cpus", flags: []string{"--cpus", "1.5"},
			spec: fields{"ResourceLimits": &spec.LinuxResources{CPU: &spec.LinuxCPU{Quota: ptr(int64(150000)), Period: ptr(uint64(100000))}}}},
		{name: "--device", flags: []string{"--device", "/dev/null"},
			spec: fields{"Devices": []spec.LinuxDevice{{Path: "/dev/null"}}}},
		{name: "--read-only", flags: []string{"--read-only"}, spec: fields{"ReadOnlyFilesystem": ptr(true)}},
		{name: "--init", flags: []string{"--init"}, spec: fields{"Init": ptr(true)}},
		{name: "--hostname", flags: []string{"--hostname", "web"}, spec: fields{"Hostname": "web"}},
		{name: "-h is --hostname", flags: []string{"-h", "web"}, spec: fields{"Hostname": "web"}},
		{name: "--add-host", flags: []string{"--add-host", "db:10.0.0.5"}, spec: fields{"HostAdd": []string{"db:10.0.0.5"}}},
		{name: "--pull=never reaches the options, not the spec", flags: []string{"--pull=never"},
			check: func(t *testing.T, p *Parsed) {
				if p.Options.Pull != "never" {
					t.Errorf("Options.Pull = %q, want never", p.Options.Pull)
				}
			}},
		{name: "the pull flags reach the options and Parsed, not the spec",
			flags: []string{"--pull", "newer", "--tls-verify=false", "--authfile", envFilePlaceholder, "--creds", "me:secret",
				"--platform", "linux/arm64", "--variant", "v8", "--retry", "2", "--retry-delay", "1500ms", "-q"},
			check: func(t *testing.T, p *Parsed) {
				o := p.Options
				if o.Pull != "newer" || !o.TLSVerify.Present() || o.TLSVerify.Value() || !strings.HasSuffix(o.Authfile, "/env") ||
					o.OS != "linux" || o.Arch != "arm64" || o.Variant != "v8" || !o.Quiet {
					t.Errorf("the pull options are pull %q tls-verify %v/%v authfile %q platform %s/%s/%s quiet %v",
						o.Pull, o.TLSVerify.Present(), o.TLSVerify.Value(), o.Authfile, o.OS, o.Arch, o.Variant, o.Quiet)
				}
				if p.Retry == nil || *p.Retry != 2 || p.RetryDelay == nil || *p.RetryDelay != 1500*time.Millisecond {
					t.Errorf("Retry = %v, RetryDelay = %v; want 2 and 1.5s", p.Retry, p.RetryDelay)
				}
				if u, pw, err := p.Credentials(); u != "me" || pw != "secret" || err != nil {
					t.Errorf("Credentials() = %q, %q, %v; want me, secret", u, pw, err)
				}
			}},
		{name: "without pull flags nothing is set for the pull",
			check: func(t *testing.T, p *Parsed) {
				o := p.Options
				if o.Pull != "" || o.TLSVerify.Present() || o.Quiet || p.Retry != nil || p.RetryDelay != nil {
					t.Errorf("pull %q tls-verify given %v quiet %v retry %v retry-delay %v; want podman's defaults",
						o.Pull, o.TLSVerify.Present(), o.Quiet, p.Retry, p.RetryDelay)
				}
				if u, pw, err := p.Credentials(); u != "" || pw != "" || err != nil {
					t.Errorf("Credentials() = %q, %q, %v; want none", u, pw, err)
				}
			}},
		{name: "-i", flags: []string{"-i"}, spec: fields{"Stdin": ptr(true), "Terminal": ptr(false)},
			check: func(t *testing.T, p *Parsed) {
				if !p.Options.Interactive {
					t.Error("Options.Interactive = false")
				}
			}},
		{name: "-t", flags: []string{"-t"}, spec: fields{"Terminal": ptr(true), "Stdin": ptr(false)}},
		{name: "-it", flags: []string{"-it"}, spec: fields{"Terminal": ptr(true), "Stdin": ptr(true)}},
		{name: "--rm", flags: []string{"--rm"}, spec: fields{"Remove": ptr(true)},
			check: func(t *testing.T, p *Parsed) {
				if !p.Options.Rm {
					t.Error("Options.Rm = false")
				}
			}},
		{name: "--image-volume", flags: []string{"--image-volume", "tmpfs"}, spec: fields{"ImageVolumeMode": "tmpfs"}},
		{name: "--oom-score-adj", flags: []string{"--oom-score-adj", "100"}, spec: fields{"OOMScoreAdj": ptr(100)}},
		{name: "--pids-limit", flags: []string{"--pids-limit", "100"}},
		{name: "--shm-size", flags: []string{"--shm-size", "64m"}, spec: fields{"ShmSize": ptr(int64(64 << 20))}},
		{name: "--shm-size-systemd", flags: []string{"--shm-size-systemd=32m"}, spec: fields{"ShmSizeSystemd": ptr(int64(32 << 20))}},
		{name: "namespace flags the sandbox does not own", flags: []string{"--ipc", "private", "--pid", "host", "--cgroupns=private", "--uts", "host"}},
		{name: "--uidmap makes a private user namespace", flags: []string{"--uidmap", "0:100000:65536"},
			spec: fields{"UserNS": specgen.Namespace{NSMode: specgen.Private}}},
		{name: "--health-cmd and --health-interval", flags: []string{"--health-cmd", "true", "--health-interval", "30s"}},
		{name: "--health-interval alone", flags: []string{"--health-interval", "disable"}},
		{name: "a line of everything at once",
			flags: []string{"-e", "FOO=bar", "-v", "/srv:/data:ro", "--tmpfs", "/tmp", "-p", "8080:80", "-w", "/work",
				"-u", "1000", "--label", "app=web", "--memory", "256m", "--cpus", "1.5", "--hostname", "web",
				"--add-host", "db:10.0.0.5", "--read-only", "--init", "-it", "--rm", "--pull=never", "--entrypoint", "/bin/sh"},
			command: []string{"-c", "exec sleep 1d"},
			spec: fields{"Env": map[string]string{"FOO": "bar"}, "WorkDir": "/work", "User": "1000", "Hostname": "web",
				"Entrypoint": []string{"/bin/sh"}, "Command": []string{"-c", "exec sleep 1d"},
				"Terminal": ptr(true), "Stdin": ptr(true), "Remove": ptr(true), "ReadOnlyFilesystem": ptr(true), "Init": ptr(true)}},

		// podman run's own flags.
		{name: "run defaults", runOnly: true,
			check: func(t *testing.T, p *Parsed) {
				want := RunOptions{SigProxy: true, Passwd: true}
				if !reflect.DeepEqual(p.Run, want) {
					t.Errorf("Run = %+v, want %+v", p.Run, want)
				}
			}},
		{name: "-d", flags: []string{"-d"}, runOnly: true,
			check: func(t *testing.T, p *Parsed) {
				if !p.Run.Detach {
					t.Error("Run.Detach = false")
				}
			}},
		{name: "-d in a cluster", flags: []string{"-dit"}, runOnly: true, spec: fields{"Terminal": ptr(true), "Stdin": ptr(true)},
			check: func(t *testing.T, p *Parsed) {
				if !p.Run.Detach {
					t.Error("Run.Detach = false")
				}
			}},
		{name: "--sig-proxy=false", flags: []string{"--sig-proxy=false"}, runOnly: true,
			check: func(t *testing.T, p *Parsed) {
				if p.Run.SigProxy {
					t.Error("Run.SigProxy = true")
				}
			}},
		{name: "--detach-keys", flags: []string{"--detach-keys", "ctrl-a,x"}, runOnly: true,
			check: func(t *testing.T, p *Parsed) {
				if p.Run.DetachKeys != "ctrl-a,x" {
					t.Errorf("Run.DetachKeys = %q", p.Run.DetachKeys)
				}
			}},
		{name: "--passwd=false", flags: []string{"--passwd=false"}, runOnly: true, spec: fields{"Passwd": ptr(false)}},
		{name: "--rmi implies --rm and removes the image", flags: []string{"--rmi"}, runOnly: true,
			spec: fields{"Remove": ptr(true), "RemoveImage": ptr(true)},
			check: func(t *testing.T, p *Parsed) {
				if !p.Run.Rmi || !p.Options.Rm {
					t.Errorf("Run.Rmi = %v, Options.Rm = %v, want both true", p.Run.Rmi, p.Options.Rm)
				}
			}},
		{name: "--arch picks the image's architecture", flags: []string{"--arch", "arm64"}, runOnly: true,
			spec: fields{"ImageArch": "arm64"}},
		{name: "--platform picks the image's OS and architecture", flags: []string{"--platform", "linux/arm64"}, runOnly: true,
			spec: fields{"ImageOS": "linux", "ImageArch": "arm64"}},
	}
	envFile := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(envFile, []byte(envFileContent), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		for _, mode := range []Mode{Create, Run} {
			if tt.runOnly && mode == Create {
				continue
			}
			t.Run(modeName(mode)+"/"+tt.name, func(t *testing.T) {
				flags := append([]string(nil), tt.flags...)
				for i, f := range flags {
					flags[i] = strings.ReplaceAll(f, envFilePlaceholder, envFile)
				}
				args := line(flags, tt.command...)
				p, err := Parse(args, mode)
				if err != nil {
					t.Fatalf("Parse(%q): %v", args, err)
				}
				if p.Image != img {
					t.Errorf("Image = %q, want %q", p.Image, img)
				}
				for name, want := range tt.spec {
					got := reflect.ValueOf(p.Spec).Elem().FieldByName(name)
					if !got.IsValid() {
						t.Fatalf("the spec has no field %s", name)
					}
					if !reflect.DeepEqual(got.Interface(), want) {
						t.Errorf("Spec.%s = %s, want %s", name, show(got), show(reflect.ValueOf(want)))
					}
				}
				if tt.check != nil {
					tt.check(t, p)
				}
				ref, err := podmanRemote(args, mode)
				if err != nil {
					t.Fatalf("podman-remote refuses %q: %v", args, err)
				}
				if d := specDiff(p.Spec, ref); d != "" {
					t.Errorf("Parse(%q) differs from podman-remote's %s:\n%s", args, modeName(mode), d)
				}
			})
		}
	}
}

// TestParseRunStreams: the streams podman's remote run attaches, from
// -i and --attach (cmd/podman/containers/run.go in podman 5.8.2).
func TestParseRunStreams(t *testing.T) {
	tests := []struct {
		name                  string
		flags                 []string
		stdin, stdout, stderr bool
	}{
		{"no flags attach stdout and stderr", nil, false, true, true},
		{"-i adds stdin", []string{"-i"}, true, true, true},
		{"-a stdout attaches stdout alone", []string{"-a", "stdout"}, false, true, false},
		{"-a stderr attaches stderr alone", []string{"-a", "stderr"}, false, false, true},
		{"-a stdin attaches stdin alone", []string{"-a", "stdin"}, true, false, false},
		{"a comma-separated --attach names several", []string{"--attach", "stdout,STDERR"}, false, true, true},
		{"-i keeps stdin with -a stdout", []string{"-i", "-a", "stdout"}, true, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(append(tc.flags, img), Run)
			if err != nil {
				t.Fatal(err)
			}
			if in, out, errs := p.Streams(); in != tc.stdin || out != tc.stdout || errs != tc.stderr {
				t.Errorf("Streams() = %v, %v, %v; want %v, %v, %v", in, out, errs, tc.stdin, tc.stdout, tc.stderr)
			}
		})
	}
}

// TestParsePassesOpenDescriptors: --preserve-fd of a descriptor passed to
// this process goes into the spec, as podman's remote client sends it.
func TestParsePassesOpenDescriptors(t *testing.T) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := Parse([]string{"--preserve-fd", strconv.Itoa(int(f.Fd())), img}, Run); err == nil {
		t.Error("a descriptor this process opened itself (close-on-exec) counts as passed")
	}
	// dup's copy is not close-on-exec, as a descriptor passed through exec.
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	p, err := Parse([]string{"--preserve-fd", strconv.Itoa(fd), img}, Run)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Spec.PreserveFD, []uint{uint(fd)}) {
		t.Errorf("Spec.PreserveFD = %v, want [%d]", p.Spec.PreserveFD, fd)
	}
}

func TestParseUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		mode Mode
		msg  string // a part of the message
	}{
		{"no arguments", nil, Run, "no image"},
		{"flags but no image", []string{"-it", "--rm"}, Run, "no image"},
		{"flags and -- but no image", []string{"-it", "--"}, Create, "no image"},
		{"an unknown flag", []string{"--bogus", img}, Run, "unknown flag: --bogus"},
		{"an unknown short flag", []string{"-X", img}, Run, "unknown shorthand flag"},
		{"-d is unknown to create", []string{"-d", img}, Create, "unknown shorthand flag: 'd'"},
		{"--sig-proxy is unknown to create", []string{"--sig-proxy=false", img}, Create, "unknown flag: --sig-proxy"},
		{"--rmi is unknown to create", []string{"--rmi", img}, Create, "unknown flag: --rmi"},
		{"--hooks-dir is unknown to podman-remote", []string{"--hooks-dir", "/h", img}, Run, "unknown flag: --hooks-dir"},
		{"a flag without its value", []string{"--hostname"}, Run, "flag needs an argument"},
		{"--cpus with --cpu-period", []string{"--cpus", "1", "--cpu-period", "100000", img}, Run, "--cpu-period and --cpus"},
		{"--cpus with --cpu-quota", []string{"--cpu-quota=50000", "--cpus=0.5", img}, Create, "--cpu-quota and --cpus"},
		{"--userns with --uidmap", []string{"--userns", "host", "--uidmap", "0:100000:65536", img}, Create, "mutually exclusive"},
		{"--rmi with --rm=false", []string{"--rmi", "--rm=false", img}, Run, "--rmi"},
		{"--no-hosts with --add-host", []string{"--no-hosts", "--add-host", "a:10.0.0.1", img}, Run, "--no-hosts"},
		{"--dns with --network none", []string{"--network", "none", "--dns", "1.1.1.1", img}, Run, "dns"},
		{"run checks --attach for an unknown stream", []string{"-a", "bogus", img}, Run, `invalid stream "bogus" for --attach`},
		{"run checks --preserve-fds for descriptors this process lacks", []string{"--preserve-fds", "200", img}, Run, "file descriptor"},
		{"run checks --preserve-fd for a descriptor this process lacks", []string{"--preserve-fd", "1000", img}, Run, "file descriptor 1000 is not available"},
		{"--group-add keep-groups", []string{"--group-add", "keep-groups", img}, Run, "remote"},
		{"--cgroups split", []string{"--cgroups", "split", img}, Run, "remote"},
		{"--log-driver passthrough", []string{"--log-driver", "passthrough", img}, Run, "remote"},
		{"--health-timeout below a second", []string{"--health-timeout", "0s", img}, Run, "healthcheck-timeout"},
		{"a missing --env-file", []string{"--env-file", "/nonexistent/sandwire/env", img}, Run, "/nonexistent/sandwire/env"},
		{"a bad --memory", []string{"--memory", "lots", img}, Run, "memory"},
		{"a bad --pids-limit", []string{"--pids-limit", "many", img}, Run, "pids-limit"},
		{"an annotation without a value", []string{"--annotation", "novalue", img}, Run, "annotations must be formatted KEY=VALUE"},
		{"too many volume parts", []string{"-v", "/a:/b:ro:extra", img}, Run, "incorrect volume format"},
		{"a missing --authfile", []string{"--authfile", "/nonexistent/sandwire/auth.json", img}, Create, "credential file is not accessible"},
		// podman-remote leaves this one to the server, which answers 400.
		{"a bad --retry-delay (the server's refusal)", []string{"--retry-delay", "soon", img}, Run, "--retry-delay"},
	}
	for _, tt := range tests {
		t.Run(modeName(tt.mode)+"/"+tt.name, func(t *testing.T) {
			p, err := Parse(tt.args, tt.mode)
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("Parse(%q) = %+v, %v; want a *UsageError", tt.args, p, err)
			}
			if p != nil {
				t.Errorf("Parse(%q) returned %+v with its error", tt.args, p)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Parse(%q) error %q does not say %q", tt.args, err, tt.msg)
			}
			if ue.Unwrap() == nil {
				t.Error("the *UsageError wraps no cause")
			}
			// podman-remote refuses the same line. (It reads --group-add and
			// --log-driver from its own globals; see podmanRemote. What its
			// run checks after parsing, integration's run differential
			// compares.)
			if tt.args != nil && !strings.Contains(tt.name, "keep-groups") && !strings.Contains(tt.name, "passthrough") &&
				!strings.Contains(tt.name, "the server's refusal") && !strings.HasPrefix(tt.name, "run checks") {
				if _, err := podmanRemote(tt.args, tt.mode); err == nil {
					t.Errorf("podman-remote's %s accepts %q", modeName(tt.mode), tt.args)
				}
			}
		})
	}
}

// TestParseDoesNotShareState parses twice: flag values must not leak from
// one call into the next (podman binds its flags to package globals; Parse
// must not).
func TestParseDoesNotShareState(t *testing.T) {
	if _, err := Parse(line([]string{"-e", "A=1", "-v", "/a:/a", "--rm", "-d"}), Run); err != nil {
		t.Fatal(err)
	}
	p, err := Parse(line(nil), Run)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Spec.Env) != 0 || len(p.Spec.Mounts) != 0 || *p.Spec.Remove || p.Run.Detach {
		t.Errorf("state leaked from an earlier Parse: env %v, mounts %v, remove %v, detach %v",
			p.Spec.Env, p.Spec.Mounts, *p.Spec.Remove, p.Run.Detach)
	}
}

func TestParseSpecValidates(t *testing.T) {
	p, err := Parse(line([]string{"-it", "--rm", "-e", "A=1"}, "sh"), Run)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Spec.Validate(); err != nil {
		t.Errorf("the parsed spec does not validate: %v", err)
	}
}

// TestParseRootfs: with --rootfs the image argument is a directory, and
// podman-remote sends no raw image name for it (create.go: rawImageName
// stays "" when cliVals.RootFS).
func TestParseRootfs(t *testing.T) {
	dir := t.TempDir()
	for _, mode := range []Mode{Create, Run} {
		t.Run(modeName(mode), func(t *testing.T) {
			args := []string{"--rootfs", dir, "sh"}
			p, err := Parse(args, mode)
			if err != nil {
				t.Fatal(err)
			}
			if p.Spec.Rootfs != dir || p.Spec.Image != "" {
				t.Errorf("Spec.Rootfs = %q, Spec.Image = %q; want %q and none", p.Spec.Rootfs, p.Spec.Image, dir)
			}
			ref, err := podmanRemote(args, mode)
			if err != nil {
				t.Fatal(err)
			}
			if d := specDiff(p.Spec, ref); d != "" {
				t.Errorf("Parse(%q) differs from podman-remote's %s:\n%s", args, modeName(mode), d)
			}
		})
	}
}

func modeName(m Mode) string {
	if m == Run {
		return "run"
	}
	return "create"
}
