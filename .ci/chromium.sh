#!/usr/bin/env bash
# Debian's Chromium for the browser tests (tests/browser), installed only when /usr/bin/chromium is missing.
# Idempotent: a machine that has it already does nothing. Never downloads a browser build of its own.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi

run_as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

export DEBIAN_FRONTEND=noninteractive
run_as_root apt-get update
run_as_root apt-get install -y chromium
test -x /usr/bin/chromium
