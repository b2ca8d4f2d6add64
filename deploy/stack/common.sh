# shellcheck shell=bash disable=SC2034
# Shared by up.sh and down.sh (sourced, not run). Defines paths, ports and helpers.
#
# Environment (all optional):
#   PAREDAO_API_PROCESSES    how many API processes                        default 2
#   PAREDAO_API_BASE_PORT    port of the first; the others follow           default 8001
#   PAREDAO_NGINX_PORT       NGINX, the stack's one entry point             default 8080
#   PAREDAO_STACK_RUN_DIR    pid files, logs, NGINX's run directory         default <this dir>/run
#   PAREDAO_STACK_STOP_TIMEOUT  seconds an API process or the consumer gets to drain  default 30
#   PAREDAO_STACK_DATABASE   the database on the local PostgreSQL           default paredao
#   PAREDAO_CONSUMER_METRICS_PORT  the consumer's /metrics, on 127.0.0.1     default 9464
#   KAFKA_PORT               the broker's port (deploy/kafka/start.sh)      default 9092
#   PGPORT_DEV               PostgreSQL's port (deploy/postgres/start.sh)   default 55432

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

api_count="${PAREDAO_API_PROCESSES:-2}"
api_base_port="${PAREDAO_API_BASE_PORT:-8001}"
nginx_port="${PAREDAO_NGINX_PORT:-8080}"
run_dir="${PAREDAO_STACK_RUN_DIR:-$here/run}"
stop_timeout="${PAREDAO_STACK_STOP_TIMEOUT:-30}"
stack_database="${PAREDAO_STACK_DATABASE:-}"
consumer_metrics_port="${PAREDAO_CONSUMER_METRICS_PORT:-9464}"
kafka_port="${KAFKA_PORT:-9092}"
pg_port="${PGPORT_DEV:-55432}"

case "$run_dir" in /*) ;; *) run_dir="$PWD/$run_dir" ;; esac
log_dir="$run_dir/logs"
nginx_run_dir="$run_dir/nginx"
env_file="$here/.env"
venv_bin="$repo/.venv/bin"

log() { printf '[stack %s] %s\n' "${script_name:-}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# 0 if something accepts TCP connections on 127.0.0.1:<port> (bash's /dev/tcp: no extra tools).
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pid_of <pid file> <pattern>: prints the pid if the file names a live process whose command
# line matches <pattern> (a pid may have been reused by another program since).
pid_of() {
    [[ -f "$1" ]] || return 1
    local pid
    pid="$(tr -d '[:space:]' <"$1" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2" || return 1
    echo "$pid"
}

# stop_process <name> <pid file> <pattern>: SIGTERM (the API stores the votes it took, then
# exits), wait up to $stop_timeout, then SIGKILL. Nothing running is not an error.
stop_process() {
    local name="$1" file="$2" pattern="$3" pid deadline
    if ! pid="$(pid_of "$file" "$pattern")"; then
        [[ ! -f "$file" ]] || log "$name: not running (stale pid file removed)"
        rm -f "$file"
        return 0
    fi
    log "$name: stopping pid $pid (SIGTERM, up to ${stop_timeout} s)"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + stop_timeout))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            log "$name: still running after ${stop_timeout} s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    rm -f "$file"
}

api_pattern='main:create_app'
consumer_pattern='main.py consumer'
