# shellcheck shell=bash disable=SC2034
# Shared by start.sh, stop.sh and install.sh (sourced, not run): paths, ports and helpers, on top
# of deploy/lib.sh.
#
# Environment (all optional):
#   PAREDAO_NGINX_PORT           port NGINX listens on, on 127.0.0.1            default 8080
#   PAREDAO_UPSTREAM_PORTS       API ports on 127.0.0.1 (spaces or commas)       default "8001 8002"
#   PAREDAO_NGINX_RUN_DIR        rendered config, pid, logs, temp and cache     default <this dir>/run (1)
#   PAREDAO_VOTE_RATE            per-address rate of POST .../votes             default 50r/s
#   PAREDAO_VOTE_BURST           votes above the rate let through at once       default 200
#   PAREDAO_STATIC_ROOT          directory served at /static/                   default <repo>/views/static (2)
#   PAREDAO_NGINX_USER           worker user when started as root               default www-data
#   PAREDAO_NGINX_START_TIMEOUT  seconds to wait for NGINX to answer            default 10
#   PAREDAO_NGINX_STOP_TIMEOUT   seconds to wait for a graceful stop            default 10
# (1) Started as root from a clone the worker user cannot reach (a private home), the same path
#     under /var/lib/paredao/<clone id>/ (deploy/lib.sh, service_dir).
# (2) Started as root and the worker user cannot read it: a copy start.sh publishes into the run
#     directory on every start (so an edited page needs start.sh again, which reloads).

# shellcheck source=../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"
here="$repo/deploy/nginx"

port="${PAREDAO_NGINX_PORT:-8080}"
upstream_ports="${PAREDAO_UPSTREAM_PORTS:-8001 8002}"
run_dir="$(abs_path "${PAREDAO_NGINX_RUN_DIR:-$(service_dir "$nginx_worker_user" "$here/run")}")"
vote_rate="${PAREDAO_VOTE_RATE:-50r/s}"
vote_burst="${PAREDAO_VOTE_BURST:-200}"
static_root="$(abs_path "${PAREDAO_STATIC_ROOT:-$repo/views/static}")"
start_timeout="${PAREDAO_NGINX_START_TIMEOUT:-10}"
stop_timeout="${PAREDAO_NGINX_STOP_TIMEOUT:-10}"

pid_file="$run_dir/nginx.pid"
main_conf="$run_dir/nginx.conf"
site_conf="$run_dir/paredao.conf"
log_dir="$run_dir/logs"
error_log="$log_dir/error.log"
access_log="$log_dir/access.log"
temp_dir="$run_dir/tmp"
cache_dir="$run_dir/cache/results"
published_static="$run_dir/static"  # the copy served when the worker user cannot read the clone's
master_pattern='nginx: master process'

# The NGINX binary: Debian's /usr/sbin/nginx, else one on PATH ("" if none).
find_nginx() {
    if [[ -x /usr/sbin/nginx ]]; then
        echo /usr/sbin/nginx
    else
        command -v nginx 2>/dev/null || true
    fi
}
