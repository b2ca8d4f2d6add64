#!/usr/bin/env bash
# Start a local PostgreSQL for development / CI on 127.0.0.1 and return once it answers.
# Idempotent: creates the cluster only if missing, leaves a running server alone, and creates
# the role `paredao` and the databases `paredao` / `paredao_test` only if missing.
#
# Auth is `trust` for local connections (unix socket and 127.0.0.1/::1 only, nothing else is
# listened on): a throwaway dev/CI database, never a production setup.
# Durability is kept on (fsync, synchronous_commit, full_page_writes): we measure durable writes.
#
# Prints on stdout one line: DATABASE_URL=postgresql+psycopg://paredao:paredao@127.0.0.1:<port>/paredao
# (so `export "$(deploy/postgres/start.sh)"` works); progress goes to stderr.
#
# Environment (all optional): see common.sh (PGDATA_DIR, PGLOG_DIR, PGPORT_DEV, PG_BIN_DIR,
# PG_START_TIMEOUT).
set -euo pipefail

script_name="start"
# shellcheck source=common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

app_role="paredao"
app_password="paredao"
app_databases=(paredao paredao_test)

# --- PostgreSQL binaries (apt install when missing) ---------------------------------------------
apt_install_postgres() {
    local major pkg sudo=()
    major="$(cluster_major)"
    pkg="postgresql${major:+-$major}"
    if ((EUID != 0)); then
        command -v sudo >/dev/null 2>&1 || die "PostgreSQL is not installed and we are not root (no sudo): install '$pkg' first"
        sudo=(sudo -n)
    fi
    command -v apt-get >/dev/null 2>&1 || die "PostgreSQL is not installed and apt-get is not available: install '$pkg' first"
    log "initdb not found under /usr/lib/postgresql/*/bin: installing $pkg with apt"
    # Try without `apt-get update` first (fast when the package lists are fresh enough).
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "$pkg" >&2; then
        log "apt-get install failed: running apt-get update and retrying"
        "${sudo[@]}" apt-get update >&2
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "$pkg" >&2
    fi
}

if ! bin_dir="$(find_bin_dir)"; then
    [[ -z "${PG_BIN_DIR:-}" ]] || die "PG_BIN_DIR=$PG_BIN_DIR has no initdb/pg_ctl"
    apt_install_postgres
    bin_dir="$(find_bin_dir)" || die "initdb still not found under /usr/lib/postgresql/*/bin after apt install"
fi
major="$("$bin_dir/postgres" --version | sed -E 's/.* ([0-9]+)(\.[0-9]+)*.*/\1/')"
log "using $("$bin_dir/postgres" --version) from $bin_dir"

if ((EUID == 0)); then
    getent passwd "$pg_os_user" >/dev/null || die "running as root but there is no '$pg_os_user' system user to run the server as"
fi

# --- Directories --------------------------------------------------------------------------------
mkdir -p "$data_dir" "$log_dir"
if ((EUID == 0)); then
    # initdb/postgres run as the postgres user: it must own the data and log directories.
    for d in "$data_dir" "$log_dir"; do
        if [[ "$(stat -c %U "$d")" != "$pg_os_user" ]]; then
            chown -R "$pg_os_user:" "$d"
        fi
    done
    if [[ -e "$log_file" && "$(stat -c %U "$log_file")" != "$pg_os_user" ]]; then
        chown "$pg_os_user:" "$log_file"
    fi
fi
chmod 700 "$data_dir"
if ! as_pg test -w "$data_dir" -a -w "$log_dir"; then
    run_as="$(id -un)"
    ((EUID != 0)) || run_as="$pg_os_user"
    die "user '$run_as' cannot write $data_dir and $log_dir (is every parent directory searchable, i.e. mode o+x?)"
fi

# --- Cluster (once) -----------------------------------------------------------------------------
if [[ ! -f "$data_dir/PG_VERSION" ]]; then
    if [[ -n "$(ls -A "$data_dir")" ]]; then
        die "$data_dir is not empty but holds no PostgreSQL cluster (no PG_VERSION): move it away or set PGDATA_DIR"
    fi
    locale="C"
    if locale -a 2>/dev/null | grep -qixE 'c\.utf-?8'; then
        locale="C.UTF-8"
    fi
    log "creating cluster in $data_dir (PostgreSQL $major, UTF8, locale $locale)"
    as_pg "$bin_dir/initdb" -D "$data_dir" -U "$pg_superuser" -E UTF8 --locale="$locale" \
        --auth-local=trust --auth-host=trust >"$log_dir/initdb.log" 2>&1 ||
        { cat "$log_dir/initdb.log" >&2; die "initdb failed (output above, also in $log_dir/initdb.log)"; }
else
    cluster="$(cluster_major)"
    [[ "$cluster" == "$major" ]] || die "cluster in $data_dir is PostgreSQL $cluster but $bin_dir is $major (set PG_BIN_DIR)"
fi

# A server already running on another port: refuse before touching its configuration.
already_running=no
if server_running; then
    already_running=yes
    running_port="$(sed -n 4p "$data_dir/postmaster.pid" 2>/dev/null || true)"
    if [[ -n "$running_port" && "$running_port" != "$port" ]]; then
        die "server on $data_dir is already running on port $running_port, not $port: run stop.sh first"
    fi
fi

# --- Configuration (rewritten on every start; read by the server when it starts) ----------------
write_pg_file() {  # write_pg_file <path>  (content on stdin), owned by the server user
    local tmp
    tmp="$(mktemp "$1.XXXXXX")"
    cat >"$tmp"
    chmod 600 "$tmp"
    ((EUID != 0)) || chown "$pg_os_user:" "$tmp"
    mv -f "$tmp" "$1"
}

write_pg_file "$data_dir/paredao.conf" <<EOF
# Generated by deploy/postgres/start.sh on every start: edit the script, not this file.
# Dev/CI server on a 2-core box; durability stays on (we measure durable writes).
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$socket_dir'
max_connections = 200
superuser_reserved_connections = 3
password_encryption = scram-sha-256

shared_buffers = 256MB
effective_cache_size = 1GB
work_mem = 4MB
maintenance_work_mem = 64MB

fsync = on
synchronous_commit = on
full_page_writes = on
wal_buffers = 16MB
min_wal_size = 256MB
max_wal_size = 1GB
checkpoint_completion_target = 0.9

random_page_cost = 1.1
effective_io_concurrency = 200
max_worker_processes = 4
max_parallel_workers = 2
max_parallel_workers_per_gather = 1
max_parallel_maintenance_workers = 1

timezone = 'UTC'
log_timezone = 'UTC'
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
EOF

write_pg_file "$data_dir/pg_hba.conf" <<'EOF'
# Generated by deploy/postgres/start.sh on every start: edit the script, not this file.
# Dev/CI only: trust, and only for local connections (the server listens on 127.0.0.1 only).
# TYPE  DATABASE        USER            ADDRESS                 METHOD
local   all             all                                     trust
host    all             all             127.0.0.1/32            trust
host    all             all             ::1/128                 trust
local   replication     all                                     trust
host    replication     all             127.0.0.1/32            trust
host    replication     all             ::1/128                 trust
EOF

if ! grep -qE "^[[:space:]]*include_if_exists[[:space:]]*=[[:space:]]*'paredao\.conf'" "$data_dir/postgresql.conf"; then
    printf "\n# Added by deploy/postgres/start.sh: project settings (override the above).\ninclude_if_exists = 'paredao.conf'\n" \
        >>"$data_dir/postgresql.conf"
fi

# --- Server -------------------------------------------------------------------------------------
show_log() {
    if [[ -s "$log_file" ]]; then
        printf -- '----- last 30 lines of %s -----\n' "$log_file" >&2
        tail -n 30 "$log_file" >&2
    fi
}

if [[ "$already_running" == yes ]]; then
    # Apply the regenerated pg_hba.conf / reloadable settings; port, shared_buffers and
    # max_connections only change on a restart (stop.sh, then start.sh).
    as_pg "$bin_dir/pg_ctl" reload -D "$data_dir" -s >&2
    log "server already running on $data_dir (port $port): configuration reloaded"
else
    log "starting server on 127.0.0.1:$port (log: $log_file)"
    if ! as_pg "$bin_dir/pg_ctl" start -D "$data_dir" -l "$log_file" -w -t "$start_timeout" -s >&2; then
        show_log
        die "pg_ctl start failed"
    fi
fi

deadline=$((SECONDS + start_timeout))
until "$bin_dir/pg_isready" -q -h 127.0.0.1 -p "$port" -d postgres -U "$pg_superuser"; do
    if ((SECONDS >= deadline)); then
        show_log
        die "server did not answer pg_isready on 127.0.0.1:$port within ${start_timeout}s"
    fi
    sleep 0.5
done

# --- Role and databases (only if missing) -------------------------------------------------------
psql_admin() {
    PGCONNECT_TIMEOUT=10 "$bin_dir/psql" -X -q -w -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" \
        -U "$pg_superuser" -d postgres "$@"
}

if [[ "$(psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$app_role'")" != "1" ]]; then
    log "creating role $app_role"
    psql_admin -c "CREATE ROLE \"$app_role\" WITH LOGIN CREATEDB PASSWORD '$app_password'"
else
    # Keep the attributes the scripts promise, even if someone changed them.
    psql_admin -c "ALTER ROLE \"$app_role\" WITH LOGIN CREATEDB"
fi

for db in "${app_databases[@]}"; do
    owner="$(psql_admin -tAc "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '$db'")"
    if [[ -z "$owner" ]]; then
        log "creating database $db owned by $app_role"
        psql_admin -c "CREATE DATABASE \"$db\" OWNER \"$app_role\" ENCODING 'UTF8'"
    elif [[ "$owner" != "$app_role" ]]; then
        log "database $db is owned by $owner: giving it to $app_role"
        psql_admin -c "ALTER DATABASE \"$db\" OWNER TO \"$app_role\""
    fi
done

log "ready: PostgreSQL $major on 127.0.0.1:$port, data in $data_dir"
log "tests: postgresql+psycopg://$app_role:$app_password@127.0.0.1:$port/paredao_test"
echo "DATABASE_URL=postgresql+psycopg://$app_role:$app_password@127.0.0.1:$port/paredao"
