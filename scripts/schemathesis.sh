#!/usr/bin/env bash
# Schemathesis, the property-based OpenAPI tester the API's conformance test runs
# (cmd/shopflow/openapi_conformance_test.go), in a Python venv under the state dir.
# Usage: schemathesis.sh ensure|path
#   ensure  create the venv and install the pinned version if missing (idempotent), print
#           the path of the schemathesis command
#   path    print that path, exit 1 if it is not installed
# The test finds it through SHOPFLOW_SCHEMATHESIS (stack.sh run exports it).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

VERSION="4.32.5"
VENV="$SHOPFLOW_STATE_DIR/tools/schemathesis-$VERSION"
BIN="$VENV/bin/schemathesis"

installed() { [[ -x "$BIN" ]] && "$BIN" --version >/dev/null 2>&1; }

case "${1:-}" in
  ensure)
    if ! installed; then
      command -v python3 >/dev/null || die "python3 is needed for schemathesis"
      rm -rf "$VENV"
      python3 -m venv "$VENV" >&2
      "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION" >&2
      installed || die "schemathesis $VERSION did not install into $VENV"
    fi
    echo "$BIN"
    ;;
  path) installed && echo "$BIN" ;;
  *) echo "usage: $0 ensure|path" >&2; exit 2 ;;
esac
