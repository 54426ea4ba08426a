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
# (dbus-daemon, gnome-keyring, secret-tool). Idempotent and
# quiet: when all is installed it does nothing, not even apt-get update.
# Needs root for apt. Go itself is not installed here: the machine's Go
# (/usr/local/go) is used.
set -euo pipefail

packages=(podman runc conmon systemd netavark iptables busybox-static uidmap slirp4netns procps docker-registry make ca-certificates libseccomp-dev pkg-config
    dbus-daemon gnome-keyring libsecret-tools)

missing=()
for p in "${packages[@]}"; do
    if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing ${missing[*]}; run as root to install them" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq -o Dpkg::Use-Pty=0 "${missing[@]}" >/dev/null
