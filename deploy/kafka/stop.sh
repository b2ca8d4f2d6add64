#!/usr/bin/env bash
# Stop the broker started by start.sh: SIGTERM (controlled shutdown), wait, then SIGKILL.
# Idempotent: nothing running is not an error. Data in $KAFKA_DATA_DIR is kept
# (delete deploy/kafka/data for a fresh cluster).
#
# Environment (optional): KAFKA_DATA_DIR (as for start.sh), KAFKA_STOP_TIMEOUT (default 30 s).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

data_dir="${KAFKA_DATA_DIR:-$here/data}"
pid_file="$data_dir/kafka.pid"
timeout="${KAFKA_STOP_TIMEOUT:-30}"

log() { printf '[kafka stop] %s\n' "$*" >&2; }

if [[ ! -f "$pid_file" ]]; then
    log "not running (no pid file $pid_file)"
    exit 0
fi
pid="$(cat "$pid_file" 2>/dev/null || true)"
if ! [[ "$pid" =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null; then
    log "not running (stale pid file removed)"
    rm -f "$pid_file"
    exit 0
fi
# Only ever signal our broker: the pid may have been reused by another program.
if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka'; then
    log "pid $pid is not a Kafka broker (stale pid file removed, nothing signalled)"
    rm -f "$pid_file"
    exit 0
fi

log "stopping pid $pid (SIGTERM, up to ${timeout} s)"
kill -TERM "$pid" 2>/dev/null || true
t0=$SECONDS
while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS - t0 >= timeout)); then
        log "still alive after ${timeout} s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 1
        break
    fi
    sleep 0.5
done
rm -f "$pid_file"
log "stopped after $((SECONDS - t0)) s"
