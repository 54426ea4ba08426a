# Build tags for podman's client libraries (see DESIGN.md): the remote
# client, OpenPGP in pure Go, and no btrfs/devicemapper C headers.
BUILDTAGS := remote,containers_image_openpgp,exclude_graphdriver_btrfs,exclude_graphdriver_devicemapper
GO ?= go
GOFLAGS_TAGS := -tags $(BUILDTAGS)

.PHONY: build test unit integration integration-podman5 integration-rootless integration-matrix bench-smoke vet clean

# sandwire looks for terok-bridge beside itself; the bridge is static
# and stdlib-only, since it runs inside arbitrary images.
build:
	$(GO) build $(GOFLAGS_TAGS) -o bin/sandwire ./cmd/sandwire
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o bin/terok-bridge ./cmd/terok-bridge

vet:
	$(GO) vet $(GOFLAGS_TAGS) ./...

# -race where the code runs concurrently (name locks, the token store, the
# bridge's copy loops, the Sandbox and its watch); the packages that only
# turn flags and edits into specs run without it, which spares more
# race-instrumented builds of podman's client libraries (minutes on a cold
# cache).
unit:
	$(GO) test $(GOFLAGS_TAGS) -race -cover ./wiring/... ./cmd/terok-bridge/... ./launch/...
	$(GO) test $(GOFLAGS_TAGS) -cover ./specmutate/... ./podmanflags/... ./podmanapi/... ./cmd/sandwire/...

# Integration tests start their own podman API service; they need root,
# podman, runc and busybox-static (hack/install-deps.sh installs them).
integration: build
	$(GO) test $(GOFLAGS_TAGS) -count=1 -timeout 30m ./integration/...

# The server matrix: the same suite against podman 5.8.2 as the server
# (hack/build-podman5.sh builds it; SANDWIRE_PODMAN5 names it).
integration-podman5: build
	@test -n "$$SANDWIRE_PODMAN5" || { echo "SANDWIRE_PODMAN5 is not set: run hack/build-podman5.sh" >&2; exit 1; }
	SANDWIRE_TEST_PODMAN="$$SANDWIRE_PODMAN5" $(GO) test $(GOFLAGS_TAGS) -count=1 -timeout 30m ./integration/...

# The rootless round: the same suite run by an unprivileged user against
# its own rootless podman service (needs root to set the user up).
integration-rootless:
	BUILDTAGS=$(BUILDTAGS) GO=$(GO) hack/test-rootless.sh

# The matrix's other two rounds run side by side, each with its own podman
# service: they wait on their services far more than they compute.
integration-matrix:
	$(MAKE) -k -j2 --output-sync=target integration-podman5 integration-rootless

# The benchmarks run in CI too, small, so that every round of BENCHMARKS.md
# keeps working: the numbers are read there, from full runs, never asserted
# here; the serve round still fails on an unwired or leaked container.
bench-smoke:
	@test -n "$$SANDWIRE_PODMAN5" || { echo "SANDWIRE_PODMAN5 is not set: run hack/build-podman5.sh" >&2; exit 1; }
	$(GO) run $(GOFLAGS_TAGS) ./integration/bench -n 3 -serve -requests 100 -streams 1 -clients 2 -per-client 3 \
		-servers podman,$$SANDWIRE_PODMAN5$${SANDWIRE_PODMAN_REMOTE5:+=$$SANDWIRE_PODMAN_REMOTE5} -out $${TMPDIR:-/tmp}/sandwire-bench-smoke.json

test: vet unit integration integration-matrix bench-smoke

clean:
	rm -rf bin
