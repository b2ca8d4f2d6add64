#!/usr/bin/env bash
# Start a local PostgreSQL for development and tests (idempotent; from any directory).
#
# Installs PostgreSQL with apt when none is installed, makes a cluster in deploy/postgres/data
# (as the postgres OS user when run as root: initdb refuses root), starts it on
# 127.0.0.1:${PGPORT_DEV:-55432} with fsync on, and makes the role paredao/paredao and the
# databases paredao and paredao_test. Prints the DATABASE_URL to use.
set -euo pipefail
script_name=start # read by log() in common.sh
# shellcheck source=common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

if ! bin_dir="$(find_bin_dir)"; then
    command -v apt-get >/dev/null || die "no PostgreSQL in /usr/lib/postgresql and no apt-get to install it"
    ((EUID == 0)) || die "PostgreSQL is not installed: run as root to install it with apt"
    log "installing PostgreSQL with apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q postgresql >/dev/null 2>&1 || {
        apt-get update -q >/dev/null
        apt-get install -y -q postgresql >/dev/null
    }
    bin_dir="$(find_bin_dir)" || die "apt installed PostgreSQL but no initdb/pg_ctl was found"
fi

if ((EUID == 0)); then
    id -u "$pg_os_user" >/dev/null 2>&1 || die "no '$pg_os_user' OS user to run PostgreSQL as"
fi

mkdir -p "$data_dir" "$log_dir"
chmod 700 "$data_dir"
if ((EUID == 0)); then
    chown "$pg_os_user": "$data_dir" "$log_dir"
fi

if [[ ! -f "$data_dir/PG_VERSION" ]]; then
    log "creating a cluster in $data_dir"
    as_pg "$bin_dir/initdb" -D "$data_dir" -U "$pg_superuser" --auth-local=trust \
        --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    # Only the owner of the cluster may connect as the superuser, through the socket.
    cat >"$data_dir/pg_hba.conf" <<HBA
local   all  $pg_superuser                 peer map=owner
local   all  all                           scram-sha-256
host    all  all           127.0.0.1/32    scram-sha-256
HBA
    cat >"$data_dir/pg_ident.conf" <<IDENT
owner   $pg_os_user   $pg_superuser
owner   $(id -un)     $pg_superuser
IDENT
    if ((EUID == 0)); then
        chown "$pg_os_user": "$data_dir/pg_hba.conf" "$data_dir/pg_ident.conf"
    fi
fi

if server_running; then
    log "already running on 127.0.0.1:$port"
else
    log "starting on 127.0.0.1:$port (log: $log_file)"
    as_pg "$bin_dir/pg_ctl" start -D "$data_dir" -l "$log_file" -w -t "$start_timeout" -s \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $socket_dir -c fsync=on \
            -c synchronous_commit=on -c max_connections=200" \
        || die "the server did not start; see $log_file"
fi

for _ in $(seq "$start_timeout"); do
    if "$bin_dir/pg_isready" -q -h 127.0.0.1 -p "$port"; then
        break
    fi
    sleep 1
done
"$bin_dir/pg_isready" -q -h 127.0.0.1 -p "$port" || die "no answer on 127.0.0.1:$port; see $log_file"

# As the superuser, through the socket (pg_hba lets only the cluster's owner do that).
as_pg "$bin_dir/psql" -X -q -v ON_ERROR_STOP=1 -h "$socket_dir" -p "$port" -U "$pg_superuser" \
    -d postgres <<'SQL'
SELECT 'CREATE ROLE paredao LOGIN CREATEDB' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'paredao')
\gexec
ALTER ROLE paredao LOGIN CREATEDB PASSWORD 'paredao';
SELECT 'CREATE DATABASE paredao OWNER paredao' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'paredao')
\gexec
SELECT 'CREATE DATABASE paredao_test OWNER paredao' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'paredao_test')
\gexec
SQL

log "ready"
echo "DATABASE_URL=postgresql+psycopg://paredao:paredao@127.0.0.1:$port/paredao"
