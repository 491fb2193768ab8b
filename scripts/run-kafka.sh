#!/usr/bin/env bash
# `make run-kafka`: the distributed mode on one machine. The same private
# PostgreSQL and Kafka broker the tests use, one database per service, the
# four services as four processes and the console: by default permit 8001,
# quota 8002, eia 8003, supervision 8004, console 8005. Ctrl-C stops them;
# the servers are stopped too unless KEEP_SERVERS=1.
#
# Ports: PORT_BASE=9001 moves the five to 9001-9005 (in that order); one may
# be set alone with PERMIT_PORT, QUOTA_PORT, EIA_PORT, SUPERVISION_PORT or
# CONSOLE_PORT. A port another process listens on is refused before anything
# starts. `scripts/run-kafka.sh --check` says which ports would be used and
# whether they are free, and starts nothing.
#
# The distributed mode refuses the public development JWT secret: a secret of
# this machine's own is made once and kept in $STATE_DIR/jwt-secret (or
# JWT_SECRET is used when exported). `make token` needs the same:
#   JWT_SECRET=$(cat .local/jwt-secret) make token ROLE=officer DISTRICT=120119
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

die() { echo "run-kafka: $*" >&2; exit 2; }

check_only=0
case "${1:-}" in
  "") ;;
  --check) check_only=1 ;;
  -h | --help) sed -n '2,17s/^# \{0,1\}//p' "$0"; exit 0 ;;
  *) die "unknown argument '$1' (--check or --help)" ;;
esac
[ $# -le 1 ] || die "one argument at most (--check or --help)"

# The ports, checked before anything starts: a number, in range, five
# different ones, and none another process listens on (the services would
# start, fail to bind one, and take the others down after the servers).
base=${PORT_BASE:-8001}
[[ $base =~ ^[0-9]{1,5}$ ]] || die "PORT_BASE='$base' is not a port number"
names=(permit quota eia supervision console)
declare -A port_of
i=0
for name in "${names[@]}"; do
  var="${name^^}_PORT"
  value=${!var:-$((10#$base + i))}
  [[ $value =~ ^[0-9]{1,5}$ ]] || die "$var='$value' is not a port number"
  value=$((10#$value))
  ((value >= 1024 && value <= 65535)) ||
    die "$name would be on port $value: ports 1024-65535 only (PORT_BASE=$base, $var)"
  port_of[$name]=$value
  i=$((i + 1))
done
for a in "${names[@]}"; do
  for b in "${names[@]}"; do
    if [ "$a" \< "$b" ] && [ "${port_of[$a]}" = "${port_of[$b]}" ]; then
      die "$a and $b would both be on port ${port_of[$a]}"
    fi
  done
done
host=${HOST:-127.0.0.1}
taken=()
for name in "${names[@]}"; do
  # Binding (not connecting) finds a listener on any address of the port.
  # SO_REUSEADDR as uvicorn binds: a port a stopped service left in
  # TIME_WAIT is free to it, and only a listener makes the bind fail.
  if ! python3 -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(1)' "$host" "${port_of[$name]}"; then
    taken+=("${port_of[$name]} ($name)")
  fi
done
if [ ${#taken[@]} -gt 0 ]; then
  die "port(s) in use on $host: ${taken[*]}; stop what holds them or choose others with PORT_BASE=… (see --help)"
fi
for name in "${names[@]}"; do echo "$name: ${port_of[$name]}"; done
[ "$check_only" = 0 ] || exit 0

scripts/bootstrap.sh

export STATE_DIR=${STATE_DIR:-$root/.local}
deploy/local/postgres.sh start >/dev/null
deploy/local/kafka.sh start >/dev/null
# shellcheck disable=SC1091
source "$STATE_DIR/pg.env"
# shellcheck disable=SC1091
source "$STATE_DIR/kafka.env"

.venv/bin/python - "$PG_ADMIN_URL" <<'PY'
import asyncio, sys
import asyncpg

async def main(admin: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        for name in ("permit", "quota", "eia", "supervision"):
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname=$1", name):
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()

asyncio.run(main(sys.argv[1]))
PY

if [ -z "${JWT_SECRET:-}" ]; then
  secret_file="$STATE_DIR/jwt-secret"
  if [ ! -s "$secret_file" ]; then
    (umask 077; .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(32))" >"$secret_file")
  fi
  JWT_SECRET=$(cat "$secret_file")
fi
export JWT_SECRET
SESSION_SECRET=${SESSION_SECRET:-$(.venv/bin/python -c "import secrets; print(secrets.token_urlsafe(32))")}
export SESSION_SECRET

pids=()
stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait || true
  if [ "${KEEP_SERVERS:-0}" != 1 ]; then
    deploy/local/kafka.sh stop || true
    deploy/local/postgres.sh stop || true
  fi
}
trap stop EXIT INT TERM

console_url=http://127.0.0.1:${port_of[console]}
for svc in permit quota eia supervision; do
  port=${port_of[$svc]}
  extra=()
  [ "$svc" = eia ] && extra=(PUBLIC_URL="$console_url")
  env DATABASE_URL="postgresql+asyncpg://postgres@127.0.0.1:$PG_PORT/$svc" \
    EVENT_TRANSPORT="kafka://$KAFKA_BOOTSTRAP" \
    PORT=$port LOG_JSON=true "${extra[@]}" \
    .venv/bin/python -m "${svc}_svc" >"$STATE_DIR/$svc-svc.log" 2>&1 &
  pids+=($!)
  echo "$svc-svc: http://127.0.0.1:$port/$svc/docs (log: $STATE_DIR/$svc-svc.log)"
done
PERMIT_URL=http://127.0.0.1:${port_of[permit]} QUOTA_URL=http://127.0.0.1:${port_of[quota]} \
  EIA_URL=http://127.0.0.1:${port_of[eia]} SUPERVISION_URL=http://127.0.0.1:${port_of[supervision]} \
  DEV_LOGIN=true PUBLIC_URL="$console_url" PORT=${port_of[console]} LOG_JSON=true \
  .venv/bin/python -m console >"$STATE_DIR/console.log" 2>&1 &
pids+=($!)
echo "console:   $console_url/console/ (log: $STATE_DIR/console.log)"
echo "PostgreSQL: $PG_ADMIN_URL   Kafka: $KAFKA_BOOTSTRAP"
echo "Get a token: JWT_SECRET=\$(cat $STATE_DIR/jwt-secret) make token ROLE=officer DISTRICT=120119"
echo "Demo data:  JWT_SECRET=\$(cat $STATE_DIR/jwt-secret) PERMIT_URL=http://127.0.0.1:${port_of[permit]} \\"
echo "            QUOTA_URL=http://127.0.0.1:${port_of[quota]} EIA_URL=http://127.0.0.1:${port_of[eia]} .venv/bin/bureau demo"
wait -n "${pids[@]}"
echo "a service exited; see its log under $STATE_DIR" >&2
exit 1
