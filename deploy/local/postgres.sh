#!/usr/bin/env bash
# Private, throwaway PostgreSQL cluster for local development and tests.
#
#   deploy/local/postgres.sh start|stop|status
#
# State lives in $STATE_DIR/pg (default <repo>/.local/pg); connection details
# are written to $STATE_DIR/pg.env. The Debian-managed cluster (pg_ctlcluster)
# is deliberately not used: it needs systemd/ports we do not control, and a
# private data dir can be thrown away with `rm -rf`.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
STATE_DIR="${STATE_DIR:-$REPO_ROOT/.local}"
# Absolute, because commands run from other directories (and as another user).
STATE_DIR="$(realpath -m "$STATE_DIR")"
PG_DIR="$STATE_DIR/pg"
PG_DATA="$PG_DIR/data"
PG_LOG="$PG_DIR/postgres.log"
PG_ENV="$STATE_DIR/pg.env"
PG_USER_OS=postgres

die() { echo "postgres.sh: $*" >&2; exit 1; }
log() { echo "postgres.sh: $*" >&2; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Run a command with root privileges (only needed for apt/useradd).
as_root() {
    if is_root; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run '$*' (not root and sudo is not available)"
    fi
}

# PostgreSQL refuses to run as root, so as root we drop to the postgres user.
as_pg() {
    if is_root; then
        # cd first: the postgres user may not be able to read root's cwd.
        (cd / && runuser -u "$PG_USER_OS" -- "$@")
    else
        "$@"
    fi
}

# Newest installed server binaries, e.g. /usr/lib/postgresql/15/bin (empty if none).
find_pg_bin() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        if [ -x "$d/postgres" ]; then echo "$d"; fi
    done | sort -V | tail -n 1
}

ensure_installed() {
    PG_BIN="$(find_pg_bin)"
    if [ -z "$PG_BIN" ]; then
        log "no PostgreSQL server found under /usr/lib/postgresql; installing it with apt"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update
        as_root env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y --no-install-recommends postgresql
        PG_BIN="$(find_pg_bin)"
        [ -n "$PG_BIN" ] || die "apt installed postgresql but no /usr/lib/postgresql/*/bin/postgres exists"
    fi
    if is_root && ! id -u "$PG_USER_OS" >/dev/null 2>&1; then
        # The Debian package normally creates this user; binaries may come from elsewhere.
        useradd --system --home-dir /var/lib/postgresql --shell /bin/bash "$PG_USER_OS"
    fi
}

# Port of the running postmaster (line 4 of postmaster.pid), empty if unknown.
running_port() {
    if [ -f "$PG_DATA/postmaster.pid" ]; then sed -n 4p "$PG_DATA/postmaster.pid"; fi
}

is_running() {
    [ -f "$PG_DATA/PG_VERSION" ] || return 1
    PG_BIN="${PG_BIN:-$(find_pg_bin)}"
    [ -n "$PG_BIN" ] || return 1
    as_pg "$PG_BIN/pg_ctl" status -D "$PG_DATA" >/dev/null 2>&1
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# SO_REUSEADDR as the postmaster sets it: connections of a cluster just
# stopped linger in TIME_WAIT on its port, which must not make a restart
# move to another port (its clients reconnect to the same URL).
port_is_free() {
    python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
EOF
}

# Explicit PG_PORT wins; otherwise reuse the previous port (stable URL across
# stop/start) if it is still free; otherwise a fresh free port.
choose_port() {
    local prev=""
    if [ -n "${PG_PORT:-}" ]; then
        echo "$PG_PORT"
        return
    fi
    if [ -f "$PG_ENV" ]; then
        prev="$(sed -n 's/^PG_PORT=//p' "$PG_ENV" | head -n 1)"
    fi
    if [ -n "$prev" ] && port_is_free "$prev"; then
        echo "$prev"
    else
        free_port
    fi
}

write_env() {
    local port="$1"
    mkdir -p "$STATE_DIR"
    cat >"$PG_ENV" <<EOF
PG_PORT=$port
PG_ADMIN_URL=postgresql://postgres@127.0.0.1:$port/postgres
EOF
    cat "$PG_ENV"
}

wait_ready() {
    local port="$1" i
    for i in $(seq 1 60); do
        if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres; then
            return 0
        fi
        [ "$i" -eq 60 ] || sleep 0.5
    done
    tail -n 50 "$PG_LOG" >&2 || true
    die "PostgreSQL on 127.0.0.1:$port did not become ready in 30 s (log: $PG_LOG)"
}

cmd_start() {
    ensure_installed
    mkdir -p "$PG_DIR"

    if is_root; then
        # postgres must be able to reach the state dir through every parent.
        if ! runuser -u "$PG_USER_OS" -- test -x "$STATE_DIR"; then
            die "user '$PG_USER_OS' cannot access $STATE_DIR (a parent directory is not searchable); set STATE_DIR elsewhere, e.g. /tmp/envbureau-state"
        fi
        chown -R "$PG_USER_OS": "$PG_DIR"
    fi

    if is_running; then
        local port
        port="$(running_port)"
        log "already running from $PG_DATA on port $port; reusing it"
        if [ -n "${PG_PORT:-}" ] && [ "$PG_PORT" != "$port" ]; then
            log "warning: PG_PORT=$PG_PORT ignored; stop the cluster first to change its port"
        fi
        wait_ready "$port"
        write_env "$port"
        return 0
    fi

    if [ ! -f "$PG_DATA/PG_VERSION" ]; then
        rm -rf "$PG_DATA"
        # trust auth: a loopback-only test cluster, no passwords to manage.
        as_pg "$PG_BIN/initdb" -D "$PG_DATA" -A trust -U postgres \
            --encoding=UTF8 --locale=C >"$PG_DIR/initdb.log" 2>&1 \
            || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
        # Our settings live in a separate file rewritten on every start.
        echo "include_if_exists = 'local.conf'" >>"$PG_DATA/postgresql.conf"
    fi

    local port
    port="$(choose_port)"
    # Durability is irrelevant for a test cluster; fsync & co. only slow tests.
    cat >"$PG_DATA/local.conf" <<EOF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_DIR'
max_connections = 300
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    if is_root; then
        chown "$PG_USER_OS": "$PG_DATA/local.conf"
    fi

    log "starting PostgreSQL ($PG_BIN) on 127.0.0.1:$port, data $PG_DATA"
    if ! as_pg "$PG_BIN/pg_ctl" start -w -t 60 -D "$PG_DATA" -l "$PG_LOG" >/dev/null; then
        tail -n 50 "$PG_LOG" >&2 || true
        die "pg_ctl start failed (log: $PG_LOG)"
    fi
    wait_ready "$port"
    write_env "$port"
}

cmd_stop() {
    if is_running; then
        as_pg "$PG_BIN/pg_ctl" stop -w -t 60 -m fast -D "$PG_DATA" >/dev/null \
            || log "pg_ctl stop reported an error"
        log "stopped"
    else
        log "not running"
    fi
    return 0
}

cmd_status() {
    if is_running; then
        echo "running (port $(running_port), data $PG_DATA)"
        return 0
    fi
    echo "not running"
    return 1
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *)
        echo "usage: $0 start|stop|status" >&2
        exit 2
        ;;
esac
