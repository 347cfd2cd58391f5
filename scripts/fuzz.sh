#!/usr/bin/env bash
# fuzz.sh TIME MODULE... runs every Fuzz target of the given modules for
# TIME each, one at a time, and fails on the first finding.
set -euo pipefail
cd "$(dirname "$0")/.."
time="$1"; shift
for m in "$@"; do
  # Each package directory with fuzz targets, and the targets in it.
  while read -r dir; do
    if [[ "$dir" == "$m" ]]; then pkg=.; else pkg="./${dir#"$m"/}"; fi
    for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go | sed 's/^func //' | sort -u); do
      echo "== $m $pkg $target ($time)"
      (cd "$m" && go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$time")
    done
  done < <(grep -l '^func Fuzz' $(find "$m" -name '*_test.go') 2>/dev/null | xargs -r -n1 dirname | sort -u)
done
