'use strict'
// Values round-trip with their type, and are stored under the value_type codes
// every binding agrees on (docs/FORMAT.md §3.3) — checked in the entry file
// itself, so Python and C read the same thing.

const test = require('node:test')
const assert = require('node:assert/strict')

const { valueTypes } = require('..')
const { openCache, entryFiles, readHeader } = require('./helpers')

const cases = [
  ['a Buffer', Buffer.from([0, 1, 2, 255]), valueTypes.BYTES, Buffer.from([0, 1, 2, 255])],
  ['an empty Buffer', Buffer.alloc(0), valueTypes.BYTES, Buffer.alloc(0)],
  ['a string', 'héllo wörld 🦀', valueTypes.STRING, Buffer.from('héllo wörld 🦀')],
  ['an empty string', '', valueTypes.STRING, Buffer.alloc(0)],
  ['an integer', 42, valueTypes.INT, Buffer.from('42')],
  ['a negative integer', -7, valueTypes.INT, Buffer.from('-7')],
  ['the largest safe integer', Number.MAX_SAFE_INTEGER, valueTypes.INT, Buffer.from('9007199254740991')],
  ['a float', 1.5, valueTypes.FLOAT, Buffer.from('000000000000f83f', 'hex')],
  ['true', true, valueTypes.BOOL, Buffer.from([1])],
  ['false', false, valueTypes.BOOL, Buffer.from([0])],
  ['null', null, valueTypes.NULL, Buffer.alloc(0)],
  ['an object', { a: 1, b: [true, null, 'x'] }, valueTypes.JSON, Buffer.from('{"a":1,"b":[true,null,"x"]}')],
  ['an array', [1, 'two'], valueTypes.JSON, Buffer.from('[1,"two"]')],
]

for (const [name, value, type, bytes] of cases) {
  test(`${name} round-trips (async and sync) and is stored as type ${type}`, async (t) => {
    const cache = openCache(t)
    await cache.set('v', value)
    assert.deepEqual(await cache.get('v'), value)
    assert.deepEqual(cache.getSync('v'), value)
    const [file] = entryFiles(cache.directory)
    const header = readHeader(file)
    assert.equal(header.valueType, type)
    assert.ok(header.value.equals(bytes), `stored bytes ${header.value.toString('hex')}`)
  })
}

test('a Uint8Array is stored as bytes and read back as a Buffer', async (t) => {
  const cache = openCache(t)
  const u8 = new Uint8Array([9, 8, 7, 6]).subarray(1, 3)
  cache.setSync('u8', u8)
  const back = await cache.get('u8')
  assert.ok(Buffer.isBuffer(back))
  assert.deepEqual([...back], [8, 7])
})

test('large byte values (beyond the sync copy buffer) round-trip', async (t) => {
  const cache = openCache(t)
  const big = Buffer.alloc(200 * 1024)
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff
  cache.setSync('big', big)
  assert.ok(cache.getSync('big').equals(big))
  assert.ok((await cache.get('big')).equals(big))
})

test('a Buffer from getSync is a copy: later reads do not change it', async (t) => {
  const cache = openCache(t)
  cache.setSync('x', Buffer.from('first'))
  cache.setSync('y', Buffer.from('other'))
  const x = cache.getSync('x')
  cache.getSync('y')
  assert.equal(x.toString(), 'first')
})

test('-0, NaN and the infinities are floats and keep their value', async (t) => {
  const cache = openCache(t)
  for (const v of [-0, NaN, Infinity, -Infinity, 2 ** 60, 1e300]) {
    cache.setSync('f', v)
    assert.ok(Object.is(cache.getSync('f'), v), `${v}`)
    assert.equal(readHeader(entryFiles(cache.directory)[0]).valueType, valueTypes.FLOAT)
  }
})

test('bigints are INT: small ones read back as numbers, large ones as bigints', async (t) => {
  const cache = openCache(t)
  cache.setSync('small', 12n)
  assert.equal(cache.getSync('small'), 12)
  const big = -(2n ** 100n) + 1n
  await cache.set('big', big)
  assert.equal(await cache.get('big'), big)
  assert.equal(cache.getSync('big'), big)
  const header = readHeader(entryFiles(cache.directory).find((f) => readHeader(f).key.toString() === 'big'))
  assert.equal(header.value.toString(), big.toString())
})

test('JSON values keep toJSON results and drop undefined properties, as JSON does', async (t) => {
  const cache = openCache(t)
  const when = new Date('2026-01-02T03:04:05.000Z')
  cache.setSync('j', { when, skip: undefined, list: [1, 2] })
  assert.deepEqual(cache.getSync('j'), { when: '2026-01-02T03:04:05.000Z', list: [1, 2] })
})

test('values that cannot be stored faithfully are a TypeError with ERR_STURDY_INVALID_VALUE', async (t) => {
  const cache = openCache(t)
  cache.setSync('keep', 'kept')
  const circular = {}
  circular.self = circular
  class Point {
    constructor() {
      this.x = 1
    }
  }
  const bad = [
    undefined,
    () => 1,
    Symbol('s'),
    new Map([[1, 2]]),
    new Set([1]),
    new Point(),
    new Float64Array(2),
    new ArrayBuffer(4),
    { nested: () => 1 },
    { nested: NaN },
    { nested: 1n },
    { nested: new Map() },
    circular,
  ]
  for (const value of bad) {
    assert.throws(() => cache.setSync('keep', value), { name: 'TypeError', code: 'ERR_STURDY_INVALID_VALUE' })
    await assert.rejects(cache.set('keep', value), { name: 'TypeError', code: 'ERR_STURDY_INVALID_VALUE' })
    await assert.rejects(cache.add('new', value), { name: 'TypeError', code: 'ERR_STURDY_INVALID_VALUE' })
  }
  assert.equal(cache.getSync('keep'), 'kept', 'a refused value changes nothing')
  assert.equal(cache.getSync('new'), undefined)
})

test('byte values read with getSync stay intact across many reads (the pool is replaced, not reused)', async (t) => {
  const cache = openCache(t)
  const count = 400 // 400 KiB of answers: several pools
  for (let i = 0; i < count; i++) cache.setSync(`b${i}`, Buffer.alloc(1024, i & 0xff))
  const got = []
  for (let i = 0; i < count; i++) got.push(cache.getSync(`b${i}`))
  cache.setSync('big', Buffer.alloc(130 * 1024, 7)) // larger than a pool: its own Buffer
  const big = cache.getSync('big')
  for (let i = 0; i < count; i++) {
    assert.equal(got[i].length, 1024)
    assert.ok(got[i].every((b) => b === (i & 0xff)), `value ${i}`)
  }
  assert.equal(big.length, 130 * 1024)
  assert.ok(big.every((b) => b === 7))
})
