#!/usr/bin/env bash
# Runs every Go fuzz target of Shopflow for a while each, one after the other (Go fuzzes one
# target per run). Run it through `stack.sh run`: the API's targets need the real servers.
#
# Usage: fuzz.sh [--fresh-cache] [BUDGET]
#   BUDGET        per target, as go test's -fuzztime: a duration (10m, the default) or a
#                 number of calls (2000x). The inputs of the corpus count towards a number.
#   --fresh-cache start each target from its committed seed corpus only, in a temporary
#                 cache, instead of Go's cache of the interesting inputs found by earlier runs.
#
# `make test` runs `--fresh-cache 2000x`: with a count and the seed corpus only, its cost is
# the same on every run and every machine. With Go's cache, every earlier `make fuzz` would
# make the next run's baseline longer, and a duration can expire inside that baseline, where
# go's coordinator may then fail the target with a bare "context deadline exceeded" although
# nothing failed (a race between its two contexts when -fuzztime expires). A count has no
# deadline to race.
#
# A failing input is written under the package's testdata/fuzz/, where it then runs with
# every `go test` as a regression case; commit it with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=""
if [[ "${1:-}" == "--fresh-cache" ]]; then
  cache="$(mktemp -d "${TMPDIR:-/tmp}/shopflow-fuzzcache.XXXXXX")"
  trap 'rm -rf "$cache"' EXIT
  shift
fi
budget="${1:-10m}"
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
  echo "fuzz: $pkg $name for $budget${cache:+, from the seed corpus only}"
  args=()
  # -test.fuzzcachedir is the flag go test itself sets for the cache; one given after -args
  # comes later on the test binary's command line, so it is the one that counts.
  [[ -n "$cache" ]] && args=(-args "-test.fuzzcachedir=$cache/${pkg#./}")
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$budget" "$pkg" "${args[@]}"
done
