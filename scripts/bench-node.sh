#!/usr/bin/env bash
# Benchmarks the npm package against lru-cache, cacache and keyv + @keyv/sqlite,
# side by side in one run, 1 KiB values; prints each figure and the ratio to
# each peer with the issue's targets (met / missed). Not part of the test
# command (it takes a few minutes). `--quick` for a short run.
#
# The peers are installed into node/bench/ with npm. @keyv/sqlite needs the
# sqlite3 addon, whose prebuilt binary comes from GitHub (unreachable on these
# machines), so npm compiles it from source (about a minute, needs python3,
# make and g++); if that fails, the keyv comparisons are reported as skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
export CARGO_BUILD_TARGET="${CARGO_BUILD_TARGET:-$(rustc -vV | sed -n 's/^host: //p')}"
export npm_config_loglevel="${npm_config_loglevel:-error}"

step "npm install (node/ and the peers in node/bench/)"
(cd node && npm install --no-audit --no-fund --ignore-scripts)
if ! (cd node/bench && npm install --no-audit --no-fund); then
  echo "PEER INSTALL FAILED: some peers could not be installed; the benchmark reports which comparisons it skips"
fi
if [ ! -e node/bench/node_modules/sqlite3/build/Release/node_sqlite3.node ]; then
  echo "PEER UNAVAILABLE: sqlite3 did not build (no prebuilt binary can be downloaded here); keyv + @keyv/sqlite is skipped"
fi

step "build the addon (release)"
(cd node && npm run build)

step "benchmark"
cd node/bench && node bench.mjs "$@"
