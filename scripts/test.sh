#!/usr/bin/env bash
# test.sh: the whole test suite (installs and builds first, via setup.sh). CI runs this.
set -euo pipefail
cd "$(dirname "$0")/.."
# CI builds only what the tests need (benchmarks are built by setup.sh outside CI).
if [ "${CI:-}" = "true" ]; then export MOESCOPE_BENCH=OFF; fi
bash scripts/setup.sh
# The tree is clang-formatted (.clang-format); CI fails on a file that is not.
if [ "${CI:-}" = "true" ]; then bash scripts/format.sh --check; fi
# Two test processes at once, one intra-op thread each (a 2-core machine).
OMP_NUM_THREADS=1 ctest --test-dir build --output-on-failure -j2
# CI (or MOESCOPE_CUDA_CHECK=1): the CUDA build of the environment's PyPI torch compiles and
# links its NCCL path, in build-cuda, building only what that needs (no CUDA toolkit, no GPU).
if [ "${CI:-}" = "true" ] || [ "${MOESCOPE_CUDA_CHECK:-}" = 1 ]; then
  bash scripts/cuda_link_check.sh
fi
# CI (or MOESCOPE_SANITIZE=1): the torch-free libraries and their tests under ASan and UBSan, in
# build-asan (MOESCOPE_TORCH_FREE_ONLY: no LibTorch), failing on any sanitizer report.
if [ "${CI:-}" = "true" ] || [ "${MOESCOPE_SANITIZE:-}" = 1 ]; then
  bash scripts/sanitize_check.sh
fi
