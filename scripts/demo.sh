#!/usr/bin/env bash
# The README's demo: the Rust story (corrupt a file, fail the disk, watch it
# recover) in ./demo-cache (or the directory given), then a Node process that
# reads back, from the same directory, the entries the Rust process wrote.
# Builds the Node addon on first use (npm install + napi build, a minute or two).
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-demo-cache}"
CARGO_BUILD_TARGET="${CARGO_BUILD_TARGET:-$(rustc -vV | sed -n 's/^host: //p')}"
export CARGO_BUILD_TARGET

cargo run --quiet --release -p sturdycache --example demo -- "$dir"

echo
echo "== another language, same directory =="
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "node/npm not found: skipping the Node read-back"
  exit 0
fi
if ! ls node/native/*.node >/dev/null 2>&1; then
  echo "building the Node addon (first run only)..."
  (cd node && { [ -d node_modules ] || npm install --ignore-scripts --no-audit --no-fund --loglevel=error; } && npm run --silent build) >/dev/null
fi
node examples/node/read-demo.mjs "$dir"
