#!/usr/bin/env bash
# `make down`: stop what up.sh started, entry point first so no request is cut off midway:
# NGINX, the consumer, the API processes (each stores the votes it took before exiting), then
# Kafka and PostgreSQL if up.sh was the one that started them. Data, logs and deploy/stack/.env
# are kept. Idempotent: nothing running is not an error.
#
# Environment (all optional): PAREDAO_STACK_RUN_DIR, PAREDAO_STACK_STOP_TIMEOUT (see common.sh).
set -euo pipefail

log_tag="stack down"
# shellcheck source=common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

[[ -d "$run_dir" ]] || finish "nothing to stop (no $run_dir)"

PAREDAO_NGINX_RUN_DIR="$nginx_run_dir" "$repo/deploy/nginx/stop.sh"

stop_process consumer "$run_dir/consumer.pid" "$consumer_pattern"

# Every API process up.sh started, whatever N was; they drain in parallel.
pids=()
for file in "$run_dir"/api-*.pid; do
    [[ -e "$file" ]] || continue
    p="${file##*/api-}"
    stop_process "API :${p%.pid}" "$file" "$api_pattern" &
    pids+=($!)
done
for pid in "${pids[@]}"; do
    wait "$pid"
done

if [[ -f "$run_dir/kafka.started" ]]; then
    "$repo/deploy/kafka/stop.sh"
    rm -f "$run_dir/kafka.started"
else
    log "Kafka: left as it was (up.sh did not start it)"
fi
if [[ -f "$run_dir/postgres.started" ]]; then
    "$repo/deploy/postgres/stop.sh"
    rm -f "$run_dir/postgres.started"
else
    log "PostgreSQL: left as it was (up.sh did not start it)"
fi
log "stopped"
