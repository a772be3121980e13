#!/usr/bin/env bash
# run.sh: the detector scenario suite. Trains every scenario of scenarios.txt (or those whose
# name matches $1, a grep pattern) on suite.toml with 1 thread, $JOBS (1) at a time, into
# runs/detector_suite/NAME (a finished run is kept), then labels every layer and interval from
# the ground truth (docs/metrics.md) and compares with the detector (evaluate.py), for the
# held-out half and the tuning half.
#   bench/detector_suite/run.sh [PATTERN]      from the repository root, after the build
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${MOESCOPE:-$root/build/moescope}
out=${SUITE_OUT:-$root/runs/detector_suite}
brown=${BROWN:-$root/data/brown.txt}
shakes=${SHAKESPEARE:-$root/../shared/data/tinyshakespeare.txt}
pattern=${1:-.}
jobs=${JOBS:-1}
mkdir -p "$out"
export OMP_NUM_THREADS=1
one() {  # name corpus half sets...
  local name=$1 corpus=$2 half=$3; shift 3
  local data=$brown; [ "$corpus" = shakespeare ] && data=$shakes
  local args=() s start
  for s in "$@"; do args+=(--set "$s"); done
  rm -rf "${out:?}/$name"
  start=$(date +%s)
  if ! "$bin" train --config "$here/suite.toml" --data "$data" --out "$out/$name" "${args[@]}" > "$out/$name.log" 2>&1; then
    echo "FAILED $name (see $out/$name.log)"; return 0
  fi
  echo "$corpus" > "$out/$name/corpus"
  echo "$half" > "$out/$name/half"
  touch "$out/$name/done"
  echo "trained $name in $(( $(date +%s) - start )) s"
}
while IFS='|' read -r name corpus half sets; do
  name=$(echo "$name" | xargs); corpus=$(echo "$corpus" | xargs); half=$(echo "$half" | xargs)
  echo "$name" | grep -qE "$pattern" || continue
  if [ -f "$out/$name/done" ]; then echo "kept $name"; continue; fi
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
  # shellcheck disable=SC2086
  one "$name" "$corpus" "$half" $sets &
done < <(grep -v '^#' "$here/scenarios.txt" | grep -v '^\s*$')
wait
for h in held tune; do python3 "$here/evaluate.py" "$out" --half "$h"; done
