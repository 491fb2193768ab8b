#!/usr/bin/env bash
# `make run-kafka`: the distributed mode on one machine. The same private
# PostgreSQL and Kafka broker the tests use, one database per service, the
# four services as four processes on ports 8001-8004 and the console on
# 8005. Ctrl-C stops them; the servers are stopped too unless KEEP_SERVERS=1.
#
# The distributed mode refuses the public development JWT secret: a secret of
# this machine's own is made once and kept in $STATE_DIR/jwt-secret (or
# JWT_SECRET is used when exported). `make token` needs the same:
#   JWT_SECRET=$(cat .local/jwt-secret) make token ROLE=officer DISTRICT=120119
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
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

port=8001
for svc in permit quota eia supervision; do
  extra=()
  [ "$svc" = eia ] && extra=(PUBLIC_URL=http://127.0.0.1:8005)
  env DATABASE_URL="postgresql+asyncpg://postgres@127.0.0.1:$PG_PORT/$svc" \
    EVENT_TRANSPORT="kafka://$KAFKA_BOOTSTRAP" \
    PORT=$port LOG_JSON=true "${extra[@]}" \
    .venv/bin/python -m "${svc}_svc" >"$STATE_DIR/$svc-svc.log" 2>&1 &
  pids+=($!)
  echo "$svc-svc: http://127.0.0.1:$port/$svc/docs (log: $STATE_DIR/$svc-svc.log)"
  port=$((port + 1))
done
PERMIT_URL=http://127.0.0.1:8001 QUOTA_URL=http://127.0.0.1:8002 EIA_URL=http://127.0.0.1:8003 \
  DEV_LOGIN=true PUBLIC_URL=http://127.0.0.1:8005 PORT=8005 LOG_JSON=true \
  .venv/bin/python -m console >"$STATE_DIR/console.log" 2>&1 &
pids+=($!)
echo "console:   http://127.0.0.1:8005/console/ (log: $STATE_DIR/console.log)"
echo "PostgreSQL: $PG_ADMIN_URL   Kafka: $KAFKA_BOOTSTRAP"
echo "Get a token: JWT_SECRET=\$(cat $STATE_DIR/jwt-secret) make token ROLE=officer DISTRICT=120119"
echo "Demo data:  JWT_SECRET=\$(cat $STATE_DIR/jwt-secret) PERMIT_URL=http://127.0.0.1:8001 \\"
echo "            QUOTA_URL=http://127.0.0.1:8002 EIA_URL=http://127.0.0.1:8003 .venv/bin/bureau demo"
wait -n "${pids[@]}"
echo "a service exited; see its log under $STATE_DIR" >&2
exit 1
