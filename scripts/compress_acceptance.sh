#!/usr/bin/env bash
# compress_acceptance.sh: the expert-compression acceptance table (docs/compression.md, README):
# compresses runs/shakespeare-fine at several ratio settings with both solvers, evaluates each
# compressed run, and appends one JSON line per setting to runs/shakespeare-fine-acceptance.jsonl.
# Usage: scripts/compress_acceptance.sh [MOESCOPE_BINARY]   (1 thread, from the repository root)
set -euo pipefail
BIN=${1:-build/moescope}
SRC=runs/shakespeare-fine
OUT=runs/shakespeare-fine-acceptance.jsonl
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
base=$("$BIN" eval --run "$SRC" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["val_loss"])')
echo "{\"setting\":\"uncompressed\",\"val_loss\":$base}" > "$OUT"
# name  scope  rank_ratio  basis_ratio
SETTINGS=(
  "r100-b25 layer 1.0 0.25"
  "r75-b25 layer 0.75 0.25"
  "r50-b25 layer 0.5 0.25"
  "r100-b50 layer 1.0 0.5"
  "r100-b25-global global 1.0 0.25"
)
for s in "${SETTINGS[@]}"; do
  read -r name scope rr br <<<"$s"
  for solver in altmin gradient; do
    iters=40; [ "$solver" = gradient ] && iters=300
    dst="$SRC-c-$name-$solver"
    rm -rf "$dst"
    summary=$("$BIN" compress --run "$SRC" --out "$dst" --solver "$solver" --scope "$scope" --rank-ratio "$rr" \
              --basis-ratio "$br" --max-iters "$iters" 2>"$dst.log")
    loss=$("$BIN" eval --run "$dst" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["val_loss"])')
    python3 - "$summary" "$loss" "$base" "$name" "$iters" >>"$OUT" <<'PY'
import json, sys
s = json.loads(sys.argv[1]); loss = float(sys.argv[2]); base = float(sys.argv[3])
print(json.dumps({"setting": sys.argv[4], "solver": s["solver"], "scope": s["scope"], "iters": int(sys.argv[5]),
                  "rank": s["banks"][0]["rank"], "bases": s["banks"][0]["bases"],
                  "expert_params_before": s["expert_params_before"], "expert_params_after": s["expert_params_after"],
                  "expert_rate": s["expert_compression_rate"], "model_rate": s["model_compression_rate"],
                  "max_rel_error": max(g["rel_error"] for g in s["groups"]), "val_loss": loss,
                  "rel_change": loss / base - 1, "wall_s": s["wall_s"], "stop_reason": s["stop_reason"]}))
PY
    tail -1 "$OUT"
  done
done
