'use strict'
// Expiry under the core's ManualClock: time moves only when the test says so.

const test = require('node:test')
const assert = require('node:assert/strict')

const { ManualClock } = require('..')
const { openCache, entryFiles, readHeader } = require('./helpers')

const START = 1_700_000_000_000

test('an entry with a TTL is live until the instant it expires', async (t) => {
  const clock = new ManualClock(START)
  const cache = openCache(t, { clock })
  await cache.set('session', 'abc', { ttl: 1000 })
  assert.equal(readHeader(entryFiles(cache.directory)[0]).expiresMs, START + 1000)
  clock.advance(999)
  assert.equal(await cache.get('session'), 'abc')
  assert.equal(cache.getSync('session'), 'abc')
  clock.advance(1)
  assert.equal(await cache.get('session'), undefined)
  assert.equal(cache.getSync('session'), undefined)
  assert.equal(await cache.has('session'), false)
})

test('defaultTtl applies to sets without a ttl; ttl 0 and Infinity never expire', async (t) => {
  const clock = new ManualClock(START)
  const cache = openCache(t, { clock, defaultTtl: 60_000 })
  cache.setSync('default', 1)
  cache.setSync('zero', 2, { ttl: 0 })
  await cache.set('infinite', 3, { ttl: Infinity })
  cache.setSync('short', 4, { ttl: 10 })
  clock.advance(10)
  assert.equal(cache.getSync('short'), undefined)
  assert.equal(cache.getSync('default'), 1)
  clock.advance(60_000)
  assert.equal(cache.getSync('default'), undefined)
  assert.equal(cache.getSync('zero'), 2)
  assert.equal(await cache.get('infinite'), 3)
})

test('touch moves the expiry, and reports whether the key was live', async (t) => {
  const clock = new ManualClock(START)
  const cache = openCache(t, { clock })
  await cache.set('k', 'v', { ttl: 1000 })
  clock.advance(900)
  assert.equal(await cache.touch('k', 1000), true)
  clock.advance(900)
  assert.equal(await cache.get('k'), 'v', 'still live 1800 ms after the set')
  assert.equal(await cache.touch('k', 0), true, 'ttl 0: never expires')
  clock.advance(10 ** 9)
  assert.equal(await cache.get('k'), 'v')
  assert.equal(await cache.touch('missing', 1000), false)
})

test('add succeeds over an expired entry', async (t) => {
  const clock = new ManualClock(START)
  const cache = openCache(t, { clock })
  await cache.add('lock', 'first', { ttl: 100 })
  assert.equal(await cache.add('lock', 'second'), false)
  clock.advance(100)
  assert.equal(await cache.add('lock', 'third'), true)
  assert.equal(await cache.get('lock'), 'third')
})

test('sweep removes expired entries from disk', async (t) => {
  const clock = new ManualClock(START)
  const cache = openCache(t, { clock, sweepInterval: false })
  await cache.ready() // the opening scan is a sweep too: let it finish first
  for (let i = 0; i < 5; i++) cache.setSync(`e${i}`, i, { ttl: 50 })
  cache.setSync('stays', 'x')
  clock.advance(50)
  const report = await cache.sweep()
  assert.equal(report.expired, 5)
  assert.equal(entryFiles(cache.directory).length, 1)
})

test('ManualClock reports and sets its time; bad values are RangeErrors', () => {
  const clock = new ManualClock(START)
  assert.equal(clock.nowMs, START)
  clock.advance(5)
  assert.equal(clock.nowMs, START + 5)
  clock.setMs(START - 1000)
  assert.equal(clock.nowMs, START - 1000)
  assert.throws(() => clock.advance(-1), { name: 'RangeError' })
  assert.ok(Math.abs(new ManualClock().nowMs - Date.now()) < 60_000, 'defaults to now')
})
