#!/usr/bin/env bash
# libtorch_compare.sh: the same moescope source built against two LibTorch builds (issue 30:
# Debian's libtorch-dev 1.13 and PyPI torch's 2.x), measured side by side on this machine, the
# cells alternating A, B, A, B so that both see the same load:
#   REF-CPU training    train_step_bench, MoE model, fp32 and bf16, 1 and all threads (its own
#                       matmul peaks per build);
#   the demo            `moescope train --config configs/demo.toml` (500 steps, its defaults),
#                       wall seconds;
#   decoding            decode_bench on the demo and shakespeare presets, fp32 and bf16.
# Usage: bench/libtorch_compare.sh BUILD_A BUILD_B [ROUNDS=2] [STEPS=20]
#   e.g.  bench/libtorch_compare.sh build-deb build 2 20
set -euo pipefail
cd "$(dirname "$0")/.."
A=${1:?first build dir}; B=${2:?second build dir}; ROUNDS=${3:-2}; STEPS=${4:-20}
for d in "$A" "$B"; do
  for t in moescope bench/train_step_bench bench/decode_bench; do
    [ -x "$d/$t" ] || { echo "libtorch_compare: $d/$t is missing (build it first)" >&2; exit 2; }
  done
done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for r in $(seq 1 "$ROUNDS"); do
  for d in "$A" "$B"; do
    echo "=== round $r: $d ($("$d/moescope" info 2>/dev/null | grep -m1 -i 'libtorch' || true))"
    "$d/bench/train_step_bench" --models moe --steps "$STEPS" --rounds 1 | grep -E 'matmul peak|^moe '
    rm -rf "$tmp/demo"
    s=$(date +%s.%N)
    "$d/moescope" train --config configs/demo.toml --out "$tmp/demo" > "$tmp/demo.log" 2>&1
    e=$(date +%s.%N)
    echo "demo: $(echo "$e - $s" | bc) s wall; $(grep -m1 'train.dtype' "$tmp/demo.log"); $(grep -o 'val_loss[^,]*' "$tmp/demo.log" | tail -1)"
    for dt in fp32 bf16; do "$d/bench/decode_bench" --dtype "$dt" --reps 2 --tokens 200 | grep -v '^config'; done
  done
done
