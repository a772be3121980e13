#!/usr/bin/env bash
# hf_shapes.sh: inference-time scopes at the real expert counts of the six Hugging Face MoE
# architectures moescope reads (tiny widths: suite.toml): a near-random router (1 training step)
# and a briefly trained one (STEPS, default 60) per shape, each scoped with `scope --model` over
# the first 64 KB of both corpora; prints every layer's statuses (scope_statuses.py). What a `scope --model` user
# sees on an untrained or broken checkpoint must not be a false collapse.
#   bench/detector_suite/hf_shapes.sh          from the repository root, after the build
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${MOESCOPE:-$root/build/moescope}
out=${SUITE_OUT:-$root/runs/detector_suite}/hf_shapes
brown=${BROWN:-$root/data/brown.txt}
shakes=${SHAKESPEARE:-$root/../shared/data/tinyshakespeare.txt}
steps=${STEPS:-60}
export OMP_NUM_THREADS=1
mkdir -p "$out"
# The scopes read the first 64 KB of each corpus (128 chunks of 8 x 64 characters, 13 intervals).
head -c 65536 "$brown" > "$out/brown-64k.txt"
head -c 65536 "$shakes" > "$out/shakespeare-64k.txt"
# architecture | E | K | router settings
shapes="mixtral|8|2|moe.score_func=softmax
qwen2_moe|60|4|moe.score_func=softmax
deepseek_v2_lite|64|6|moe.score_func=softmax
olmoe|64|8|moe.score_func=softmax
qwen3_moe|128|8|moe.score_func=softmax
deepseek_v3|256|8|moe.score_func=sigmoid moe.n_group=8 moe.topk_group=4"
while IFS='|' read -r arch E K router; do
  for n in 1 "$steps"; do
    name=$arch-e$E-k$K-steps$n
    [ -f "$out/$name-scope/done" ] && { echo "kept $name"; continue; }
    rm -rf "${out:?}/$name" "${out:?}/$name-scope"
    args=(--set moe.n_routed="$E" --set moe.top_k="$K" --set train.max_steps="$n" --set train.eval_every="$n"
          --set train.ckpt_every="$n")
    for s in $router; do args+=(--set "$s"); done
    "$bin" train --config "$here/suite.toml" --data "$shakes" --out "$out/$name" "${args[@]}" > "$out/$name.log" 2>&1
    "$bin" scope --model "$out/$name" --data "$out/brown-64k.txt" --data "$out/shakespeare-64k.txt" --out "$out/$name-scope" \
      --batch 8 --seq-len 64 --log-every 10 > "$out/$name-scope.log" 2>&1
    touch "$out/$name-scope/done"
    echo "scoped $name"
  done
done <<< "$shapes"
python3 "$here/scope_statuses.py" "$out"
