// Package specmutate applies the sandbox's edits to a podman container
// spec, and refuses a spec that touches what the sandbox owns.
//
// It is the only package that writes to a *specgen.SpecGenerator.
//
// # Ownership
//
// The sandbox owns, on every spec it wires: the container name, the
// network namespace, the user namespace and ID mappings, capabilities
// (added or dropped), the terok.* annotations and labels, every TEROK_* environment
// variable, every mount, volume, overlay, image volume or secret whose
// destination is the bridges dir, /run/terok or below, and the
// isolation settings (privileged mode, security options). Conflicts lists
// every way a spec touches those, all at once; Apply refuses such a spec
// and leaves it unchanged.
//
// # Idempotence
//
// Apply replaces mounts by destination and environment variables,
// annotations and labels by key, so applying the same edits twice yields the same
// spec as applying them once.
//
// # Example
//
//	spec := specgen.NewSpecGenerator("localhost/app:latest", false)
//	if err := specmutate.Apply(spec, launch.Edits); err != nil {
//		var conflict *specmutate.ConflictError
//		if errors.As(err, &conflict) {
//			// report conflict.Conflicts to the user
//		}
//	}
package specmutate
