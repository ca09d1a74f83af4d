#!/usr/bin/env bash
# Debian's chromium, for the console's browser tests (console/browser_test.go drives it with
# chromedp). Usage: chromium.sh ensure|path
#   ensure  install the chromium package if it is missing (idempotent), print its path
#   path    print the browser's path, exit 1 if it is not installed
# The tests find it through SHOPFLOW_CHROMIUM (stack.sh run exports it) or on PATH.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

browser_path() { command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null; }

case "${1:-}" in
  ensure)
    browser_path >/dev/null || apt_install chromium fonts-dejavu-core
    browser_path || die "chromium is not on PATH after installing it"
    ;;
  path) browser_path ;;
  *) echo "usage: $0 ensure|path" >&2; exit 2 ;;
esac
