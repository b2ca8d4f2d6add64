#!/usr/bin/env bash
# Stop the NGINX started by start.sh from the same run directory: SIGQUIT (finish the requests
# in flight, then exit), wait, then SIGTERM and SIGKILL. Idempotent: nothing running is not an
# error. The run directory (rendered config, logs) is kept.
#
# Environment (optional): PAREDAO_NGINX_RUN_DIR, PAREDAO_NGINX_STOP_TIMEOUT (see common.sh).
set -euo pipefail

log_tag="nginx stop"
# shellcheck source=common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

# Only ever signals our NGINX: the pid may have been reused by another program.
stop_pid_file nginx "$pid_file" "$master_pattern" "$stop_timeout" QUIT
