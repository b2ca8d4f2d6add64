#!/usr/bin/env bash
# Debian's Chromium for the browser tests (tests/browser), driven by Playwright for Python
# with executable_path=/usr/bin/chromium: Playwright's own browser download cannot work here.
# Idempotent: does nothing when Chromium is already there. Works on a fresh Debian machine,
# as root or with sudo.
set -euo pipefail

log_tag="browser install"
# shellcheck source=../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"

if [[ -x /usr/bin/chromium ]]; then
    log "already installed ($(/usr/bin/chromium --version 2>/dev/null || echo '?'))"
    exit 0
fi
# fonts-dejavu-core: the pages' text renders the same in every screenshot.
apt_install chromium fonts-dejavu-core || die "could not install Chromium (above): install 'chromium' first"
log "installed ($(/usr/bin/chromium --version 2>/dev/null || echo '?'))"
