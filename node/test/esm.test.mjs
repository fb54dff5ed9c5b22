// The ESM entry points export the same objects as the CommonJS ones.
import test from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import sturdycache, { Cache, ManualClock, valueTypes, codes, parseSize, version, coreVersion } from 'sturdycache'
import KeyvSturdy, { createKeyv } from 'sturdycache/keyv'

const require = createRequire(import.meta.url)

test('named and default ESM exports are the CommonJS ones', () => {
  const cjs = require('sturdycache')
  assert.equal(Cache, cjs.Cache)
  assert.equal(ManualClock, cjs.ManualClock)
  assert.equal(sturdycache, cjs)
  assert.equal(valueTypes.PICKLE, 7)
  assert.equal(codes.KEY_TOO_LARGE, 'ERR_STURDY_KEY_TOO_LARGE')
  assert.equal(parseSize('1KiB'), 1024)
  assert.equal(version, JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url))).version)
  assert.match(coreVersion, /^\d+\.\d+\.\d+/)
  assert.equal(KeyvSturdy, require('sturdycache/keyv').KeyvSturdy)
  assert.equal(typeof createKeyv, 'function')
})

test('a Cache from the ESM entry point works', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sturdy-esm-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const cache = new Cache(dir)
  await cache.set('esm', { ok: true })
  assert.deepEqual(cache.getSync('esm'), { ok: true })
  await cache.close()
})
