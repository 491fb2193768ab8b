#!/usr/bin/env bash
# `make bench`: start PostgreSQL (and Kafka for the saga latency), run every
# bench/*.py script, print their figures. Summaries live in bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/bootstrap.sh
export STATE_DIR=${STATE_DIR:-$(mktemp -d /tmp/envbureau-bench.XXXXXX)}
chmod 755 "$STATE_DIR"
cleanup() {
  "$root/deploy/local/kafka.sh" stop || true
  "$root/deploy/local/postgres.sh" stop || true
}
trap cleanup EXIT INT TERM
deploy/local/postgres.sh start >/dev/null
deploy/local/kafka.sh start >/dev/null
# shellcheck disable=SC1091
source "$STATE_DIR/pg.env"
# shellcheck disable=SC1091
source "$STATE_DIR/kafka.env"
export TEST_PG_ADMIN_URL="$PG_ADMIN_URL" TEST_KAFKA_BOOTSTRAP="$KAFKA_BOOTSTRAP"
for script in bench/*.py; do
  echo "== $script"
  .venv/bin/python "$script"
done
