'use strict'
// Resilience events under injected faults, delivered on the JavaScript
// thread through the EventEmitter; `flushEvents()` is the explicit wait for
// delivery (no sleeps).

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')

const { Cache, ManualClock } = require('..')
const { openCache, tempDir, entryFiles, quarantined } = require('./helpers')

const START = 1_700_000_000_000
// Trip on the first failure, close after one good probe: one step per event.
const breaker = { failureThreshold: 1, successThreshold: 1, openTimeout: 1000, recoveryFactor: 1 }

function record(cache, names) {
  const seen = []
  for (const name of names) cache.on(name, (event) => seen.push({ name, ...event }))
  return seen
}

async function recover(cache, clock) {
  for (let round = 0; round < 10 && cache.mode !== 'normal'; round++) {
    clock.advance(breaker.openTimeout)
    await cache.runRecovery()
  }
  assert.equal(cache.mode, 'normal', 'recovered within 10 recovery rounds')
}

test('a failing disk: sets go to memory, events tell the story, the disk comes back and the queue drains', async (t) => {
  const clock = new ManualClock(START)
  const cache = openCache(t, { clock, breaker, healthInterval: false })
  const seen = record(cache, ['modeChange', 'breakerStateChange', 'diskHealth', 'recovered'])
  const threadId = require('node:worker_threads').threadId
  let listenerThread
  cache.on('modeChange', () => {
    listenerThread = require('node:worker_threads').threadId
  })

  const fault = cache.faults.inject({ op: 'write', error: 'eio' })
  assert.equal(cache.faults.active, 1)
  assert.equal(await cache.set('during', { kept: true }), 'memory')
  assert.equal(cache.setSync('during2', 'also'), 'memory')
  assert.equal(cache.mode, 'read_only')
  assert.deepEqual(await cache.get('during'), { kept: true }, 'served from memory')
  assert.ok(cache.faults.injected >= 1)

  await cache.flushEvents()
  const trip = seen.find((e) => e.name === 'breakerStateChange')
  assert.deepEqual(
    { breaker: trip.breaker, from: trip.from, to: trip.to },
    { breaker: 'write', from: 'closed', to: 'open' },
  )
  const degrade = seen.find((e) => e.name === 'modeChange')
  assert.equal(degrade.from, 'normal')
  assert.equal(degrade.to, 'read_only')
  assert.match(degrade.cause, /io|Input\/output/)
  assert.equal(degrade.incident, trip.incident, 'one incident id for the whole outage')
  assert.equal(listenerThread, threadId, 'listeners run on the JavaScript thread')
  const health = cache.health()
  assert.equal(health.writeBreaker, 'open')
  assert.equal(health.replayDepth, 2)
  assert.equal(health.lastError.kind, 'io')

  assert.equal(cache.faults.remove(fault), true)
  assert.equal(cache.faults.remove(fault), false)
  await recover(cache, clock)
  await cache.flushEvents()
  const recovered = seen.find((e) => e.name === 'recovered')
  assert.equal(recovered.mode, 'normal')
  assert.equal(recovered.drained, 2)
  assert.equal(recovered.incident, degrade.incident)
  assert.ok(recovered.outageMs >= breaker.openTimeout)
  assert.ok(seen.some((e) => e.name === 'modeChange' && e.to === 'normal'))

  // Drained means on disk: another cache on the directory reads the values.
  const other = new Cache({ directory: cache.directory })
  t.after(() => other.close())
  assert.deepEqual(await other.get('during'), { kept: true })
  assert.equal(await other.get('during2'), 'also')
})

test('a corrupt entry file is quarantined with an event and read as a miss', async (t) => {
  const directory = tempDir(t)
  const writer = new Cache(directory)
  await writer.set('victim', 'precious')
  await writer.set('bystander', 'fine')
  await writer.close()
  const [victim] = entryFiles(directory).filter((f) => fs.readFileSync(f).includes('victim'))
  const bytes = fs.readFileSync(victim)
  bytes[bytes.length - 9] ^= 0x01 // a value byte: the checksum no longer matches
  fs.writeFileSync(victim, bytes)

  const cache = new Cache(directory)
  t.after(() => cache.close())
  const seen = record(cache, ['quarantine'])
  assert.equal(await cache.get('victim'), undefined)
  assert.equal(await cache.get('bystander'), 'fine')
  await cache.flushEvents()
  assert.equal(seen.length, 1)
  assert.equal(seen[0].reason, 'bad-checksum')
  assert.equal(path.dirname(seen[0].path), path.join(directory, 'quarantine'))
  assert.equal(quarantined(directory).length, 1)
  assert.equal(cache.stats().quarantined, 1)
})

test('injected read corruption is caught by the checksum: a miss, never the damaged bytes', async (t) => {
  const directory = tempDir(t)
  const writer = new Cache(directory)
  await writer.set('k', 'v'.repeat(100))
  await writer.close()
  const cache = new Cache({ directory, memoryLimit: 0 })
  t.after(() => cache.close())
  await cache.ready() // the index scan reads too: arm the fault after it
  const seen = record(cache, ['quarantine'])
  cache.faults.inject({ op: 'read', error: 'corruption', trigger: 'once' })
  assert.equal(await cache.get('k'), undefined)
  assert.equal(cache.faults.active, 0, "a 'once' fault disarms itself")
  assert.equal(cache.stats().corruptions, 1)
  // The flip was in the read, not the file: re-read in quarantine, the file
  // verifies and is put back, so nothing is lost.
  await cache.flushEvents()
  assert.deepEqual(seen, [])
  assert.deepEqual(quarantined(directory), [])
  assert.equal(await cache.get('k'), 'v'.repeat(100))
})

test('replay queue overflow emits replayDrop', async (t) => {
  const clock = new ManualClock(START)
  const cache = openCache(t, { clock, breaker, maxReplayEntries: 2 })
  const seen = record(cache, ['replayDrop'])
  cache.faults.inject({ op: 'all', error: 'enospc' })
  for (let i = 0; i < 5; i++) await cache.set(`q${i}`, i)
  await cache.flushEvents()
  const dropped = seen.reduce((n, e) => n + e.dropped, 0)
  assert.equal(dropped, 3)
  assert.equal(seen.at(-1).queued, 2)
  assert.equal(cache.stats().replay.dropped, 3)
})

test('a read fault takes the cache to memory_only; the chaos API validates its input', async (t) => {
  const clock = new ManualClock(START)
  const cache = openCache(t, { clock, breaker })
  await cache.set('warm', 1)
  const seen = record(cache, ['modeChange'])
  cache.faults.inject({ op: 'read', error: 'eio', trigger: { times: 1 } })
  const fresh = new Cache({ directory: cache.directory, clock, breaker, memoryLimit: 0 })
  t.after(() => fresh.close())
  const seenFresh = record(fresh, ['modeChange'])
  fresh.faults.inject({ op: 'read', error: 'eio' })
  assert.equal(await fresh.get('warm'), undefined, 'the read failed: a miss, not an error')
  assert.equal(fresh.mode, 'memory_only')
  await fresh.flushEvents()
  assert.equal(seenFresh[0].to, 'memory_only')
  fresh.faults.clear()
  assert.equal(fresh.faults.active, 0)
  await cache.flushEvents()
  assert.deepEqual(seen, [])

  assert.throws(() => cache.faults.inject({ op: 'disk', error: 'eio' }), { name: 'TypeError' })
  assert.throws(() => cache.faults.inject({ op: 'read', error: 'gremlins' }), { name: 'TypeError' })
  assert.throws(() => cache.faults.inject({ op: 'write', error: 'corruption' }), { name: 'RangeError' })
  assert.throws(() => cache.faults.inject({ op: 'read', error: 'eio', trigger: { probability: 2 } }), {
    name: 'RangeError',
    code: 'ERR_STURDY_INVALID_CONFIG',
  })
  assert.throws(() => cache.faults.inject({ op: 'read', error: 'eio', trigger: 'sometimes' }), { name: 'TypeError' })
})

test('overrideBreaker forces the write path open and back', async (t) => {
  const cache = openCache(t)
  const seen = record(cache, ['modeChange'])
  cache.overrideBreaker('write', 'forced_open')
  assert.equal(cache.mode, 'read_only')
  assert.equal(await cache.set('k', 1), 'memory')
  cache.overrideBreaker('write', 'closed')
  assert.equal(cache.mode, 'normal')
  await cache.flushEvents()
  assert.deepEqual(
    seen.map((e) => e.to),
    ['read_only', 'normal'],
  )
  assert.throws(() => cache.overrideBreaker('both', 'closed'), { name: 'TypeError' })
})

test('flushEvents resolves with no listener, and after close', async (t) => {
  const cache = new Cache(tempDir(t))
  await cache.flushEvents()
  cache.on('modeChange', () => {})
  await cache.flushEvents()
  await cache.close()
  await assert.rejects(cache.flushEvents(), { code: 'ERR_STURDY_CLOSED' })
})

test('stats, health and prometheus describe the cache', async (t) => {
  const cache = openCache(t)
  await cache.set('a', 1)
  await cache.get('a')
  await cache.get('missing')
  const stats = cache.stats()
  assert.equal(stats.sets, 1)
  assert.equal(stats.hotHits, 1)
  assert.equal(stats.diskMisses, 1)
  assert.equal(stats.diskEntries, 1)
  assert.ok(stats.diskBytes > 0)
  assert.equal(stats.resilience.mode, 'normal')
  assert.equal(stats.resilience.readBreaker.state, 'closed')
  assert.deepEqual(Object.keys(stats.diskErrors).sort(), ['io', 'noSpace', 'other', 'permissionDenied', 'readOnly', 'timedOut', 'total'])
  const health = cache.health()
  assert.equal(health.mode, 'normal')
  assert.equal(health.diskHealth, 'healthy')
  assert.equal(health.coherentAcrossProcesses, true)
  assert.equal(cache.mode, 'normal')
  const text = cache.prometheus()
  assert.match(text, /^# (HELP|TYPE) /m)
  assert.match(text, /sturdycache_\w+/)
})

test('secretKey: entries carry a MAC; a cache with another key quarantines them as bad-mac, unread', async (t) => {
  const directory = tempDir(t)
  const writer = new Cache({ directory, secretKey: 'key-one' })
  await writer.set('k', { secret: true })
  await writer.close()
  const same = new Cache({ directory, secretKey: Buffer.from('key-one'), memoryLimit: 0 })
  assert.deepEqual(await same.get('k'), { secret: true }, 'the same key as bytes reads it')
  await same.close()
  const other = new Cache({ directory, secretKey: 'key-two', memoryLimit: 0 })
  t.after(() => other.close())
  const seen = record(other, ['quarantine'])
  assert.equal(await other.get('k'), undefined)
  await other.flushEvents()
  assert.deepEqual(
    seen.map((e) => e.reason),
    ['bad-mac'],
  )
  assert.match(quarantined(directory)[0], /-bad-mac-/)
})

test('listeners added with once/prependListener after removeAllListeners still get events', async (t) => {
  const cache = openCache(t)
  cache.removeAllListeners()
  const seen = []
  cache.once('modeChange', (e) => seen.push(`once:${e.to}`))
  cache.prependListener('modeChange', (e) => seen.push(`first:${e.to}`))
  cache.overrideBreaker('read', 'forced_open')
  cache.overrideBreaker('read', 'closed')
  await cache.flushEvents()
  assert.deepEqual(seen, ['first:memory_only', 'once:memory_only', 'first:normal'])
})
