# ensure-bridges.sh: start the container-side bridges to the sandbox's host
# services. Source it (". /usr/local/share/terok-sandbox/bridges/ensure-bridges.sh")
# from POSIX sh or bash; it is driven by the TEROK_* environment variables.
# This version relays with socat when the image has it.

_terok_bridge() { # _terok_bridge LISTEN UPSTREAM
    command -v socat >/dev/null 2>&1 || {
        echo "terok bridges: socat not found; cannot start $1 -> $2" >&2
        return 1
    }
    socat "$1,reuseaddr,fork" "$2" </dev/null >/dev/null 2>&1 &
}

if [ -n "${TEROK_VAULT_SOCKET:-}" ]; then
    _terok_bridge "TCP-LISTEN:${TEROK_VAULT_LOOPBACK_PORT:-9419},bind=127.0.0.1" "UNIX-CONNECT:${TEROK_VAULT_SOCKET}"
elif [ -n "${TEROK_TOKEN_BROKER_PORT:-}" ]; then
    _terok_bridge "TCP-LISTEN:9419,bind=127.0.0.1" "TCP:host.containers.internal:${TEROK_TOKEN_BROKER_PORT}"
fi
if [ -n "${TEROK_GATE_SOCKET:-}" ]; then
    _terok_bridge "TCP-LISTEN:9418,bind=127.0.0.1" "UNIX-CONNECT:${TEROK_GATE_SOCKET}"
elif [ -n "${TEROK_GATE_PORT:-}" ]; then
    _terok_bridge "TCP-LISTEN:9418,bind=127.0.0.1" "TCP:host.containers.internal:${TEROK_GATE_PORT}"
fi
unset -f _terok_bridge
