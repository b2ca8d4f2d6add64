# shellcheck shell=bash disable=SC2034
# Shared by up.sh and down.sh (sourced, not run): paths, ports and helpers, on top of
# deploy/lib.sh.
#
# Environment (all optional):
#   PAREDAO_API_PROCESSES    how many API processes                        default 2
#   PAREDAO_API_BASE_PORT    port of the first; the others follow           default 8001
#   PAREDAO_NGINX_PORT       NGINX, the stack's one entry point             default 8080
#   PAREDAO_STACK_RUN_DIR    pid files, logs, NGINX's run directory         default <this dir>/run (1)
#   PAREDAO_STACK_STOP_TIMEOUT  seconds an API process or the consumer gets to drain  default 30
#   PAREDAO_STACK_DATABASE   the database on the local PostgreSQL           default paredao
#   PAREDAO_CONSUMER_METRICS_PORT  the consumer's /metrics, on 127.0.0.1     default 9464
#   KAFKA_PORT               the broker's port (deploy/kafka/start.sh)      default 9092
#   PGPORT_DEV               PostgreSQL's port (deploy/postgres/start.sh)   default 55432
# (1) As root from a clone NGINX's workers cannot reach (a private home), the same path under
#     /var/lib/paredao/<clone id>/ (deploy/lib.sh, service_dir).

# shellcheck source=../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"
here="$repo/deploy/stack"

api_count="${PAREDAO_API_PROCESSES:-2}"
api_base_port="${PAREDAO_API_BASE_PORT:-8001}"
nginx_port="${PAREDAO_NGINX_PORT:-8080}"
# NGINX's run directory is inside this one: as root its workers must reach it (service_dir).
run_dir="$(abs_path "${PAREDAO_STACK_RUN_DIR:-$(service_dir "$nginx_worker_user" "$here/run")}")"
stop_timeout="${PAREDAO_STACK_STOP_TIMEOUT:-30}"
stack_database="${PAREDAO_STACK_DATABASE:-}"
consumer_metrics_port="${PAREDAO_CONSUMER_METRICS_PORT:-9464}"
kafka_port="${KAFKA_PORT:-9092}"
pg_port="${PGPORT_DEV:-55432}"

log_dir="$run_dir/logs"
nginx_run_dir="$run_dir/nginx"
env_file="$here/.env"
venv_bin="$repo/.venv/bin"

# stop_process <name> <pid file> <pattern>: SIGTERM (the API stores the votes it took, then
# exits), up to $stop_timeout, then SIGKILL. Nothing running is not an error.
stop_process() { stop_pid_file "$1" "$2" "$3" "$stop_timeout"; }

api_pattern='main:create_app'
consumer_pattern='main.py consumer'
