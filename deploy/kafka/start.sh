#!/usr/bin/env bash
# Start a single-node Apache Kafka broker (KRaft, broker+controller in one JVM) on 127.0.0.1,
# and return only once it answers. Idempotent: a broker already running is left alone.
#
# Needs only Java 17+ and Maven (the jars come from Maven Central into lib/ on first use).
#
# Environment (all optional):
#   KAFKA_PORT             client (PLAINTEXT) port                      default 9092
#   KAFKA_CONTROLLER_PORT  KRaft controller port                        default 9093
#   KAFKA_DATA_DIR         state: kraft/ (topic data), logs/, pid file  default <this dir>/data
#   KAFKA_CLUSTER_ID       cluster id used when formatting storage      default fixed below
#   KAFKA_HEAP_OPTS        JVM heap                                     default -Xms256m -Xmx512m
#   KAFKA_START_TIMEOUT    seconds to wait for the broker to answer     default 90
#   JAVA_HOME              Java to use (else `java` on PATH)
set -euo pipefail

log_tag="kafka start"
# shellcheck source=../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"
here="$repo/deploy/kafka"
cd "$here"

port="${KAFKA_PORT:-9092}"
controller_port="${KAFKA_CONTROLLER_PORT:-9093}"
data_dir="${KAFKA_DATA_DIR:-$here/data}"
cluster_id="${KAFKA_CLUSTER_ID:-wF0dAWpVSfehSJRhgtj2XA}"
heap_opts="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
timeout="${KAFKA_START_TIMEOUT:-90}"
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"

mkdir -p "$data_dir"
data_dir="$(cd "$data_dir" && pwd)"
log_dir="$data_dir/logs"
kraft_dir="$data_dir/kraft"
pid_file="$data_dir/kafka.pid"
out_file="$log_dir/kafka.out"
config="$data_dir/server.effective.properties"
client_config="$data_dir/check-client.properties"
mkdir -p "$log_dir"

show_logs() { show_tail 40 "$out_file" "$log_dir/server.log"; }
broker_pattern='kafka\.Kafka'

broker_answers() {
    # Lists topics with Kafka's own TopicCommand: succeeds only when the broker serves metadata.
    # (Bounded: the admin client retries for up to default.api.timeout.ms.)
    timeout 20 "$java" -Xmx128m -cp "$here/lib/*" -Dlog4j2.level=ERROR \
        org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$port" \
        --command-config "$client_config" --list >/dev/null 2>&1
}

# --- Java ---------------------------------------------------------------------------------------
if ! command -v "$java" >/dev/null 2>&1; then
    die "java not found (install Java 17+ or set JAVA_HOME)"
fi
java_major="$("$java" -XshowSettings:properties -version 2>&1 |
    sed -n 's/^ *java\.specification\.version = //p' | cut -d. -f1)"
if [[ -z "$java_major" || "$java_major" -lt 17 ]]; then
    die "Kafka 4.x needs Java 17+, found '${java_major:-unknown}' at $(command -v "$java")"
fi

# --- Jars from Maven Central (once; again whenever pom.xml changes) -----------------------------
pom_sum="$(sha256sum pom.xml | cut -d' ' -f1)"
if [[ ! -f lib/.complete || "$(cat lib/.complete)" != "$pom_sum" ]]; then
    command -v mvn >/dev/null 2>&1 || die "mvn not found: needed once to fetch lib/"
    log "fetching the broker's jars with Maven into $here/lib ..."
    rm -rf lib
    t0=$SECONDS
    mvn -B -f pom.xml dependency:copy-dependencies >"$log_dir/mvn.out" 2>&1 || {
        log "Maven failed to fetch the jars:"
        tail -n 40 "$log_dir/mvn.out" >&2
        exit 1
    }
    echo "$pom_sum" >lib/.complete
    log "jars fetched in $((SECONDS - t0)) s ($(find lib -name '*.jar' | wc -l) jars)"
fi

# --- Effective configuration --------------------------------------------------------------------
{
    cat server.properties
    printf '\n# ---- written by start.sh (these win: last value of a key counts) ----\n'
    printf 'listeners=PLAINTEXT://127.0.0.1:%s,CONTROLLER://127.0.0.1:%s\n' "$port" "$controller_port"
    printf 'advertised.listeners=PLAINTEXT://127.0.0.1:%s,CONTROLLER://127.0.0.1:%s\n' "$port" "$controller_port"
    printf 'controller.quorum.bootstrap.servers=127.0.0.1:%s\n' "$controller_port"
    printf 'log.dirs=%s\n' "$kraft_dir"
} >"$config.tmp"
mv "$config.tmp" "$config"
printf 'request.timeout.ms=5000\ndefault.api.timeout.ms=10000\n' >"$client_config"

# --- Already running? ---------------------------------------------------------------------------
if pid="$(pid_of "$pid_file" "$broker_pattern")"; then
    if broker_answers; then
        log "already running (pid $pid) on 127.0.0.1:$port"
        exit 0
    fi
    log "a broker process is running (pid $pid) but does not answer on 127.0.0.1:$port;" \
        "run stop.sh first"
    show_logs
    exit 1
fi
rm -f "$pid_file"

# Someone else on our ports? (bash's /dev/tcp: no extra tools needed)
for p in "$port" "$controller_port"; do
    if port_open "$p"; then
        log "port 127.0.0.1:$p is already in use by another process (not this broker's pid file);" \
            "set KAFKA_PORT / KAFKA_CONTROLLER_PORT or stop it"
        exit 1
    fi
done

# --- Format storage once ------------------------------------------------------------------------
if [[ ! -f "$kraft_dir/meta.properties" ]]; then
    log "formatting storage in $kraft_dir (cluster id $cluster_id)"
    "$java" -Xmx256m -cp "$here/lib/*" -Dlog4j2.level=WARN \
        kafka.tools.StorageTool format --config "$config" --cluster-id "$cluster_id" \
        --standalone --ignore-formatted >"$log_dir/format.out" 2>&1 || {
        log "storage format failed:"
        cat "$log_dir/format.out" >&2
        exit 1
    }
fi

# --- Launch -------------------------------------------------------------------------------------
log "starting Kafka on 127.0.0.1:$port (controller :$controller_port), log $out_file"
: >"$out_file"
# setsid: own session, so the broker outlives this script and a Ctrl-C in its terminal.
# The inner bash writes its own pid and then execs java, so the pid file names the JVM.
# shellcheck disable=SC2086,SC2016  # heap_opts is a list of JVM flags; $$ is the inner shell's
setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pid_file" \
    "$java" $heap_opts -server \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$here/log4j2.properties" -Dkafka.logs.dir="$log_dir" \
    -Dlog4j2.shutdownHookEnabled=false \
    -cp "$here/lib/*" kafka.Kafka "$config" \
    </dev/null >>"$out_file" 2>&1 &

# --- Wait until it answers ----------------------------------------------------------------------
t0=$SECONDS
while :; do
    sleep 1
    if ! pid="$(pid_of "$pid_file" "$broker_pattern")"; then
        # The pid file may not be written yet during the first instant.
        if ((SECONDS - t0 > 5)); then
            log "the broker exited during startup"
            show_logs
            rm -f "$pid_file"
            exit 1
        fi
        continue
    fi
    if broker_answers; then
        log "ready after $((SECONDS - t0)) s (pid $pid), bootstrap 127.0.0.1:$port"
        exit 0
    fi
    if ((SECONDS - t0 >= timeout)); then
        log "no answer on 127.0.0.1:$port after ${timeout} s; stopping it"
        show_logs
        "$here/stop.sh" || true
        exit 1
    fi
done
