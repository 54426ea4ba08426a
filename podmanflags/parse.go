package podmanflags

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/containers/podman/v5/cmd/podman/common"
	"github.com/containers/podman/v5/cmd/podman/utils"
	"github.com/containers/podman/v5/libpod/define"
	"github.com/containers/podman/v5/pkg/domain/entities"
	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/containers/podman/v5/pkg/specgenutil"
	"github.com/containers/podman/v5/pkg/util"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.podman.io/common/pkg/auth"
	"golang.org/x/sys/unix"
)

// Mode is which podman verb's flags to accept.
type Mode int

const (
	// Create accepts `podman create`'s flags.
	Create Mode = iota
	// Run accepts `podman run`'s flags: create's plus -d, --sig-proxy,
	// --detach-keys, --rmi and --passwd.
	Run
)

// RunOptions are the `podman run` flags that steer the client, not the spec.
type RunOptions struct {
	Detach     bool
	SigProxy   bool
	DetachKeys string
	Rmi        bool
	Passwd     bool
	// PreserveFDs and PreserveFD are --preserve-fds and --preserve-fd,
	// hidden in podman's remote client, which checks that this process
	// has the descriptors and sends them in the spec.
	PreserveFDs uint
	PreserveFD  []uint
}

// Parsed is a parsed argument list.
type Parsed struct {
	// Spec is the container spec podman-remote would send.
	Spec *specgen.SpecGenerator
	// Image is the image argument as given.
	Image string
	// Options are the create options the flags set (-i, -t, --rm, ...).
	Options entities.ContainerCreateOptions
	// Run holds the run-only flags; zero for Create.
	Run RunOptions
	// Retry and RetryDelay are --retry and --retry-delay, for the pull
	// before the create; nil unless given. podman reads them off its flag
	// set, so they are not in Options. The other pull flags are: Pull,
	// TLSVerify, Authfile, Creds (see Credentials), OS, Arch, Variant and
	// Quiet (--platform is split into OS and Arch, as podman does).
	Retry      *uint
	RetryDelay *time.Duration
}

// Credentials are --creds USERNAME[:PASSWORD] split as podman splits them,
// asking on the terminal for what is missing, as podman does; empty when
// --creds was not given.
func (p *Parsed) Credentials() (username, password string, err error) {
	if p.Options.Creds == "" {
		return "", "", nil
	}
	creds, err := util.ParseRegistryCreds(p.Options.Creds)
	if err != nil {
		return "", "", err
	}
	return creds.Username, creds.Password, nil
}

// UsageError reports an argument list podman would refuse.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// NewFlagSet returns podman's create (or run) flags, with podman's
// defaults from containers.conf. The values are bound to vals and run.
func NewFlagSet(mode Mode, vals *entities.ContainerCreateOptions, run *RunOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "podman", SilenceErrors: true, SilenceUsage: true}
	flags := cmd.Flags()
	flags.SetInterspersed(false)
	common.DefineCreateDefaults(vals)
	common.DefineCreateFlags(cmd, vals, entities.CreateMode)
	common.DefineNetFlags(cmd)
	flags.SetNormalizeFunc(utils.AliasFlags)
	if mode == Run {
		flags.BoolVar(&run.SigProxy, "sig-proxy", true, "Proxy received signals to the process")
		flags.BoolVar(&run.Rmi, "rmi", false, "Remove image unless used by other containers, implies --rm")
		flags.BoolVarP(&run.Detach, "detach", "d", false, "Run container in background and print container ID")
		flags.StringVar(&run.DetachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
		flags.BoolVar(&run.Passwd, "passwd", true, "add entries to /etc/passwd and /etc/group")
		flags.UintVar(&run.PreserveFDs, "preserve-fds", 0, "Pass a number of additional file descriptors into the container")
		flags.UintSliceVar(&run.PreserveFD, "preserve-fd", nil, "Pass a file descriptor into the container")
		for _, hidden := range []string{"preserve-fds", "preserve-fd", "conmon-pidfile", "pidfile"} {
			_ = flags.MarkHidden(hidden)
		}
	}
	return cmd
}

// Parse parses args — [FLAGS] IMAGE [COMMAND [ARG...]] — with podman's
// flag definitions and fills out a spec with specgenutil.FillOutSpecGen,
// as podman-remote's create and run do. It does not apply the policy;
// call CheckPolicy first.
func Parse(args []string, mode Mode) (*Parsed, error) {
	p := &Parsed{}
	cmd := NewFlagSet(mode, &p.Options, &p.Run)
	flags := cmd.Flags()
	if err := flags.Parse(args); err != nil {
		return nil, &UsageError{Err: err}
	}
	rest := flags.Args()
	if len(rest) == 0 {
		return nil, &UsageError{Err: errors.New("no image given: the passthrough must end with IMAGE [COMMAND [ARG...]]")}
	}
	vals, err := initOptions(cmd, p.Options)
	if err != nil {
		return nil, &UsageError{Err: err}
	}
	if mode == Run && p.Run.Rmi {
		if flags.Changed("rm") && !vals.Rm {
			return nil, &UsageError{Err: errors.New("the --rmi option does not work without --rm")}
		}
		vals.Rm = true
	}
	if err := pullFlags(flags, p); err != nil {
		return nil, &UsageError{Err: err}
	}
	if mode == Run {
		if err := runFlags(p); err != nil {
			return nil, &UsageError{Err: err}
		}
		vals.PreserveFDs, vals.PreserveFD = p.Run.PreserveFDs, p.Run.PreserveFD
	}
	if vals.Platform != "" {
		// podman-remote splits --platform OS/ARCH before pulling.
		if vals.Arch != "" || vals.OS != "" {
			return nil, &UsageError{Err: errors.New("--platform option can not be specified with --arch or --os")}
		}
		var hasArch bool
		vals.OS, vals.Arch, hasArch = strings.Cut(vals.Platform, "/")
		if !hasArch {
			vals.Arch = ""
		}
	}
	p.Image = rest[0]
	s := specgen.NewSpecGenerator(p.Image, vals.RootFS)
	if err := specgenutil.FillOutSpecGen(s, &vals, rest); err != nil {
		return nil, &UsageError{Err: err}
	}
	if !vals.RootFS {
		s.RawImageName = p.Image
	}
	if s.HealthConfig == nil {
		if s.HealthConfig, err = common.GetHealthCheckOverrideConfig(cmd, &vals); err != nil {
			return nil, &UsageError{Err: err}
		}
	}
	if mode == Run {
		s.ImageOS, s.ImageArch, s.ImageVariant = vals.OS, vals.Arch, vals.Variant
		s.Passwd = &p.Run.Passwd
		if p.Run.Rmi {
			s.RemoveImage = &p.Run.Rmi
		}
	}
	p.Options = vals
	p.Spec = s
	return p, nil
}

// runFlags checks what podman's remote run checks in the client: the
// --attach streams, and that the descriptors --preserve-fd and
// --preserve-fds pass are open in this process.
func runFlags(p *Parsed) error {
	for _, stream := range p.Options.Attach {
		if !attachStreams[strings.ToLower(stream)] {
			return fmt.Errorf("invalid stream %q for --attach - must be one of stdin, stdout, or stderr: %w", stream, define.ErrInvalidArg)
		}
	}
	for _, fd := range p.Run.PreserveFD {
		if !fdInherited(int(fd)) {
			return fmt.Errorf("file descriptor %d is not available - the preserve-fd option requires that file descriptors must be passed", fd)
		}
	}
	for fd := 3; fd < 3+int(p.Run.PreserveFDs); fd++ {
		if !fdInherited(fd) {
			return fmt.Errorf("file descriptor %d is not available - the preserve-fds option requires that file descriptors must be passed", fd)
		}
	}
	return nil
}

var attachStreams = map[string]bool{"stdin": true, "stdout": true, "stderr": true}

// Streams are the streams run attaches, as podman run decides: stdout and
// stderr, and stdin with -i; with --attach only the ones it names, and
// stdin also with -i.
func (p *Parsed) Streams() (stdin, stdout, stderr bool) {
	if len(p.Options.Attach) == 0 {
		return p.Options.Interactive, true, true
	}
	stdin = p.Options.Interactive
	for _, s := range p.Options.Attach {
		switch strings.ToLower(s) {
		case "stdin":
			stdin = true
		case "stdout":
			stdout = true
		case "stderr":
			stderr = true
		}
	}
	return stdin, stdout, stderr
}

// fdInherited reports whether descriptor fd was passed to this process,
// as podman's client asks (it records the open descriptors before its
// runtime starts). Go opens every descriptor of its own close-on-exec, and
// one that a parent passed through exec cannot be: an open descriptor
// without the flag is inherited.
func fdInherited(fd int) bool {
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil && flags&unix.FD_CLOEXEC == 0
}

// pullFlags reads the pull flags podman reads off the flag set itself,
// and checks a given --authfile as podman run and create do.
func pullFlags(flags *pflag.FlagSet, p *Parsed) error {
	if flags.Changed("retry") {
		n, err := flags.GetUint("retry")
		if err != nil {
			return err
		}
		p.Retry = &n
	}
	if flags.Changed("retry-delay") {
		d, err := time.ParseDuration(flagString(flags, "retry-delay"))
		if err != nil {
			return fmt.Errorf("invalid --retry-delay: %w", err)
		}
		p.RetryDelay = &d
	}
	if flags.Changed("authfile") {
		return auth.CheckAuthFile(p.Options.Authfile)
	}
	return nil
}

// initOptions settles the options the way podman-remote's create does
// between parsing and FillOutSpecGen: network options from the net flags,
// namespace flags read back as strings, and the flags whose zero value
// differs from "not given".
func initOptions(cmd *cobra.Command, vals entities.ContainerCreateOptions) (entities.ContainerCreateOptions, error) {
	flags := cmd.Flags()
	var err error
	if vals.Net, err = common.NetFlagsToNetOptions(nil, *flags); err != nil {
		return vals, err
	}
	if flags.Changed("image-volume") {
		vals.ImageVolume = flagString(flags, "image-volume")
	}
	if len(vals.UIDMap) > 0 || len(vals.GIDMap) > 0 || vals.SubUIDName != "" || vals.SubGIDName != "" {
		if flags.Changed("userns") {
			return vals, errors.New("--userns and --uidmap/--gidmap/--subuidname/--subgidname are mutually exclusive")
		}
		vals.UserNS = "private"
	} else {
		vals.UserNS = flagString(flags, "userns")
	}
	if flags.Changed("cpu-period") && flags.Changed("cpus") {
		return vals, errors.New("--cpu-period and --cpus cannot be set together")
	}
	if flags.Changed("cpu-quota") && flags.Changed("cpus") {
		return vals, errors.New("--cpu-quota and --cpus cannot be set together")
	}
	vals.IPC = flagString(flags, "ipc")
	vals.PID = flagString(flags, "pid")
	vals.CgroupNS = flagString(flags, "cgroupns")
	for _, g := range vals.GroupAdd {
		if g == "keep-groups" {
			return vals, errors.New("the '--group-add keep-groups' option is not supported in remote mode")
		}
	}
	if flags.Changed("oom-score-adj") {
		v, err := flags.GetInt("oom-score-adj")
		if err != nil {
			return vals, err
		}
		vals.OOMScoreAdj = &v
	}
	if flags.Changed("pids-limit") {
		v, err := strconv.ParseInt(flagString(flags, "pids-limit"), 10, 32)
		if err != nil {
			return vals, fmt.Errorf("invalid --pids-limit: %w", err)
		}
		vals.PIDsLimit = &v
	}
	if flags.Changed("env") {
		if vals.Env, err = flags.GetStringArray("env"); err != nil {
			return vals, err
		}
	}
	if flags.Changed("cgroups") && vals.CgroupsMode == "split" {
		return vals, fmt.Errorf("the option --cgroups=%q is not supported in remote mode", vals.CgroupsMode)
	}
	if flags.Changed("shm-size") {
		vals.ShmSize = flagString(flags, "shm-size")
	}
	if flags.Changed("shm-size-systemd") {
		vals.ShmSizeSystemd = flagString(flags, "shm-size-systemd")
	}
	if (flags.Changed("dns") || flags.Changed("dns-option") || flags.Changed("dns-search")) && vals.Net != nil &&
		(vals.Net.Network.NSMode == specgen.NoNetwork || vals.Net.Network.IsContainer()) {
		return vals, errors.New("conflicting options: dns and the network mode: " + string(vals.Net.Network.NSMode))
	}
	if noHosts, _ := flags.GetBool("no-hosts"); noHosts && (flags.Changed("add-host") || flags.Changed("hosts-file")) {
		return vals, errors.New("--no-hosts cannot be set together with --add-host or --hosts-file")
	}
	if flags.Changed("entrypoint") {
		v := flagString(flags, "entrypoint")
		vals.Entrypoint = &v
	}
	if flags.Changed("kernel-memory") {
		logrus.Warnf("The --kernel-memory flag is no longer supported. This flag is a noop.")
	}
	for _, d := range []string{"passthrough", "passthrough-tty"} {
		if vals.LogDriver == d {
			return vals, fmt.Errorf("the '--log-driver %s' option is not supported in remote mode", d)
		}
	}
	return vals, nil
}

func flagString(flags *pflag.FlagSet, name string) string {
	if f := flags.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}
