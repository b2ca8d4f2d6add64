#!/usr/bin/env bash
# Stop the local PostgreSQL started by start.sh (idempotent; from any directory).
set -euo pipefail
script_name=stop # read by log() in common.sh
# shellcheck source=common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

if [[ ! -f "$data_dir/PG_VERSION" ]]; then
    log "no cluster in $data_dir: nothing to stop"
    exit 0
fi
bin_dir="$(find_bin_dir)" || die "no PostgreSQL binaries for the cluster in $data_dir"
if server_running; then
    as_pg "$bin_dir/pg_ctl" stop -D "$data_dir" -m fast -w -t "$start_timeout" -s
    log "stopped"
else
    log "not running"
fi
