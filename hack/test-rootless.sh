#!/usr/bin/env bash
# Runs the integration suite against a rootless podman service, the way a
# user without root runs sandwire: the test binary, sandwire and the
# sandbox's dirs all belong to an unprivileged user, who starts its own
# `podman system service` (Debian's podman, with slirp4netns).
#
# Run as root: it makes the user (SANDWIRE_ROOTLESS_USER, default
# sandwire-test) with subordinate ID ranges if it lacks them, builds the
# test binary, sandwire and terok-bridge as root (the user has no module
# cache), copies them where the user can read them, and runs the suite as
# the user. Whatever the user left running is killed at the end.
#
# Environment: BUILDTAGS (as the Makefile's), SANDWIRE_PODMAN5 (the
# differential test's reference client) and SANDWIRE_PODMAN_REMOTE5 (the
# serve tests' podman-remote), each copied for the user.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

user=${SANDWIRE_ROOTLESS_USER:-sandwire-test}
tags=${BUILDTAGS:-remote,containers_image_openpgp,exclude_graphdriver_btrfs,exclude_graphdriver_devicemapper}
go=${GO:-go}

if [ "$(id -u)" -ne 0 ]; then
    echo "test-rootless: run as root: it sets up the test user $user and runs the suite as it" >&2
    exit 1
fi

if ! id -u "$user" >/dev/null 2>&1; then
    useradd --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
fi

# A subordinate range of 65536 IDs after every range already given out,
# so that it overlaps no other user's.
add_range() { # file usermod-flag
    local file=$1 flag=$2 start
    grep -q "^$user:" "$file" 2>/dev/null && return 0
    start=$(awk -F: 'BEGIN { m = 200000 } NF == 3 && $2 + $3 > m { m = $2 + $3 } END { print m }' "$file" 2>/dev/null || echo 200000)
    usermod "$flag" "$start-$((start + 65535))" "$user"
}
add_range /etc/subuid --add-subuids
add_range /etc/subgid --add-subgids

# slirp4netns opens /dev/net/tun as the user; Debian makes it 0666, some
# container hosts do not.
if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
    echo "test-rootless: making /dev/net/tun usable by $user (mode 0666), as Debian's udev rules do"
    chmod 0666 /dev/net/tun
fi

# One round at a time: the end of a round kills every process of the user.
exec 9>/tmp/sandwire-rootless.lock
flock 9

work=$(mktemp -d /tmp/sandwire-rootless-XXXXXX)
# The user's temporary files stay in /tmp, as rootless podman wants its
# run root within 50 characters; what the tests did not remove (they
# remove what they make) goes with the user's processes.
cleanup() {
    pkill -KILL -u "$user" 2>/dev/null || true
    find /tmp -mindepth 1 -maxdepth 1 -user "$user" -exec rm -rf {} + 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/bin" "$work/src/integration" "$work/src/shield" "$work/home" "$work/run"
"$go" test -c -tags "$tags" -o "$work/src/integration/integration.test" ./integration
"$go" build -tags "$tags" -o "$work/bin/sandwire" ./cmd/sandwire
CGO_ENABLED=0 "$go" build -trimpath -ldflags='-s -w' -o "$work/bin/terok-bridge" ./cmd/terok-bridge
cp -r shield/testdata "$work/src/shield/"
if [ -n "${SANDWIRE_PODMAN5:-}" ]; then
    cp "$SANDWIRE_PODMAN5" "$work/bin/podman5"
fi
if [ -n "${SANDWIRE_PODMAN_REMOTE5:-}" ]; then
    cp "$SANDWIRE_PODMAN_REMOTE5" "$work/bin/podman-remote5"
fi
chown -R "$user:" "$work/home" "$work/run"
chmod 0700 "$work/run"
chmod -R a+rX "$work/bin" "$work/src"
chmod 0755 "$work"

goroot=$("$go" env GOROOT)
env=(
    PATH="$goroot/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    HOME="$work/home"
    USER="$user"
    LOGNAME="$user"
    XDG_RUNTIME_DIR="$work/run"
    SANDWIRE_TEST_BINDIR="$work/bin"
)
if [ -n "${SANDWIRE_PODMAN5:-}" ]; then
    env+=(SANDWIRE_PODMAN5="$work/bin/podman5")
fi
if [ -n "${SANDWIRE_PODMAN_REMOTE5:-}" ]; then
    env+=(SANDWIRE_PODMAN_REMOTE5="$work/bin/podman-remote5")
fi

cd "$work/src/integration"
echo "test-rootless: running the integration suite as $user ($(id -u "$user")) against a rootless podman service"
runuser -u "$user" -- env -i "${env[@]}" ./integration.test -test.count=1 -test.timeout=30m "$@"
