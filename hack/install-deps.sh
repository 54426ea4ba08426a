#!/usr/bin/env bash
# Installs what sandwire's integration tests and demo need on Debian 12:
# podman with runc (crun fails on this kernel's hybrid cgroups), conmon,
# netavark and iptables for the default bridge network, busybox-static for
# the test image (the tests check that /bin/busybox is static), uidmap and
# slirp4netns for rootless podman, procps for the rootless round's pkill,
# systemd for systemd-socket-activate, which plays systemd in serve's
# socket-activation test (no systemd runs as init here), docker-registry
# for the pull tests' registry on 127.0.0.1 (the package
# enables no service here: the tests start their own), libseccomp-dev and
# pkg-config to build podman 5.8.2, and for the vault's OS keyring tier a
# Secret Service that runs headless in a private D-Bus session
# (dbus-daemon, gnome-keyring, secret-tool).
#
# The serve tests point real clients at `sandwire serve`: Debian's
# docker-compose (1.29.2) and the docker CLI of Debian's docker.io
# (/usr/bin/docker, client 20.10). Debian ships that CLI only together with
# the engine, so docker.io also brings dockerd and containerd, which must
# never run here: a Docker engine rewrites iptables and would sit beside
# the podman services the tests start. They are installed with a
# policy-rc.d that forbids every service start (exit 101, which
# invoke-rc.d and deb-systemd-invoke obey; an existing policy-rc.d is put
# back afterwards) and without their recommends (apparmor, needrestart,
# cgroupfs-mount: services and apt hooks the tests do not want), their units
# are masked so that no boot or socket starts them, and the script fails if
# a dockerd or containerd runs afterwards.
#
# Idempotent and quiet: when all is installed it does nothing, not even
# apt-get update. Needs root for apt. Go itself is not installed here: the
# machine's Go (/usr/local/go) is used.
set -euo pipefail

packages=(podman runc conmon systemd netavark iptables busybox-static uidmap slirp4netns procps docker-registry make ca-certificates libseccomp-dev pkg-config
    dbus-daemon gnome-keyring libsecret-tools)
# The real clients of the serve tests, installed without recommends.
clients=(docker.io docker-compose)
# The units of docker.io and its containerd, none of which may start.
engine_units=(docker.service docker.socket containerd.service)

not_installed() { # package...
    local p
    for p; do
        if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
            echo "$p"
        fi
    done
}
mapfile -t missing < <(not_installed "${packages[@]}")
mapfile -t missing_clients < <(not_installed "${clients[@]}")
all=("${missing[@]}" "${missing_clients[@]}")
[ ${#all[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing ${all[*]}; run as root to install them" >&2
    exit 1
fi
echo "install-deps: installing ${all[*]}"

# No package may start a service while it is installed.
policy=/usr/sbin/policy-rc.d
saved=""
if [ -e "$policy" ] || [ -L "$policy" ]; then
    saved=$(mktemp /usr/sbin/policy-rc.d.sandwire-XXXXXX)
    mv -f "$policy" "$saved"
fi
log=$(mktemp)
restore() {
    rm -f "$policy" "$log"
    if [ -n "$saved" ]; then mv -f "$saved" "$policy"; fi
}
trap restore EXIT
printf '#!/bin/sh\n# install-deps.sh: no service starts while packages are installed.\nexit 101\n' >"$policy"
chmod 0755 "$policy"

# apt's output is shown only when it fails (the package scripts talk on
# stderr: symlinks made, starts denied).
apt_get() {
    if ! apt-get -qq -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=300 "$@" >"$log" 2>&1; then
        cat "$log" >&2
        echo "install-deps: apt-get $* failed" >&2
        exit 1
    fi
}
export DEBIAN_FRONTEND=noninteractive
apt_get update
if [ ${#missing[@]} -gt 0 ]; then
    apt_get install -y "${missing[@]}"
fi
if [ ${#missing_clients[@]} -gt 0 ]; then
    apt_get install -y --no-install-recommends "${missing_clients[@]}"
    # Masked, the engine's units start neither at boot nor on a socket.
    systemctl mask --quiet "${engine_units[@]}"
fi

for daemon in dockerd containerd; do
    if pgrep -x "$daemon" >/dev/null; then
        echo "install-deps: $daemon runs after the install (pid $(pgrep -d, -x "$daemon")); stop it: the tests need no Docker engine, and it rewrites iptables" >&2
        exit 1
    fi
done
