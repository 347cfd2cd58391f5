#!/usr/bin/env bash
# check-deps.sh fails when two modules of the workspace require different
# versions of the same dependency. Fix drift with `go work sync`, which
# writes the workspace's chosen versions back into every go.mod.
set -euo pipefail
cd "$(dirname "$0")/.."
awk '
  FNR == 1 { inreq = 0 }
  /^require \(/ { inreq = 1; next }
  inreq && /^\)/ { inreq = 0; next }
  /^require [^(]/ { print FILENAME, $2, $3; next }
  inreq && NF >= 2 && $1 !~ /^\/\// { print FILENAME, $1, $2 }
' */go.mod | awk '
  $2 ~ /^github.com\/hookline\/hookline\// { next }
  {
    if (($2 in ver) && ver[$2] != $3) {
      printf "dependency drift: %s is %s in %s but %s in %s\n", $2, ver[$2], file[$2], $3, $1
      bad = 1
    }
    if (!($2 in ver)) { ver[$2] = $3; file[$2] = $1 }
  }
  END { exit bad }
'
echo "dependencies: one version each across $(ls -d */go.mod | wc -l) modules"
