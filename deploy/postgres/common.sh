# shellcheck shell=bash disable=SC2034
# Shared by start.sh and stop.sh (sourced, not run): paths, ports and helpers, on top of
# deploy/lib.sh.
#
# Environment (all optional):
#   PGDATA_DIR         cluster directory (PGDATA)                    default <this dir>/data (1)
#   PGLOG_DIR          where the server log goes (postgresql.log)   default <this dir>/logs (1)
#   PGPORT_DEV         TCP port, bound to 127.0.0.1 only            default 55432
#   PG_BIN_DIR         PostgreSQL bin directory to use              default newest /usr/lib/postgresql/*/bin
#   PG_START_TIMEOUT   seconds to wait for the server to answer     default 60
# (1) As root the server runs as the postgres user: when that user cannot reach this folder (a
#     clone in a private home), the same path under /var/lib/paredao/<clone id>/ instead
#     (deploy/lib.sh, service_dir); start.sh says where.

# shellcheck source=../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"
here="$repo/deploy/postgres"

port="${PGPORT_DEV:-55432}"
data_dir="$(abs_path "${PGDATA_DIR:-$(service_dir "$pg_os_user" "$here/data")}")"
log_dir="$(abs_path "${PGLOG_DIR:-$(service_dir "$pg_os_user" "$here/logs")}")"
start_timeout="${PG_START_TIMEOUT:-60}"
pg_superuser="postgres"    # database superuser created by initdb
log_file="$log_dir/postgresql.log"

is_port "$port" || die "PGPORT_DEV must be a TCP port number, got '$port'"

# Unix socket inside the data dir, unless that path is too long for a socket (107 bytes max).
if ((${#data_dir} + ${#port} + 10 <= 100)); then
    socket_dir="$data_dir"
else
    socket_dir="/tmp"
fi

# Run a PostgreSQL server-side tool: as the postgres OS user when we are root (initdb, pg_ctl
# and postgres refuse root), as ourselves otherwise. cwd / so the tools never warn about a cwd
# the postgres user cannot read.
as_pg() {
    if ((EUID == 0)); then
        (cd / && runuser -u "$pg_os_user" -- "$@")
    else
        (cd / && "$@")
    fi
}

# Major version of an existing cluster ("" if there is none).
cluster_major() {
    if [[ -f "$data_dir/PG_VERSION" ]]; then
        tr -d '[:space:]' <"$data_dir/PG_VERSION"
    fi
}

# Prints the bin dir holding initdb/pg_ctl: PG_BIN_DIR, else the one matching an existing
# cluster's major version, else the newest installed major. Fails if none is found.
find_bin_dir() {
    local major candidate best="" best_major=0 v
    if [[ -n "${PG_BIN_DIR:-}" ]]; then
        [[ -x "$PG_BIN_DIR/initdb" && -x "$PG_BIN_DIR/pg_ctl" ]] || return 1
        echo "$PG_BIN_DIR"
        return 0
    fi
    major="$(cluster_major)"
    if [[ -n "$major" ]]; then
        candidate="/usr/lib/postgresql/$major/bin"
        [[ -x "$candidate/initdb" && -x "$candidate/pg_ctl" ]] || return 1
        echo "$candidate"
        return 0
    fi
    for candidate in /usr/lib/postgresql/*/bin; do
        [[ -x "$candidate/initdb" && -x "$candidate/pg_ctl" ]] || continue
        v="$(basename "$(dirname "$candidate")")"
        [[ "$v" =~ ^[0-9]+$ ]] || continue
        if ((v > best_major)); then
            best_major="$v"
            best="$candidate"
        fi
    done
    [[ -n "$best" ]] || return 1
    echo "$best"
}

# 0 if a server is running on $data_dir (pg_ctl status: 0 running, 3 stopped, 4 no data dir).
# shellcheck disable=SC2154  # bin_dir: set by the caller, from find_bin_dir
server_running() {
    [[ -f "$data_dir/PG_VERSION" ]] || return 1
    as_pg "$bin_dir/pg_ctl" status -D "$data_dir" >/dev/null 2>&1
}
