#!/usr/bin/env bash
# Runs every test of sturdycache, installing what it needs first.
# This is the README's test command, and what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

step "toolchain components"
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi

step "format (cargo fmt --check)"
cargo fmt --all -- --check

step "lint (cargo clippy --all-targets -D warnings)"
cargo clippy --workspace --all-targets -- -D warnings

step "Rust tests (unit, integration, property, fault, crash, multi-process, doc)"
cargo test --workspace

step "demo runs end to end"
demo_dir=$(mktemp -d)
trap 'rm -rf "$demo_dir"' EXIT
cargo run --quiet -p sturdycache --example demo -- "$demo_dir/cache" | tee "$demo_dir/out.txt"
grep -q "quarantined 1" "$demo_dir/out.txt"
grep -q "event: recovered" "$demo_dir/out.txt"

step "all tests passed in $(( $(date +%s) - started )) s"
