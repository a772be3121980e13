#!/usr/bin/env bash
# run_all.sh: the issue-29 measurements: the seed's own model at iteration 1 and 2, and the
# iteration-1 ablations (one change each), all at the harness's default CPU scale, 1 thread,
# then the side-by-side tables. Two runs at a time (the machine has 2 cores).
#   MOESCOPE_SEED_SRC=/path/to/seed-tree bash bench/seed/run_all.sh [OUT_DIR] [ITER_STEPS] [ABLATION_STEPS] [all|iterations|ablations]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/seed}
ITER_STEPS=${2:-1500}
ABL_STEPS=${3:-600}
WHAT=${4:-all}
PY=${PY:-.venv/bin/python}
export PYTHONPATH=${PYTHONPATH:-build/python}
: "${MOESCOPE_SEED_SRC:?set MOESCOPE_SEED_SRC to the seed repository tree}"
mkdir -p "$OUT"
run() {  # NAME ITER VARIANT STEPS
  [ -f "$OUT/$1/done" ] && return 0
  rm -rf "${OUT:?}/$1"
  "$PY" bench/seed/harness.py --iter "$2" --variant "$3" --steps "$4" --out "$OUT/$1" > "$OUT/$1.log" 2>&1
}
pairs() {  # STEPS JOB...
  local steps=$1; shift
  local jobs=("$@")
  for ((i = 0; i < ${#jobs[@]}; i += 2)); do
    run ${jobs[i]} "$steps" &
    if [ $((i + 1)) -lt ${#jobs[@]} ]; then run ${jobs[i + 1]} "$steps" & fi
    wait
  done
}
if [ "$WHAT" != ablations ]; then
  pairs "$ITER_STEPS" "i1-base 1 base" "i2-base 2 base"
fi
if [ "$WHAT" != iterations ]; then
  pairs "$ABL_STEPS" "i1-untied 1 untied" "i1-scaled_init 1 scaled_init" \
    "i1-bias_select_only 1 bias_select_only" "i1-no_renorm 1 no_renorm" \
    "i1-zero_center_bias 1 zero_center_bias" "i1-prop_bias 1 prop_bias" \
    "i1-bias_on_scores 1 bias_on_scores" "i1-dense_first 1 dense_first" "i1-cosine_lr 1 cosine_lr"
fi
"$PY" bench/seed/compare.py "$OUT"/i1-base "$OUT"/i2-base --at 100,250,500,1000,1500 > "$OUT/iterations.md" || true
"$PY" bench/seed/compare.py "$OUT"/i1-* --at 100,250,500,1000 > "$OUT/ablations.md" || true
