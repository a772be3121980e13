#!/usr/bin/env bash
# dp_scaling.sh: REF-CPU (configs/ref-cpu.toml) data-parallel scaling on this machine: the same
# global batch trained by 1 process and by 2 (moescope launch), one intra-op thread each.
# and by 2 with expert parallelism (train.expert_parallel=2); the two-process runs once with the
# gradient all-reduce overlapped with backward (train.overlap_grad_sync=true, the default) and
# once after backward (false). Prints tokens/s (median over the
# steps after the first), the scaling efficiency (tok/s with 2 processes / (2 x tok/s with 1))
# and the shares of rank 0's step time in the token all-to-all (dist_all_to_all_s) and in the
# other collectives (dist_comm_s: gradient all-reduce, count reductions, agreement flags), each
# including the wait for the slower rank (with the overlap: only the time blocked waiting for
# the buckets, not the time they ran during backward). Usage: bench/dp_scaling.sh [STEPS=6] [BINARY]
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
"$BIN" launch --nproc 2 -- $ARGS --set train.overlap_grad_sync=false --out "$OUT/p2n" > /dev/null 2> "$OUT/p2n.log"
"$BIN" launch --nproc 2 -- $ARGS --set train.expert_parallel=2 --out "$OUT/ep2" > /dev/null 2> "$OUT/ep2.log"
"$BIN" launch --nproc 2 -- $ARGS --set train.expert_parallel=2 --set train.overlap_grad_sync=false --out "$OUT/ep2n" > /dev/null 2> "$OUT/ep2n.log"
python3 - "$OUT" <<'PY'
import json, statistics, sys
out = sys.argv[1]
def recs(run):
    return [json.loads(l) for l in open(f"{out}/{run}/metrics.jsonl") if '"train"' in l]
r1 = recs("p1")[1:]
t1 = statistics.median(r["tokens_per_s"] for r in r1)
print(f"1 process      : {t1:9.1f} tok/s")
for run, name in (("p2n", "2 processes DP, all-reduce after backward"), ("p2", "2 processes DP, overlapped      "),
                  ("ep2n", "2 processes EP, all-reduce after backward"), ("ep2", "2 processes EP, overlapped      ")):
    rs = recs(run)[1:]
    t = statistics.median(r["tokens_per_s"] for r in rs)
    step = lambda r: 8 * 256 / r["tokens_per_s"]
    other = statistics.median(r["dist_comm_s"] / step(r) for r in rs)
    a2a = statistics.median(r["dist_all_to_all_s"] / step(r) for r in rs)
    print(f"{name}: {t:9.1f} tok/s  scaling efficiency {t / (2 * t1):.2f}  "
          f"all-to-all {100 * a2a:.1f}%  other collectives {100 * other:.1f}% of rank 0's step")
PY
