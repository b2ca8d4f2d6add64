#!/usr/bin/env bash
# Debian's Chromium for the browser tests (tests/browser), driven by Playwright for Python
# with executable_path=/usr/bin/chromium: Playwright's own browser download cannot work here.
# Idempotent: does nothing when Chromium is already there. Works on a fresh Debian machine,
# as root or with sudo.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "chromium: already installed ($(/usr/bin/chromium --version 2>/dev/null || echo '?'))"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# fonts-dejavu-core: the pages' text renders the same in every screenshot.
$SUDO apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
echo "chromium: installed ($(/usr/bin/chromium --version 2>/dev/null || echo '?'))"
