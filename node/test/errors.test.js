'use strict'
// Bad input: a TypeError or RangeError with a stable code and a message that
// names the limit; nothing already stored is lost.

const test = require('node:test')
const assert = require('node:assert/strict')

const { Cache, codes, parseSize } = require('..')
const { openCache, tempDir } = require('./helpers')

test('a key over maxKeySize is a RangeError naming the limit; the old value stays', async (t) => {
  const cache = openCache(t, { maxKeySize: 16 })
  cache.setSync('k', 'safe')
  const long = 'k'.repeat(17)
  const check = (err) => {
    assert.ok(err instanceof RangeError)
    assert.equal(err.code, 'ERR_STURDY_KEY_TOO_LARGE')
    assert.match(err.message, /17 bytes.*maxKeySize.*16 bytes/)
    assert.equal(err.limit, 16)
    assert.equal(err.size, 17)
    return true
  }
  assert.throws(() => cache.setSync(long, 1), check)
  assert.throws(() => cache.getSync(long), check)
  await assert.rejects(cache.set(long, 1), check)
  await assert.rejects(cache.get(long), check)
  await assert.rejects(cache.wrap(long, () => 1), check)
  assert.equal(cache.getSync('k'), 'safe')
  // The limit counts UTF-8 bytes, not characters: 6 × 3 bytes = 18.
  assert.throws(() => cache.setSync('日本日本日本', 1), { code: 'ERR_STURDY_KEY_TOO_LARGE' })
})

test('an empty key is a RangeError', async (t) => {
  const cache = openCache(t)
  assert.throws(() => cache.setSync('', 1), { name: 'RangeError', code: 'ERR_STURDY_EMPTY_KEY' })
  await assert.rejects(cache.get(Buffer.alloc(0)), { name: 'RangeError', code: 'ERR_STURDY_EMPTY_KEY' })
})

test('a value over maxValueSize is a RangeError naming the limit; the old value stays', async (t) => {
  const cache = openCache(t, { maxValueSize: '1KiB' })
  await cache.set('v', 'small')
  const err = await cache.set('v', Buffer.alloc(1025)).catch((e) => e)
  assert.ok(err instanceof RangeError)
  assert.equal(err.code, codes.VALUE_TOO_LARGE)
  assert.match(err.message, /1025 bytes.*maxValueSize.*1024 bytes/)
  assert.throws(() => cache.setSync('v', 'x'.repeat(2000)), { code: 'ERR_STURDY_VALUE_TOO_LARGE' })
  assert.equal(await cache.get('v'), 'small')
})

test('a tag over 65535 bytes is a RangeError', async (t) => {
  const cache = openCache(t)
  await assert.rejects(cache.set('t', 1, { tag: 'x'.repeat(65536) }), {
    name: 'RangeError',
    code: 'ERR_STURDY_TAG_TOO_LARGE',
    message: /65536 bytes.*65535 bytes/,
  })
})

test('keys of the wrong type are a TypeError', async (t) => {
  const cache = openCache(t)
  for (const key of [1, null, undefined, {}, [], true, new Float32Array(2)]) {
    assert.throws(() => cache.getSync(key), { name: 'TypeError', code: 'ERR_STURDY_INVALID_KEY' })
    assert.throws(() => cache.setSync(key, 1), { name: 'TypeError', code: 'ERR_STURDY_INVALID_KEY' })
    assert.throws(() => cache.hasSync(key), { name: 'TypeError', code: 'ERR_STURDY_INVALID_KEY' })
    assert.throws(() => cache.deleteSync(key), { name: 'TypeError', code: 'ERR_STURDY_INVALID_KEY' })
    await assert.rejects(cache.get(key), { name: 'TypeError', code: 'ERR_STURDY_INVALID_KEY' })
    await assert.rejects(cache.delete(key), { name: 'TypeError', code: 'ERR_STURDY_INVALID_KEY' })
  }
})

test('bad TTLs: a RangeError for negative or NaN, a TypeError for non-numbers', async (t) => {
  const cache = openCache(t)
  for (const ttl of [-1, NaN, -Infinity]) {
    assert.throws(() => cache.setSync('k', 1, { ttl }), { name: 'RangeError', code: 'ERR_STURDY_INVALID_TTL' })
    await assert.rejects(cache.set('k', 1, { ttl }), { name: 'RangeError', code: 'ERR_STURDY_INVALID_TTL' })
    await assert.rejects(cache.touch('k', ttl), { name: 'RangeError', code: 'ERR_STURDY_INVALID_TTL' })
  }
  assert.throws(() => cache.setSync('k', 1, { ttl: '10s' }), { name: 'TypeError', code: 'ERR_STURDY_INVALID_TTL' })
  await assert.rejects(cache.touch('k', '10s'), { name: 'TypeError', code: 'ERR_STURDY_INVALID_TTL' })
  assert.equal(cache.getSync('k'), undefined, 'nothing was stored')
})

test('options: unknown names and wrong types are TypeErrors', (t) => {
  const directory = tempDir(t)
  const bad = [
    undefined,
    42,
    {},
    { directory: '' },
    { directory, memLimit: 1 },
    { directory, memoryLimit: {} },
    { directory, durability: 'always' },
    { directory, writeMode: 'later' },
    { directory, breaker: { failureThreshold: '5' } },
    { directory, breaker: { nope: 1 } },
    { directory, sweepInterval: '1m' },
    { directory, clock: {} },
    { directory, secretKey: 5 },
    { directory, failOnDiskError: 'yes' },
    { directory, breakerFailureKinds: 'io' },
  ]
  for (const options of bad) {
    assert.throws(() => new Cache(options), { name: 'TypeError', code: 'ERR_STURDY_INVALID_OPTION' }, JSON.stringify(options))
  }
})

test('options: values out of range are RangeErrors naming the setting and its limit', (t) => {
  const directory = tempDir(t)
  const bad = [
    [{ maxKeySize: 0 }, /maxKeySize must be 1..=1 GiB, got 0/],
    [{ compressionLevel: 30 }, /compressionLevel must be 1..=22, got 30/],
    [{ hotShards: 3 }, /hotShards must be a power of two/],
    [{ diskLimit: 0 }, /diskLimit must be greater than 0/],
    [{ memoryLimit: -1 }, /memoryLimit must be a whole number of at least 0, got -1/],
    [{ memoryLimit: 1.5 }, /memoryLimit must be a whole number/],
    [{ memoryLimit: '12 parsecs' }, /memoryLimit: "12 parsecs" is not a size/],
    [{ degradedMemoryFactor: 100 }, /degradedMemoryFactor must be 1.0..=16.0, got 100/],
    [{ breaker: { failureRateThreshold: 2 } }, /breaker: failureRateThreshold must be within 0.0..=1.0/],
    [{ breakerFailureKinds: ['io', 'gremlins'] }, /unknown kind "gremlins"/],
    [{ ioTimeout: 0 }, /ioTimeout must be greater than zero/],
    [{ defaultTtl: -5 }, /defaultTtl must be greater than 0/],
    [{ secretKey: '' }, /secretKey must not be empty/],
  ]
  for (const [options, message] of bad) {
    assert.throws(() => new Cache({ directory, ...options }), { name: 'RangeError', code: 'ERR_STURDY_INVALID_CONFIG', message }, JSON.stringify(options))
  }
})

test('sizes are numbers or strings the core parses', (t) => {
  assert.equal(parseSize('512MiB'), 512 * 1024 * 1024)
  assert.equal(parseSize('1GB'), 1e9)
  assert.equal(parseSize('4096'), 4096)
  assert.throws(() => parseSize('lots'), { name: 'RangeError', code: 'ERR_STURDY_INVALID_CONFIG' })
  const cache = openCache(t, { memoryLimit: '2MiB', diskLimit: 10_000_000 })
  assert.equal(cache.stats().hotLimit, 2 * 1024 * 1024)
  assert.equal(cache.stats().diskLimit, 10_000_000)
})

test('a directory path that is a file is an error with ERR_STURDY_NOT_A_DIRECTORY', (t) => {
  const file = require('node:path').join(tempDir(t), 'file')
  require('node:fs').writeFileSync(file, 'x')
  assert.throws(() => new Cache(file), { code: 'ERR_STURDY_NOT_A_DIRECTORY' })
})

test('a directory written by a newer format is refused with ERR_STURDY_NEWER_FORMAT', (t) => {
  const directory = tempDir(t)
  require('node:fs').writeFileSync(require('node:path').join(directory, 'VERSION'), 'sturdycache 99\n')
  assert.throws(() => new Cache(directory), { code: 'ERR_STURDY_NEWER_FORMAT', found: 99, supported: 1 })
})
