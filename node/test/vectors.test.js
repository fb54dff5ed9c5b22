'use strict'
// The committed golden entry files (vectors/, docs/FORMAT.md): placed at their
// path in a cache directory, each is served, quarantined or ignored exactly
// as its manifest says.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')

const { Cache, ManualClock } = require('..')
const { tempDir, quarantined } = require('./helpers')

const VECTORS = path.join(__dirname, '..', '..', 'vectors')
const manifest = JSON.parse(fs.readFileSync(path.join(VECTORS, 'manifest.json'), 'utf8'))

/**
 * A Cache at `nowMs` on a new directory, with `vector` placed at its path once
 * the opening scan is done (as core/tests/vectors.rs does: the scan checks
 * headers too, and would quarantine some vectors before a listener exists).
 */
async function placed(t, vector, nowMs) {
  const directory = tempDir(t)
  const clock = new ManualClock(nowMs)
  const cache = new Cache({ directory, clock, sweepInterval: false })
  t.after(() => cache.close())
  await cache.ready()
  const target = path.join(directory, vector.path)
  fs.mkdirSync(path.dirname(target), { recursive: true })
  fs.copyFileSync(path.join(VECTORS, vector.file), target)
  return { directory, target, clock, cache }
}

test('the manifest lists vectors of every kind', () => {
  assert.equal(manifest.entry_format_version, 1)
  const kinds = new Set(manifest.vectors.map((v) => v.expect.split(':')[0]))
  assert.deepEqual([...kinds].sort(), ['corrupt', 'newer-version', 'ok'])
})

for (const vector of manifest.vectors) {
  const key = Buffer.from(vector.key_hex, 'hex')
  const value = Buffer.from(vector.value_hex, 'hex')

  if (vector.expect === 'ok') {
    test(`${vector.file}: served with its key, value, type and tag`, async (t) => {
      const live = vector.expires_ms === 0 ? vector.created_ms : vector.expires_ms - 1
      const { cache, clock, directory } = await placed(t, vector, live)
      const got = await cache.get(key)
      // Type 0 is bytes; 165 is no code the bindings define, so also raw bytes.
      assert.ok(Buffer.isBuffer(got), `value_type ${vector.value_type} reads as a Buffer`)
      assert.ok(got.equals(value), 'the value')
      assert.ok(cache.getSync(key).equals(value), 'the value (sync)')
      if (vector.key_utf8 !== null) assert.ok(cache.getSync(vector.key_utf8).equals(value), 'the key as text')
      const keys = []
      for await (const k of cache.keys({ buffers: true })) keys.push(k)
      assert.deepEqual(keys, [key])
      if (vector.expires_ms !== 0) {
        clock.advance(1)
        assert.equal(await cache.get(key), undefined, 'expired at expires_ms')
      }
      if (vector.tag !== '') {
        const again = await placed(t, vector, live)
        assert.equal(await again.cache.evictTag(vector.tag), 1)
        assert.equal(await again.cache.get(key), undefined)
      }
      assert.deepEqual(quarantined(directory), [])
    })
  } else if (vector.expect === 'newer-version') {
    test(`${vector.file}: a miss, left in place, not quarantined`, async (t) => {
      const { cache, target, directory } = await placed(t, vector, vector.created_ms)
      const seen = []
      cache.on('quarantine', (e) => seen.push(e))
      assert.equal(await cache.get(key), undefined)
      assert.equal(await cache.add(key, 'mine'), false, 'add treats it as an occupied slot')
      await cache.flushEvents()
      assert.deepEqual(seen, [])
      assert.ok(fs.existsSync(target))
      assert.deepEqual(quarantined(directory), [])
    })
  } else {
    const reason = vector.expect.replace(/^corrupt: /, '')
    test(`${vector.file}: a miss, quarantined as ${reason}, with an event`, async (t) => {
      const { cache, target, directory } = await placed(t, vector, vector.created_ms)
      const seen = []
      cache.on('quarantine', (e) => seen.push(e))
      assert.equal(await cache.get(key), undefined)
      await cache.flushEvents()
      assert.equal(seen.length, 1)
      assert.equal(seen[0].reason, reason)
      assert.ok(!fs.existsSync(target), 'moved out of data/')
      const [file] = quarantined(directory)
      assert.match(file, new RegExp(`^\\d+-${reason}-${vector.key_hash}-`))
      assert.ok(fs.readFileSync(path.join(directory, 'quarantine', file)).equals(fs.readFileSync(path.join(VECTORS, vector.file))))
    })
  }
}

test('vectors already in the directory at open: the scan quarantines header damage, reads catch the rest', async (t) => {
  const directory = tempDir(t)
  for (const vector of manifest.vectors) {
    const target = path.join(directory, vector.path)
    fs.mkdirSync(path.dirname(target), { recursive: true })
    fs.copyFileSync(path.join(VECTORS, vector.file), target)
  }
  const cache = new Cache({ directory, clock: new ManualClock(manifest.vectors[0].created_ms), sweepInterval: false })
  t.after(() => cache.close())
  await cache.ready()
  let served = 0
  for (const vector of manifest.vectors) {
    const got = await cache.get(Buffer.from(vector.key_hex, 'hex'))
    assert.equal(got !== undefined, vector.expect === 'ok', vector.file)
    if (got !== undefined) served++
  }
  const corrupt = manifest.vectors.filter((v) => v.expect.startsWith('corrupt')).length
  assert.equal(served, manifest.vectors.filter((v) => v.expect === 'ok').length)
  assert.equal(quarantined(directory).length, corrupt)
})
