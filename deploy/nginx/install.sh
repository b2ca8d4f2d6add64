#!/usr/bin/env bash
# Debian's NGINX for deploy/nginx/start.sh and the deploy tests (tests/deploy): only the
# binary. The package's own system service is never started (it would take port 80): our
# NGINX runs from start.sh with its own configuration and run directory.
# Idempotent: does nothing when nginx is already installed. As root or with sudo.
set -euo pipefail

script_name="install"
# shellcheck source=common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

if nginx_bin="$(find_nginx)" && [[ -n "$nginx_bin" ]]; then
    log "already installed ($("$nginx_bin" -v 2>&1 | sed 's/^nginx version: //'), $nginx_bin)"
    exit 0
fi

sudo=()
if ((EUID != 0)); then
    command -v sudo >/dev/null 2>&1 || die "NGINX is not installed and we are not root (no sudo): install 'nginx-light' first"
    sudo=(sudo -n)
fi
command -v apt-get >/dev/null 2>&1 || die "NGINX is not installed and apt-get is not available: install 'nginx-light' first"

# Refuse service starts (policy-rc.d exit 101) for the length of the install, unless a
# policy is already in place (Debian container images ship one).
policy=/usr/sbin/policy-rc.d
made_policy=no
remove_policy() { [[ "$made_policy" == no ]] || "${sudo[@]}" rm -f "$policy"; }
trap remove_policy EXIT
if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\n# Temporary, from deploy/nginx/install.sh: no service starts during its apt install.\nexit 101\n' |
        "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    made_policy=yes
fi

install_one() {
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$1" >&2
}

log "installing nginx-light with apt"
# Try without `apt-get update` first (fast when the package lists are fresh enough).
if ! install_one nginx-light; then
    log "apt-get install failed: running apt-get update and retrying"
    "${sudo[@]}" apt-get update -q >&2
    if ! install_one nginx-light; then
        log "nginx-light is not available: installing nginx"
        install_one nginx
    fi
fi
nginx_bin="$(find_nginx)"
[[ -n "$nginx_bin" ]] || die "apt reported success but no nginx binary was found"
log "installed $("$nginx_bin" -v 2>&1 | sed 's/^nginx version: //') ($nginx_bin)"
