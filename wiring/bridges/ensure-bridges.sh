# ensure-bridges.sh: start the container-side bridges to the sandbox's host
# services, unless they already run. Source it, never execute it:
#
#     . /usr/local/share/terok-sandbox/bridges/ensure-bridges.sh
#
# from POSIX sh (busybox ash, dash) or bash. It relays with terok-bridge,
# the static program beside it (no socat needed), and is driven by the
# TEROK_* environment variables the sandbox sets:
#
#   vault    tcp:127.0.0.1:9419 -> unix:$TEROK_VAULT_SOCKET (socket mode), or
#            -> tcp:HOST:$TEROK_TOKEN_BROKER_PORT (tcp mode), which also gets a
#            local unix socket, exported as TEROK_VAULT_SOCKET if that is unset
#   gate     tcp:127.0.0.1:9418 -> unix:$TEROK_GATE_SOCKET or tcp:HOST:$TEROK_GATE_PORT
#   ssh      unix:$state/ssh-agent.sock -> unix:$TEROK_SSH_SIGNER_SOCKET or
#            tcp:HOST:$TEROK_SSH_SIGNER_PORT, with the TEROK_SSH_SIGNER_TOKEN
#            handshake; exported as SSH_AUTH_SOCK
#
# HOST is $TEROK_HOST_ALIAS, by default host.containers.internal. The
# loopback ports can be moved with TEROK_VAULT_LOOPBACK_PORT and
# TEROK_GATE_LOOPBACK_PORT, the resources dir with TEROK_BRIDGES_DIR.
#
# $state is ${XDG_RUNTIME_DIR:-/tmp}/terok-bridges-<uid> (mode 0700). It holds
# a pidfile and a log (the bridge's stderr) per bridge. A bridge counts as
# running when its pidfile names a live terok-bridge process listening on
# the bridge's address; otherwise it is (re)started. Sourcing the script
# again starts nothing new.
#
# Since it runs in the user's shell, it sets no shell options, never exits,
# leaves no helper functions or variables behind, and returns 0: a bridge
# that does not start gets a one-line warning on stderr.

# _terok_br_running PID LISTEN: is PID a live terok-bridge listening on LISTEN?
_terok_br_running() {
    case ${1:-x} in *[!0-9]*) return 1 ;; esac
    kill -0 "$1" 2>/dev/null || return 1
    # A zombie's or a reused PID's command line does not match.
    case " $(command tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") " in
        *terok-bridge*" $2 "*) return 0 ;;
    esac
    return 1
}

# _terok_br_alive NAME LISTEN: does the pidfile of NAME name a running bridge?
_terok_br_alive() {
    _terok_br_pid=
    { read -r _terok_br_pid <"$_terok_br_state/$1.pid"; } 2>/dev/null
    _terok_br_running "$_terok_br_pid" "$2"
}

# _terok_br_spawn LOG LISTEN UPSTREAM [TOKEN_VAR]: start a detached bridge and
# print its PID. Run it in a command substitution: that returns once the
# bridge closes its stdout, i.e. once it listens or has failed.
_terok_br_spawn() {
    _terok_br_log=$1
    if [ -n "${4:-}" ]; then
        set -- --token-env "$4" "$2" "$3"
    else
        set -- "$2" "$3"
    fi
    trap '' HUP INT
    "$_terok_br_bin" "$@" </dev/null 2>>"$_terok_br_log" &
    printf '%s\n' "$!"
}

# _terok_br_ensure NAME LISTEN UPSTREAM [TOKEN_VAR]: make sure the bridge
# NAME runs; warn and return 1 if it cannot be started.
_terok_br_ensure() {
    _terok_br_alive "$1" "$2" && return 0
    _terok_br_pid=$(_terok_br_spawn "$_terok_br_state/$1.log" "$2" "$3" "${4:-}")
    if _terok_br_running "$_terok_br_pid" "$2"; then
        { printf '%s\n' "$_terok_br_pid" >|"$_terok_br_state/$1.pid"; } 2>/dev/null
        return 0
    fi
    # Another shell may have started the same bridge a moment ago.
    _terok_br_alive "$1" "$2" && return 0
    printf 'terok bridges: %s (%s -> %s) did not start: %s\n' "$1" "$2" "$3" \
        "$(command tail -n 1 "$_terok_br_state/$1.log" 2>/dev/null)" >&2
    return 1
}

# _terok_br_mkstate DIR: create DIR (0700) or check that the one there is ours.
_terok_br_mkstate() {
    [ -d "$1" ] || command mkdir -m 700 "$1" 2>/dev/null
    [ -d "$1" ] && [ ! -L "$1" ] && [ -O "$1" ] && command chmod 700 "$1" 2>/dev/null
}

_terok_br_main() {
    _terok_br_bin=${TEROK_BRIDGES_DIR:-/usr/local/share/terok-sandbox/bridges}/terok-bridge
    _terok_br_host=${TEROK_HOST_ALIAS:-host.containers.internal}
    case $_terok_br_host in *:*) _terok_br_host="[$_terok_br_host]" ;; esac
    _terok_br_base=${XDG_RUNTIME_DIR:-/tmp}
    [ -d "$_terok_br_base" ] && [ -w "$_terok_br_base" ] || _terok_br_base=/tmp
    _terok_br_state=$_terok_br_base/terok-bridges-$(command id -u 2>/dev/null)

    [ -n "${TEROK_VAULT_SOCKET:-}${TEROK_TOKEN_BROKER_PORT:-}${TEROK_GATE_SOCKET:-}${TEROK_GATE_PORT:-}${TEROK_SSH_SIGNER_TOKEN:-}" ] ||
        return 0
    if [ ! -x "$_terok_br_bin" ]; then
        printf 'terok bridges: %s is missing; no bridges started\n' "$_terok_br_bin" >&2
        return 0
    fi
    if ! _terok_br_mkstate "$_terok_br_state"; then
        printf 'terok bridges: cannot use %s as the state dir; no bridges started\n' "$_terok_br_state" >&2
        return 0
    fi

    # Vault. In tcp mode this script exports TEROK_VAULT_SOCKET itself, so a
    # shell that sourced it before passes that on: it still means tcp mode.
    _terok_br_vault=tcp:127.0.0.1:${TEROK_VAULT_LOOPBACK_PORT:-9419}
    if [ -n "${TEROK_TOKEN_BROKER_PORT:-}" ] &&
        { [ -z "${TEROK_VAULT_SOCKET:-}" ] || [ "$TEROK_VAULT_SOCKET" = "$_terok_br_state/vault.sock" ]; }; then
        _terok_br_up=tcp:$_terok_br_host:$TEROK_TOKEN_BROKER_PORT
        _terok_br_ensure vault "$_terok_br_vault" "$_terok_br_up"
        if _terok_br_ensure vault-socket "unix:$_terok_br_state/vault.sock" "$_terok_br_up" &&
            [ -z "${TEROK_VAULT_SOCKET:-}" ]; then
            export TEROK_VAULT_SOCKET="$_terok_br_state/vault.sock"
        fi
    elif [ -n "${TEROK_VAULT_SOCKET:-}" ]; then
        _terok_br_ensure vault "$_terok_br_vault" "unix:$TEROK_VAULT_SOCKET"
    fi

    # Gate.
    _terok_br_gate=tcp:127.0.0.1:${TEROK_GATE_LOOPBACK_PORT:-9418}
    if [ -n "${TEROK_GATE_SOCKET:-}" ]; then
        _terok_br_ensure gate "$_terok_br_gate" "unix:$TEROK_GATE_SOCKET"
    elif [ -n "${TEROK_GATE_PORT:-}" ]; then
        _terok_br_ensure gate "$_terok_br_gate" "tcp:$_terok_br_host:$TEROK_GATE_PORT"
    fi

    # SSH agent, through the signer.
    if [ -n "${TEROK_SSH_SIGNER_TOKEN:-}" ]; then
        if [ -n "${TEROK_SSH_SIGNER_SOCKET:-}" ]; then
            _terok_br_up=unix:$TEROK_SSH_SIGNER_SOCKET
        elif [ -n "${TEROK_SSH_SIGNER_PORT:-}" ]; then
            _terok_br_up=tcp:$_terok_br_host:$TEROK_SSH_SIGNER_PORT
        else
            printf 'terok bridges: TEROK_SSH_SIGNER_TOKEN is set but neither TEROK_SSH_SIGNER_SOCKET nor TEROK_SSH_SIGNER_PORT; no SSH agent\n' >&2
            return 0
        fi
        if _terok_br_ensure ssh-agent "unix:$_terok_br_state/ssh-agent.sock" "$_terok_br_up" TEROK_SSH_SIGNER_TOKEN; then
            export SSH_AUTH_SOCK="$_terok_br_state/ssh-agent.sock"
        fi
    fi
    return 0
}

_terok_br_main || :
unset -f _terok_br_running _terok_br_alive _terok_br_spawn _terok_br_ensure _terok_br_mkstate _terok_br_main
unset _terok_br_pid _terok_br_log _terok_br_bin _terok_br_host _terok_br_base _terok_br_state \
    _terok_br_vault _terok_br_gate _terok_br_up
:
