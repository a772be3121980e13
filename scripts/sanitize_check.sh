#!/usr/bin/env bash
# sanitize_check.sh: the torch-free libraries (core, io, hf, data, run, routing, dashboard) and
# their test binaries under AddressSanitizer and UndefinedBehaviorSanitizer (CI runs it from
# scripts/test.sh). It configures a second build directory with MOESCOPE_TORCH_FREE_ONLY=ON (no
# LibTorch: the torch layers are not built), -fsanitize=address,undefined and
# -fno-sanitize-recover=undefined, builds the torch-free test binaries and runs them through ctest:
# any sanitizer report (a leak included) fails the test that raised it, and so this script.
#
#   bash scripts/sanitize_check.sh      from the repo root, after scripts/setup.sh (npm ci)
# Environment: SANITIZE_BUILD_DIR (default build-asan), SANITIZE_JOBS (ctest -j, default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${SANITIZE_BUILD_DIR:-build-asan}
JOBS=${SANITIZE_JOBS:-2}
flags="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
launcher=()
command -v ccache > /dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
t0=$(date +%s)
mkdir -p "$BUILD"
# RelWithDebInfo-like: -O1 keeps ASan fast enough and the stack traces readable.
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -g" \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DMOESCOPE_TORCH_FREE_ONLY=ON -DMOESCOPE_BENCH=OFF -DMOESCOPE_WERROR=OFF "${launcher[@]}" \
  > "$BUILD/moescope.configure.log" 2>&1 || { cat "$BUILD/moescope.configure.log"; exit 1; }
tests=(core_tests io_tests hf_unit_tests hf_tokenizer_tests data_tests run_tests routing_tests dashboard_tests)
cmake --build "$BUILD" --target "${tests[@]}"
t1=$(date +%s)
# halt_on_error: the first report ends the binary with a failure; detect_leaks is on by default
# on x86-64 Linux. The UBSan runtime prints the stack of each report.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
OMP_NUM_THREADS=1 ctest --test-dir "$BUILD" --output-on-failure -j"$JOBS"
t2=$(date +%s)
echo "sanitize_check: torch-free libraries and tests under ASan+UBSan: built in $((t1 - t0)) s, tests passed in $((t2 - t1)) s"
