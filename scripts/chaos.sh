#!/usr/bin/env bash
# `make chaos`: start a private PostgreSQL and Kafka (as `make test` does),
# run the chaos suite against them (python -m bureau.chaos; sizes are
# CHAOS_* settings, see docs/RELIABILITY.md), and stop both servers whatever
# the outcome. CHAOS_RUNS=3 runs it three times in a row on the same servers,
# each run with its own databases and service processes.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/bootstrap.sh

STATE_DIR=$(mktemp -d /tmp/envbureau-chaos.XXXXXX)
chmod 755 "$STATE_DIR"  # the postgres OS user runs the cluster inside it
export STATE_DIR
cleanup() {
  local rc=$?
  "$root/deploy/local/kafka.sh" stop || true
  "$root/deploy/local/postgres.sh" stop || true
  rm -rf "$STATE_DIR"
  exit $rc
}
trap cleanup EXIT INT TERM

echo "== starting PostgreSQL and Kafka"
deploy/local/postgres.sh start >/dev/null
deploy/local/kafka.sh start >/dev/null
# shellcheck disable=SC1091
source "$STATE_DIR/pg.env"
# shellcheck disable=SC1091
source "$STATE_DIR/kafka.env"
export PG_ADMIN_URL KAFKA_BOOTSTRAP
export KAFKA_CTL="$root/deploy/local/kafka.sh"
export PG_CTL="$root/deploy/local/postgres.sh"
export CHAOS_PROFILE=${CHAOS_PROFILE:-full}

runs=${CHAOS_RUNS:-1}
[ -z "${CHAOS_REPORT_DIR:-}" ] || mkdir -p "$CHAOS_REPORT_DIR"
for i in $(seq 1 "$runs"); do
  echo "== chaos run $i of $runs ($CHAOS_PROFILE)"
  work=$(mktemp -d /tmp/envbureau-chaos-run.XXXXXX)
  CHAOS_WORK_DIR="$work" CHAOS_REPORT="${CHAOS_REPORT_DIR:-$work}/chaos-report-$i.json" \
    .venv/bin/python -m bureau.chaos
done
