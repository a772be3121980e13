#!/usr/bin/env bash
# cuda_link_check.sh: the compile-and-link check of the CUDA build, on a machine with no CUDA
# toolkit and no GPU (CI runs it from scripts/test.sh). It configures a second build directory
# against the project environment's PyPI torch, a CUDA build (cmake/torch_wheel.cmake with
# MOESCOPE_TORCH_CUDA=ON: the wheel's headers and libtorch_cuda, the nvidia-* wheels' CUDA
# runtime and NCCL headers), without tests and benchmarks, and builds only `nccl_check` and the
# libraries under it (core, ops, dist): it fails when the NCCL path of the world group
# (src/dist/process_group.cpp) does not compile or link. Then it runs nccl_check, which fails
# unless the NCCL path was compiled in and checks that the CUDA build runs on this CPU
# (nothing runs on a GPU here; on a GPU it would also run the NCCL collectives).
#
#   bash scripts/cuda_link_check.sh      from the repo root, after scripts/setup.sh
# Environment: MOESCOPE_PYTHON (default .venv/bin/python), MOESCOPE_TORCH_WHEEL (default: that
# Python's site-packages/torch), CUDA_BUILD_DIR (default build-cuda).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${MOESCOPE_PYTHON:-$PWD/.venv/bin/python}
BUILD=${CUDA_BUILD_DIR:-build-cuda}
TORCH_DIR=${MOESCOPE_TORCH_WHEEL:-$("$PY" -c 'import os, torch; print(os.path.dirname(torch.__file__))')}
TORCH_CUDA=$("$PY" -c 'import torch; print(torch.version.cuda or "")')
if [ -z "$TORCH_CUDA" ]; then
  echo "cuda_link_check: the environment's torch ($TORCH_DIR) is a CPU build: no CUDA build to check" >&2
  exit 1
fi
launcher=()
command -v ccache > /dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
t0=$(date +%s)
mkdir -p "$BUILD"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOESCOPE_TESTS=OFF -DMOESCOPE_BENCH=OFF \
  -DMOESCOPE_PYTHON="$PY" -DMOESCOPE_TORCH_WHEEL="$TORCH_DIR" -DMOESCOPE_TORCH_CUDA=ON "${launcher[@]}" \
  > "$BUILD/moescope.configure.log" 2>&1 || { cat "$BUILD/moescope.configure.log"; exit 1; }
cmake --build "$BUILD" --target nccl_check
t1=$(date +%s)
"$BUILD/nccl_check"
echo "cuda_link_check: LibTorch $("$PY" -c 'import torch; print(torch.__version__)') (CUDA $TORCH_CUDA): nccl_check built in $((t1 - t0)) s and passed"
