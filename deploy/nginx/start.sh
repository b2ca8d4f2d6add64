#!/usr/bin/env bash
# Start NGINX in front of the API processes on 127.0.0.1 and return once it answers.
#
# Renders paredao.conf.template (and a main nginx.conf with its own pid, logs, temp and cache
# directories) into the run directory on every start, checks it with `nginx -t`, then starts
# Debian's NGINX on it (installed with apt when missing). It is our own process, not the
# system service: nothing under /etc/nginx or /var/lib/nginx is written, and several can run
# side by side with different run directories and ports. Started as root from a clone its
# workers cannot reach (a private home), it runs from a folder of its own outside the clone and
# serves a copy of the static files (common.sh).
#
# Idempotent: an NGINX already running from this run directory is reloaded with the freshly
# rendered configuration (new upstream ports, limits) without dropping a connection.
#
# Environment (all optional): see common.sh (PAREDAO_NGINX_PORT, PAREDAO_UPSTREAM_PORTS,
# PAREDAO_NGINX_RUN_DIR, PAREDAO_VOTE_RATE, PAREDAO_VOTE_BURST, PAREDAO_STATIC_ROOT,
# PAREDAO_NGINX_USER, PAREDAO_NGINX_START_TIMEOUT).
set -euo pipefail

log_tag="nginx start"
# shellcheck source=common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

# --- Inputs -------------------------------------------------------------------------------------
is_port "$port" || die "PAREDAO_NGINX_PORT must be a TCP port number, got '$port'"
read -r -a ports <<<"${upstream_ports//,/ }"
((${#ports[@]} > 0)) || die "PAREDAO_UPSTREAM_PORTS is empty: name at least one API port"
upstream_servers=""
for p in "${ports[@]}"; do
    is_port "$p" || die "PAREDAO_UPSTREAM_PORTS must hold TCP port numbers, got '$p'"
    # A process that fails twice in 5 s rests 5 s; the others take its share meanwhile.
    upstream_servers+="server 127.0.0.1:$p max_fails=2 fail_timeout=5s; "
done
[[ "$vote_rate" =~ ^[0-9]+r/[sm]$ ]] || die "PAREDAO_VOTE_RATE must look like 50r/s or 600r/m, got '$vote_rate'"
[[ "$vote_burst" =~ ^[0-9]+$ ]] || die "PAREDAO_VOTE_BURST must be a number, got '$vote_burst'"
[[ -d "$static_root" ]] || die "static directory $static_root does not exist (PAREDAO_STATIC_ROOT)"
static_root="$(cd "$static_root" && pwd)"
if ((EUID == 0)); then
    getent passwd "$nginx_worker_user" >/dev/null || die "running as root but there is no '$nginx_worker_user' user for the workers (PAREDAO_NGINX_USER)"
fi

# --- NGINX binary (apt install when missing) ----------------------------------------------------
nginx_bin="$(find_nginx)"
if [[ -z "$nginx_bin" ]]; then
    "$here/install.sh"
    nginx_bin="$(find_nginx)"
    [[ -n "$nginx_bin" ]] || die "nginx still not found after install.sh"
fi
mime_types=/etc/nginx/mime.types
[[ -f "$mime_types" ]] || die "$mime_types is missing (it comes with Debian's nginx-common)"
log "using $("$nginx_bin" -v 2>&1 | sed 's/^nginx version: //') from $nginx_bin"

# --- Directories --------------------------------------------------------------------------------
make_dirs "$run_dir" "$log_dir" "$cache_dir" "$temp_dir"/{client_body,proxy,fastcgi,uwsgi,scgi}
run_dir="$(cd "$run_dir" && pwd)"
chmod 700 "$log_dir"  # client addresses: for NGINX's user only

user_line=""
if ((EUID == 0)); then
    # Started as root, the master drops its workers to an unprivileged user: they must be able
    # to write the temp and cache directories (and reopen the logs) and to read the static files.
    user_line="user $nginx_worker_user;"
    chown -R "$nginx_worker_user:" "$temp_dir" "$cache_dir" "$log_dir"
    if ! reaches "$nginx_worker_user" -w "$temp_dir/proxy" -a -w "$cache_dir"; then
        die "user '$nginx_worker_user' cannot write $temp_dir and $cache_dir (is every parent directory of $run_dir searchable, i.e. mode o+x?)"
    fi
    if [[ -z "${PAREDAO_STATIC_ROOT:-}" ]] && ! reaches "$nginx_worker_user" -r "$static_root" -a -x "$static_root"; then
        # The clone is out of the workers' reach (a private home): serve a copy of its static
        # files from the run directory, refreshed on every start, the clone left as it is.
        rm -rf "$published_static.new"
        cp -R "$static_root" "$published_static.new"
        chmod -R a+rX,go-w "$published_static.new"
        rm -rf "$published_static"
        mv "$published_static.new" "$published_static"
        log "user '$nginx_worker_user' cannot read $static_root: serving a copy from $published_static"
        static_root="$published_static"
    fi
    if ! reaches "$nginx_worker_user" -r "$static_root" -a -x "$static_root"; then
        die "user '$nginx_worker_user' cannot read $static_root (is every parent directory searchable, i.e. mode o+x?)"
    fi
fi

# --- Configuration (rendered on every start) ----------------------------------------------------
# shellcheck disable=SC2016  # the single-quoted ${PAREDAO_...} are the literal placeholders
render_template() {  # replaces each ${NAME} of the template with the value given here
    local text
    text="$(<"$here/paredao.conf.template")"
    text="${text//'${PAREDAO_NGINX_LISTEN}'/127.0.0.1:$port}"
    text="${text//'${PAREDAO_UPSTREAM_SERVERS}'/$upstream_servers}"
    text="${text//'${PAREDAO_STATIC_ROOT}'/$static_root}"
    text="${text//'${PAREDAO_NGINX_CACHE_DIR}'/$cache_dir}"
    text="${text//'${PAREDAO_NGINX_ACCESS_LOG}'/$access_log}"
    text="${text//'${PAREDAO_VOTE_RATE}'/$vote_rate}"
    text="${text//'${PAREDAO_VOTE_BURST}'/$vote_burst}"
    if [[ "$text" == *'${PAREDAO_'* ]]; then
        die "paredao.conf.template has a placeholder start.sh does not know: $(grep -o '\${PAREDAO_[A-Z_]*}' <<<"$text" | sort -u | tr '\n' ' ')"
    fi
    printf '# Rendered by deploy/nginx/start.sh from paredao.conf.template on every start: edit that.\n%s\n' "$text"
}

render_template | write_file "$site_conf" 644
write_file "$main_conf" 644 <<EOF
# Generated by deploy/nginx/start.sh on every start: edit the script, not this file.
$user_line
worker_processes auto;
worker_rlimit_nofile 16384;
pid $pid_file;
error_log $error_log warn;

events {
    worker_connections 8192;
}

http {
    include $mime_types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;

    # Everything NGINX writes stays in the run directory (never /var/lib/nginx).
    client_body_temp_path $temp_dir/client_body;
    proxy_temp_path $temp_dir/proxy;
    fastcgi_temp_path $temp_dir/fastcgi;
    uwsgi_temp_path $temp_dir/uwsgi;
    scgi_temp_path $temp_dir/scgi;

    include $site_conf;
}
EOF

nginx_cmd=("$nginx_bin" -p "$run_dir/" -c "$main_conf" -e "$error_log")
if ! check_out="$("${nginx_cmd[@]}" -t -q 2>&1)"; then
    printf '%s\n' "$check_out" >&2
    die "nginx -t refused the rendered configuration ($main_conf, $site_conf)"
fi

# --- Server -------------------------------------------------------------------------------------
answers() {  # NGINX's own health location, never proxied
    curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/nginx-healthz" 2>/dev/null
}

if pid="$(pid_of "$pid_file" "$master_pattern")"; then
    log "already running (pid $pid): reloading the rendered configuration"
    kill -HUP "$pid"
else
    rm -f "$pid_file"
    port_open "$port" && die "port 127.0.0.1:$port is already in use by another process; set PAREDAO_NGINX_PORT or stop it"
    log "starting on 127.0.0.1:$port, upstream 127.0.0.1:{${ports[*]}} (logs in $log_dir)"
    # NGINX daemonizes itself once its sockets are bound; the master writes $pid_file.
    # setsid: its own session, so it outlives this script and a Ctrl-C in its terminal.
    if ! setsid "${nginx_cmd[@]}" </dev/null >>"$log_dir/nginx.out" 2>&1; then
        cat "$log_dir/nginx.out" >&2
        show_tail 20 "$error_log"
        die "nginx failed to start"
    fi
fi

if ! wait_for "$start_timeout" 0.2 answers; then
    show_tail 20 "$error_log"
    die "no answer on http://127.0.0.1:$port/nginx-healthz within ${start_timeout}s"
fi
pid="$(pid_of "$pid_file" "$master_pattern")" || die "nginx answers on 127.0.0.1:$port but $pid_file names no NGINX master"
log "ready: http://127.0.0.1:$port (pid $pid) -> 127.0.0.1:{${ports[*]}}, votes limited to $vote_rate burst $vote_burst per address"
