#!/usr/bin/env bash
# Tests of the npm package (node/) over the napi-rs addon (bindings/node):
# installs the dev dependencies, builds the addon once, runs the node --test
# suites, the Keyv adapter suite (Vitest), the TypeScript declaration check and
# the HTTP example, then checks that the `npm pack` tarball installs into a
# fresh project and works from CommonJS, ESM and the keyv subpath.
#
# The addon is built in the debug profile (it reuses the core already compiled
# by `cargo test`); STURDY_NODE_PROFILE=release builds the optimised one.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

export CARGO_BUILD_TARGET="${CARGO_BUILD_TARGET:-$(rustc -vV | sed -n 's/^host: //p')}"
# The machines' npm config sets an option npm no longer knows; keep its warning out of the logs.
export npm_config_loglevel="${npm_config_loglevel:-error}"

step "node and npm"
command -v node >/dev/null || { echo "node is not installed (Node 20 or later is needed)"; exit 1; }
node -e 'const [major] = process.versions.node.split("."); if (major < 20) { console.error(`Node ${process.version}: 20 or later is needed`); process.exit(1) }'
echo "node $(node --version), npm $(npm --version)"

step "npm install (node/)"
# --ignore-scripts: no dependency needs an install script here; the one that
# has one (sqlite3, pulled in by @keyv/test-suite but never loaded by it) would
# otherwise compile SQLite from source for a minute.
(cd node && npm install --no-audit --no-fund --ignore-scripts)

step "build the addon once ($([ "${STURDY_NODE_PROFILE:-debug}" = release ] && echo release || echo debug))"
if [ "${STURDY_NODE_PROFILE:-debug}" = release ]; then
  (cd node && npm run build)
else
  (cd node && npm run build:debug)
fi
ls -l node/native/*.node

step "the committed loader and declarations match the addon"
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
  if ! git -C "$root" diff --exit-code -- node/native/index.js node/native/index.d.ts; then
    echo "node/native/index.js or index.d.ts changed when the addon was built: commit the regenerated files"
    exit 1
  fi
  echo "up to date"
else
  echo "not a git checkout: skipped"
fi

step "node --test (API, values, errors, TTL, wrap, events under faults, vectors, workers, processes, process life, ESM)"
(cd node && npm test)

step "Keyv adapter: @keyv/test-suite with keyv 5.6 (Vitest)"
(cd node && npm run test:keyv)

step "TypeScript declarations (tsc)"
(cd node && npm run test:types)

step "example: HTTP response cache through a disk failure"
node examples/node/http-cache.mjs --demo

step "npm pack installs into a fresh project and works"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tarball=$(cd node && npm pack --pack-destination "$work" | tail -1)
echo "packed $tarball ($(du -h "$work/$tarball" | cut -f1))"
tar -tzf "$work/$tarball" | sort > "$work/files.txt"
for required in package/index.js package/index.mjs package/index.d.ts package/keyv.js package/lib/cache.js \
  package/native/index.js package/native/sturdycache.linux-x64-gnu.node; do
  grep -qx "$required" "$work/files.txt" || { echo "missing from the tarball: $required"; exit 1; }
done
if grep -E '^package/(test|test-keyv|test-types|bench|node_modules)/' "$work/files.txt"; then
  echo "the tarball ships test or build folders"
  exit 1
fi
mkdir -p "$work/app"
(cd "$work/app" && npm init -y >/dev/null && npm install --no-audit --no-fund "$work/$tarball" keyv@5.6.0)
cat > "$work/app/check.cjs" <<'JS'
const assert = require('node:assert/strict')
const os = require('node:os')
const path = require('node:path')
const fs = require('node:fs')
const { Cache } = require('sturdycache')
const { KeyvSturdy } = require('sturdycache/keyv')
const { Keyv } = require('keyv')
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sturdy-pack-'))
;(async () => {
  const cache = new Cache({ directory: dir, memoryLimit: '8MiB' })
  assert.equal(await cache.set('k', { packed: true }), 'disk')
  assert.deepEqual(cache.getSync('k'), { packed: true })
  const keyv = new Keyv({ store: new KeyvSturdy(cache) })
  await keyv.set('kv', 'value')
  assert.equal(await keyv.get('kv'), 'value')
  await cache.close()
  const esm = await import('sturdycache')
  assert.equal(esm.Cache, Cache)
  fs.rmSync(dir, { recursive: true, force: true })
  console.log('the installed package works from CommonJS, ESM and sturdycache/keyv')
})().catch((err) => { console.error(err); process.exit(1) })
JS
(cd "$work/app" && node check.cjs)

step "node package: all checks passed in $(( $(date +%s) - started )) s"
