'use strict'
// wrap(): single-flight get-or-compute.

const test = require('node:test')
const assert = require('node:assert/strict')

const { ManualClock } = require('..')
const { openCache } = require('./helpers')

// A promise and the function that settles it, so a loader finishes exactly
// when the test says.
function gate() {
  let open
  const opened = new Promise((resolve) => {
    open = resolve
  })
  return { opened, open }
}

test('concurrent wraps of one key run the loader once and share its value', async (t) => {
  const cache = openCache(t)
  const { opened, open } = gate()
  let calls = 0
  const loader = async () => {
    calls++
    await opened
    return { computed: true }
  }
  const waiting = Array.from({ length: 20 }, () => cache.wrap('report', loader))
  open()
  const results = await Promise.all(waiting)
  assert.equal(calls, 1)
  for (const r of results) assert.deepEqual(r, { computed: true })
  assert.deepEqual(await cache.get('report'), { computed: true }, 'the value was stored')
  assert.deepEqual(await cache.wrap('report', loader), { computed: true })
  assert.equal(calls, 1, 'a hit does not call the loader')
})

test('a string key and its Buffer share one flight', async (t) => {
  const cache = openCache(t)
  const { opened, open } = gate()
  let calls = 0
  const loader = async () => {
    calls++
    await opened
    return 'v'
  }
  const a = cache.wrap('same', loader)
  const b = cache.wrap(Buffer.from('same'), loader)
  open()
  assert.deepEqual(await Promise.all([a, b]), ['v', 'v'])
  assert.equal(calls, 1)
})

test('different keys run their own loaders', async (t) => {
  const cache = openCache(t)
  const seen = []
  const results = await Promise.all(
    ['a', 'b', 'c'].map((k) =>
      cache.wrap(k, () => {
        seen.push(k)
        return k.toUpperCase()
      }),
    ),
  )
  assert.deepEqual(results, ['A', 'B', 'C'])
  assert.deepEqual(seen.sort(), ['a', 'b', 'c'])
})

test('a failing loader rejects every waiter; the next call tries again', async (t) => {
  const cache = openCache(t)
  const { opened, open } = gate()
  let calls = 0
  const failing = async () => {
    calls++
    await opened
    throw new Error('backend down')
  }
  const waiting = [cache.wrap('k', failing), cache.wrap('k', failing)]
  open()
  for (const w of waiting) await assert.rejects(w, /backend down/)
  assert.equal(calls, 1)
  assert.equal(await cache.wrap('k', () => 'recovered'), 'recovered')
  assert.equal(await cache.get('k'), 'recovered')
})

test('an undefined result is returned but not stored', async (t) => {
  const cache = openCache(t)
  assert.equal(await cache.wrap('nothing', () => undefined), undefined)
  assert.equal(await cache.has('nothing'), false)
})

test('wrap stores with the given ttl and tag', async (t) => {
  const clock = new ManualClock(1_700_000_000_000)
  const cache = openCache(t, { clock })
  await cache.wrap('w', () => 'value', { ttl: 500, tag: 'wrapped' })
  clock.advance(499)
  assert.equal(cache.getSync('w'), 'value')
  clock.advance(1)
  assert.equal(cache.getSync('w'), undefined)
  await cache.wrap('w2', () => 'value', { tag: 'wrapped' })
  assert.equal(await cache.evictTag('wrapped'), 1)
})

test('wrap refuses a missing loader and unstorable results', async (t) => {
  const cache = openCache(t)
  await assert.rejects(cache.wrap('k'), { name: 'TypeError', code: 'ERR_STURDY_INVALID_ARGUMENT' })
  await assert.rejects(cache.wrap('k', () => new Map()), { name: 'TypeError', code: 'ERR_STURDY_INVALID_VALUE' })
  await assert.rejects(cache.wrap(42, () => 1), { name: 'TypeError', code: 'ERR_STURDY_INVALID_KEY' })
})
