#!/usr/bin/env bash
# Runs every Go fuzz target of Shopflow for a while each, one after the other (Go fuzzes one
# target per run). Run it through `stack.sh run`: the API's targets need the real servers.
# Usage: fuzz.sh [FUZZTIME]   FUZZTIME per target, as go test's -fuzztime (default 10m)
# A failing input is written under the package's testdata/fuzz/, where it then runs with
# every `go test` as a regression case; commit it with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-10m}"
# package  target
targets=(
  "./api FuzzWriteAPI"
  "./api FuzzReadAPI"
  "./api FuzzInteger"
  "./projections FuzzParseCursor"
  "./projections FuzzSearchText"
)
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  echo "fuzz: $pkg $name for $fuzztime"
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg"
done
