#!/usr/bin/env bash
# Debian's NGINX for deploy/nginx/start.sh and the deploy tests (tests/deploy): only the
# binary. The package's own system service is never started (it would take port 80): our
# NGINX runs from start.sh with its own configuration and run directory.
# Idempotent: does nothing when nginx is already installed. As root or with sudo.
set -euo pipefail

log_tag="nginx install"
# shellcheck source=common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

if nginx_bin="$(find_nginx)" && [[ -n "$nginx_bin" ]]; then
    log "already installed ($("$nginx_bin" -v 2>&1 | sed 's/^nginx version: //'), $nginx_bin)"
    exit 0
fi

# Refuse service starts (policy-rc.d exit 101) for the length of the install, unless a
# policy is already in place (Debian container images ship one).
policy=/usr/sbin/policy-rc.d
made_policy=no
remove_policy() { [[ "$made_policy" == no ]] || as_root rm -f "$policy"; }
trap remove_policy EXIT
if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\n# Temporary, from deploy/nginx/install.sh: no service starts during its apt install.\nexit 101\n' |
        as_root tee "$policy" >/dev/null
    as_root chmod 755 "$policy"
    made_policy=yes
fi

# nginx-light where the release still has it, else nginx.
apt_install nginx-light || { log "nginx-light is not available: installing nginx"; apt_install nginx; } ||
    die "could not install NGINX (above): install 'nginx-light' or 'nginx' first"
nginx_bin="$(find_nginx)"
[[ -n "$nginx_bin" ]] || die "apt reported success but no nginx binary was found"
log "installed $("$nginx_bin" -v 2>&1 | sed 's/^nginx version: //') ($nginx_bin)"
