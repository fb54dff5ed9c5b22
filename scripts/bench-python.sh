#!/usr/bin/env bash
# Runs python/benchmarks/bench.py: sturdycache against diskcache, cachetools,
# functools.lru_cache and joblib.Memory, side by side in one run, 1 KiB values,
# printing every figure and its ratio to the peer. Not part of the test command.
# STURDY_BENCH_QUICK=1 for a short run.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_TARGET=${CARGO_BUILD_TARGET:-$(rustc -vV | sed -n 's/^host: //p')}
PYTHON=${PYTHON:-python3}

printf '==> venv and peers\n'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "maturin>=1.9,<2" diskcache cachetools joblib

printf '==> build sturdycache (release)\n'
PATH="$PWD/.venv/bin:$PATH" .venv/bin/python -m pip install --quiet --no-build-isolation --force-reinstall --no-deps ./python

printf '==> benchmark\n'
.venv/bin/python python/benchmarks/bench.py
