package podmanflags

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/containers/podman/v5/cmd/podman/common"
	"github.com/containers/podman/v5/cmd/podman/containers"
	"github.com/containers/podman/v5/cmd/podman/registry"
	"github.com/containers/podman/v5/cmd/podman/utils"
	"github.com/containers/podman/v5/pkg/domain/entities"
	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/containers/podman/v5/pkg/specgenutil"
	"github.com/spf13/cobra"
	"go.podman.io/common/pkg/auth"
)

// podmanRemote builds the spec podman-remote's own `create` (or `run`)
// command would send for args, following cmd/podman/containers/create.go
// and run.go of podman v5.8.2 step by step with podman's own functions:
// the flag set of createFlags/runFlags, commonFlags, containers.CreateInit,
// the --platform split of pullImage, specgenutil.FillOutSpecGen, and what
// run() adds to the spec, and its check of a given --authfile. It leaves out only what needs a server: pulling
// the image, creating a pod, --replace.
//
// One podman quirk carries over: CreateInit reads --group-add and
// --log-driver from the containers package's own global options, not from
// the ones it is given, so lines with those flags are not compared.
func podmanRemote(args []string, mode Mode) (*specgen.SpecGenerator, error) {
	var vals entities.ContainerCreateOptions
	var run entities.ContainerRunOptions
	var rmi bool
	cmd := &cobra.Command{Use: "podman"}
	flags := cmd.Flags()
	flags.SetInterspersed(false)
	common.DefineCreateDefaults(&vals)
	common.DefineCreateFlags(cmd, &vals, entities.CreateMode)
	common.DefineNetFlags(cmd)
	flags.SetNormalizeFunc(utils.AliasFlags)
	if mode == Run {
		flags.BoolVar(&run.SigProxy, "sig-proxy", true, "")
		flags.BoolVar(&rmi, "rmi", false, "")
		flags.UintVar(&run.PreserveFDs, "preserve-fds", 0, "")
		flags.UintSliceVar(&run.PreserveFD, "preserve-fd", nil, "")
		flags.BoolVarP(&run.Detach, "detach", "d", false, "")
		flags.StringVar(&run.DetachKeys, "detach-keys", registry.PodmanConfig().ContainersConfDefaultsRO.DetachKeys(), "")
		flags.BoolVar(&run.Passwd, "passwd", true, "")
	}
	if err := flags.Parse(args); err != nil {
		return nil, err
	}
	args = flags.Args()
	if len(args) == 0 { // cobra.MinimumNArgs(1)
		return nil, errors.New("requires at least 1 arg(s)")
	}

	// commonFlags
	var err error
	if vals.Net, err = common.NetFlagsToNetOptions(nil, *flags); err != nil {
		return nil, err
	}
	if flags.Changed("image-volume") {
		vals.ImageVolume = cmd.Flag("image-volume").Value.String()
	}
	if mode == Run && rmi {
		if flags.Changed("rm") && !vals.Rm {
			return nil, errors.New("the --rmi option does not work without --rm")
		}
		vals.Rm = true
	}
	if vals, err = containers.CreateInit(cmd, vals, false); err != nil {
		return nil, err
	}
	rawImageName := ""
	if !vals.RootFS {
		rawImageName = args[0]
		// pullImage, minus the pull: --platform becomes --os and --arch.
		if vals.Platform != "" {
			if vals.Arch != "" || vals.OS != "" {
				return nil, errors.New("--platform option can not be specified with --arch or --os")
			}
			osName, arch, hasArch := strings.Cut(vals.Platform, "/")
			vals.OS = osName
			if hasArch {
				vals.Arch = arch
			}
		}
	}
	// run() and create() check a given --authfile before the spec is made.
	if flags.Changed("authfile") {
		if err := auth.CheckAuthFile(vals.Authfile); err != nil {
			return nil, err
		}
	}
	s := specgen.NewSpecGenerator(args[0], vals.RootFS)
	if err := specgenutil.FillOutSpecGen(s, &vals, args); err != nil {
		return nil, err
	}
	s.RawImageName = rawImageName
	if mode == Run {
		s.ImageOS = vals.OS
		s.ImageArch = vals.Arch
		s.ImageVariant = vals.Variant
		s.Passwd = &run.Passwd
		if rmi {
			s.RemoveImage = &rmi
		}
	}
	if s.HealthConfig == nil {
		if s.HealthConfig, err = common.GetHealthCheckOverrideConfig(cmd, &vals); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// normalised returns a copy of s in which what podman leaves to chance
// (the order of mounts and volumes, built from maps) is sorted, and what
// the server treats alike is spelled alike: Passwd nil means true
// (libpod: `c.config.Passwd == nil || *c.config.Passwd`).
func normalised(s *specgen.SpecGenerator) specgen.SpecGenerator {
	c := *s
	c.Mounts = append(c.Mounts[:0:0], c.Mounts...)
	sort.Slice(c.Mounts, func(i, j int) bool { return c.Mounts[i].Destination < c.Mounts[j].Destination })
	c.Volumes = append(c.Volumes[:0:0], c.Volumes...)
	sort.Slice(c.Volumes, func(i, j int) bool { return c.Volumes[i].Dest < c.Volumes[j].Dest })
	c.OverlayVolumes = append(c.OverlayVolumes[:0:0], c.OverlayVolumes...)
	sort.Slice(c.OverlayVolumes, func(i, j int) bool { return c.OverlayVolumes[i].Destination < c.OverlayVolumes[j].Destination })
	c.ImageVolumes = append(c.ImageVolumes[:0:0], c.ImageVolumes...)
	sort.Slice(c.ImageVolumes, func(i, j int) bool { return c.ImageVolumes[i].Destination < c.ImageVolumes[j].Destination })
	if c.Passwd != nil && *c.Passwd {
		c.Passwd = nil
	}
	return c
}

// specDiff names the top-level fields in which two specs differ.
func specDiff(got, want *specgen.SpecGenerator) string {
	g, w := normalised(got), normalised(want)
	gv, wv := reflect.ValueOf(g), reflect.ValueOf(w)
	var diffs []string
	var walk func(gv, wv reflect.Value)
	walk = func(gv, wv reflect.Value) {
		for i := 0; i < gv.NumField(); i++ {
			f := gv.Type().Field(i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				walk(gv.Field(i), wv.Field(i))
				continue
			}
			a, b := gv.Field(i).Interface(), wv.Field(i).Interface()
			if !reflect.DeepEqual(a, b) {
				diffs = append(diffs, fmt.Sprintf("%s: got %s, podman-remote %s", f.Name, show(gv.Field(i)), show(wv.Field(i))))
			}
		}
	}
	walk(gv, wv)
	return strings.Join(diffs, "\n")
}

func show(v reflect.Value) string {
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		return "&" + fmt.Sprintf("%+v", v.Elem().Interface())
	}
	return fmt.Sprintf("%+v", v.Interface())
}
