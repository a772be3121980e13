#!/usr/bin/env bash
# run.sh: the detector scenario suite. Trains every scenario of scenarios.txt (or those whose
# name matches $1, a grep pattern) on suite.toml with 1 thread, one after another, into
# runs/detector_suite/NAME (a finished run is kept), then labels every layer and interval from
# the ground truth (docs/metrics.md) and compares with the detector (evaluate.py).
#   bench/detector_suite/run.sh [PATTERN]      from the repository root, after the build
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${MOESCOPE:-$root/build/moescope}
out=${SUITE_OUT:-$root/runs/detector_suite}
brown=${BROWN:-$root/data/brown.txt}
shakes=${SHAKESPEARE:-$root/../shared/data/tinyshakespeare.txt}
pattern=${1:-.}
mkdir -p "$out"
export OMP_NUM_THREADS=1
grep -v '^#' "$here/scenarios.txt" | grep -v '^\s*$' | while IFS='|' read -r name corpus sets; do
  name=$(echo "$name" | xargs); corpus=$(echo "$corpus" | xargs)
  echo "$name" | grep -qE "$pattern" || continue
  if [ -f "$out/$name/done" ]; then echo "kept $name"; continue; fi
  data=$brown; [ "$corpus" = shakespeare ] && data=$shakes
  args=()
  for s in $sets; do args+=(--set "$s"); done
  rm -rf "${out:?}/$name"
  start=$(date +%s)
  "$bin" train --config "$here/suite.toml" --data "$data" --out "$out/$name" "${args[@]}" > "$out/$name.log" 2>&1
  echo "$corpus" > "$out/$name/corpus"
  touch "$out/$name/done"
  echo "trained $name in $(( $(date +%s) - start )) s"
done
python3 "$here/evaluate.py" "$out"
