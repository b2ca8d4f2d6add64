#!/usr/bin/env bash
# Stop the local PostgreSQL started by start.sh (pg_ctl stop -m fast). Idempotent: does nothing
# when the server is not running or the cluster does not exist. Data is kept.
#
# Environment (all optional): see common.sh (PGDATA_DIR, PG_BIN_DIR).
set -euo pipefail

log_tag="postgres stop"
# shellcheck source=common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

[[ -f "$data_dir/PG_VERSION" ]] || finish "no cluster in $data_dir: nothing to stop"
bin_dir="$(find_bin_dir)" || die "pg_ctl for PostgreSQL $(cluster_major) not found under /usr/lib/postgresql (set PG_BIN_DIR)"

if server_running; then
    log "stopping server on $data_dir"
    as_pg "$bin_dir/pg_ctl" stop -D "$data_dir" -m fast -w -t 60 -s >&2
    log "stopped"
else
    log "server on $data_dir is not running"
fi
