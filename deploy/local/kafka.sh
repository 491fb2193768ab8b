#!/usr/bin/env bash
# Single-node Kafka (KRaft, combined broker+controller) for local development
# and tests, run straight from Maven Central jars (no tarball download).
#
#   deploy/local/kafka.sh start|stop|status
#
# State lives in $STATE_DIR/kafka (default <repo>/.local/kafka); connection
# details are written to $STATE_DIR/kafka.env. A stop/start cycle keeps the
# same ports and data, so tests can simulate a broker outage; only a fresh
# state dir gets new ports and a new cluster id.
#
# Environment knobs: STATE_DIR, KAFKA_LIBS, KAFKA_PORT, CONTROLLER_PORT (fresh
# state only), KAFKA_HEAP, KAFKA_OPTS (extra JVM flags), KAFKA_LOG_LEVEL,
# KAFKA_START_TIMEOUT (seconds).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
STATE_DIR="${STATE_DIR:-$REPO_ROOT/.local}"
# Absolute, because commands run from other directories (and as another user).
STATE_DIR="$(realpath -m "$STATE_DIR")"
POM="$SCRIPT_DIR/kafka/pom.xml"

die() { echo "kafka.sh: $*" >&2; exit 1; }
log() { echo "kafka.sh: $*" >&2; }

# The pom is the single place the version is set.
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n 1)"
[ -n "$KAFKA_VERSION" ] || die "cannot read <kafka.version> from $POM"

KAFKA_LIBS="${KAFKA_LIBS:-${XDG_CACHE_HOME:-${HOME:?HOME is not set}/.cache}/envbureau/kafka-$KAFKA_VERSION/libs}"
KAFKA_DIR="$STATE_DIR/kafka"
DATA_DIR="$KAFKA_DIR/data"
PROPS="$KAFKA_DIR/server.properties"
LOG4J_CONF="$KAFKA_DIR/log4j2.xml"
LOG_FILE="$KAFKA_DIR/server.log"
PID_FILE="$KAFKA_DIR/kafka.pid"
KAFKA_ENV="$STATE_DIR/kafka.env"
KAFKA_HEAP="${KAFKA_HEAP:--Xmx512m -Xms256m}"
KAFKA_OPTS="${KAFKA_OPTS:-}"
KAFKA_LOG_LEVEL="${KAFKA_LOG_LEVEL:-WARN}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
# Logged by KafkaRaftServer once the broker is unfenced and serving clients.
STARTED_MARKER="Kafka Server started"

ensure_jars() {
    if compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null; then
        return 0
    fi
    command -v mvn >/dev/null 2>&1 || die "Kafka jars missing in $KAFKA_LIBS and mvn is not installed"
    log "fetching Kafka $KAFKA_VERSION jars from Maven into $KAFKA_LIBS (first run only)"
    mkdir -p "$(dirname "$KAFKA_LIBS")"
    # Copy into a temp dir and rename, so an interrupted download never
    # leaves a half-filled libs dir that later runs would take as cached.
    local tmp
    tmp="$(mktemp -d "$(dirname "$KAFKA_LIBS")/libs.tmp.XXXXXX")"
    # Output kept aside and shown only on failure: even with -q, Maven 3.8
    # prints stray ANSI resets to stdout, which would pollute our env output.
    if ! mvn -q -B -f "$POM" dependency:copy-dependencies \
        -DoutputDirectory="$tmp" -DincludeScope=runtime >"$tmp.mvn.log" 2>&1; then
        cat "$tmp.mvn.log" >&2
        rm -rf "$tmp" "$tmp.mvn.log"
        die "mvn dependency:copy-dependencies failed"
    fi
    rm -f "$tmp.mvn.log"
    rm -rf "$KAFKA_LIBS"
    mv "$tmp" "$KAFKA_LIBS"
}

# True for a live (non-zombie) process.
pid_alive() {
    local pid="$1" state
    kill -0 "$pid" 2>/dev/null || return 1
    state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
    [ "$state" != "Z" ]
}

# PID of our broker, empty if not running. Checks the command line so a
# recycled PID is not mistaken for the broker.
running_pid() {
    local pid
    [ -f "$PID_FILE" ] || return 0
    pid="$(cat "$PID_FILE")"
    [ -n "$pid" ] || return 0
    if pid_alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -F "kafka.Kafka $PROPS" >/dev/null; then
        echo "$pid"
    fi
}

# Two distinct free loopback ports, bound at the same time so they differ.
free_ports() {
    python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
'
}

env_value() {
    sed -n "s/^$1=//p" "$KAFKA_ENV" | head -n 1
}

# Sets KAFKA_PORT/CONTROLLER_PORT. A formatted data dir keeps its ports: the
# controller endpoint is recorded in the KRaft voter set at format time, and
# clients expect the same bootstrap address after a restart.
choose_ports() {
    if [ -f "$DATA_DIR/meta.properties" ]; then
        [ -f "$KAFKA_ENV" ] || die "$DATA_DIR is formatted but $KAFKA_ENV is missing; remove $KAFKA_DIR to start fresh"
        local kp cp
        kp="$(env_value KAFKA_PORT)"
        cp="$(env_value CONTROLLER_PORT)"
        if [ -z "$kp" ] || [ -z "$cp" ]; then
            die "$KAFKA_ENV lacks KAFKA_PORT/CONTROLLER_PORT; remove $KAFKA_DIR to start fresh"
        fi
        if [ -n "${KAFKA_PORT:-}" ] && [ "$KAFKA_PORT" != "$kp" ]; then
            die "KAFKA_PORT=$KAFKA_PORT but $STATE_DIR already uses $kp; unset it or remove $KAFKA_DIR"
        fi
        if [ -n "${CONTROLLER_PORT:-}" ] && [ "$CONTROLLER_PORT" != "$cp" ]; then
            die "CONTROLLER_PORT=$CONTROLLER_PORT but $STATE_DIR already uses $cp; unset it or remove $KAFKA_DIR"
        fi
        KAFKA_PORT="$kp"
        CONTROLLER_PORT="$cp"
        return 0
    fi
    local picked
    read -r -a picked <<<"$(free_ports)"
    KAFKA_PORT="${KAFKA_PORT:-${picked[0]}}"
    CONTROLLER_PORT="${CONTROLLER_PORT:-${picked[1]}}"
    [ "$KAFKA_PORT" != "$CONTROLLER_PORT" ] || die "KAFKA_PORT and CONTROLLER_PORT must differ"
}

write_config() {
    # Dynamic quorum (controller.quorum.bootstrap.servers + format
    # --standalone) is what Kafka 4.x expects; controller.quorum.voters is the
    # legacy static form and cannot be combined with --standalone.
    # CONTROLLER is advertised too, as in upstream's 4.x server.properties:
    # the dynamic quorum publishes the controller's advertised endpoint.
    cat >"$PROPS" <<EOF
# Generated by deploy/local/kafka.sh on every start; edits are overwritten.
node.id=1
process.roles=broker,controller
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
controller.quorum.bootstrap.servers=127.0.0.1:$CONTROLLER_PORT
log.dirs=$DATA_DIR
num.partitions=3
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
EOF

    # Console -> stdout, which nohup appends to server.log: one writer, and
    # JVM-level errors land in the same file. The broker logger stays at INFO
    # so the readiness check can see the started line.
    cat >"$LOG4J_CONF" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by deploy/local/kafka.sh -->
<Configuration status="warn">
  <Appenders>
    <Console name="stdout" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="$KAFKA_LOG_LEVEL">
      <AppenderRef ref="stdout"/>
    </Root>
    <Logger name="kafka.server.KafkaRaftServer" level="INFO"/>
  </Loggers>
</Configuration>
EOF
}

format_storage() {
    [ -f "$DATA_DIR/meta.properties" ] && return 0
    local cluster_id
    rm -rf "$DATA_DIR"
    cluster_id="$("$JAVA" -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool random-uuid)"
    log "formatting $DATA_DIR (cluster id $cluster_id)"
    if ! "$JAVA" -Dlog4j2.configurationFile="$LOG4J_CONF" -cp "$KAFKA_LIBS/*" \
        kafka.tools.StorageTool format --config "$PROPS" --cluster-id "$cluster_id" \
        --standalone >>"$LOG_FILE" 2>&1; then
        tail -n 30 "$LOG_FILE" >&2 || true
        rm -rf "$DATA_DIR"
        die "storage format failed (log: $LOG_FILE)"
    fi
}

write_env() {
    cat >"$KAFKA_ENV" <<EOF
KAFKA_PORT=$KAFKA_PORT
CONTROLLER_PORT=$CONTROLLER_PORT
KAFKA_BOOTSTRAP=127.0.0.1:$KAFKA_PORT
EOF
    cat "$KAFKA_ENV"
}

port_accepts() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Ready = port accepts AND this run logged the started line (the port alone
# opens before the broker has caught up with its metadata).
wait_ready() {
    local pid="$1" offset="$2" deadline=$((SECONDS + KAFKA_START_TIMEOUT))
    while :; do
        if ! pid_alive "$pid"; then
            tail -n 50 "$LOG_FILE" >&2 || true
            rm -f "$PID_FILE"
            die "broker exited during startup (log: $LOG_FILE)"
        fi
        if port_accepts "$KAFKA_PORT" &&
            tail -c "+$((offset + 1))" "$LOG_FILE" | grep -F "$STARTED_MARKER" >/dev/null; then
            return 0
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 50 "$LOG_FILE" >&2 || true
            log "broker not ready after ${KAFKA_START_TIMEOUT}s; stopping it"
            cmd_stop
            die "startup timed out (log: $LOG_FILE)"
        fi
        sleep 0.5
    done
}

cmd_start() {
    local pid
    pid="$(running_pid)"
    if [ -n "$pid" ]; then
        log "already running (pid $pid); reusing it"
        cat "$KAFKA_ENV"
        return 0
    fi

    command -v "$JAVA" >/dev/null 2>&1 || die "java not found (Kafka $KAFKA_VERSION needs Java 17+)"
    ensure_jars
    mkdir -p "$KAFKA_DIR"
    choose_ports
    write_config
    format_storage

    local heap opts offset
    read -r -a heap <<<"$KAFKA_HEAP"
    read -r -a opts <<<"$KAFKA_OPTS"
    offset="$(stat -c %s "$LOG_FILE" 2>/dev/null || echo 0)"
    log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT (controller $CONTROLLER_PORT), data $DATA_DIR"
    # GC flags as in upstream kafka-run-class.sh. stdin/stdout/stderr are all
    # redirected so callers capturing our output are not held open.
    nohup "$JAVA" "${heap[@]}" \
        -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
        -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$LOG4J_CONF" -Dlog4j2.shutdownHookEnabled=false \
        ${opts[@]+"${opts[@]}"} \
        -cp "$KAFKA_LIBS/*" kafka.Kafka "$PROPS" \
        </dev/null >>"$LOG_FILE" 2>&1 &
    pid=$!
    echo "$pid" >"$PID_FILE"
    wait_ready "$pid" "$offset"
    log "ready (pid $pid)"
    write_env
}

cmd_stop() {
    local pid i
    pid="$(running_pid)"
    if [ -z "$pid" ]; then
        log "not running"
        rm -f "$PID_FILE"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    # Controlled shutdown normally takes a few seconds; SIGKILL after 30 s.
    for i in $(seq 1 60); do
        pid_alive "$pid" || break
        [ "$i" -eq 60 ] || sleep 0.5
    done
    if pid_alive "$pid"; then
        log "still running after 30 s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for i in $(seq 1 20); do
            pid_alive "$pid" || break
            sleep 0.25
        done
    fi
    rm -f "$PID_FILE"
    log "stopped"
    return 0
}

cmd_status() {
    local pid
    pid="$(running_pid)"
    if [ -n "$pid" ]; then
        echo "running (pid $pid, $(grep '^KAFKA_BOOTSTRAP=' "$KAFKA_ENV" 2>/dev/null || echo 'bootstrap unknown'))"
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
