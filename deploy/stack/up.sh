#!/usr/bin/env bash
# `make up`: the whole stack as local processes, and return once it answers through NGINX.
#
#   PostgreSQL (deploy/postgres)  ->  migration (python main.py migrate)
#   Kafka      (deploy/kafka)     ->  topics (python main.py kafka-topics), the vote consumer
#                                     (python main.py consumer; metrics on :PAREDAO_CONSUMER_METRICS_PORT);
#                                     on the Kafka path only
#   N API processes (uvicorn) on consecutive ports  <-  NGINX (deploy/nginx), the entry point
#
# Idempotent: what already runs is left alone (NGINX is reloaded with the current upstream
# ports; API processes past a smaller N are stopped). A PostgreSQL or a broker already answering
# on its port is used as it is; down.sh stops what this started, those two only when it
# started them.
#
# The admin token and the secret key come from the environment, else from deploy/stack/.env
# (git-ignored), where they are generated on the first run. Pid files and logs go to
# deploy/stack/run/ (git-ignored; as root in a private clone, outside it: see common.sh).
#
# Environment (all optional): see common.sh (PAREDAO_API_PROCESSES, PAREDAO_API_BASE_PORT,
# PAREDAO_NGINX_PORT, PAREDAO_STACK_RUN_DIR, PAREDAO_STACK_DATABASE,
# PAREDAO_CONSUMER_METRICS_PORT, KAFKA_PORT, PGPORT_DEV), and PAREDAO_INGEST (default kafka:
# votes go through the broker and the consumer stores them; direct: no consumer, the API
# processes store the votes themselves). The processes log JSON lines
# (observability/logging.json) into the run directory's logs/.
set -euo pipefail

log_tag="stack up"
# shellcheck source=common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"
cd "$repo"

if ! [[ "$api_count" =~ ^[0-9]+$ ]] || ((api_count < 1 || api_count > 32)); then
    die "PAREDAO_API_PROCESSES must be a number from 1 to 32, got '$api_count'"
fi
if ! [[ "$api_base_port" =~ ^[0-9]+$ ]] || ((api_base_port < 1024 || api_base_port + api_count > 65536)); then
    die "PAREDAO_API_BASE_PORT must be a port from 1024 leaving room for $api_count processes, got '$api_base_port'"
fi
api_ports=()
for ((i = 0; i < api_count; i++)); do
    api_ports+=($((api_base_port + i)))
done
make_dirs "$run_dir" "$log_dir"
chmod 700 "$log_dir"  # read by whoever runs the stack, whatever folder it lives in

# --- Python environment -------------------------------------------------------------------------
if [[ ! -f "$repo/.venv/.installed" || ! -x "$venv_bin/uvicorn" ]]; then
    log "building the virtualenv (make .venv/.installed)"
    make -C "$repo" --no-print-directory .venv/.installed >&2
fi

# --- Secrets: environment, else deploy/stack/.env (generated once) ------------------------------
env_value() {  # env_value NAME: its value in $env_file ("" if absent)
    [[ -f "$env_file" ]] || return 0
    sed -n "s/^$1=//p" "$env_file" | tail -n 1
}
new_secret() { "$venv_bin/python" -c 'import secrets; print(secrets.token_urlsafe(32))'; }
for name in PAREDAO_ADMIN_TOKEN PAREDAO_SECRET_KEY; do
    [[ -z "${!name:-}" ]] || continue
    value="$(env_value "$name")"
    if [[ -z "$value" ]]; then
        value="$(new_secret)"
        (umask 077 && printf '%s=%s\n' "$name" "$value" >>"$env_file")
        log "generated $name into $env_file"
    fi
    export "$name=$value"
done
chmod 600 "$env_file" 2>/dev/null || true

# use_or_start <name> <port> <start command...>: a server already answering on <port> that up.sh
# did not start is used as it is, and down.sh leaves it running; else the start command runs
# (idempotent) and a marker tells down.sh to stop it.
use_or_start() {
    local name="$1" port="$2" marker="$run_dir/$1.started"
    shift 2
    if [[ ! -f "$marker" ]] && port_open "$port"; then
        log "$name: already running on 127.0.0.1:$port (down.sh will leave it running)"
        return 0
    fi
    touch "$marker"
    "$@"
}

# --- Which ingestion path -----------------------------------------------------------------------
export PAREDAO_INGEST="${PAREDAO_INGEST:-kafka}"
[[ "$PAREDAO_INGEST" == kafka || "$PAREDAO_INGEST" == direct ]] ||
    die "PAREDAO_INGEST must be kafka or direct, got '$PAREDAO_INGEST'"

# --- PostgreSQL ---------------------------------------------------------------------------------
if [[ -n "$stack_database" ]]; then  # another database on the same server (tests use one)
    [[ "$stack_database" =~ ^[a-z_][a-z0-9_]*$ ]] || die "PAREDAO_STACK_DATABASE must be a plain lower-case name, got '$stack_database'"
fi
use_or_start postgres "$pg_port" "$repo/deploy/postgres/start.sh" >/dev/null
# The role and database deploy/postgres/start.sh creates.
export DATABASE_URL="postgresql+psycopg://paredao:paredao@127.0.0.1:$pg_port/${stack_database:-paredao}"

# --- Kafka (only the Kafka path needs it) -------------------------------------------------------
if [[ "$PAREDAO_INGEST" == kafka ]]; then
    use_or_start kafka "$kafka_port" "$repo/deploy/kafka/start.sh"
    export KAFKA_BOOTSTRAP="127.0.0.1:$kafka_port"
fi

# --- Migration ----------------------------------------------------------------------------------
log "migrating $DATABASE_URL"
"$venv_bin/python" main.py migrate >>"$log_dir/migrate.log" 2>&1 ||
    { tail -n 30 "$log_dir/migrate.log" >&2; die "python main.py migrate failed (log: $log_dir/migrate.log)"; }

# --- Kafka topics -------------------------------------------------------------------------------
if [[ "$PAREDAO_INGEST" == kafka ]]; then
    # The API is ready (/readyz) only once the votes topic exists.
    log "Kafka topics (python main.py kafka-topics)"
    "$venv_bin/python" main.py kafka-topics >>"$log_dir/kafka-topics.log" 2>&1 ||
        { tail -n 30 "$log_dir/kafka-topics.log" >&2; die "python main.py kafka-topics failed (log: $log_dir/kafka-topics.log)"; }
fi

# launch <pid file> <log file> <command...>: a process in its own session (it outlives this
# script and a Ctrl-C in its terminal); the inner bash writes its pid, then execs the command.
launch() {
    local pid_file="$1" log_file="$2"
    shift 2
    # shellcheck disable=SC2016  # $$ is the inner shell's pid
    setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pid_file" "$@" </dev/null >>"$log_file" 2>&1 &
}

# --- API processes ------------------------------------------------------------------------------
# Processes of an earlier `make up` with a larger N: stop those past the new range.
for file in "$run_dir"/api-*.pid; do
    [[ -e "$file" ]] || continue
    p="${file##*/api-}"
    p="${p%.pid}"
    if ! [[ "$p" =~ ^[0-9]+$ ]] || ((p < api_base_port || p >= api_base_port + api_count)); then
        stop_process "API :$p" "$file" "$api_pattern"
    fi
done

for p in "${api_ports[@]}"; do
    pid_file="$run_dir/api-$p.pid"
    if pid="$(pid_of "$pid_file" "$api_pattern")"; then
        log "API :$p: already running (pid $pid)"
        continue
    fi
    port_open "$p" && die "port 127.0.0.1:$p is in use by another process: set PAREDAO_API_BASE_PORT or stop it"
    log "API :$p: starting (log $log_dir/api-$p.log)"
    launch "$pid_file" "$log_dir/api-$p.log" \
        "$venv_bin/uvicorn" --factory main:create_app --host 127.0.0.1 --port "$p" \
        --proxy-headers --forwarded-allow-ips 127.0.0.1 \
        --log-config observability/logging.json --no-access-log
done

# Ready once /readyz answers 200: the database reachable and migrated (and the broker, on the
# Kafka path).
api_ready() {
    curl -fsS -o /dev/null --max-time 4 "http://127.0.0.1:$1/readyz" 2>/dev/null
}
started_at=$SECONDS
deadline=$((SECONDS + 60))
for p in "${api_ports[@]}"; do
    until api_ready "$p"; do
        if ! pid_of "$run_dir/api-$p.pid" "$api_pattern" >/dev/null && ((SECONDS - started_at > 2)); then
            tail -n 30 "$log_dir/api-$p.log" >&2
            die "API :$p exited during startup (log above: $log_dir/api-$p.log)"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 30 "$log_dir/api-$p.log" >&2
            die "API :$p did not answer within 60 s (log above: $log_dir/api-$p.log)"
        fi
        sleep 0.3
    done
done
log "API processes ready on 127.0.0.1:{${api_ports[*]}} (ingestion: $PAREDAO_INGEST)"

# --- Consumer -----------------------------------------------------------------------------------
if [[ "$PAREDAO_INGEST" == kafka ]]; then
    if pid="$(pid_of "$run_dir/consumer.pid" "$consumer_pattern")"; then
        log "consumer: already running (pid $pid)"
    else
        log "consumer: starting (log $log_dir/consumer.log, metrics on :$consumer_metrics_port)"
        port_open "$consumer_metrics_port" && die "port 127.0.0.1:$consumer_metrics_port is in use: set PAREDAO_CONSUMER_METRICS_PORT or stop it"
        PAREDAO_CONSUMER_METRICS_PORT="$consumer_metrics_port" \
            launch "$run_dir/consumer.pid" "$log_dir/consumer.log" "$venv_bin/python" main.py consumer
        sleep 2  # a consumer that cannot start (broker, database) exits at once: say so here
        pid_of "$run_dir/consumer.pid" "$consumer_pattern" >/dev/null || {
            tail -n 30 "$log_dir/consumer.log" >&2
            die "the consumer exited during startup (log above: $log_dir/consumer.log)"
        }
    fi
else
    stop_process consumer "$run_dir/consumer.pid" "$consumer_pattern"  # of an earlier kafka run
    log "consumer: not started (PAREDAO_INGEST=direct: the API processes store the votes)"
fi

# --- NGINX --------------------------------------------------------------------------------------
PAREDAO_NGINX_PORT="$nginx_port" PAREDAO_UPSTREAM_PORTS="${api_ports[*]}" \
    PAREDAO_NGINX_RUN_DIR="$nginx_run_dir" "$repo/deploy/nginx/start.sh"
# The first read through NGINX: on a busy machine the API processes may still be warming up,
# so it is tried for up to a minute before the stack is declared broken.
through_nginx=false
for _ in $(seq 1 12); do
    if curl -fsS -o /dev/null --max-time 5 "http://127.0.0.1:$nginx_port/paredoes"; then
        through_nginx=true
        break
    fi
    sleep 1
done
"$through_nginx" || die "NGINX answers, but GET /paredoes through it failed for a minute"

cat <<EOF

Paredão is up: http://127.0.0.1:$nginx_port  (API docs: http://127.0.0.1:$nginx_port/docs)
  admin token  $PAREDAO_ADMIN_TOKEN   (Authorization: Bearer ...; kept in ${env_file#"$repo"/})
  database     $DATABASE_URL
  kafka        ${KAFKA_BOOTSTRAP:-not used} (ingestion: $PAREDAO_INGEST)
  processes    $api_count API on 127.0.0.1:{${api_ports[*]}}, NGINX on 127.0.0.1:$nginx_port
  metrics      http://127.0.0.1:{${api_ports[*]}}/metrics (each API process; NGINX hides /metrics)$(
    [[ "$PAREDAO_INGEST" == kafka ]] && printf '%s' ", consumer http://127.0.0.1:$consumer_metrics_port/metrics")
  logs         ${log_dir#"$repo"/}/ and ${nginx_run_dir#"$repo"/}/logs/
Stop everything with: make down
EOF
