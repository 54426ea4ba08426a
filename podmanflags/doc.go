// Package podmanflags turns a `podman run` or `podman create` argument
// list into a container spec exactly as podman-remote does, using podman's
// own flag definitions and specgenutil.FillOutSpecGen, and holds the front
// end's flag policy: the flags a user's passthrough may never carry
// because the sandbox owns what they set.
//
// # The two gates
//
// CheckPolicy is gate 1: it reads the raw arguments, before anything is
// parsed, and refuses the sandbox-managed flags in every spelling (long,
// alias, --flag=value), volume targets at the sandbox's paths, labels in
// its terok.* namespace (--label, -l, and the contents of --label-file),
// and the isolation-weakening --privileged and --security-opt. Gate 2 is
// specmutate.Conflicts, on the parsed spec; it catches what flag names miss.
//
// # Example
//
//	if err := podmanflags.CheckPolicy(args); err != nil {
//		return err // *PolicyError, every offending flag named
//	}
//	parsed, err := podmanflags.Parse(args, podmanflags.Run)
package podmanflags
