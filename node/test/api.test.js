'use strict'
// The promise API and its synchronous twins: every operation, what it
// returns, and that a string key and the Buffer of its UTF-8 are one entry.

const test = require('node:test')
const assert = require('node:assert/strict')

const { Cache } = require('..')
const { openCache, tempDir } = require('./helpers')

test('set, get, has, delete: promise and sync forms agree', async (t) => {
  const cache = openCache(t)
  assert.equal(await cache.set('a', 'one'), 'disk')
  assert.equal(cache.setSync('b', 'two'), 'disk')
  assert.equal(await cache.get('b'), 'two')
  assert.equal(cache.getSync('a'), 'one')
  assert.equal(await cache.has('a'), true)
  assert.equal(cache.hasSync('b'), true)
  assert.equal(cache.hasSync('nope'), false)
  assert.equal(await cache.get('nope'), undefined)
  assert.equal(cache.getSync('nope'), undefined)
  assert.equal(await cache.delete('a'), true)
  assert.equal(await cache.delete('a'), false)
  assert.equal(cache.deleteSync('b'), true)
  assert.equal(cache.deleteSync('b'), false)
  assert.equal(cache.getSync('a'), undefined)
  assert.equal(await cache.get('b'), undefined)
})

test('a string key and the Buffer of its UTF-8 bytes are the same entry', async (t) => {
  const cache = openCache(t)
  const key = 'clé-日本-🦀'
  await cache.set(key, 'text key')
  assert.equal(await cache.get(Buffer.from(key, 'utf8')), 'text key')
  cache.setSync(new Uint8Array(Buffer.from('bytes')), 'bytes key')
  assert.equal(cache.getSync('bytes'), 'bytes key')
  // Keys that are not UTF-8 work as raw bytes.
  const raw = Buffer.from([0xff, 0x00, 0xfe])
  cache.setSync(raw, 1)
  assert.equal(cache.getSync(Buffer.from([0xff, 0x00, 0xfe])), 1)
})

test('add stores only when the key has no live value', async (t) => {
  const cache = openCache(t)
  assert.equal(await cache.add('k', 'first'), true)
  assert.equal(await cache.add('k', 'second'), false)
  assert.equal(await cache.get('k'), 'first')
  await cache.delete('k')
  assert.equal(await cache.add('k', 'third', { tag: 't' }), true)
  assert.equal(await cache.get('k'), 'third')
})

test('pop returns the value once', async (t) => {
  const cache = openCache(t)
  await cache.set('p', { n: 1 })
  assert.deepEqual(await cache.pop('p'), { n: 1 })
  assert.equal(await cache.pop('p'), undefined)
  assert.equal(await cache.has('p'), false)
})

test('clear removes everything and counts the disk entries', async (t) => {
  const cache = openCache(t)
  for (let i = 0; i < 5; i++) cache.setSync(`k${i}`, i)
  assert.equal(await cache.clear(), 5)
  for (let i = 0; i < 5; i++) assert.equal(cache.getSync(`k${i}`), undefined)
})

test('evictTag removes exactly the tagged entries', async (t) => {
  const cache = openCache(t)
  await cache.set('u1', 'a', { tag: 'users' })
  cache.setSync('u2', 'b', { tag: 'users' })
  await cache.set('p1', 'c', { tag: 'pages' })
  await cache.set('plain', 'd')
  assert.equal(await cache.evictTag('users'), 2)
  assert.equal(await cache.get('u1'), undefined)
  assert.equal(cache.getSync('u2'), undefined)
  assert.equal(await cache.get('p1'), 'c')
  assert.equal(await cache.get('plain'), 'd')
  assert.equal(await cache.evictTag('nobody'), 0)
})

test('keys() iterates every live key across several batches', async (t) => {
  const cache = openCache(t)
  const want = new Set()
  for (let i = 0; i < 600; i++) {
    cache.setSync(`key:${i}`, i)
    want.add(`key:${i}`)
  }
  cache.setSync(Buffer.from([0xc3, 0x28]), 'not utf-8')
  const seen = new Set()
  let raw
  for await (const key of cache.keys()) {
    if (typeof key === 'string') seen.add(key)
    else raw = key
  }
  assert.deepEqual(seen, want)
  assert.ok(Buffer.isBuffer(raw) && raw.equals(Buffer.from([0xc3, 0x28])), 'a non-UTF-8 key comes back as a Buffer')
  let buffers = 0
  for await (const key of cache.keys({ buffers: true })) {
    assert.ok(Buffer.isBuffer(key))
    buffers++
  }
  assert.equal(buffers, 601)
})

test('values persist across close and reopen', async (t) => {
  const directory = tempDir(t)
  const first = new Cache({ directory })
  await first.set('persist', [1, 'two', { three: 3 }])
  await first.close()
  const second = new Cache(directory)
  t.after(() => second.close())
  assert.deepEqual(await second.get('persist'), [1, 'two', { three: 3 }])
})

test('flush resolves true with nothing queued; write-behind values reach the disk on flush', async (t) => {
  const directory = tempDir(t)
  const cache = new Cache({ directory, writeMode: 'write-behind' })
  t.after(() => cache.close())
  for (let i = 0; i < 20; i++) {
    if (i % 2) cache.setSync(`wb${i}`, i)
    else assert.equal(await cache.set(`wb${i}`, i), 'memory', 'queued for the background writer')
  }
  assert.equal(await cache.get('wb4'), 4, 'readable before the flush')
  assert.equal(await cache.flush(), true)
  const reader = new Cache({ directory })
  t.after(() => reader.close())
  for (let i = 0; i < 20; i++) assert.equal(await reader.get(`wb${i}`), i)
})

test('a write-behind set that finds the queue full writes through on the thread pool, never on the event loop', async (t) => {
  const directory = tempDir(t)
  const cache = new Cache({ directory, writeMode: 'write-behind', maxReplayEntries: 2, ioTimeout: false })
  t.after(() => cache.close())
  await cache.set('warm', 0) // the first set opens the queue's writer; not part of the burst
  await cache.flush()
  // Every disk write now takes 100 ms, so the background writer cannot empty
  // the queue during the burst.
  cache.faults.inject({ op: 'write', error: 'delay', delayMs: 100 })
  assert.equal(await cache.set('a', 1), 'memory')
  assert.equal(await cache.set('b', 2), 'memory')
  const order = []
  const full = cache.set('c', 3).then((where) => order.push(`set ${where}`))
  setImmediate(() => order.push('event loop turned'))
  await full
  assert.deepEqual(order, ['event loop turned', 'set disk'], 'the write went to the pool while the loop ran on')
  cache.faults.clear()
  assert.equal(await cache.flush(), true)
  assert.equal(cache.stats().replay.dropped, 0)
  const reader = new Cache({ directory, memoryLimit: 0 })
  t.after(() => reader.close())
  assert.deepEqual([await reader.get('a'), await reader.get('b'), await reader.get('c')], [1, 2, 3])
})

test('close is idempotent and every later call fails with ERR_STURDY_CLOSED', async (t) => {
  const cache = new Cache(tempDir(t))
  await cache.set('k', 'v')
  const first = cache.close()
  assert.equal(cache.close(), first, 'the same promise')
  await first
  await cache.close()
  assert.equal(cache.closed, true)
  assert.throws(() => cache.getSync('k'), { code: 'ERR_STURDY_CLOSED' })
  assert.throws(() => cache.setSync('k', 1), { code: 'ERR_STURDY_CLOSED' })
  await assert.rejects(cache.get('k'), { code: 'ERR_STURDY_CLOSED' })
  await assert.rejects(cache.set('k', 1), { code: 'ERR_STURDY_CLOSED' })
  assert.throws(() => cache.stats(), { code: 'ERR_STURDY_CLOSED' })
})

test('calls already running when close() is called finish first', async (t) => {
  const cache = new Cache(tempDir(t))
  const pending = []
  for (let i = 0; i < 50; i++) pending.push(cache.set(`c${i}`, i))
  const closing = cache.close()
  const stored = await Promise.all(pending)
  assert.ok(stored.every((s) => s === 'disk'))
  await closing
})

test('ready() resolves once the disk index is built', async (t) => {
  const directory = tempDir(t)
  const writer = new Cache(directory)
  for (let i = 0; i < 30; i++) writer.setSync(`r${i}`, i)
  await writer.close()
  const cache = new Cache(directory)
  t.after(() => cache.close())
  await cache.ready()
  assert.equal(cache.stats().diskEntries, 30)
})

test('sweep and check report what they did', async (t) => {
  const cache = openCache(t)
  for (let i = 0; i < 4; i++) cache.setSync(`s${i}`, 'x')
  const sweep = await cache.sweep()
  assert.equal(sweep.scanned, 4)
  assert.equal(sweep.expired, 0)
  const check = await cache.check()
  assert.deepEqual(check, { scanned: 4, valid: 4, expired: 0, quarantined: 0, errors: 0 })
})
