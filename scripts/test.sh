#!/usr/bin/env bash
# `make test`: lint and type-check, start a private PostgreSQL and a real
# Kafka broker (KRaft) on free loopback ports, run every test against them,
# and stop both servers whatever the outcome.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/bootstrap.sh

echo "== ruff and mypy"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy libs/common/src services/permit-svc/src services/quota-svc/src \
  services/eia-svc/src services/supervision-svc/src services/console/src \
  sim/src src

# Debian packages the tests drive: Chromium and a Chinese font (browser tests;
# never a browser Playwright downloads), shellcheck, promtool.
scripts/test-deps.sh

STATE_DIR=$(mktemp -d /tmp/envbureau-test.XXXXXX)
chmod 755 "$STATE_DIR"  # the postgres OS user runs the cluster inside it
export STATE_DIR
# The tests' own files (SQLite databases, uploads, browser profiles) go on a
# RAM filesystem when there is one with room: on a disk, SQLite's syncs cost
# a test several times its CPU, and nothing here must outlive the run.
SCRATCH_DIR=""
if [ -d /dev/shm ] && [ -w /dev/shm ] \
  && [ "$(df -Pk /dev/shm | awk 'NR == 2 { print $4 }')" -ge "${SCRATCH_MIN_KB:-4194304}" ]; then
  SCRATCH_DIR=$(mktemp -d /dev/shm/envbureau-test.XXXXXX)
fi
cleanup() {
  local rc=$?
  "$root/deploy/local/kafka.sh" stop || true
  "$root/deploy/local/postgres.sh" stop || true
  rm -rf "$STATE_DIR"
  if [ -n "$SCRATCH_DIR" ]; then rm -rf "$SCRATCH_DIR"; fi
  exit $rc
}
trap cleanup EXIT INT TERM

echo "== starting PostgreSQL and Kafka"
deploy/local/postgres.sh start
deploy/local/kafka.sh start
# shellcheck disable=SC1091
source "$STATE_DIR/pg.env"
# shellcheck disable=SC1091
source "$STATE_DIR/kafka.env"
export TEST_PG_ADMIN_URL="$PG_ADMIN_URL"
export TEST_KAFKA_BOOTSTRAP="$KAFKA_BOOTSTRAP"
export KAFKA_CTL="$root/deploy/local/kafka.sh"
export PG_CTL="$root/deploy/local/postgres.sh"
export REQUIRE_SERVERS=1

echo "== the official AsyncAPI parser (npm, pinned)"
ASYNCAPI_PARSER_DIR=$(scripts/asyncapi-parser.sh)
export ASYNCAPI_PARSER_DIR

echo "== tests"
# The run starts hundreds of Python processes (services, the CLI, workers):
# each reuses the compiled modules of this tree, and pytest its rewritten
# test modules, instead of compiling them again (__pycache__ is ignored by git).
unset PYTHONDONTWRITEBYTECODE
if [ -n "$SCRATCH_DIR" ]; then
  # pytest's tmp_path, and every temporary file of the tests and what they
  # start, under it (the servers above keep theirs in STATE_DIR).
  export TMPDIR="$SCRATCH_DIR"
  echo "test files in $SCRATCH_DIR (RAM)"
fi
if [ $# -gt 0 ]; then
  # A selection of one's own runs as given (add -n 2 for two workers).
  .venv/bin/pytest -q -p no:cacheprovider "$@"
else
  # Two workers (pytest-xdist): most tests wait on PostgreSQL, Chromium or a
  # process they started, so two share this 2-CPU machine well. The tests
  # that use Kafka run after them, one at a time, with those marked serial:
  # the services they start share topics and consumer groups, and some stop
  # the broker or restart PostgreSQL. The 30 slowest are listed, to see
  # where the run's time goes.
  rc=0
  .venv/bin/pytest -q -p no:cacheprovider -n "${TEST_WORKERS:-2}" --durations=30 \
    -m "not kafka and not serial" || rc=$?
  .venv/bin/pytest -q -p no:cacheprovider -m "kafka or serial" || rc=$?
  exit "$rc"
fi
