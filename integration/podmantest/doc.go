// Package podmantest runs a private podman API service for tests: its own
// storage, run root, temporary dir and socket in one temporary directory,
// and a busybox image imported from the host's busybox-static, so tests
// need neither a public registry nor the machine's own podman state. For
// the pull tests it also runs a private registry (Registry: Debian's
// docker-registry on 127.0.0.1, plain HTTP, storage in a temporary dir).
//
// # Prerequisites
//
// podman, runc and a statically linked /bin/busybox (Debian's podman, runc
// and busybox-static; hack/install-deps.sh installs them). Run as root,
// the service is rootful; run as an unprivileged user, it is rootless, and
// the user also needs newuidmap/newgidmap (uidmap), subordinate ID ranges
// in /etc/subuid and /etc/subgid, slirp4netns and XDG_RUNTIME_DIR
// (hack/test-rootless.sh sets up such a user and runs the suite as it).
// CheckPrerequisites says which one is missing. A harness that cannot run
// is an error, never a skip: a skipped integration test must not pass.
//
// # Example
//
//	func TestMain(m *testing.M) {
//		svc, err := podmantest.New()
//		if err != nil {
//			fmt.Fprintln(os.Stderr, "FAIL:", err)
//			os.Exit(1)
//		}
//		code := m.Run()
//		if err := svc.Stop(); err != nil && code == 0 {
//			code = 1
//		}
//		os.Exit(code)
//	}
package podmantest
