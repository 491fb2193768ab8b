#!/usr/bin/env bash
# Create the bureau's topics (deploy/kafka/topics.yaml) with the stock Kafka
# tools, from a broker host or any machine with a Kafka distribution:
#
#   BOOTSTRAP=broker-1:9092 deploy/kafka/create-topics.sh
#   BOOTSTRAP=broker-1:9093 COMMAND_CONFIG=/etc/kafka/admin.properties deploy/kafka/create-topics.sh
#
# Idempotent: an existing topic is left as it is (--if-not-exists) and its
# config is set again to the values below; its partition count is never
# changed (raise it deliberately with kafka-topics.sh --alter).
#
# Environment: BOOTSTRAP (default localhost:9092), KAFKA_BIN (directory of
# kafka-topics.sh and kafka-configs.sh; default: found on PATH or
# /opt/kafka/bin), COMMAND_CONFIG (client properties for TLS/SASL),
# REPLICATION_FACTOR (default 3) and MIN_INSYNC_REPLICAS (default 2); a
# one-broker dev cluster needs both set to 1.
set -euo pipefail

BOOTSTRAP="${BOOTSTRAP:-localhost:9092}"
REPLICATION_FACTOR="${REPLICATION_FACTOR:-3}"
MIN_INSYNC_REPLICAS="${MIN_INSYNC_REPLICAS:-2}"
DAY_MS=86400000

# name partitions retention_days -- keep in step with topics.yaml (a test checks).
TOPICS=(
  "permit.events 6 30"
  "quota.events 6 30"
  "eia.events 6 30"
  "supervision.events 6 30"
  "permit.events.dlq 3 90"
  "quota.events.dlq 3 90"
  "eia.events.dlq 3 90"
  "supervision.events.dlq 3 90"
)

die() { echo "create-topics.sh: $*" >&2; exit 1; }

if [ -z "${KAFKA_BIN:-}" ]; then
  if command -v kafka-topics.sh >/dev/null 2>&1; then
    KAFKA_BIN="$(dirname "$(command -v kafka-topics.sh)")"
  else
    KAFKA_BIN=/opt/kafka/bin
  fi
fi
[ -x "$KAFKA_BIN/kafka-topics.sh" ] || die "no kafka-topics.sh in $KAFKA_BIN (set KAFKA_BIN)"
[ "$MIN_INSYNC_REPLICAS" -le "$REPLICATION_FACTOR" ] \
  || die "MIN_INSYNC_REPLICAS ($MIN_INSYNC_REPLICAS) > REPLICATION_FACTOR ($REPLICATION_FACTOR): acks=all producers could never write"

client=(--bootstrap-server "$BOOTSTRAP")
if [ -n "${COMMAND_CONFIG:-}" ]; then
  client+=(--command-config "$COMMAND_CONFIG")
fi

for spec in "${TOPICS[@]}"; do
  read -r name partitions days <<<"$spec"
  configs="min.insync.replicas=$MIN_INSYNC_REPLICAS,retention.ms=$((days * DAY_MS)),cleanup.policy=delete"
  echo "== $name: $partitions partitions, replication factor $REPLICATION_FACTOR, $configs"
  "$KAFKA_BIN/kafka-topics.sh" "${client[@]}" --create --if-not-exists \
    --topic "$name" --partitions "$partitions" --replication-factor "$REPLICATION_FACTOR" \
    --config "min.insync.replicas=$MIN_INSYNC_REPLICAS" \
    --config "retention.ms=$((days * DAY_MS))" \
    --config cleanup.policy=delete
  # The topic may have existed already: converge its config too.
  "$KAFKA_BIN/kafka-configs.sh" "${client[@]}" --alter \
    --entity-type topics --entity-name "$name" --add-config "$configs"
done

"$KAFKA_BIN/kafka-topics.sh" "${client[@]}" --describe --topic '(permit|quota|eia|supervision)\.events(\.dlq)?'
