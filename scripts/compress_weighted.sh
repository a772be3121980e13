#!/usr/bin/env bash
# compress_weighted.sh: routing-aware vs unweighted expert compression at the same parameter
# budget (README "Compressing experts", docs/compression.md). The calibration corpus is the
# first CALIB_CHARS characters of TinyShakespeare's training split; `scope --model` measures the
# source model's routing over it; then every setting is compressed unweighted and weighted by
# that routing (floors 0.1 and 0), and evaluated on the validation split (the last 10%, never in
# the calibration text) of TinyShakespeare and of Brown. Then the same at r 32 / m 8 on HF_SRC's
# model as a Hugging Face directory written by `moescope export` (scope --model and compress
# --model on that directory, eval --model). The export writes deepseek_v3, which routes with
# sigmoid scores, so HF_SRC must be a sigmoid-scored run (the shakespeare-fine preset with
# --set moe.score_func=sigmoid); PARTS=run or PARTS=hf runs one half. One JSON line per row goes
# to $OUT (appended).
# Usage: [HF_SRC=RUN] [PARTS=run,hf] scripts/compress_weighted.sh [MOESCOPE_BINARY] [SRC_RUN]
#        (1 thread, from the repo root)
set -euo pipefail
BIN=${1:-build/moescope}
SRC=${2:-runs/shakespeare-fine}
SHAKES=${SHAKES:-../shared/data/tinyshakespeare.txt}
BROWN=${BROWN:-data/brown.txt}
CALIB_CHARS=${CALIB_CHARS:-300000}
WORK=${WORK:-$SRC-weighted}
OUT=${OUT:-$SRC-weighted.jsonl}
HF_SRC=${HF_SRC:-$SRC}
PARTS=${PARTS:-run,hf}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
mkdir -p "$WORK"
head -c "$CALIB_CHARS" "$SHAKES" > "$WORK/calibration.txt"
val() { "$BIN" eval "$@" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["val_loss"])'; }
row() {  # name, summary-json-or-empty, --run DIR | --model DIR
  local name=$1 summary=$2 kind=$3 dir=$4
  local ls lb
  if [ "$kind" = --run ]; then ls=$(val --run "$dir"); else ls=$(val --model "$dir" --data "$SHAKES"); fi
  lb=$(val "$kind" "$dir" --data "$BROWN")
  python3 - "$name" "$summary" "$ls" "$lb" >>"$OUT" <<'PY'
import json, sys
name, summary, ls, lb = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
r = {"setting": name, "val_loss_shakespeare": ls, "val_loss_brown": lb}
if summary:
    s = json.loads(summary)
    r.update({"expert_params_after": s["expert_params_after"], "model_params_after": s["model_params_after"],
              "rank": s["banks"][0]["rank"], "bases": s["banks"][0]["bases"],
              "max_rel_error": max(g["rel_error"] for g in s["groups"]),
              "max_weighted_rel_error": max((g.get("weighted_rel_error", g["rel_error"]) for g in s["groups"])),
              "weighted_by": s.get("weighted_by"), "weight_floor": s.get("weight_floor"), "wall_s": s["wall_s"]})
print(json.dumps(r))
PY
  tail -1 "$OUT"
}
if [[ ",$PARTS," == *",run,"* ]]; then
rm -rf "$WORK/routing"
"$BIN" scope --model "$SRC" --data "$WORK/calibration.txt" --out "$WORK/routing" > "$WORK/routing.log" 2>&1
row uncompressed "" --run "$SRC"
# name  rank_ratio  basis_ratio
SETTINGS=("r32-m8 0.5 0.25" "r16-m4 0.25 0.125")
for s in "${SETTINGS[@]}"; do
  read -r name rr br <<<"$s"
  for w in none 0.1 0; do
    dst="$WORK/c-$name-w$w"
    rm -rf "$dst"
    extra=(); [ "$w" != none ] && extra=(--weight-by "$WORK/routing" --weight-floor "$w")
    summary=$("$BIN" compress --run "$SRC" --out "$dst" --solver altmin --rank-ratio "$rr" --basis-ratio "$br" \
              --max-iters 40 "${extra[@]}" 2>"$dst.log")
    row "$name weight=$w" "$summary" --run "$dst"
  done
done
fi
# The model imported from a Hugging Face directory written by moescope's own export.
if [[ ",$PARTS," == *",hf,"* ]]; then
HF="$WORK/hf"
rm -rf "$HF" "$WORK/routing-hf"
"$BIN" export --run "$HF_SRC" --out "$HF" > "$WORK/export.log" 2>&1
"$BIN" scope --model "$HF" --data "$WORK/calibration.txt" --out "$WORK/routing-hf" > "$WORK/routing-hf.log" 2>&1
row "hf uncompressed" "" --model "$HF"
for w in none 0.1 0; do
  dst="$WORK/hf-r32-m8-w$w"
  rm -rf "$dst"
  extra=(); [ "$w" != none ] && extra=(--weight-by "$WORK/routing-hf" --weight-floor "$w")
  summary=$("$BIN" compress --model "$HF" --out "$dst" --solver altmin --rank-ratio 0.5 --basis-ratio 0.25 \
            --max-iters 40 "${extra[@]}" 2>"$dst.log" | tail -1)
  row "hf r32-m8 weight=$w" "$summary" --model "$dst"
done
fi
