#!/usr/bin/env bash
# Debian's Prometheus for `make capacity` and tests/deploy/test_prometheus_dashboard.py: only
# the binary. The package's own system service is never started: our Prometheus runs from
# bench/capacity.py (or the test) with a generated configuration and a data directory of its own.
# Idempotent: does nothing when prometheus is already installed. As root or with sudo.
set -euo pipefail

log() { printf '[prometheus install] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if prometheus_bin="$(command -v prometheus)"; then
    log "already installed ($("$prometheus_bin" --version 2>&1 | head -n 1), $prometheus_bin)"
    exit 0
fi

sudo=()
if ((EUID != 0)); then
    command -v sudo >/dev/null 2>&1 || die "Prometheus is not installed and we are not root (no sudo): install 'prometheus' first"
    sudo=(sudo -n)
fi
command -v apt-get >/dev/null 2>&1 || die "Prometheus is not installed and apt-get is not available: install 'prometheus' first"

# Refuse service starts (policy-rc.d exit 101) for the length of the install, unless a
# policy is already in place (Debian container images ship one).
policy=/usr/sbin/policy-rc.d
made_policy=no
remove_policy() { [[ "$made_policy" == no ]] || "${sudo[@]}" rm -f "$policy"; }
trap remove_policy EXIT
if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\n# Temporary, from deploy/prometheus/install.sh: no service starts during its apt install.\nexit 101\n' |
        "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    made_policy=yes
fi

install_prometheus() {
    # Without recommends: no node exporter, no web console libraries (not used here).
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >&2
}

log "installing prometheus with apt"
# Try without `apt-get update` first (fast when the package lists are fresh enough).
if ! install_prometheus; then
    log "apt-get install failed: running apt-get update and retrying"
    "${sudo[@]}" apt-get update -q >&2
    install_prometheus
fi
prometheus_bin="$(command -v prometheus)" || die "apt reported success but no prometheus binary was found"
log "installed $("$prometheus_bin" --version 2>&1 | head -n 1) ($prometheus_bin)"
