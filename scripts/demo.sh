#!/usr/bin/env bash
# demo.sh: the README's main job: a short training run on the default corpus (Brown), then a
# sample from it. Replaces runs/demo if it exists.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf runs/demo
build/moescope train --config configs/demo.toml --out runs/demo
build/moescope generate --run runs/demo --prompt "The jury said" --tokens 200 --temperature 0.8 --top-k 40 --seed 1
