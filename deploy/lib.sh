# shellcheck shell=bash disable=SC2034
# What every deploy script shares (sourced, never run): messages, process and port checks,
# stopping a process, waiting, files written whole, apt installs, and where a service keeps what
# its own user writes or reads.
#
# The sourcing script sets `log_tag` (e.g. "nginx start"): messages go to stderr as
# "[nginx start] ...".
#
# Environment (optional):
#   PAREDAO_STATE_ROOT   where, as root, the services of a private clone keep their folders
#                        (see service_dir)                                default /var/lib/paredao
#   PAREDAO_NGINX_USER   NGINX's worker user when started as root          default www-data

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

pg_os_user="postgres"                                # initdb/postgres refuse root: root runs them as this user
nginx_worker_user="${PAREDAO_NGINX_USER:-www-data}"  # NGINX started as root drops its workers to this user

# --- Messages -----------------------------------------------------------------------------------
log() { printf '[%s] %s\n' "${log_tag:-deploy}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# finish <message>: there is nothing (more) to do; say why and end the script successfully.
finish() { log "$*"; exit 0; }

# show_tail <lines> <file>...: the last lines of each non-empty file, on stderr.
show_tail() {
    local lines="$1" file
    shift
    for file; do
        if [[ -s "$file" ]]; then
            printf -- '----- last %s lines of %s -----\n' "$lines" "$file" >&2
            tail -n "$lines" "$file" >&2
        fi
    done
}

# --- Paths, ports, files ------------------------------------------------------------------------
# abs_path <path>: absolute, taken from the caller's cwd when relative (it may not exist yet).
abs_path() {
    case "$1" in
        /*) printf '%s\n' "$1" ;;
        *) printf '%s\n' "$PWD/$1" ;;
    esac
}

is_port() { [[ "$1" =~ ^[0-9]+$ ]] && (($1 >= 1 && $1 <= 65535)); }

# port_open <port>: 0 if something accepts TCP connections on 127.0.0.1:<port> (bash's /dev/tcp).
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# make_dirs <dir>...: mkdir -p, the levels it creates searchable (755) whatever the umask, so a
# service user reaches a folder made for it (a data folder then narrows its own mode).
make_dirs() { (umask 022 && mkdir -p "$@"); }

# write_file <path> <mode> [owner]: stdin into <path>, replaced whole (never read half-written).
write_file() {
    local tmp
    tmp="$(mktemp "$1.XXXXXX")"
    cat >"$tmp"
    chmod "$2" "$tmp"
    [[ -z "${3:-}" ]] || chown "$3:" "$tmp"
    mv -f "$tmp" "$1"
}

# --- Where a service keeps what its own user writes or reads ------------------------------------
# As root, PostgreSQL runs as postgres and NGINX's workers as www-data. A clone under a private
# folder (a mode-700 home, /root) is out of their reach whatever its own modes, so a folder such a
# service writes or reads cannot live in it. service_dir then names the same path under
# $state_root/<clone id>/ (made with searchable levels by make_dirs); the clone's permissions are
# never changed. Anywhere else (not root, or a clone the user reaches) the folder stays in the
# clone, as it always did.
state_root="$(abs_path "${PAREDAO_STATE_ROOT:-/var/lib/paredao}")"
clone_id="$(basename "$repo")-$(printf '%s' "$repo" | sha256sum | cut -c1-10)"

# reaches <user> <test expression...>: 0 if `test <expression>` holds for <user> (always run as
# ourselves when we are not root: our services run as ourselves then).
reaches() {
    local user="$1"
    shift
    if ((EUID != 0)); then
        test "$@"
    else
        (cd / && runuser -u "$user" -- test "$@") 2>/dev/null
    fi
}

# service_dir <user> <folder in the clone>: where the service run as <user> keeps that folder.
service_dir() {
    if reaches "$1" -x "$(dirname "$2")"; then
        printf '%s\n' "$2"
    else
        printf '%s\n' "$state_root/$clone_id/${2#"$repo"/}"
    fi
}

# --- Processes ----------------------------------------------------------------------------------
# pid_of <pid file> <pattern>: prints the pid if the file names a live process whose command
# line matches <pattern> (grep -E); a pid may have been reused by another program since.
pid_of() {
    [[ -f "$1" ]] || return 1
    local pid
    pid="$(tr -d '[:space:]' <"$1" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qE -- "$2" || return 1
    printf '%s\n' "$pid"
}

# wait_for <seconds> <interval> <command...>: 0 as soon as the command succeeds, 1 past the time.
wait_for() {
    local deadline=$((SECONDS + $1)) interval="$2"
    shift 2
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep "$interval"
    done
}

gone() { ! kill -0 "$1" 2>/dev/null; }

# stop_pid_file <name> <pid file> <pattern> <seconds> [signal]: stop the process the pid file
# names (only if it matches <pattern>): <signal> (default TERM, which lets it finish its work),
# up to <seconds>, then SIGTERM and SIGKILL. Nothing running is not an error.
stop_pid_file() {
    local name="$1" file="$2" pattern="$3" timeout="$4" signal="${5:-TERM}" pid t0=$SECONDS
    if [[ ! -f "$file" ]]; then
        log "$name: not running (no pid file $file)"
        return 0
    fi
    if ! pid="$(pid_of "$file" "$pattern")"; then
        log "$name: not running (stale pid file $file removed, nothing signalled)"
        rm -f "$file"
        return 0
    fi
    log "$name: stopping pid $pid (SIG$signal, up to $timeout s)"
    kill -"$signal" "$pid" 2>/dev/null || true
    if ! wait_for "$timeout" 0.2 gone "$pid" && [[ "$signal" != TERM ]]; then
        log "$name: still running after $timeout s: SIGTERM"
        kill -TERM "$pid" 2>/dev/null || true
        wait_for 5 0.2 gone "$pid" || true
    fi
    if ! gone "$pid"; then
        log "$name: still running: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        wait_for 5 0.2 gone "$pid" || true
    fi
    rm -f "$file"
    log "$name: stopped after $((SECONDS - t0)) s"
}

# --- Packages -----------------------------------------------------------------------------------
# as_root <command...>: as ourselves when root, else through `sudo -n`.
as_root() {
    if ((EUID == 0)); then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        log "not root and no sudo: cannot run $*"
        return 1
    fi
}

# apt_install <package>...: Debian packages without their recommendations; apt-get update and a
# second try only when the first fails (fast when the package lists are fresh enough).
apt_install() {
    command -v apt-get >/dev/null 2>&1 || { log "apt-get is not available: install $* first"; return 1; }
    log "installing $* with apt"
    local install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@")
    as_root "${install[@]}" >&2 && return 0
    log "apt-get install failed: running apt-get update and retrying"
    as_root apt-get update -q >&2 && as_root "${install[@]}" >&2
}
