package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// runLine is one `run` line of the differential: its arguments, with
// placeholders each side fills in for itself (IMAGE the test image, CIDFILE
// a path that does not exist yet, OLDCID a file that does, PORT a host port
// another process holds, RMIIMAGE a tag of the test image of this side's
// own, which --rmi may remove), what it reads on stdin, and the server it
// meets.
type runLine struct {
	args  []string
	stdin string
	// nameTaken has a plain podman container hold each side's name
	// before the run.
	nameTaken bool
	// noService points both clients at a socket where no service listens.
	noService bool
}

// name is the line's subtest name: its arguments, and the server it meets.
func (l runLine) name() string {
	name := strings.Join(l.args, " ")
	switch {
	case l.nameTaken:
		name = "name taken: " + name
	case l.noService:
		name = "no service: " + name
	}
	return name
}

// runDifferentialLines are the lines run through `podman --remote run` and
// `sandwire run --no-shield NAME --`: every exit path (the container's own
// code, 125 before it, 126 and 127 when its command could not be invoked),
// the attach forms, --cidfile, --rmi, failed starts with and without --rm,
// the client's warnings, the other client-side run flags, and the errors
// of each kind as the user reads them: refused by the client's parse or by
// the server, a taken name, a bad image reference, no service.
var runDifferentialLines = []runLine{
	// The container's own exit code and streams.
	{args: []string{"IMAGE", "true"}},
	{args: []string{"IMAGE", "sh", "-c", "exit 3"}},
	{args: []string{"IMAGE", "sh", "-c", "echo out; echo err >&2; exit 7"}},
	{args: []string{"IMAGE", "sh", "-c", "exit 125"}},
	{args: []string{"IMAGE", "sh", "-c", "kill -9 $$"}},
	{args: []string{"--rm", "IMAGE", "sh", "-c", "exit 4"}},
	{args: []string{"-e", "FOO=bar", "IMAGE", "sh", "-c", "echo $FOO"}},
	{args: []string{"-i", "IMAGE", "cat"}, stdin: "hello\n"},
	{args: []string{"IMAGE", "cat"}, stdin: "not attached\n"},
	// Commands that cannot be invoked: 127 not found, 126 otherwise.
	{args: []string{"IMAGE", "/no/such/command"}},
	{args: []string{"IMAGE", "/etc"}},
	{args: []string{"--entrypoint", "/no/such/entrypoint", "IMAGE"}},
	{args: []string{"--workdir", "/does/not/exist", "IMAGE", "pwd"}},
	{args: []string{"--rm", "IMAGE", "/no/such/command"}},
	{args: []string{"--rm", "IMAGE", "/etc"}},
	{args: []string{"-d", "IMAGE", "/no/such/command"}},
	{args: []string{"-d", "--rm", "IMAGE", "/no/such/command"}},
	{args: []string{"-d", "IMAGE", "/etc"}},
	// A start-time resource that is taken.
	{args: []string{"-p", "127.0.0.1:PORT:80", "-d", "IMAGE", "sleep", "100"}},
	{args: []string{"-p", "127.0.0.1:PORT:80", "IMAGE", "true"}},
	{args: []string{"-p", "127.0.0.1:PORT:80", "--rm", "IMAGE", "true"}},
	// 125: failed before the container's command could be invoked.
	{args: []string{"--pull", "never", "localhost/sandwire-no-such-image:latest", "true"}},
	{args: []string{"--attach", "bogus", "IMAGE", "true"}},
	{args: []string{"--cpus", "1", "--cpu-period", "1000", "IMAGE", "true"}},
	// 125: errors as the user reads them. Refused by the client's parse
	// of a flag's value...
	{args: []string{"--memory", "10x", "IMAGE", "true"}},
	{args: []string{"--pull", "bogus", "IMAGE", "true"}},
	{args: []string{"--ulimit", "nofile=bogus", "IMAGE", "true"}},
	{args: []string{"--stop-signal", "BOGUS", "IMAGE", "true"}},
	{args: []string{"--restart", "always", "--rm", "IMAGE", "true"}},
	// ...by the server, at the create, with and without --rm...
	{args: []string{"--restart", "bogus", "IMAGE", "true"}},
	{args: []string{"--device", "/dev/sandwire-no-such-device", "IMAGE", "true"}},
	{args: []string{"--rm", "--device", "/dev/sandwire-no-such-device", "IMAGE", "true"}},
	{args: []string{"-v", "/sandwire-no-such-dir:/x", "IMAGE", "true"}},
	{args: []string{"--cpuset-cpus", "4096", "IMAGE", "true"}},
	// ...a name another container holds, which --rm leaves to it...
	{args: []string{"IMAGE", "true"}, nameTaken: true},
	{args: []string{"--rm", "IMAGE", "true"}, nameTaken: true},
	// ...an image reference that is no reference...
	{args: []string{"localhost/UPPER:latest", "true"}},
	{args: []string{"localhost/sandwire@sha256:zz", "true"}},
	// ...no podman service to talk to.
	{args: []string{"IMAGE", "true"}, noService: true},
	// 126: a start-time failure of the runtime's, with --rm.
	{args: []string{"--rm", "--user", "sandwire-no-such-user", "IMAGE", "true"}},
	// Detached.
	{args: []string{"-d", "IMAGE", "sleep", "100"}},
	{args: []string{"-d", "--rm", "IMAGE", "sleep", "100"}},
	// The attach forms.
	{args: []string{"-a", "stdout", "IMAGE", "sh", "-c", "echo out; echo err >&2"}},
	{args: []string{"-a", "stderr", "IMAGE", "sh", "-c", "echo out; echo err >&2"}},
	{args: []string{"-a", "stdout", "-a", "stderr", "IMAGE", "sh", "-c", "echo out; echo err >&2; exit 5"}},
	{args: []string{"--attach", "stdout,stderr", "IMAGE", "sh", "-c", "echo out; echo err >&2"}},
	{args: []string{"-a", "stdin", "IMAGE", "sh", "-c", "echo out; exit 6"}},
	{args: []string{"-a", "stdin", "-a", "stdout", "IMAGE", "sh", "-c", "echo out; echo err >&2"}},
	{args: []string{"-i", "-a", "stdout", "IMAGE", "cat"}, stdin: "piped\n"},
	{args: []string{"-i", "-a", "stdin", "IMAGE", "cat"}, stdin: "unseen\n"},
	// --cidfile.
	{args: []string{"--cidfile", "CIDFILE", "IMAGE", "true"}},
	{args: []string{"--cidfile", "CIDFILE", "--rm", "IMAGE", "true"}},
	{args: []string{"--cidfile", "CIDFILE", "-d", "IMAGE", "sleep", "100"}},
	{args: []string{"--cidfile", "CIDFILE", "IMAGE", "/no/such/command"}},
	{args: []string{"--cidfile", "CIDFILE", "--rm", "IMAGE", "/no/such/command"}},
	{args: []string{"--cidfile", "OLDCID", "IMAGE", "true"}},
	// --rmi.
	{args: []string{"--rmi", "RMIIMAGE", "true"}},
	{args: []string{"--rmi", "RMIIMAGE", "sh", "-c", "exit 2"}},
	{args: []string{"--rmi", "--rm=false", "RMIIMAGE", "true"}},
	{args: []string{"--rmi", "RMIIMAGE", "/no/such/command"}},
	// Warnings.
	{args: []string{"--kernel-memory", "10m", "IMAGE", "true"}},
	{args: []string{"-i", "-t", "IMAGE", "true"}},
	// The other client-side flags.
	{args: []string{"--sig-proxy=false", "IMAGE", "true"}},
	{args: []string{"--detach-keys", "ctrl-a", "IMAGE", "true"}},
	{args: []string{"--passwd=false", "IMAGE", "true"}},
	{args: []string{"--preserve-fds", "1", "IMAGE", "true"}},
	{args: []string{"--preserve-fd", "5", "IMAGE", "true"}},
}

// runAllowedDifferences are the only ways sandwire's run may differ from
// podman's: the sandbox's notes on stderr (with --no-shield and no scope,
// that the gate and broker are skipped), which are left out before stderr
// is compared. The sandbox's wiring itself (name, annotation, label) is
// not compared here: TestDifferentialAgainstPodmanRemote does that.
var runAllowedDifferences = []*regexp.Regexp{
	regexp.MustCompile(`^note: `),
}

// runOutcome is what a script can see of one run.
type runOutcome struct {
	Code int
	// Stdout and Stderr1 (stderr's first line) have IDs, names, paths and
	// times replaced by placeholders.
	Stdout, Stderr1 string
	// CIDFile is what the cidfile holds after the run, or "absent".
	CIDFile string
	// Container is the container's state after the run, or "absent".
	Container string
	// Image is whether --rmi's image is left: "present" or "absent".
	Image string
}

func TestRunDifferentialAgainstPodmanRemote(t *testing.T) {
	if len(runDifferentialLines) < 60 {
		t.Fatalf("only %d run lines, want at least 60", len(runDifferentialLines))
	}
	sb := newSandbox(t)
	for i, line := range runDifferentialLines {
		t.Run(line.name(), func(t *testing.T) {
			port := holdPort(t)
			var want, got runOutcome
			for attempt := 1; attempt <= 3; attempt++ {
				want = runSide(t, "podman", i, line, port, func(url, name string, args []string) result {
					return podmanRemoteRunAt(t, url, name, args, line.stdin)
				})
				got = runSide(t, "sandwire", i, line, port, func(url, name string, args []string) result {
					return sb.sandwireStdin(line.stdin, append([]string{"--url", url, "run", "--no-shield", name, "--"}, args...)...)
				})
				// The host's firewall is shared with whatever else runs
				// containers on this machine (the other rounds of the
				// matrix): netavark may fail to add a rule while another
				// service rewrites the chains. Such a start is retried.
				if want == got || !strings.Contains(want.Stderr1+got.Stderr1, "netavark") {
					break
				}
				t.Logf("attempt %d failed in the host's firewall; retrying", attempt)
				for _, side := range []string{"podman", "sandwire"} {
					if _, err := svc.Podman("rm", "--force", "--ignore", "--time", "0", runName(side, i)); err != nil {
						t.Fatal(err)
					}
				}
				mustSucceed(t, sb.sandwire("cleanup", runName("sandwire", i)))
			}
			if want != got {
				t.Errorf("sandwire run differs from podman --remote run:\n  podman:   %+v\n  sandwire: %+v", want, got)
			}
		})
	}
}

func runName(side string, i int) string { return fmt.Sprintf("rdiff-%s-%d", side, i) }

// runSide runs one line on one side, against the service at the URL it
// passes run, and returns what it left.
func runSide(t *testing.T, side string, i int, line runLine, port string, run func(url, name string, args []string) result) runOutcome {
	t.Helper()
	name := runName(side, i)
	removeContainerAtEnd(t, name)
	dir := t.TempDir()
	url := svc.URL()
	if line.noService {
		url = "unix://" + filepath.Join(dir, "no-service.sock")
	}
	if line.nameTaken {
		if _, err := svc.Podman("create", "--name", name, svc.Image(), "true"); err != nil {
			t.Fatal(err)
		}
	}
	cidfile, oldcid := filepath.Join(dir, "cid"), filepath.Join(dir, "old-cid")
	if err := os.WriteFile(oldcid, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rmiImage := fmt.Sprintf("localhost/rdiff-%s-%d:latest", side, i)
	vars := map[string]string{"IMAGE": svc.Image(), "CIDFILE": cidfile, "OLDCID": oldcid, "RMIIMAGE": rmiImage}
	args := substitute(line.args, vars)
	for i := range args {
		args[i] = strings.ReplaceAll(args[i], "PORT", port)
	}
	if strings.Contains(strings.Join(line.args, " "), "RMIIMAGE") {
		if _, err := svc.Podman("tag", svc.Image(), rmiImage); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Podman("rmi", "--ignore", rmiImage) })
	}
	r := run(url, name, args)
	norm := strings.NewReplacer(name, "<NAME>", rmiImage, "<RMIIMAGE>", dir, "<DIR>").Replace
	out := runOutcome{
		Code:      r.code,
		Stdout:    normalizeRunText(norm(r.stdout)),
		Stderr1:   normalizeRunText(norm(firstStderrLine(r.stderr))),
		CIDFile:   "absent",
		Container: "absent",
		Image:     "present",
	}
	if data, err := os.ReadFile(cidfile); err == nil {
		out.CIDFile = normalizeRunText(string(data))
	}
	if data, err := os.ReadFile(oldcid); err == nil && string(data) != "old\n" {
		out.CIDFile = "old-cid overwritten: " + normalizeRunText(string(data))
	}
	if state, err := svc.Podman("container", "inspect", "--format", "{{.State.Status}}", name); err == nil {
		// podman 5 shows a container that exited as stopped until its
		// cleanup process has run, a moment after the client returned.
		out.Container = strings.Replace(strings.TrimSpace(state), "stopped", "exited", 1)
	}
	if _, err := svc.Podman("image", "exists", rmiImage); err != nil {
		out.Image = "absent"
	}
	if !strings.Contains(strings.Join(line.args, " "), "RMIIMAGE") {
		out.Image = ""
	}
	t.Logf("%s: %+v\nstderr: %s", side, out, r.stderr)
	return out
}

var (
	longIDRE  = regexp.MustCompile(`[0-9a-f]{64}`)
	shortIDRE = regexp.MustCompile(`\b[0-9a-f]{12}\b`)
	timeRE    = regexp.MustCompile(`time="[^"]*"`)
)

func normalizeRunText(s string) string {
	s = longIDRE.ReplaceAllString(s, "<ID>")
	s = shortIDRE.ReplaceAllString(s, "<SHORTID>")
	return timeRE.ReplaceAllString(s, `time="<T>"`)
}

// firstStderrLine is stderr's first line once the allowed differences are
// left out.
func firstStderrLine(stderr string) string {
	for _, l := range strings.Split(stderr, "\n") {
		allowed := false
		for _, re := range runAllowedDifferences {
			allowed = allowed || re.MatchString(l)
		}
		if !allowed {
			return l
		}
	}
	return ""
}
