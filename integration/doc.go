// Package integration tests sandwire against a real podman API service.
//
// TestMain starts one private podman service for the whole package (see
// podmantest) and builds the sandwire binary once; each test gets its own
// state, runtime and vault dirs and an empty configuration file, so the
// machine's sandbox state and configuration are never read or written.
//
// # Running
//
// As root, with podman, runc and busybox-static installed
// (hack/install-deps.sh):
//
//	make integration
//
// A missing prerequisite fails the run; it is never skipped.
package integration
