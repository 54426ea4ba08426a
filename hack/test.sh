#!/usr/bin/env bash
# Passes sandwire's tests on a fresh Debian 12 machine, as root: installs
# the dependencies, downloads the Go modules, then runs `make test` (vet,
# unit tests with -race, and the integration tests against a private
# podman service they start themselves). Exits non-zero on any failure;
# make -k runs every target even after one failed, so all results show.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

hack/install-deps.sh

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
    export PATH="$PATH:/usr/local/go/bin"
fi
if ! command -v go >/dev/null 2>&1; then
    echo "test: go is not installed (expected in PATH or /usr/local/go/bin)" >&2
    exit 1
fi

go mod download
# podman-remote 5.8.2, the reference the differential test compares with.
SANDWIRE_PODMAN5=$(hack/build-podman5.sh)
export SANDWIRE_PODMAN5
# podman-remote 5.8.2, the client build: the serve tests' and the bench's client of the 5.8.2 service.
SANDWIRE_PODMAN_REMOTE5=$(hack/build-podman5.sh remote)
export SANDWIRE_PODMAN_REMOTE5
make -k test
