package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/containers/podman/v5/pkg/domain/entities"
	"github.com/sandwire/sandwire/podmanflags"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Shell completion: cobra's `sandwire completion bash|zsh|fish|powershell`
// writes the script; these functions answer it.

// completeWiredNames completes the names of wired containers (those with
// sandbox state, from Sandbox.List), for start and cleanup.
func (g *globals) completeWiredNames(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	sb, err := g.sandbox()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer sb.Close()
	entries, err := sb.List(cmd.Context())
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name, toComplete) && !slices.Contains(args, e.Name) {
			names = append(names, fmt.Sprintf("%s\tcontainer %s", e.Name, e.Container))
		}
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// completePassthrough completes a launching verb's arguments: nothing for
// NAME, and after "--" podman's own run or create flags and, where
// podman's flag definition carries a completion function that works in
// this client, their values.
func completePassthrough(mode podmanflags.Mode) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		dash := cmd.ArgsLenAtDash()
		if dash < 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var vals entities.ContainerCreateOptions
		var run podmanflags.RunOptions
		podman := podmanflags.NewFlagSet(mode, &vals, &run)
		return completePodmanArgs(podman, args[dash:], toComplete)
	}
}

// completePodmanArgs completes toComplete after the podman arguments
// before it: a flag's value when the last of them is a flag that takes
// one, a flag name when toComplete starts with "-", else what follows the
// flags (IMAGE, COMMAND): files, as the shell would.
func completePodmanArgs(podman *cobra.Command, before []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	flags := podman.Flags()
	if len(before) > 0 {
		if f := valueFlag(flags, before[len(before)-1]); f != nil {
			return completeValue(podman, f, before, toComplete)
		}
	}
	if name, value, ok := strings.Cut(toComplete, "="); ok && strings.HasPrefix(name, "--") {
		if f := flags.Lookup(strings.TrimPrefix(name, "--")); f != nil {
			values, dir := completeValue(podman, f, before, value)
			for i := range values {
				values[i] = name + "=" + values[i]
			}
			return values, dir
		}
	}
	if strings.HasPrefix(toComplete, "-") {
		return flagNames(flags, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
	return nil, cobra.ShellCompDirectiveDefault
}

// valueFlag is the flag arg names when it takes a value that is not in
// arg itself ("--env", "-e"; not "--env=A", not "--rm").
func valueFlag(flags *pflag.FlagSet, arg string) *pflag.Flag {
	var f *pflag.Flag
	switch {
	case strings.Contains(arg, "="):
		return nil
	case strings.HasPrefix(arg, "--"):
		f = flags.Lookup(arg[2:])
	case strings.HasPrefix(arg, "-") && len(arg) == 2:
		f = flags.ShorthandLookup(arg[1:])
	}
	if f == nil || f.NoOptDefVal != "" {
		return nil
	}
	return f
}

// completeValue asks the completion function podman registered for f.
// Those that need podman's engine (containers, networks, images on the
// server) cannot run in this client and panic or fail: the shell's
// default completion stands in for them.
func completeValue(podman *cobra.Command, f *pflag.Flag, before []string, toComplete string) (values []string, dir cobra.ShellCompDirective) {
	fn, ok := podman.GetFlagCompletionFunc(f.Name)
	if !ok {
		return nil, cobra.ShellCompDirectiveDefault
	}
	defer func() {
		if recover() != nil {
			values, dir = nil, cobra.ShellCompDirectiveDefault
		}
	}()
	values, dir = fn(podman, before, toComplete)
	if dir == cobra.ShellCompDirectiveError {
		return nil, cobra.ShellCompDirectiveDefault
	}
	return values, dir
}

// flagNames are the visible flags whose names start with prefix, with
// their usage as the description.
func flagNames(flags *pflag.FlagSet, prefix string) []string {
	var names []string
	flags.VisitAll(func(f *pflag.Flag) {
		if f.Hidden || f.Deprecated != "" {
			return
		}
		usage := strings.SplitN(f.Usage, "\n", 2)[0]
		if long := "--" + f.Name; strings.HasPrefix(long, prefix) {
			names = append(names, long+"\t"+usage)
		}
		if short := "-" + f.Shorthand; f.Shorthand != "" && strings.HasPrefix(short, prefix) && prefix != "--" {
			names = append(names, short+"\t"+usage)
		}
	})
	return names
}
