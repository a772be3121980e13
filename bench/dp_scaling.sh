#!/usr/bin/env bash
# dp_scaling.sh: REF-CPU (configs/ref-cpu.toml) data-parallel scaling on this machine: the same
# global batch trained by 1 process and by 2 (moescope launch), one intra-op thread each.
# Prints tokens/s (median over the steps after the first), the scaling efficiency
# (tok/s with 2 processes / (2 x tok/s with 1)) and the share of rank 0's step time spent in
# collectives (dist_comm_s: gradient all-reduce, count reductions and agreement flags,
# including the wait for the slower rank). Usage: bench/dp_scaling.sh [STEPS=6] [BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-6}
BIN=${2:-build/moescope}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
ARGS="train --config configs/ref-cpu.toml --set train.batch_size=8 --set train.seq_len=256 --set train.max_steps=$STEPS
  --set train.log_every=1 --set train.eval_every=100000 --set train.ckpt_every=100000 --set train.eval_max_batches=1
  --set scope.tensorboard=false --set data.cache_dir=$OUT/cache"
export OMP_NUM_THREADS=1
"$BIN" $ARGS --out "$OUT/p1" > /dev/null 2> "$OUT/p1.log"
"$BIN" launch --nproc 2 -- $ARGS --out "$OUT/p2" > /dev/null 2> "$OUT/p2.log"
python3 - "$OUT" <<'PY'
import json, statistics, sys
out = sys.argv[1]
def recs(run):
    return [json.loads(l) for l in open(f"{out}/{run}/metrics.jsonl") if '"train"' in l]
r1, r2 = recs("p1")[1:], recs("p2")[1:]
t1 = statistics.median(r["tokens_per_s"] for r in r1)
t2 = statistics.median(r["tokens_per_s"] for r in r2)
share = statistics.median(r["dist_comm_s"] / (8 * 256 / r["tokens_per_s"]) for r in r2)
print(f"1 process : {t1:9.1f} tok/s")
print(f"2 processes: {t2:9.1f} tok/s  scaling efficiency {t2 / (2 * t1):.2f}  collectives {100 * share:.1f}% of rank 0's step")
PY
