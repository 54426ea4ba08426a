package podmanflags

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/containers/podman/v5/cmd/podman/parse"
	"github.com/containers/podman/v5/pkg/domain/entities"
	"github.com/sandwire/sandwire/wiring"
	"github.com/spf13/pflag"
)

// managedFlags are set by the sandbox itself; a passthrough carrying one
// would fight the launch's own settings.
var managedFlags = map[string]bool{
	"name": true, "network": true, "hooks-dir": true, "annotation": true,
	"cap-add": true, "cap-drop": true, "userns": true,
}

// deniedFlags weaken isolation wholesale: --privileged lifts the
// confinement, --security-opt can swap the seccomp profile or drop labels.
var deniedFlags = map[string]bool{"privileged": true, "security-opt": true}

// PolicyError lists every flag of a passthrough the policy refuses.
type PolicyError struct {
	// Managed are sandbox-managed flags, as the user spelled them.
	Managed []string
	// Volumes are volume targets at the sandbox's paths.
	Volumes []string
	// Labels are label keys in the sandbox's namespace (terok.*), from
	// --label, -l or a --label-file ("KEY (in FILE)").
	Labels []string
	// Denied are isolation-weakening flags.
	Denied []string
}

func (e *PolicyError) Error() string {
	var parts []string
	if len(e.Managed) > 0 {
		parts = append(parts, "flag(s) managed by sandwire, cannot override: "+strings.Join(e.Managed, ", "))
	}
	if len(e.Volumes) > 0 {
		parts = append(parts, "volume target(s) managed by sandwire, cannot override: "+strings.Join(e.Volumes, ", "))
	}
	if len(e.Labels) > 0 {
		parts = append(parts, "label(s) managed by sandwire, cannot set: "+strings.Join(e.Labels, ", "))
	}
	if len(e.Denied) > 0 {
		parts = append(parts, "flag(s) not allowed in passthrough args: "+strings.Join(e.Denied, ", ")+
			" (isolation-weakening flags are refused)")
	}
	return strings.Join(parts, "; ")
}

// policyFlags is podman's run flag set, used only to know which flags take
// a value, so that a value is never mistaken for a flag and the scan stops
// at the image. Built once; it is never parsed into.
var policyFlags = sync.OnceValue(func() *pflag.FlagSet {
	var vals entities.ContainerCreateOptions
	var run RunOptions
	return NewFlagSet(Run, &vals, &run).Flags()
})

// CheckPolicy is gate 1: it scans the raw passthrough arguments, up to the
// image, and refuses every sandbox-managed flag (in any spelling: long,
// alias, --flag=value, short), volume targets at the bridges dir or
// /run/terok and below, labels in the sandbox's terok.* namespace (given
// with --label or -l, or in a --label-file, which it reads as podman
// does), and --privileged and --security-opt. All offenders
// are reported at once in a *PolicyError. The container's own command,
// after the image, is never inspected.
func CheckPolicy(args []string) error {
	managed, volumes, labels, denied := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	check := func(spelled string, f *pflag.Flag, value string, hasValue bool) {
		name := f.Name
		switch {
		case managedFlags[name]:
			managed[spelled] = true
		case deniedFlags[name]:
			denied[spelled] = true
		case name == "volume" && hasValue:
			if target, ok := volumeTarget(value); ok && wiring.OwnsPath(target) {
				volumes[path.Clean(target)] = true
			}
		case name == "label" && hasValue:
			if key, _, _ := strings.Cut(value, "="); wiring.OwnsLabel(key) {
				labels[key] = true
			}
		case name == "label-file" && hasValue:
			for _, key := range ownedFileLabels(value) {
				labels[fmt.Sprintf("%s (in %s)", key, value)] = true
			}
		}
	}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" || !strings.HasPrefix(arg, "-") || arg == "-" {
			break // the image: everything after is the container's command
		}
		if strings.HasPrefix(arg, "--") {
			spelled, value, hasValue := strings.Cut(arg[2:], "=")
			if spelled == "hooks-dir" {
				// podman-remote does not even define it; it is still the sandbox's.
				managed[arg[:2+len(spelled)]] = true
				if !hasValue {
					i++
				}
				continue
			}
			f := lookup(spelled)
			if f == nil {
				continue // unknown: Parse reports it
			}
			if !hasValue && takesValue(f) && i+1 < len(args) {
				i++
				value, hasValue = args[i], true
			}
			check("--"+spelled, f, value, hasValue)
			continue
		}
		// A cluster of short flags: -it, -v src:dst, -vsrc:dst, -e=K=V.
		cluster := arg[1:]
		for j := 0; j < len(cluster); j++ {
			f := policyFlags().ShorthandLookup(cluster[j : j+1])
			if f == nil {
				break
			}
			if !takesValue(f) {
				check("-"+f.Shorthand, f, "", false)
				continue
			}
			value, hasValue := strings.TrimPrefix(cluster[j+1:], "="), true
			if j+1 == len(cluster) {
				if i+1 < len(args) {
					i++
					value = args[i]
				} else {
					hasValue = false
				}
			}
			check("-"+f.Shorthand, f, value, hasValue)
			break
		}
	}
	if len(managed)+len(volumes)+len(labels)+len(denied) == 0 {
		return nil
	}
	return &PolicyError{Managed: sorted(managed), Volumes: sorted(volumes), Labels: sorted(labels), Denied: sorted(denied)}
}

// ownedFileLabels reads a label file with podman's own reader and returns
// the keys in the sandbox's namespace. A file podman cannot read is left
// to Parse, which reports it.
func ownedFileLabels(file string) []string {
	all, err := parse.GetAllLabels([]string{file}, nil)
	if err != nil {
		return nil
	}
	var owned []string
	for key := range all {
		if wiring.OwnsLabel(key) {
			owned = append(owned, key)
		}
	}
	return owned
}

func lookup(name string) *pflag.Flag {
	// Lookup normalises the name with podman's alias function, so --net
	// resolves to --network.
	return policyFlags().Lookup(name)
}

// takesValue reports whether a flag consumes the next argument when given
// without "=": every flag but the boolean-like ones (NoOptDefVal set).
func takesValue(f *pflag.Flag) bool { return f.NoOptDefVal == "" }

// volumeTarget returns the container path of a -v value
// (SOURCE:TARGET[:OPTIONS] or a bare anonymous TARGET).
func volumeTarget(v string) (string, bool) {
	parts := strings.Split(v, ":")
	switch {
	case len(parts) >= 2:
		return parts[1], parts[1] != ""
	case len(parts) == 1 && strings.HasPrefix(parts[0], "/"):
		return parts[0], true
	}
	return "", false
}

func sorted(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
