#!/usr/bin/env bash
# Stop the NGINX started by start.sh from the same run directory: SIGQUIT (finish the requests
# in flight, then exit), wait, then SIGTERM and SIGKILL. Idempotent: nothing running is not an
# error. The run directory (rendered config, logs) is kept.
#
# Environment (optional): PAREDAO_NGINX_RUN_DIR, PAREDAO_NGINX_STOP_TIMEOUT (see common.sh).
set -euo pipefail

script_name="stop"
# shellcheck source=common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

if [[ ! -f "$pid_file" ]]; then
    log "not running (no pid file $pid_file)"
    exit 0
fi
# Only ever signal our NGINX: the pid may have been reused by another program.
if ! pid="$(running_pid)"; then
    log "not running (stale pid file $pid_file removed, nothing signalled)"
    rm -f "$pid_file"
    exit 0
fi

wait_gone() {  # wait_gone <seconds>: 0 once the master has exited
    local deadline=$((SECONDS + $1))
    while kill -0 "$pid" 2>/dev/null; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

log "stopping pid $pid (graceful, up to ${stop_timeout} s)"
t0=$SECONDS
kill -QUIT "$pid" 2>/dev/null || true
if ! wait_gone "$stop_timeout"; then
    log "still running after ${stop_timeout} s: SIGTERM"
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone 5; then
        log "still running: SIGKILL (its workers exit when they see the master gone)"
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone 5 || true
    fi
fi
rm -f "$pid_file"
log "stopped after $((SECONDS - t0)) s"
