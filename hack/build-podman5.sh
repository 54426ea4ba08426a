#!/usr/bin/env bash
# Builds podman 5.8.2 from the Go module proxy, once, into a cache dir, and
# prints its path. A scratch module of its own keeps podman's server
# dependencies out of sandwire's go.mod. Needs Debian's libseccomp-dev and
# pkg-config (hack/install-deps.sh installs them). About 2 minutes cold.
#
# With the argument "remote" it builds and prints podman-remote instead:
# the client-only build (tag remote, no cgo) that hosts with only a podman
# socket run, about 1 minute more.
set -euo pipefail
version=5.8.2
cache=${SANDWIRE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sandwire}
case "${1:-}" in
"") name=podman tags="seccomp containers_image_openpgp exclude_graphdriver_btrfs exclude_graphdriver_devicemapper" cgo=1 ;;
remote) name=podman-remote tags="remote containers_image_openpgp exclude_graphdriver_btrfs exclude_graphdriver_devicemapper" cgo=0 ;;
*) echo "usage: $0 [remote]" >&2; exit 2 ;;
esac
out=$cache/podman-$version/$name
if [ -x "$out" ] && "$out" --version 2>/dev/null | grep -q "$version"; then
    echo "$out"
    exit 0
fi
src=$cache/podman-$version/src
mkdir -p "$src"
cd "$src"
[ -f go.mod ] || go mod init podman5 >/dev/null 2>&1
go get "github.com/containers/podman/v5@v$version" github.com/seccomp/libseccomp-golang@v0.11.1 >/dev/null 2>&1
CGO_ENABLED=$cgo GOFLAGS=-mod=mod go build -tags "$tags" -o "$out.tmp" github.com/containers/podman/v5/cmd/podman
mv "$out.tmp" "$out"
echo "$out"
