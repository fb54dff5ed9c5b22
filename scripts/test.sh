#!/usr/bin/env bash
# Runs every test of sturdycache, installing what it needs first.
# This is the README's test command, and what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

# One explicit target for every build (cargo, maturin, napi), so the Rust core
# is compiled once into target/<host>/ and shared by all of them (napi always
# passes --target; without this cargo would build everything twice).
CARGO_BUILD_TARGET="${CARGO_BUILD_TARGET:-$(rustc -vV | sed -n 's/^host: //p')}"
export CARGO_BUILD_TARGET

step "toolchain components"
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi

step "real-fault tools (root only: tmpfs, loop devices, ext4)"
# core/tests/real_faults.rs mounts a tmpfs and ext4 images on loop devices. As
# root, install what is missing (best effort: without apt the tests skip with a
# printed reason) and, once the tools are there, require the tests to run
# rather than skip (STURDY_REQUIRE_REAL_FAULTS=0 turns that off).
if [ "$(id -u)" = 0 ]; then
  need=()
  command -v mkfs.ext4 >/dev/null 2>&1 && command -v e2fsck >/dev/null 2>&1 || need+=(e2fsprogs)
  command -v mount >/dev/null 2>&1 && command -v umount >/dev/null 2>&1 && command -v losetup >/dev/null 2>&1 \
    || need+=(mount util-linux)
  if [ ${#need[@]} -gt 0 ]; then
    if command -v apt-get >/dev/null 2>&1 \
      && apt-get update -qq >/dev/null 2>&1 \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1; then
      echo "installed ${need[*]}"
    else
      echo "could not install ${need[*]}: the real-fault tests will skip"
    fi
  fi
  if command -v mkfs.ext4 >/dev/null 2>&1 && command -v e2fsck >/dev/null 2>&1 \
    && command -v losetup >/dev/null 2>&1 && command -v mount >/dev/null 2>&1; then
    export STURDY_REQUIRE_REAL_FAULTS="${STURDY_REQUIRE_REAL_FAULTS:-1}"
    echo "real-fault tests will run (STURDY_REQUIRE_REAL_FAULTS=$STURDY_REQUIRE_REAL_FAULTS)"
  fi
else
  echo "not root: the real-fault tests will skip"
fi

step "format (cargo fmt --check)"
cargo fmt --all -- --check

step "lint (cargo clippy --all-targets -D warnings)"
cargo clippy --workspace --all-targets -- -D warnings

step "Rust tests (unit, integration, property, fault, crash, multi-process, doc)"
cargo test --workspace

# The bindings: each script installs what it needs, builds its binding once and
# runs its whole suite.
for lang in c python node; do
  if [ -f "scripts/test-$lang.sh" ]; then
    step "$lang binding (scripts/test-$lang.sh)"
    bash "scripts/test-$lang.sh"
  fi
done

step "the README demo runs end to end (Rust story, then Node reads the directory back)"
demo_dir=$(mktemp -d)
trap 'rm -rf "$demo_dir"' EXIT
bash scripts/demo.sh "$demo_dir/cache" | tee "$demo_dir/out.txt"
grep -q "quarantined 1" "$demo_dir/out.txt"
grep -q "event: recovered" "$demo_dir/out.txt"
grep -q "node read-back ok" "$demo_dir/out.txt"

step "all tests passed in $(( $(date +%s) - started )) s"
