#!/usr/bin/env bash
# `make run-kafka`: the distributed mode on one machine. The same private
# PostgreSQL and Kafka broker the tests use, one database per service, and the
# four services as four processes on ports 8001-8004. Ctrl-C stops the
# services; the servers are stopped too unless KEEP_SERVERS=1.
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
  DATABASE_URL="postgresql+asyncpg://postgres@127.0.0.1:$PG_PORT/$svc" \
  EVENT_TRANSPORT="kafka://$KAFKA_BOOTSTRAP" \
  PORT=$port LOG_JSON=true \
    .venv/bin/python -m "${svc}_svc" >"$STATE_DIR/$svc-svc.log" 2>&1 &
  pids+=($!)
  echo "$svc-svc: http://127.0.0.1:$port/$svc/docs (log: $STATE_DIR/$svc-svc.log)"
  port=$((port + 1))
done
echo "PostgreSQL: $PG_ADMIN_URL   Kafka: $KAFKA_BOOTSTRAP"
echo "Get a token: make token ROLE=officer DISTRICT=120119"
wait -n "${pids[@]}"
echo "a service exited; see its log under $STATE_DIR" >&2
exit 1
