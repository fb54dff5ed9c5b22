// The official Keyv adapter suite (@keyv/test-suite 2.x, keyv 5.6) against
// KeyvSturdy, plus the adapter's own behaviour that the suite does not reach.
import * as test from 'vitest'
import keyvTestSuite from '@keyv/test-suite'
import Keyv from 'keyv'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import KeyvSturdy, { createKeyv } from 'sturdycache/keyv'
import { Cache, ManualClock } from 'sturdycache'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sturdy-keyv-'))
const shared = new Cache({ directory: dir })
// Keyv makes a new store per test; they all share one Cache (and directory).
const store = () => new KeyvSturdy(shared)

keyvTestSuite(test, Keyv, store)

test.afterAll(async () => {
  await shared.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

test.describe('KeyvSturdy beyond the suite', () => {
  test.it('iterator() yields the namespace entries with their values', async (t) => {
    const adapter = store()
    const keyv = new Keyv({ store: adapter, namespace: 'it' })
    const other = new Keyv({ store: store(), namespace: 'other' })
    await keyv.set('a', 1)
    await keyv.set('b', { x: 2 })
    await other.set('a', 'not mine')
    const seen = new Map()
    for await (const [key, raw] of adapter.iterator('it')) seen.set(key, raw)
    t.expect([...seen.keys()].sort()).toEqual(['it:a', 'it:b'])
    t.expect(await keyv.get('a')).toBe(1)
    await keyv.clear()
    t.expect(await other.get('a')).toBe('not mine')
  })

  test.it('entries survive a reopen of the directory (a disk store, not a Map)', async (t) => {
    const own = fs.mkdtempSync(path.join(os.tmpdir(), 'sturdy-keyv-own-'))
    const first = createKeyv({ directory: own })
    await first.set('persist', { deep: [1, 2, 3] })
    await first.disconnect()
    const second = createKeyv(own)
    t.expect(await second.get('persist')).toEqual({ deep: [1, 2, 3] })
    await second.disconnect()
    fs.rmSync(own, { recursive: true, force: true })
  })

  test.it('a TTL reaches the cache entry itself, not only Keyv’s envelope', async (t) => {
    const own = fs.mkdtempSync(path.join(os.tmpdir(), 'sturdy-keyv-ttl-'))
    const clock = new ManualClock(1_700_000_000_000)
    const cache = new Cache({ directory: own, clock })
    const adapter = new KeyvSturdy(cache)
    await adapter.set('short', 'v', 1000)
    await adapter.set('forever', 'v')
    clock.advance(999)
    t.expect(await cache.get('short')).toBe('v')
    clock.advance(1)
    t.expect(await cache.get('short')).toBeUndefined()
    t.expect(await cache.get('forever')).toBe('v')
    await adapter.disconnect() // a shared Cache stays open
    t.expect(cache.closed).toBe(false)
    await cache.close()
    fs.rmSync(own, { recursive: true, force: true })
  })
})
