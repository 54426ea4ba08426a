// Package shield adapts the egress firewall, terok-shield, to sandwire:
// it runs the shield's command, translates every podman flag the shield
// prints into wiring.Edits with podman's own flag parser, and refuses —
// failing the launch closed — anything it cannot apply through the API.
//
// # Hooks
//
// The shield works through an OCI hook. Over the REST API a container
// cannot carry its own --hooks-dir, so the server's configured hooks
// directories must hold the shield's hook; when none does, the launch is
// refused with the command that installs it.
package shield

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/containers/podman/v5/pkg/domain/entities"
	"github.com/sandwire/sandwire/podmanflags"
	"github.com/sandwire/sandwire/wiring"
	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"
)

// HookFile is the file name of the shield's hook in a hooks directory.
const HookFile = "terok-shield-createRuntime.json"

// Command is the shield run as an external command (terok-shield).
type Command struct {
	// Path is the shield executable, looked up in PATH when not absolute.
	Path string
	// HooksDirs are the OCI hooks directories of the podman server.
	HooksDirs []string
	// Env is the environment the shield runs in; nil means this
	// process's. It also says where the user's shield config dir is.
	Env []string
}

// Failure says why the shield could not be prepared; the launch fails
// closed on it.
type Failure struct {
	// Reason is one of "missing", "failed", "unparsable", "unsupported"
	// or "no-hook".
	Reason string
	Detail string
	Err    error
}

func (e *Failure) Error() string {
	msg := e.Detail
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Failure) Unwrap() error { return e.Err }

// Is places a failure in errdefs' unavailable category: the firewall
// cannot be used here, so nothing launches.
func (e *Failure) Is(target error) bool { return target == errdefs.ErrUnavailable }

// Check reports whether a launch with the shield on can work here: the
// shield command is installed and the server's hooks dirs hold its hook.
// It runs nothing.
func (c Command) Check() error {
	if _, err := c.lookPath(); err != nil {
		return err
	}
	return c.requireHook()
}

func (c Command) lookPath() (string, error) {
	path, err := exec.LookPath(c.Path)
	if err != nil {
		return "", &Failure{Reason: "missing", Detail: fmt.Sprintf("the shield command %q was not found; install terok-shield or set shield_command in the configuration", c.Path), Err: err}
	}
	return path, nil
}

// Prepare implements wiring.Shield.
func (c Command) Prepare(ctx context.Context, req wiring.ShieldRequest) (wiring.ShieldResult, error) {
	var none wiring.ShieldResult
	path, err := c.lookPath()
	if err != nil {
		return none, err
	}
	// terok-shield reads --profiles as one or more words (nargs="+").
	args := []string{"--state-dir", shieldStateDir(req.StateDir), "prepare", req.Name, "--json"}
	if len(req.Profiles) > 0 {
		args = append(append(args, "--profiles"), req.Profiles...)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = c.environ()
	if len(req.LoopbackPorts) > 0 {
		// Its CLI takes loopback ports only from its config dir's config.yml.
		dir, err := launchConfig(filepath.Join(req.StateDir, "shield-config"), userConfigDir(envLookup(cmd.Env)), req.LoopbackPorts)
		if err != nil {
			return none, &Failure{Reason: "failed", Detail: "the shield's per-launch configuration could not be written", Err: err}
		}
		cmd.Env = append(cmd.Env, EnvConfigDir+"="+dir)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return none, &Failure{Reason: "failed", Detail: fmt.Sprintf("%s prepare %s exited with an error (%s)", path, req.Name, firstLine(stderr.String())), Err: err}
	}
	var flags []string
	if err := json.Unmarshal(stdout.Bytes(), &flags); err != nil {
		return none, &Failure{Reason: "unparsable", Detail: fmt.Sprintf("%s prepare --json printed something that is not a JSON array of flags", path), Err: err}
	}
	edits, hooksDir, err := Translate(flags)
	if err != nil {
		return none, err
	}
	if hooksDir != "" {
		logrus.Debugf("shield asked for --hooks-dir %s; over the API the server's hooks directories serve instead", hooksDir)
	}
	if err := c.requireHook(); err != nil {
		return none, err
	}
	network, note := networkFor(edits, req)
	res := wiring.ShieldResult{Edits: edits.Append(network)}
	if note != "" {
		res.Notes = []string{note}
	}
	return res, nil
}

// Down implements wiring.Shield.
func (c Command) Down(ctx context.Context, name, containerID string) error {
	path, err := exec.LookPath(c.Path)
	if err != nil {
		return &Failure{Reason: "missing", Detail: fmt.Sprintf("the shield command %q was not found", c.Path), Err: err}
	}
	out, err := exec.CommandContext(ctx, path, "down", containerID).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s down %s (%s): %w: %s", path, containerID, name, err, firstLine(string(out)))
	}
	return nil
}

// Translate turns the podman flags the shield printed into edits, with
// podman's own flag parser, so each flag means what it means to podman.
// It returns the --hooks-dir the shield asked for, if any. A flag it cannot
// express through the API is an error: none is dropped silently.
func Translate(flags []string) (*wiring.Edits, string, error) {
	var vals entities.ContainerCreateOptions
	var run podmanflags.RunOptions
	fs := podmanflags.NewFlagSet(podmanflags.Run, &vals, &run).Flags()
	if fs.Lookup("hooks-dir") == nil {
		// podman-remote has no --hooks-dir; the shield may still print it.
		fs.StringArray("hooks-dir", nil, "")
	}
	if err := fs.Parse(flags); err != nil {
		return nil, "", &Failure{Reason: "unparsable", Detail: "the shield printed flags podman does not accept", Err: err}
	}
	if rest := fs.Args(); len(rest) > 0 {
		return nil, "", &Failure{Reason: "unparsable", Detail: fmt.Sprintf("the shield printed arguments that are not flags: %q", rest)}
	}
	edits := &wiring.Edits{}
	var hooksDir string
	var errs []error
	fs.Visit(func(f *pflag.Flag) {
		var err error
		switch f.Name {
		case "annotation":
			err = translateAnnotations(edits, vals.Annotation)
		case "cap-drop":
			edits.CapDrop = append(edits.CapDrop, vals.CapDrop...)
		case "volume":
			err = translateVolumes(edits, vals.Volume)
		case "add-host":
			hosts, _ := fs.GetStringSlice("add-host")
			edits.Hosts = append(edits.Hosts, hosts...)
		case "network":
			nets := f.Value.(pflag.SliceValue).GetSlice()
			mode, opts, _ := strings.Cut(nets[len(nets)-1], ":")
			edits.Network = &wiring.Network{Mode: mode}
			if opts != "" {
				edits.Network.Options = strings.Split(opts, ",")
			}
		case "hooks-dir":
			dirs := f.Value.(pflag.SliceValue).GetSlice()
			hooksDir = strings.Join(dirs, ",")
		case "name":
			// The sandbox names the container itself.
		default:
			err = &Failure{Reason: "unsupported", Detail: fmt.Sprintf("the shield asked for --%s, which sandwire does not apply; upgrade sandwire or the shield", f.Name)}
		}
		if err != nil {
			errs = append(errs, err)
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, "", err
	}
	if err := edits.Validate(); err != nil {
		return nil, "", &Failure{Reason: "unsupported", Detail: "the shield's flags do not fit the sandbox's edits", Err: err}
	}
	return edits, hooksDir, nil
}

func translateAnnotations(edits *wiring.Edits, annotations []string) error {
	for _, a := range annotations {
		k, v, ok := strings.Cut(a, "=")
		if !ok || !strings.HasPrefix(k, "terok.shield.") {
			return &Failure{Reason: "unsupported", Detail: fmt.Sprintf("the shield set annotation %q outside terok.shield.*", k)}
		}
		if edits.Annotations == nil {
			edits.Annotations = map[string]string{}
		}
		edits.Annotations[k] = v
	}
	return nil
}

func translateVolumes(edits *wiring.Edits, volumes []string) error {
	for _, v := range volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || len(parts) > 3 {
			return &Failure{Reason: "unsupported", Detail: fmt.Sprintf("the shield asked for volume %q, which is not SOURCE:DEST[:OPTIONS]", v)}
		}
		m := wiring.Mount{Source: parts[0], Destination: parts[1]}
		if len(parts) == 3 {
			for _, o := range strings.Split(parts[2], ",") {
				switch o {
				case "ro":
					m.ReadOnly = true
				case "rw":
				case "z", "Z":
					m.Relabel = o
				default:
					return &Failure{Reason: "unsupported", Detail: fmt.Sprintf("the shield asked for volume option %q on %s", o, parts[1])}
				}
			}
		}
		edits.Mounts = append(edits.Mounts, m)
	}
	return nil
}

// networkFor replaces the network the shield chose, from its own uid, with
// the one the server's facts call for, and says so in a note for the user
// when they differ.
func networkFor(shieldEdits *wiring.Edits, req wiring.ShieldRequest) (_ *wiring.Edits, note string) {
	want := wiring.ShieldNetwork(req.ServerRootless, req.RootlessNetwork)
	got := shieldEdits.Network
	switch {
	case want == nil && got != nil:
		note = fmt.Sprintf("WARNING: shield asked for --network %s, but the podman server is rootful: using the server's default network", got)
		shieldEdits.Network = nil
		shieldEdits.Hosts = nil
	case want != nil && (got == nil || got.String() != want.Network.String()):
		note = fmt.Sprintf("WARNING: shield asked for --network %s, but the rootless podman server uses %s: using %s", orNone(got), req.RootlessNetwork, want.Network)
	}
	return want, note
}

// requireHook fails closed when no hooks directory of the server holds
// the shield's hook.
func (c Command) requireHook() error {
	for _, d := range c.HooksDirs {
		if st, err := os.Stat(filepath.Join(d, HookFile)); err == nil && st.Mode().IsRegular() {
			return nil
		}
	}
	return &Failure{Reason: "no-hook", Detail: fmt.Sprintf(
		"the podman service runs OCI hooks only from its configured hooks directories (%s), and none holds the shield's hook %s; "+
			"install it there with 'terok-shield setup' (a per-container --hooks-dir does not exist over the API)",
		strings.Join(c.HooksDirs, ", "), HookFile)}
}

func orNone(n *wiring.Network) string {
	if n == nil {
		return "(none)"
	}
	return n.String()
}

func shieldStateDir(runStateDir string) string { return filepath.Join(runStateDir, "shield") }

func (c Command) environ() []string {
	if c.Env != nil {
		return slices.Clone(c.Env)
	}
	return os.Environ()
}

// envLookup looks a variable up in env, the last setting winning as in
// exec's environment.
func envLookup(env []string) func(string) (string, bool) {
	return func(key string) (string, bool) {
		for i := len(env) - 1; i >= 0; i-- {
			if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
				return v, true
			}
		}
		return "", false
	}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return "no message"
	}
	return wiring.Redact(s)
}
