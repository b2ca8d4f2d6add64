#!/usr/bin/env bash
# `make validate-deploy`: check the deployment descriptions without a Docker engine or a cluster.
#
#   compose.yaml   `docker-compose config -q` (Debian's docker-compose, apt installed if missing;
#                  the Docker CLI's `docker compose` plugin is used instead when that one is absent)
#   deploy/k8s/    rendered with kustomize (`kustomize`, else `kubectl kustomize`) when available,
#                  else file by file; every manifest checked by kubernetes-validate --strict
#                  (installed into .venv from PyPI if missing) against one Kubernetes version;
#                  and every manifest in the folder must be listed in kustomization.yaml.
#
# Exits non-zero if any check fails (all of them run). Environment (optional):
#   KUBERNETES_VERSION   the Kubernetes version the manifests must be valid for   default 1.33.0
set -euo pipefail

log_tag="validate"
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
k8s_dir="$repo/deploy/k8s"
k8s_version="${KUBERNETES_VERSION:-1.33.0}"
kubernetes_validate_pin="kubernetes-validate==1.34.1"  # knows Kubernetes 1.11 to 1.34
venv_bin="$repo/.venv/bin"

failures=()
fail() { log "FAIL: $*"; failures+=("$1"); }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# --- compose.yaml -------------------------------------------------------------------------------
# The secrets compose.yaml requires are given placeholder values here, from an env file of our
# own, so neither the real ones nor a .env lying in the repository are read.
printf 'PAREDAO_ADMIN_TOKEN=validate-placeholder\nPAREDAO_SECRET_KEY=validate-placeholder\n' >"$work/compose.env"
compose=()
if command -v docker-compose >/dev/null 2>&1 || apt_install docker-compose; then
    compose=(docker-compose)
elif docker compose version >/dev/null 2>&1; then
    log "docker-compose could not be installed: using the Docker CLI's compose plugin instead"
    compose=(docker compose)
fi
if ((${#compose[@]} == 0)); then
    fail "compose.yaml: no validator (neither Debian's docker-compose nor the docker compose plugin)"
else
    log "compose.yaml: $("${compose[@]}" version 2>/dev/null | head -n 1)"
    if "${compose[@]}" --env-file "$work/compose.env" --project-directory "$repo" \
        -f "$repo/compose.yaml" config -q; then
        log "compose.yaml: valid"
    else
        fail "compose.yaml: ${compose[*]} config refused it (above)"
    fi
fi

# --- Kubernetes manifests -----------------------------------------------------------------------
if ! "$venv_bin/kubernetes-validate" --version >/dev/null 2>&1; then
    [[ -x "$venv_bin/pip" ]] || die "no virtualenv at $repo/.venv (make .venv/.installed)"
    log "installing $kubernetes_validate_pin into .venv"
    "$venv_bin/pip" install --quiet --disable-pip-version-check "$kubernetes_validate_pin" >&2
fi

# Every manifest in the folder is part of the kustomization (a forgotten file is never applied).
for file in "$k8s_dir"/*.yaml; do
    name="${file##*/}"
    [[ "$name" == kustomization.yaml ]] && continue
    grep -qE "^[[:space:]]*-[[:space:]]*${name//./\\.}[[:space:]]*(#.*)?$" "$k8s_dir/kustomization.yaml" ||
        fail "deploy/k8s/$name is not listed in kustomization.yaml resources"
done

manifests=()
if command -v kustomize >/dev/null 2>&1 && kustomize build "$k8s_dir" >"$work/k8s.yaml" 2>"$work/kustomize.err"; then
    log "deploy/k8s: rendered with kustomize"
    manifests=("$work/k8s.yaml")
elif command -v kubectl >/dev/null 2>&1 && kubectl kustomize "$k8s_dir" >"$work/k8s.yaml" 2>"$work/kustomize.err"; then
    log "deploy/k8s: rendered with kubectl kustomize"
    manifests=("$work/k8s.yaml")
else
    if [[ -s "$work/kustomize.err" ]]; then
        cat "$work/kustomize.err" >&2
        fail "deploy/k8s: kustomize could not render the kustomization (above)"
    fi
    log "deploy/k8s: no kustomize available, checking each manifest as written"
    for file in "$k8s_dir"/*.yaml; do
        [[ "${file##*/}" == kustomization.yaml ]] || manifests+=("$file")
    done
fi

if "$venv_bin/kubernetes-validate" --strict --quiet -k "$k8s_version" "${manifests[@]}"; then
    log "deploy/k8s: $(cat "${manifests[@]}" | grep -c '^kind:') resources valid for Kubernetes $k8s_version (strict)"
else
    fail "deploy/k8s: kubernetes-validate refused a manifest (above)"
fi

if ((${#failures[@]} > 0)); then
    log "${#failures[@]} check(s) failed"
    exit 1
fi
log "all deployment descriptions are valid"
