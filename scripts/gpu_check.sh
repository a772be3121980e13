#!/usr/bin/env bash
# gpu_check.sh: builds moescope against a GPU machine's PyTorch (a CUDA LibTorch) and checks it
# there, in one call of the device tool, within 8 minutes (GPU_CHECK_BUDGET_S):
#   environment facts -> configure -> build (moescope + the torch test binaries) -> the numerics
#   tests of tests/ops and tests/model on the GPU (MOESCOPE_TEST_DEVICE=cuda) -> the NCCL path at
#   world size 1 (nccl_check: the world group's collectives on CUDA tensors through
#   ProcessGroupNCCL; dist_tests' Backend.* checks which backend this build chose) -> selfcheck on
#   cuda -> a 200-step training run of configs/shakespeare.toml + eval / generate / scope ->
#   tokens/s of the REF shape (bf16, fp32, batch 64, scope off) -> a bf16 matmul yardstick ->
#   the CPU-only test binaries, as far as the time allows.
# Every step has its own time limit; a failed step does not stop the others (only the steps that
# need its output). The summary table comes last; logs and reports are written to $OUT.
#
#   bash scripts/gpu_check.sh          from the repo root; the device tool's carry: [".gpu"]
#
# Needs .gpu/ (scripts/gpu_kit.sh): our Debian dev packages unpacked, the training text, uPlot.
# Environment: OUT (default /tmp/gpu-check-out), GPU_CHECK_BUDGET_S (default 480),
#   BUILD_DIR (default build-gpu), JOBS (default: all cores),
#   GPU_CHECK_CONFIGURE_ONLY=1: stop after configure (a dry run of the kit on a CPU machine;
#   TORCH_CMAKE_PREFIX then names the LibTorch, and the CUDA settings are left out).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
KIT=$ROOT/.gpu
KLIB=$KIT/root/usr/lib/x86_64-linux-gnu
OUT=${OUT:-/tmp/gpu-check-out}
BUILD=${BUILD_DIR:-build-gpu}
BUDGET=${GPU_CHECK_BUDGET_S:-480}
JOBS=${JOBS:-$(nproc)}
CONFIGURE_ONLY=${GPU_CHECK_CONFIGURE_ONLY:-0}
LOGS=/tmp/gpu-check-logs
T0=$(date +%s)
mkdir -p "$OUT"
rm -rf "$LOGS" && mkdir -p "$LOGS/xml"
BIN=$(realpath -m "$BUILD")/moescope
DATA=$KIT/data/tinyshakespeare.txt
SUMMARY=()   # rows of the final table
RESULTS=()   # key numbers, printed under the table

elapsed() { echo $(( $(date +%s) - T0 )); }
note() { RESULTS+=("$*"); }
summary_row() { SUMMARY+=("$(printf '%-20s %-8s %5s  %s' "$1" "$2" "$3" "$4")"); }

# step NAME LIMIT_S CMD...: runs CMD under `timeout` (LIMIT_S, cut to the time left), output in
# $LOGS/NAME.log; prints the log's tail (longer on failure) and records a summary row.
# Returns CMD's exit status (124/137: timed out; 99: skipped for lack of time).
step() {
  local name=$1 limit=$2
  shift 2
  local left=$(( BUDGET - $(elapsed) - 5 ))
  if (( left < 10 )); then
    summary_row "$name" SKIP - "no time left"
    return 99
  fi
  (( limit > left )) && limit=$left
  echo "=== $name (limit ${limit}s, t=$(elapsed)s)"
  local t rc
  t=$(date +%s)
  timeout -k 10 "$limit" "$@" > "$LOGS/$name.log" 2>&1
  rc=$?
  local dt=$(( $(date +%s) - t )) st=OK
  if (( rc == 124 || rc == 137 )); then st=TIMEOUT; elif (( rc != 0 )); then st="FAIL($rc)"; fi
  if [ "$st" = OK ]; then tail -n 3 "$LOGS/$name.log"; else tail -n 25 "$LOGS/$name.log"; fi
  summary_row "$name" "$st" "${dt}s" "${STEP_NOTE:-}"
  STEP_NOTE=""
  return $rc
}
skip() { summary_row "$1" SKIP - "$2"; }
py() { env -u LD_LIBRARY_PATH python3 "$@"; }   # the image's python, without our library path

# ---------------------------------------------------------------------------------------------
# 1. Environment facts (also the values the configure needs).
env_facts() {
  echo "## date: $(date -u +%FT%TZ)  host: $(hostname)  kernel: $(uname -r)  arch: $(uname -m)"
  echo "## os-release"; cat /etc/os-release 2>/dev/null | grep -E '^(PRETTY_NAME|VERSION_ID|ID)='
  echo "## cpu/mem: $(nproc) cores; $(free -g 2>/dev/null | awk '/Mem:/{print $2 " GiB RAM"}')"
  echo "## glibc: $(ldd --version 2>/dev/null | head -1)"
  echo "## nvidia-smi"; nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader 2>&1 | head -3
  for c in c++ g++ gcc clang++ cmake ninja nvcc pkg-config python3 make ld; do
    printf '## %-10s %s  %s\n' "$c" "$(command -v $c || echo MISSING)" "$($c --version 2>/dev/null | head -1)"
  done
  echo "## nvcc: $(nvcc --version 2>/dev/null | tail -2 | head -1)"
  echo "## zlib.h: $(ls /usr/include/zlib.h 2>/dev/null || echo absent)  httplib.h: $(ls /usr/include/httplib.h 2>/dev/null || echo absent)"
  for l in libssl.so.3 libcrypto.so.3 libbrotlidec.so.1 libz.so.1 libcuda.so.1 libstdc++.so.6; do
    printf '## %-18s %s\n' "$l" "$(have_lib "$l" && echo present || echo absent)"
  done
  echo "## libstdc++ newest GLIBCXX: $(strings "$(find_lib libstdc++.so.6)" 2>/dev/null | grep -E '^GLIBCXX_[0-9.]+$' | sort -V | tail -1)"
  echo "## python/torch"
  py - <<'EOF'
import sys, os
print("python", sys.version.split()[0], sys.executable)
try:
    import torch
    print("torch", torch.__version__, "cuda", torch.version.cuda, "git", getattr(torch.version, "git_version", "?")[:12])
    print("TORCH_CXX11_ABI", int(torch._C._GLIBCXX_USE_CXX11_ABI))
    print("TORCH_CMAKE_PREFIX", torch.utils.cmake_prefix_path)
    print("cuda_available", torch.cuda.is_available(), "cudnn", torch.backends.cudnn.version())
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        print("device", p.name, f"sm_{p.major}{p.minor}", p.multi_processor_count, "SMs", p.total_memory // 2**20, "MiB")
    print("tf32 matmul allowed by default:", torch.backends.cuda.matmul.allow_tf32)
except Exception as e:
    print("torch import failed:", e)
try:
    import nvidia.cudnn as c
    print("CUDNN_PIP_DIR", list(c.__path__)[0])
except Exception as e:
    print("CUDNN_PIP_DIR none", e)
EOF
}
find_lib() {
  local f
  f=$(ldconfig -p 2>/dev/null | awk -v l="$1" '$1 == l {print $NF; exit}')
  [ -n "$f" ] && { echo "$f"; return 0; }
  for d in /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu /lib64 /usr/lib64 /usr/local/nvidia/lib64; do
    [ -e "$d/$1" ] && { echo "$d/$1"; return 0; }
  done
  return 1
}
have_lib() { find_lib "$1" > /dev/null; }

export PATH=/opt/torch/.venv/bin:$PATH:/usr/local/cuda/bin
export -f env_facts find_lib have_lib py
STEP_NOTE=""
step env 90 bash -c env_facts
cp "$LOGS/env.log" "$OUT/env.txt"
grep -E '^## (os-release|PRETTY|nvidia|c\+\+|cmake|ninja|nvcc|pkg-config)|^(PRETTY_NAME|torch|TORCH_|cuda_available|device|NVIDIA)' "$LOGS/env.log" | head -20
fact() { awk -v k="$1" '$1 == k {print $2; exit}' "$LOGS/env.log"; }
TORCH_PREFIX=${TORCH_CMAKE_PREFIX:-$(fact TORCH_CMAKE_PREFIX)}
CUDNN_PIP_DIR=$(fact CUDNN_PIP_DIR)
[ -d "$CUDNN_PIP_DIR" ] || CUDNN_PIP_DIR=""
NVCC="" CUDA_ROOT=""

# ---------------------------------------------------------------------------------------------
# 2. Settings for the configure: CUDA toolkit, cuDNN, pkg-config, missing runtime libraries, uPlot.
CMAKE_ARGS=(
  -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOESCOPE_BENCH=OFF -DMOESCOPE_TESTS=ON
  "-DCMAKE_PREFIX_PATH=${TORCH_PREFIX};$KIT/root/usr"
  "-DCMAKE_LIBRARY_PATH=$KLIB"
  "-DCMAKE_INCLUDE_PATH=$KIT/root/usr/include"
  "-Dnlohmann_json_DIR=$KIT/root/usr/share/cmake/nlohmann_json"
  "-DCLI11_DIR=$KIT/root/usr/share/cmake/CLI11"
  "-Dspdlog_DIR=$KLIB/cmake/spdlog" "-Dfmt_DIR=$KLIB/cmake/fmt"
  "-Dtomlplusplus_DIR=$KLIB/cmake/tomlplusplus" "-DGTest_DIR=$KLIB/cmake/GTest"
)
export CMAKE_POLICY_VERSION_MINIMUM=3.5   # CMake 4 refuses configs written for CMake < 3.5
if pkg-config --version > /dev/null 2>&1; then
  CMAKE_ARGS+=("-DPKG_CONFIG_EXECUTABLE=$(command -v pkg-config)")
else
  CMAKE_ARGS+=("-DPKG_CONFIG_EXECUTABLE=$KIT/bin/pkg-config")
  note "pkg-config: the kit's pkgconf (none on the machine)"
fi
# libcpp-httplib's own dependencies: the kit's copies only for those the machine lacks.
FALLBACK=/tmp/gpu-check-fallback
rm -rf "$FALLBACK" && mkdir -p "$FALLBACK"
for l in libssl.so.3 libcrypto.so.3 libbrotlicommon.so.1 libbrotlidec.so.1 libbrotlienc.so.1; do
  have_lib "$l" || { ln -s "$KIT/root/fallback/$l" "$FALLBACK/$l"; note "runtime lib from the kit: $l"; }
done
[ -n "$(ls -A "$FALLBACK")" ] && export LD_LIBRARY_PATH=$FALLBACK${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# The dashboard embeds uPlot from node_modules (not in the working tree that travels).
if [ ! -s node_modules/uplot/dist/uPlot.iife.min.js ]; then
  mkdir -p node_modules/uplot/dist && cp "$KIT"/uplot/dist/* node_modules/uplot/dist/
fi

if [ "$CONFIGURE_ONLY" != 1 ]; then
  NVCC=$(command -v nvcc || ls -d /usr/local/cuda*/bin/nvcc 2>/dev/null | head -1)
  if [ -n "$NVCC" ]; then
    NVCC=$(readlink -f "$NVCC")
    CUDA_ROOT=$(dirname "$(dirname "$NVCC")")
    export CUDA_HOME=$CUDA_ROOT CUDA_PATH=$CUDA_ROOT CUDACXX=$NVCC PATH=$CUDA_ROOT/bin:$PATH
    CMAKE_ARGS+=("-DCMAKE_CUDA_COMPILER=$NVCC" "-DCUDAToolkit_ROOT=$CUDA_ROOT" "-DCUDA_TOOLKIT_ROOT_DIR=$CUDA_ROOT"
                 -DCMAKE_CUDA_ARCHITECTURES=90 "-DCMAKE_CUDA_FLAGS=-allow-unsupported-compiler" -DUSE_SYSTEM_NVTX=ON)
    # Link against the driver stub where there is no libcuda.so development link.
    STUB=$(find "$CUDA_ROOT"/ -path '*stubs*' -name libcuda.so 2>/dev/null | head -1)
    [ -n "$STUB" ] && CMAKE_ARGS+=("-DCUDA_cuda_driver_LIBRARY=$STUB")
  else
    note "nvcc NOT FOUND: the configure of a CUDA LibTorch will fail"
  fi
  export TORCH_CUDA_ARCH_LIST=9.0
  # LibTorch's config insists on cuDNN: the pip wheel's (nvidia-cudnn), else the toolkit's, else a
  # version-only stand-in (our code never includes cudnn.h; libtorch_cuda.so loads the real one).
  CUDNN_INC="" CUDNN_LIB=""
  for d in "$CUDNN_PIP_DIR" "$CUDA_ROOT" /usr /usr/local/cuda; do
    [ -n "$d" ] && [ -z "$CUDNN_INC" ] && [ -f "$d/include/cudnn.h" ] && CUDNN_INC=$d/include
  done
  [ -f /usr/include/x86_64-linux-gnu/cudnn.h ] && [ -z "$CUDNN_INC" ] && CUDNN_INC=/usr/include/x86_64-linux-gnu
  CUDNN_LIB=$(ls "$CUDNN_PIP_DIR"/lib/libcudnn.so* /usr/lib/x86_64-linux-gnu/libcudnn.so* "$CUDA_ROOT"/lib64/libcudnn.so* 2>/dev/null | head -1)
  if [ -z "$CUDNN_INC" ]; then
    CUDNN_INC=/tmp/gpu-check-cudnn/include
    mkdir -p "$CUDNN_INC"
    printf '/* stand-in for scripts/gpu_check.sh */\n' > "$CUDNN_INC/cudnn.h"
    printf '#define CUDNN_MAJOR 9\n#define CUDNN_MINOR 0\n#define CUDNN_PATCHLEVEL 0\n' > "$CUDNN_INC/cudnn_version.h"
    note "cuDNN headers: none found, version stand-in used"
  fi
  [ -n "$CUDNN_LIB" ] && CMAKE_ARGS+=("-DCUDNN_INCLUDE_PATH=$CUDNN_INC" "-DCUDNN_LIBRARY_PATH=$CUDNN_LIB")
  note "cuDNN for the configure: include $CUDNN_INC, library ${CUDNN_LIB:-NOT FOUND}"
  # The system's g++, whose libstdc++ is the one loaded at run time. The image's CXX may name a
  # newer GCC (/opt/gcc) whose headers' inline code does not match the system libstdc++.so: seen
  # here as segfaults in std::filesystem::remove_all (each second checkpoint save).
  HOST_CXX=$(command -v g++ || true)
  [ -x /usr/bin/g++ ] && HOST_CXX=/usr/bin/g++
  note "CXX in the environment: ${CXX:-unset} ($("${CXX:-true}" --version 2>/dev/null | head -1)); compiling with $HOST_CXX"
  [ -n "$HOST_CXX" ] && CMAKE_ARGS+=("-DCMAKE_CXX_COMPILER=$HOST_CXX" "-DCMAKE_CUDA_HOST_COMPILER=$HOST_CXX")
  # Keep libtorch_cuda.so on the link line even when no symbol of it is referenced (Ubuntu's
  # linker drops unreferenced libraries, and with them the CUDA backend's registration).
  CMAKE_ARGS+=("-DCMAKE_EXE_LINKER_FLAGS=-Wl,--no-as-needed")
fi

# ---------------------------------------------------------------------------------------------
# 3. Configure and build.
# An existing $BUILD (a rerun on a still-warm machine) is reused: only what changed is rebuilt.
STEP_NOTE="torch prefix ${TORCH_PREFIX:-NONE}"
step configure 150 cmake -S . -B "$BUILD" "${CMAKE_ARGS[@]}"
CONFIGURED=$?
cp "$LOGS/configure.log" "$OUT/configure.log"
grep -E '^CMake (Error|Warning)' -A4 "$LOGS/configure.log" | head -40
if [ -f "$BUILD/CMakeCache.txt" ]; then
  echo "--- what the configure found"
  grep -E '^(Torch_DIR|Caffe2_DIR|nlohmann_json_DIR|spdlog_DIR|fmt_DIR|tomlplusplus_DIR|CLI11_DIR|GTest_DIR|HTTPLIB_INCLUDE_DIR|HTTPLIB_LIBRARY|ZLIB_INCLUDE_DIR|ZLIB_LIBRARY_RELEASE|SENTENCEPIECE_TRAIN_LIB|PKG_CONFIG_EXECUTABLE|CMAKE_CXX_COMPILER|CMAKE_CUDA_COMPILER|CUDNN_LIBRARY_PATH|CUDA_cuda_driver_LIBRARY|CMAKE_CXX_STANDARD)[:=]' "$BUILD/CMakeCache.txt" | tee "$LOGS/found.txt"
  grep -E '^(pkgcfg_lib_SENTENCEPIECE_[a-z_]+|SENTENCEPIECE_INCLUDEDIR|SENTENCEPIECE_PREFIX)[:=]' "$BUILD/CMakeCache.txt" | tee -a "$LOGS/found.txt"
fi
if [ "$CONFIGURE_ONLY" = 1 ]; then
  printf '%s\n' "${SUMMARY[@]}"
  exit $CONFIGURED
fi

if (( CONFIGURED == 0 )); then
  STEP_NOTE="moescope ops_tests model_tests dist_tests nccl_check, -j$JOBS"
  step build_main 360 ninja -C "$BUILD" -j"$JOBS" -k 0 moescope ops_tests model_tests dist_tests nccl_check
  grep -E 'error:|undefined reference|FAILED:' "$LOGS/build_main.log" | head -30
else
  skip build_main "configure failed"
fi
bin_path() {  # the built binary NAME: BUILD/NAME (moescope) or BUILD/tests/NAME (test binaries)
  if [ -x "$BUILD/$1" ]; then echo "$BUILD/$1"; elif [ -x "$BUILD/tests/$1" ]; then echo "$BUILD/tests/$1"; fi
}
have_bin() { [ -n "$(bin_path "$1")" ]; }

# ---------------------------------------------------------------------------------------------
# 4. The numerics tests on the GPU.
tests_note() {  # "N tests, F failed" from a gtest XML report
  py - "$1" <<'EOF' 2>/dev/null || echo "no report"
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
t, f, e = int(r.get("tests", 0)), int(r.get("failures", 0)), int(r.get("errors", 0))
bad = [f"{c.get('classname')}.{c.get('name')}" for c in r.iter("testcase") if c.find("failure") is not None]
print(f"{t} tests, {f + e} failed" + (": " + " ".join(bad[:4]) if bad else ""))
EOF
}
run_tests() {  # run_tests BINARY LIMIT [DEVICE]
  local b=$1 limit=$2 devname=${3:-cpu}
  if ! have_bin "$b"; then skip "$b" "not built"; return; fi
  step "$b" "$limit" env MOESCOPE_TEST_DEVICE="$devname" "$(bin_path "$b")" --gtest_output="xml:$LOGS/xml/$b.xml"
  summary_fix "$b" "$devname: $(tests_note "$LOGS/xml/$b.xml")"
}
summary_fix() {  # put a note on the last summary row
  local last=$(( ${#SUMMARY[@]} - 1 ))
  SUMMARY[$last]="${SUMMARY[$last]}$2"
}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$JOBS}
run_tests ops_tests 90 cuda
run_tests model_tests 180 cuda
# The NCCL path at world size 1: a one-rank world group (FileStore) runs all-reduce sum/max,
# broadcast, the all-to-all and its autograd exchange and the async all-reduce on CUDA tensors
# through ProcessGroupNCCL, each result checked exactly (tests/dist/nccl_check_main.cpp).
if have_bin nccl_check; then
  step nccl_check 60 "$(bin_path nccl_check)"
  summary_fix nccl_check "$(grep -c '^ok ' "$LOGS/nccl_check.log") ok, $(grep -c '^FAIL' "$LOGS/nccl_check.log") failed"
else
  skip nccl_check "not built"
fi
if have_bin dist_tests; then
  step dist_backend 30 "$(bin_path dist_tests)" --gtest_filter='Backend.*' --gtest_output="xml:$LOGS/xml/dist_backend.xml"
  summary_fix dist_backend "$(tests_note "$LOGS/xml/dist_backend.xml")"
fi
# the device properties the tests recorded (observed errors), for the summary
py - "$LOGS/xml" <<'EOF' 2>/dev/null | tee "$LOGS/test_properties.txt"
import sys, glob, xml.etree.ElementTree as ET
for f in sorted(glob.glob(sys.argv[1] + "/*.xml")):
    for c in ET.parse(f).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in c.iter("property")}
        vals = {k: v for k, v in props.items() if k != "device"}
        if vals:
            print(f"{c.get('classname')}.{c.get('name')} [{props.get('device', '?')}]: " + " ".join(f"{k}={float(v):.2e}" for k, v in vals.items()))
EOF

# ---------------------------------------------------------------------------------------------
# A process-independent yardstick: bf16 8192^3 matmul, median of 10 after 3 warm-ups (step 6).
matmul() {
  py - <<'EOF'
import torch, json
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
b = torch.randn_like(a)
for _ in range(3):
    a @ b
torch.cuda.synchronize()
ts = []
for _ in range(10):
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record(); c = a @ b; e.record(); torch.cuda.synchronize()
    ts.append(s.elapsed_time(e) / 1e3)
ts.sort()
med = (ts[4] + ts[5]) / 2
print(json.dumps({"bf16_matmul_8192_tflops": round(2 * 8192**3 / med / 1e12, 1), "median_ms": round(med * 1e3, 3),
                  "device": torch.cuda.get_device_name(0)}))
EOF
}
export -f matmul

# ---------------------------------------------------------------------------------------------
# 5. The binary on the GPU: selfcheck, a short training run, eval / generate / scope.
json_field() {  # json_field FILE KEY...: the first JSON object line's fields
  py - "$@" <<'EOF' 2>/dev/null
import sys, json, re
path, keys = sys.argv[1], sys.argv[2:]
text = open(path).read()
obj = {}
for m in re.finditer(r"(?m)^\{", text):  # the first line that opens a JSON object
    try:
        obj = json.JSONDecoder().raw_decode(text[m.start():])[0]
        break
    except ValueError:
        pass
print(" ".join(f"{k}={obj.get(k)}" for k in keys))
EOF
}
selfcheck_note() {  # device, ok, failed checks, the cached-decoding difference
  py - "$1" <<'EOF' 2>/dev/null
import sys, json, re
text = open(sys.argv[1]).read()
d = {}
for m in re.finditer(r"(?m)^\{", text):
    try:
        d = json.JSONDecoder().raw_decode(text[m.start():])[0]
        break
    except ValueError:
        pass
checks = d.get("checks", {})
bad = [k for k, v in checks.items() if not v.get("pass")]
kv = checks.get("kv_cache_matches_full_forward", {}).get("detail", {}).get("max_abs_diff")
print(f"device={d.get('device')} ok={d.get('ok')} kv_diff={kv}" + (f" FAILED: {' '.join(bad)}" if bad else ""))
EOF
}
QUICK=${GPU_CHECK_QUICK:-0}  # 1: skip the binary's tour and the throughput runs (sections 5-6)
if have_bin moescope && [ "$QUICK" != 1 ]; then
  step selfcheck_tiny 60 "$BIN" selfcheck --config configs/tiny.toml --set train.device=cuda
  summary_fix selfcheck_tiny "$(selfcheck_note "$LOGS/selfcheck_tiny.log")"
  step selfcheck_ref 60 "$BIN" selfcheck --config configs/shakespeare.toml --set train.device=cuda
  summary_fix selfcheck_ref "$(selfcheck_note "$LOGS/selfcheck_ref.log")"

  RUN=/tmp/gpurun
  rm -rf "$RUN"
  step train_200 150 "$BIN" train --config configs/shakespeare.toml --data "$DATA" --out "$RUN" \
    --set train.device=cuda --set train.max_steps=200
  TRAINED=$?
  metrics_note() {  # loss, tokens/s of the last train record, val loss of the last eval
    py - "$1" <<'EOF' 2>/dev/null
import sys, json
tr, ev = None, None
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("type") == "train": tr = r
    if r.get("type") == "eval": ev = r
out = []
if tr: out.append(f"step {tr['step']} loss {tr['loss']} tok/s {round(tr['tokens_per_s'])}")
if ev: out.append(f"val_loss {ev['val_loss']}")
print(", ".join(out))
EOF
  }
  [ -f "$RUN/metrics.jsonl" ] && summary_fix train_200 "$(metrics_note "$RUN/metrics.jsonl")"
  if [ -f "$RUN/config.json" ] && (( TRAINED == 0 )); then
    step eval_cuda 60 "$BIN" eval --run "$RUN" --device cuda
    summary_fix eval_cuda "$(json_field "$LOGS/eval_cuda.log" val_loss tokens)"
    step eval_cuda_5 40 "$BIN" eval --run "$RUN" --device cuda --max-batches 5
    summary_fix eval_cuda_5 "$(json_field "$LOGS/eval_cuda_5.log" val_loss)"
    step eval_cpu_5 60 "$BIN" eval --run "$RUN" --device cpu --max-batches 5
    summary_fix eval_cpu_5 "$(json_field "$LOGS/eval_cpu_5.log" val_loss) (same checkpoint on the CPU)"
    step gen_cache 60 "$BIN" generate --run "$RUN" --prompt "ROMEO:" --tokens 300 --temperature 0.8 --top-k 40 --device cuda --json
    summary_fix gen_cache "$(json_field "$LOGS/gen_cache.log" tokens_per_s)"
    step gen_nocache 60 "$BIN" generate --run "$RUN" --prompt "ROMEO:" --tokens 100 --temperature 0.8 --top-k 40 --device cuda --json --no-cache
    summary_fix gen_nocache "$(json_field "$LOGS/gen_nocache.log" tokens_per_s)"
    py -c "import json,sys; print('sample:', json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])['text'][:160].replace(chr(10), ' | '))" "$LOGS/gen_cache.log" 2>/dev/null
    step scope 30 "$BIN" scope --run "$RUN"
    tail -n 8 "$LOGS/scope.log"
  else
    skip eval "no trained run"
  fi
  (cd /tmp && tar czf "$OUT/run.tar.gz" --exclude=checkpoints "$(basename "$RUN")" 2>/dev/null)

  # -------------------------------------------------------------------------------------------
  # 6. Throughput of the REF shape (configs/shakespeare.toml: d 256, 4 layers, batch 8, seq 256):
  #    60 steps, tokens/s of the last 20 (the first 40 hold the warm-up), one eval batch at the end.
  thr() {  # thr NAME --set ...
    local name=$1
    shift
    rm -rf "/tmp/thr-$name"
    step "thr_$name" 90 "$BIN" train --config configs/shakespeare.toml --data "$DATA" --out "/tmp/thr-$name" \
      --set train.max_steps=60 --set train.log_every=20 --set train.eval_every=100000 \
      --set train.ckpt_every=100000 --set train.eval_max_batches=1 --set train.warmup_steps=10 "$@"
    [ -f "/tmp/thr-$name/metrics.jsonl" ] && summary_fix "thr_$name" "$(metrics_note "/tmp/thr-$name/metrics.jsonl")"
  }
  thr bf16_b8 --set train.device=cuda --set train.dtype=bf16
  thr fp32_b8 --set train.device=cuda --set train.dtype=fp32
fi
[ "$QUICK" != 1 ] && { step matmul 60 bash -c matmul; summary_fix matmul "$(tail -n 1 "$LOGS/matmul.log")"; }
if have_bin moescope && [ "$QUICK" != 1 ]; then
  thr bf16_b64 --set train.device=cuda --set train.dtype=bf16 --set train.batch_size=64
  thr bf16_b8_noscope --set train.device=cuda --set train.dtype=bf16 --set scope.enabled=false
else
  skip binary "moescope not built"
fi

# ---------------------------------------------------------------------------------------------
# 7. The CPU-only torch test binaries (what CI runs; here with this LibTorch), time permitting.
if (( CONFIGURED == 0 )); then
  STEP_NOTE="core train scope compress tests"
  step build_rest 150 ninja -C "$BUILD" -j"$JOBS" -k 0 core_tests train_tests scope_tests compress_tests
  grep -E 'error:|undefined reference|FAILED:' "$LOGS/build_rest.log" | head -20
  run_tests core_tests 40
  run_tests train_tests 150
  run_tests compress_tests 150
  run_tests scope_tests 150
fi

# A crashing CPU test gets a backtrace (cuda-gdb also debugs host code; there is no gdb there).
if grep -q '^scope_tests  *FAIL' <(printf '%s\n' "${SUMMARY[@]}") && command -v cuda-gdb > /dev/null; then
  timeout 90 cuda-gdb -q -batch -ex run -ex bt --args "$(bin_path scope_tests)" --gtest_filter='HealthTable.*' \
    > "$LOGS/scope_tests_bt.log" 2>&1
  grep -E '^#[0-9]+ ' "$LOGS/scope_tests_bt.log" | head -15
fi

# ---------------------------------------------------------------------------------------------
# 7b. The microscope's collapse scenario (README) on the GPU, remediation off and on.
if have_bin moescope; then
  for mode in off on; do
    rm -rf "/tmp/collapse-$mode"
    r=false; [ "$mode" = on ] && r=true
    step "collapse_$mode" 120 "$BIN" train --config configs/shakespeare.toml --data "$DATA" --out "/tmp/collapse-$mode" \
      --set train.device=cuda --set moe.bias_balance=false --set train.router_lr_mult=30 --set moe.top_k=1 \
      --set moe.norm_topk_prob=false --set train.max_steps=600 --set scope.remediate=$r
    "$BIN" scope --run "/tmp/collapse-$mode" > "$LOGS/collapse_${mode}_scope.txt" 2>&1
    summary_fix "collapse_$mode" "$(tail -n 3 "$LOGS/collapse_${mode}_scope.txt" | awk '{printf "L%s %s %s; ", $1, $2, $NF}')"
  done
fi

# ---------------------------------------------------------------------------------------------
# 8. Files back ($OUT holds at most 8) and the summary, last.
(cd "$LOGS" && tar czf "$OUT/logs.tar.gz" ./*.log ./*.txt xml 2>/dev/null)
{
  echo "=== gpu_check summary ($(elapsed)s of ${BUDGET}s; device: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1))"
  printf '%-20s %-8s %5s  %s\n' step status time note
  printf '%s\n' "${SUMMARY[@]}"
  [ -s "$LOGS/test_properties.txt" ] && { echo "--- observed test errors"; cat "$LOGS/test_properties.txt"; }
  (( ${#RESULTS[@]} )) && { echo "--- notes"; printf '%s\n' "${RESULTS[@]}"; }
  echo "--- files in \$OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
} > "$OUT/summary.txt"
cat "$OUT/summary.txt"
