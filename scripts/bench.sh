#!/usr/bin/env bash
# `make bench`: start PostgreSQL (and Kafka for the saga latency), run every
# bench/*.py script, print their figures. Summaries live in bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/bootstrap.sh
# A state directory of its own (PostgreSQL's and Kafka's data, some 350 MB
# after a run) is removed at the end; one given in STATE_DIR is kept.
own_state=
if [ -z "${STATE_DIR:-}" ]; then
  STATE_DIR=$(mktemp -d /tmp/envbureau-bench.XXXXXX)
  own_state=1
fi
export STATE_DIR
chmod 755 "$STATE_DIR"  # the postgres OS user runs the cluster inside it
cleanup() {
  "$root/deploy/local/kafka.sh" stop || true
  "$root/deploy/local/postgres.sh" stop || true
  if [ -n "$own_state" ]; then
    rm -rf "$STATE_DIR"
  fi
}
trap cleanup EXIT
# Interrupted (Ctrl-C, or a SIGTERM from CI or a supervisor): the running
# script is stopped first, which stops the servers it started (its SIGTERM
# ends it as a KeyboardInterrupt would: bench/measure.py, stop_on_sigterm),
# then PostgreSQL and Kafka (cleanup). It runs in the background so that
# this shell's handler runs at once, not when the script would have ended.
child=
interrupted() {
  trap - INT TERM
  if [ -n "$child" ]; then
    kill -TERM "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  exit 143
}
trap interrupted INT TERM
deploy/local/postgres.sh start >/dev/null
deploy/local/kafka.sh start >/dev/null
# shellcheck disable=SC1091
source "$STATE_DIR/pg.env"
# shellcheck disable=SC1091
source "$STATE_DIR/kafka.env"
export TEST_PG_ADMIN_URL="$PG_ADMIN_URL" TEST_KAFKA_BOOTSTRAP="$KAFKA_BOOTSTRAP"
# The load generator is Debian's wrk (compiled, so the client's CPU does not
# decide the result).
if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "make bench needs wrk (apt-get install -y wrk, as root)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
# Each script prints its figures, then its aims and verdicts. Not here:
# bench/measure.py (their shared helpers), bench/profile_quota.py (a tool).
run() {
  echo "== $*"
  .venv/bin/python "$@" &
  child=$!
  wait "$child"
  child=
}
# First what this machine is like now (its Python's speed, PostgreSQL's
# commits): the aims in milliseconds move with it.
run bench/machine_speed.py
run bench/quota_reservations.py --replicas 1,2,3 --impls c
run bench/quota_reservations.py --replicas 1 --impls unbatched,python
# Beyond the one-transaction limit: four times the connections on one pool.
run bench/quota_reservations.py --replicas 1,2 --clients 64
run bench/saga_latency.py
run bench/eia_bulk.py
run bench/permit_import.py
run bench/quota_pair_cpu.py
run bench/read_request.py
run bench/observability_overhead.py
