#!/usr/bin/env bash
# Runs every test of the C ABI (ffi/, include/sturdycache.h, tests/c/,
# examples/c/), installing what it needs first (valgrind, g++, pkg-config,
# cmake through apt when missing).
#
# Builds the library ONCE, in the debug profile (the build `cargo test`
# already made, when run after it), then:
#   - the Rust tests of the ffi crate, including the stale-header check;
#   - `make install` into a scratch prefix (header, .so, .a, sturdycache.pc);
#   - the C suite (C11, -Wall -Wextra -Werror -pedantic) linked against the
#     shared and the static library, test_api also compiled as C++;
#   - a check that the tests call every function and check every status;
#   - every C test under valgrind (no errors, no leaks) and AddressSanitizer;
#   - the multi-threaded test, the C <-> Rust shared-directory test, the
#     golden vectors, fault injection with events;
#   - examples/c built with pkg-config (shared and static) and with CMake.
# Usage: bash scripts/test-c.sh   (from any directory)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)
export CARGO_BUILD_TARGET="${CARGO_BUILD_TARGET:-$(rustc -vV | sed -n 's/^host: //p')}"
work="target/c-tests"
rm -rf "$work"
mkdir -p "$work"
prefix="$PWD/$work/prefix"
out="$PWD/$work"

step "tools (valgrind, g++, pkg-config, cmake)"
need=()
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v cmake >/dev/null 2>&1 || need+=(cmake)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
    for pkg in "${need[@]}"; do
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null 2>&1 \
        || echo "apt-get could not install $pkg"
    done
  else
    echo "not root or no apt-get: cannot install ${need[*]}"
  fi
fi
for tool in valgrind g++ pkg-config; do
  command -v "$tool" >/dev/null 2>&1 || { echo "FAIL: $tool is required and could not be installed"; exit 1; }
done
have_cmake=1
command -v cmake >/dev/null 2>&1 || have_cmake=0

step "Rust tests of the ffi crate (unit tests; the checked-in header matches cbindgen's output)"
cargo test -q -p sturdycache-ffi

step "build the library and the Rust peer, once (debug profile)"
cargo build -q -p sturdycache-ffi --lib --example share_peer
peer="$PWD/target/$CARGO_BUILD_TARGET/debug/examples/share_peer"

step "make install PREFIX=$prefix"
make -s install PREFIX="$prefix" PROFILE=debug >/dev/null
for f in include/sturdycache.h lib/libsturdycache.a lib/libsturdycache.so lib/pkgconfig/sturdycache.pc; do
  [ -e "$prefix/$f" ] || { echo "FAIL: make install did not install $f"; exit 1; }
done
soname=$(readelf -d "$prefix/lib/libsturdycache.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ -e "$prefix/lib/$soname" ] || { echo "FAIL: no $soname link for the SONAME"; exit 1; }
cmp -s include/sturdycache.h "$prefix/include/sturdycache.h"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
echo "installed: $(cd "$prefix" && find . -type f -o -type l | sort | tr '\n' ' ')"
echo "pkg-config: $(pkg-config --modversion sturdycache) $(pkg-config --cflags --libs sturdycache)"

step "the C tests call every function and check every status"
python3 tests/c/coverage.py include/sturdycache.h tests/c/test_*.c

step "compile the C tests (C11 -Wall -Wextra -Werror -pedantic; shared, static, C++, ASan)"
warn=(-Wall -Wextra -Werror -pedantic)
inc=(-I"$prefix/include" -Itests/c)
shared=(-L"$prefix/lib" -lsturdycache -lpthread)
static=("$prefix/lib/libsturdycache.a" $(pkg-config --static --libs-only-l sturdycache | sed 's/-lsturdycache//'))
asan=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
tests=(test_api test_chaos test_vectors test_threads test_share)
for t in "${tests[@]}"; do
  gcc -std=c11 "${warn[@]}" -g -O1 "${inc[@]}" "tests/c/$t.c" -o "$out/$t" "${shared[@]}"
  gcc -std=c11 "${warn[@]}" -g -O1 "${inc[@]}" "tests/c/$t.c" -o "$out/$t-static" "${static[@]}" -lpthread
  gcc -std=c11 "${warn[@]}" -g -O1 "${asan[@]}" "${inc[@]}" "tests/c/$t.c" -o "$out/$t-asan" "${shared[@]}"
done
g++ -x c++ -std=c++17 "${warn[@]}" -g -O1 "${inc[@]}" tests/c/test_api.c -o "$out/test_api-cpp" "${shared[@]}"
echo "compiled ${#tests[@]} tests x (shared, static, ASan) + test_api as C++"

python3 tests/c/manifest_tsv.py vectors/manifest.json >"$out/vectors.tsv"
args_for() {
  case "$1" in
    test_vectors) echo "vectors $out/vectors.tsv" ;;
    test_share) echo "$peer" ;;
    *) echo "" ;;
  esac
}
export LD_LIBRARY_PATH="$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export TMPDIR="${TMPDIR:-/tmp}"

step "run the C tests linked against the shared library"
for t in "${tests[@]}"; do
  # shellcheck disable=SC2046
  "$out/$t" $(args_for "$t")
done

step "run the C tests linked against the static library"
for t in "${tests[@]}"; do
  # shellcheck disable=SC2046
  env -u LD_LIBRARY_PATH "$out/$t-static" $(args_for "$t")
done
if ldd "$out/test_api-static" | grep -q sturdycache; then echo "FAIL: the static build loads libsturdycache.so"; exit 1; fi

step "run the C API suite compiled as C++"
"$out/test_api-cpp"

step "valgrind: no errors, no leaks (definite, indirect or possible)"
for t in "${tests[@]}"; do
  a=$(args_for "$t")
  [ "$t" = test_threads ] && a=300 # valgrind runs one thread at a time: fewer iterations
  # shellcheck disable=SC2086
  valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible \
    --errors-for-leak-kinds=definite,indirect,possible --suppressions=tests/c/valgrind.supp \
    "$out/$t" $a
done

step "AddressSanitizer + UndefinedBehaviorSanitizer (with LeakSanitizer)"
for t in "${tests[@]}"; do
  # shellcheck disable=SC2046
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1 "$out/$t-asan" $(args_for "$t")
done

step "examples/c with pkg-config (shared and static)"
rm -rf "$out/example" && cp -r examples/c "$out/example"
make -s -C "$out/example" hello hello-static
(cd "$out/example" && ./hello "$out/example/cache" | tee "$out/example/out.txt")
grep -q "greeting = hello from C (type 1)" "$out/example/out.txt"
grep -q "stored in memory" "$out/example/out.txt"
env -u LD_LIBRARY_PATH "$out/example/hello-static" "$out/example/cache-static" >/dev/null

step "examples/c with CMake"
if [ "$have_cmake" = 1 ]; then
  cmake -S examples/c -B "$out/cmake" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
  cmake --build "$out/cmake" >/dev/null
  "$out/cmake/hello" "$out/cmake/cache" | grep "greeting = hello from C"
else
  echo "SKIPPED: cmake is not installed and apt-get could not provide it"
fi

step "all C tests passed in $(($(date +%s) - started)) s"
