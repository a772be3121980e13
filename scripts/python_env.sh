#!/usr/bin/env bash
# python_env.sh: the project's one Python environment (torch, transformers, tokenizers,
# safetensors, numpy, pytest, ... exactly as pinned in python/requirements.lock), created once
# per lock file and reused by every clone and every later setup.
#
#   bash scripts/python_env.sh        # creates it if needed, links it as ./.venv, prints its path
#
# Where (MOESCOPE_CACHE, default ${XDG_CACHE_HOME:-~/.cache}/moescope):
#   venv-<hash>/   the environment; <hash> = the lock file and the interpreter's version, so a
#                  changed lock makes a new one and a fresh clone finds the existing one
#   wheels/        every wheel the lock names (PyPI's torch is a CUDA build: ~2.7 GB with its
#                  nvidia-* wheels), downloaded once; an environment is installed from here
#                  with --no-index, and only what is missing is downloaded
# The interpreter is MOESCOPE_PYTHON (default python3). setup.sh calls this script.
set -euo pipefail
cd "$(dirname "$0")/.."

LOCK=python/requirements.lock
PY=${MOESCOPE_PYTHON:-python3}
CACHE=${MOESCOPE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/moescope}
WHEELS=$CACHE/wheels
command -v "$PY" >/dev/null 2>&1 || { echo "python_env: no $PY on PATH (set MOESCOPE_PYTHON)" >&2; exit 1; }
key=$({ cat "$LOCK"; "$PY" -c 'import sys; print(sys.version)'; } | sha256sum | cut -c1-16)
VENV=$CACHE/venv-$key
mkdir -p "$CACHE" "$WHEELS"

# One setup at a time per cache (two clones set up at once would race on the same venv).
exec 9>"$CACHE/.lock"
flock 9
if [ ! -f "$VENV/.moescope-complete" ]; then
  rm -rf "$VENV"
  echo "python_env: creating $VENV" >&2
  "$PY" -m venv "$VENV"
  pip_install() { "$VENV/bin/pip" install -q --disable-pip-version-check --no-index --find-links "$WHEELS" --no-deps -r "$LOCK"; }
  if ! pip_install 2>/dev/null; then
    echo "python_env: downloading the wheels missing from $WHEELS" >&2
    "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps -d "$WHEELS" -r "$LOCK"
    pip_install
  fi
  "$VENV/bin/python" -c 'import torch, transformers, tokenizers, safetensors, numpy, pytest' \
    || { echo "python_env: the environment in $VENV does not import" >&2; exit 1; }
  touch "$VENV/.moescope-complete"
fi
flock -u 9
ln -sfn "$VENV" .venv
echo "$VENV"
