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
# With a duration, a target that fails with that bare message and writes no failing input is
# reported and counted as passed.
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
# inputs DIR prints how many inputs DIR holds (0 if there is no such directory).
inputs() { if [[ -d "$1" ]]; then find "$1" -type f | wc -l; else echo 0; fi; }
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  echo "fuzz: $pkg $name for $budget${cache:+, from the seed corpus only}"
  args=()
  # -test.fuzzcachedir is the flag go test itself sets for the cache; one given after -args
  # comes later on the test binary's command line, so it is the one that counts.
  [[ -n "$cache" ]] && args=(-args "-test.fuzzcachedir=$cache/${pkg#./}")
  corpus="${pkg#./}/testdata/fuzz/$name"
  before="$(inputs "$corpus")"
  out="$(mktemp)"
  if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$budget" "$pkg" "${args[@]}" 2>&1 | tee "$out"; then
    rm -f "$out"
    continue
  fi
  # The coordinator's race (above) fails a target with exactly this and writes no input;
  # anything else, or a new failing input, is a finding.
  if [[ "$(inputs "$corpus")" == "$before" ]] &&
    grep -q '^    context deadline exceeded$' "$out" && ! grep -q -e '^        ' -e 'panic:' "$out"; then
    echo "fuzz: $name stopped on go's fuzztime race, with no failing input: counted as passed"
    rm -f "$out"
    continue
  fi
  rm -f "$out"
  exit 1
done
