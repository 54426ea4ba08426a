#!/usr/bin/env bash
# Shows sandwire's main job against a private podman service, as root on
# Debian 12: builds sandwire, starts `podman system service` in a temporary
# dir (as the integration tests' harness does), makes a busybox image,
# prints the flags `sandwire prepare` gives, creates a wired container with
# `sandwire create`, starts it and shows what it sees, then removes the
# container, runs `sandwire cleanup` and stops the service. It leaves
# nothing running and nothing on disk, also when a step fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD

hack/install-deps.sh
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
    export PATH="$PATH:/usr/local/go/bin"
fi
make -s build
sandwire="$repo/bin/sandwire"

demo=$(mktemp -d /tmp/sandwire-demo.XXXXXX)
socket="$demo/podman.sock"
url="unix://$socket"
image=localhost/sandwire-demo:latest
name=demo-box
service_pid=

step() { printf '\n== %s\n' "$*"; }
# Tokens are secrets: never print one.
redact() { sed -E 's/terok-([gp])-[0-9a-f]{32}/terok-\1-<redacted>/g'; }

# podman on the demo's own storage, run dir, configuration and socket.
export CONTAINERS_CONF="$demo/containers.conf"
unset CONTAINER_HOST CONTAINER_CONNECTION
podman_local() { podman --root "$demo/root" --runroot "$demo/runroot" --storage-driver vfs "$@"; }
podman_remote() { podman --remote --url "$url" "$@"; }

# The sandbox's host state lives in the demo dir too, and a configuration
# file of its own keeps the machine's from being read. The vault (terok's
# encrypted credentials DB, made on first use) takes its passphrase from a
# file of the demo's through terok's passphrase_command; the OS keyring is
# left out of it.
export SANDWIRE_CONFIG="$demo/sandwire.toml"
export TEROK_SANDBOX_STATE_DIR="$demo/state"
export TEROK_SANDBOX_RUNTIME_DIR="$demo/rt"
export TEROK_VAULT_DIR="$demo/vault"
(umask 077 && head -c 24 /dev/urandom | base64 >"$demo/vault-passphrase")
printf 'credentials_use_keyring = false\ncredentials_passphrase_command = "cat %s/vault-passphrase"\n' "$demo" >"$SANDWIRE_CONFIG"

cleanup() {
    local status=$?
    set +e
    step "cleaning up"
    if [ -n "$service_pid" ]; then
        podman_local rm --all --force --time 0 >/dev/null 2>&1
        "$sandwire" --url "$url" cleanup "$name" >/dev/null 2>&1
        kill -TERM -- "-$service_pid" 2>/dev/null
        for _ in $(seq 1 50); do
            kill -0 "$service_pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL -- "-$service_pid" 2>/dev/null
        wait "$service_pid" 2>/dev/null
    fi
    # conmon monitors run in sessions of their own: end any that still
    # name the demo dir, by PID.
    for cmdline in /proc/[0-9]*/cmdline; do
        pid=${cmdline#/proc/}
        pid=${pid%/cmdline}
        [ "$pid" = $$ ] && continue
        if { tr '\0' ' ' <"$cmdline"; } 2>/dev/null | grep -qF -- "$demo/"; then
            kill -KILL "$pid" 2>/dev/null
        fi
    done
    grep -F -- " $demo/" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do
        umount -l "$m"
    done
    rm -rf "$demo"
    echo "removed $demo; no service or container left"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "a private podman service in $demo"
cat >"$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$demo/tmp"
hooks_dir = ["$demo/hooks.d"]
EOF
mkdir -p "$demo/hooks.d" "$demo/rootfs/bin"
cp /bin/busybox "$demo/rootfs/bin/busybox"
for applet in sh cat ls env echo sleep id grep touch mount test true false sort; do
    ln -s busybox "$demo/rootfs/bin/$applet"
done
mkdir -p "$demo/rootfs/"{etc,tmp,proc,sys,dev,run}
tar -C "$demo/rootfs" -cf "$demo/busybox.tar" .
podman_local import --quiet --change 'CMD ["/bin/sh"]' "$demo/busybox.tar" "$image" >/dev/null
rm -rf "$demo/rootfs" "$demo/busybox.tar"
setsid podman --root "$demo/root" --runroot "$demo/runroot" --storage-driver vfs \
    system service --time=0 "$url" >"$demo/service.log" 2>&1 &
service_pid=$!
for _ in $(seq 1 150); do
    podman_remote version >/dev/null 2>&1 && break
    if ! kill -0 "$service_pid" 2>/dev/null; then
        echo "the podman service exited:" >&2
        cat "$demo/service.log" >&2
        exit 1
    fi
    sleep 0.2
done
podman_remote version --format 'podman service {{.Server.Version}} at '"$url"

step "sandwire prepare --scope demo --no-shield $name  (flags for your own podman run)"
"$sandwire" --url "$url" prepare --scope demo --no-shield "$name" | redact
echo "-- prepare laid down the sandbox state; cleanup removes it again:"
"$sandwire" --url "$url" cleanup "$name"

step "sandwire create --scope demo --no-shield $name -- $image sleep 300"
id=$("$sandwire" --url "$url" create --scope demo --no-shield "$name" -- "$image" sleep 300)
echo "created container $id"
podman_remote start "$name" >/dev/null
podman_remote ps --filter "name=$name" --format '{{.Names}}  {{.Status}}  {{.Command}}'

step "its TEROK_* environment, from inside (tokens redacted)"
podman_local exec "$name" env | grep '^TEROK_' | sort | redact

step "its sandbox mounts, from inside: read-only"
podman_local exec "$name" grep -E ' (/run/terok|/usr/local/share/terok-sandbox/bridges) ' /proc/mounts
podman_local exec "$name" touch /run/terok/probe 2>&1 || true

sidecar=$(podman_remote inspect --format '{{index .Config.Annotations "terok.sandbox.sidecar"}}' "$name")
step "its sidecar, named by the annotation terok.sandbox.sidecar: $sidecar"
ls -l "$sidecar"
redact <"$sidecar"

step "removing the container, then sandwire cleanup $name"
podman_remote rm --force --time 0 "$name" >/dev/null
"$sandwire" --url "$url" cleanup "$name"
for p in "$TEROK_SANDBOX_STATE_DIR/sidecar/$name.json" "$TEROK_SANDBOX_STATE_DIR/sandbox/runs/$name" \
    "$TEROK_SANDBOX_RUNTIME_DIR/run/$name"; do
    if [ -e "$p" ]; then
        echo "left behind: $p" >&2
        exit 1
    fi
done
echo "no sidecar, run state or runtime dir of $name is left"
echo "the vault's first bytes, encrypted (a plaintext file starts \"SQLite format 3\"):$(od -An -tx1 -N16 "$TEROK_VAULT_DIR/credentials.db")"
