#!/usr/bin/env bash
# Builds the Python package (sturdycache, over the PyO3 crate bindings/python)
# once, in release mode, by installing ./python into a venv at the repository
# root as a user would (`pip install ./python`), then runs every Python check:
# mypy --strict on the package, stubtest of the native module's stubs, and the
# pytest suite (API, codec, golden vectors, memoize, asyncio, chaos and events,
# secret_key, processes and fork, bad input, logging, GIL, FACT integration,
# the examples and the quickstart notebook through nbclient).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)
PYTHON=${PYTHON:-python3}
export CARGO_BUILD_TARGET=${CARGO_BUILD_TARGET:-$(rustc -vV | sed -n 's/^host: //p')}

step "virtual environment (.venv) with the build and test tools"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# maturin builds the wheel; pytest, mypy, nbclient/nbformat/ipykernel run the
# checks; numpy and xxhash are used by tests (numpy arguments to memoize, the
# entry checksum of a tampered file).
.venv/bin/python -m pip install --quiet "maturin>=1.9,<2" "pytest>=8" "mypy>=1.10" "nbclient>=0.10" nbformat ipykernel numpy xxhash

step "build and install the package (pip install ./python, release, abi3)"
PATH="$PWD/.venv/bin:$PATH" .venv/bin/python -m pip install --quiet --no-build-isolation --force-reinstall --no-deps ./python
.venv/bin/python -c 'import sturdycache, sys; print("sturdycache", sturdycache.__version__, "on Python", sys.version.split()[0])'

step "type hints: mypy --strict on the package, stubtest of sturdycache._native"
(cd python && ../.venv/bin/python -m mypy --strict src/sturdycache)
.venv/bin/python -m mypy.stubtest sturdycache._native

step "pytest (python/tests)"
(cd python && ../.venv/bin/python -m pytest -q -p no:cacheprovider tests)

step "Python tests passed in $(( $(date +%s) - started )) s"
