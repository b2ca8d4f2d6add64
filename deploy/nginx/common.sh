# shellcheck shell=bash disable=SC2034
# Shared by start.sh and stop.sh (sourced, not run). Defines paths, ports and helpers.
#
# Environment (all optional):
#   PAREDAO_NGINX_PORT           port NGINX listens on, on 127.0.0.1            default 8080
#   PAREDAO_UPSTREAM_PORTS       API ports on 127.0.0.1 (spaces or commas)       default "8001 8002"
#   PAREDAO_NGINX_RUN_DIR        rendered config, pid, logs, temp and cache     default <this dir>/run
#   PAREDAO_VOTE_RATE            per-address rate of POST .../votes             default 50r/s
#   PAREDAO_VOTE_BURST           votes above the rate let through at once       default 200
#   PAREDAO_STATIC_ROOT          directory served at /static/                   default <repo>/views/static
#   PAREDAO_NGINX_USER           worker user when started as root               default www-data
#   PAREDAO_NGINX_START_TIMEOUT  seconds to wait for NGINX to answer            default 10
#   PAREDAO_NGINX_STOP_TIMEOUT   seconds to wait for a graceful stop            default 10

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

port="${PAREDAO_NGINX_PORT:-8080}"
upstream_ports="${PAREDAO_UPSTREAM_PORTS:-8001 8002}"
run_dir="${PAREDAO_NGINX_RUN_DIR:-$here/run}"
vote_rate="${PAREDAO_VOTE_RATE:-50r/s}"
vote_burst="${PAREDAO_VOTE_BURST:-200}"
static_root="${PAREDAO_STATIC_ROOT:-$repo/views/static}"
worker_user="${PAREDAO_NGINX_USER:-www-data}"
start_timeout="${PAREDAO_NGINX_START_TIMEOUT:-10}"
stop_timeout="${PAREDAO_NGINX_STOP_TIMEOUT:-10}"

# Absolute paths even when given relative to the caller's cwd (they may not exist yet).
case "$run_dir" in /*) ;; *) run_dir="$PWD/$run_dir" ;; esac
case "$static_root" in /*) ;; *) static_root="$PWD/$static_root" ;; esac

pid_file="$run_dir/nginx.pid"
main_conf="$run_dir/nginx.conf"
site_conf="$run_dir/paredao.conf"
log_dir="$run_dir/logs"
error_log="$log_dir/error.log"
access_log="$log_dir/access.log"
temp_dir="$run_dir/tmp"
cache_dir="$run_dir/cache/results"

log() { printf '[nginx %s] %s\n' "${script_name:-}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The NGINX binary: Debian's /usr/sbin/nginx, else one on PATH ("" if none).
find_nginx() {
    if [[ -x /usr/sbin/nginx ]]; then
        echo /usr/sbin/nginx
    else
        command -v nginx 2>/dev/null || true
    fi
}

# Prints the master's pid if the pid file names a live NGINX master process.
running_pid() {
    [[ -f "$pid_file" ]] || return 1
    local pid
    pid="$(tr -d '[:space:]' <"$pid_file" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'nginx: master process' || return 1
    echo "$pid"
}
