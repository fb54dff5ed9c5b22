// sturdycache (Node) against its peers, side by side in one run, 1 KiB values.
// Run by scripts/bench-node.sh; `node bench.mjs --quick` for a short run.
//
// Each comparison alternates rounds: ours, then the peer, then ours... Per
// round we take the mean time per operation; the figure reported for each side
// is the median over rounds, and "A/B" is the median of the per-round ratios
// (steadier on a shared machine). Ratio = ours / peer: below 1 means faster.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'
import { execFileSync } from 'node:child_process'

import { Cache } from '../index.mjs'
import { KeyvSturdy } from '../keyv.mjs'

const require = createRequire(import.meta.url)
const quick = process.argv.includes('--quick')
const ROUNDS = quick ? 3 : 7
const VALUE = Buffer.alloc(1024, 0x61)
const VALUE_TEXT = 'a'.repeat(1024)

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sturdy-bench-'))
process.on('exit', () => {
  fs.rmSync(work, { recursive: true, force: true })
  // Written-back inode tables shorten how long the next run sees these deletions as recent (see fileCreationProbe).
  settle()
})

/** Loads a peer, or says why it cannot be measured. */
function peer(name) {
  try {
    return require(name)
  } catch (err) {
    console.log(`PEER UNAVAILABLE: ${name} could not be loaded (${err.code ?? err.message}); its comparisons are skipped`)
    return undefined
  }
}

const { LRUCache } = peer('lru-cache') ?? {}
const cacache = peer('cacache')
const { Keyv } = peer('keyv') ?? {}
const KeyvSqlite = peer('@keyv/sqlite')?.default ?? peer('@keyv/sqlite')

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Nanoseconds per op of `ops` calls of a synchronous `fn(i)`. */
function timeSync(ops, fn) {
  const t = process.hrtime.bigint()
  for (let i = 0; i < ops; i++) fn(i)
  return Number(process.hrtime.bigint() - t) / ops
}

/** Nanoseconds per op of `ops` awaited calls of `fn(i)`, one at a time. */
async function timeAsync(ops, fn) {
  const t = process.hrtime.bigint()
  for (let i = 0; i < ops; i++) await fn(i)
  return Number(process.hrtime.bigint() - t) / ops
}

function fmt(ns) {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(1)} µs`
  return `${ns.toFixed(0)} ns`
}

const results = []

/**
 * Alternates rounds of `ours(round)` and `theirs(round)` (each returns ns/op)
 * and records the comparison. `check(ratio)` says whether the target is met.
 */
async function compare(name, oursLabel, theirsLabel, ours, theirs, target) {
  const a = []
  const b = []
  const ab = []
  for (let round = 0; round < ROUNDS; round++) {
    const x = await ours(round)
    const y = await theirs(round)
    a.push(x)
    b.push(y)
    ab.push(x / y)
  }
  const row = { name, oursLabel, theirsLabel, ours: median(a), theirs: median(b), ratio: median(a) / median(b), ab: median(ab), target }
  results.push(row)
  const verdict = target ? (target.check(row.ab) ? 'met' : 'MISSED') : ''
  console.log(
    `${name}: ${oursLabel} ${fmt(row.ours)} vs ${theirsLabel} ${fmt(row.theirs)} -> ratio ${row.ratio.toFixed(3)} (A/B ${row.ab.toFixed(3)})` +
      (target ? `; target ${target.text}: ${verdict}` : ''),
  )
}

/** Flushes dirty pages, so an earlier section's writeback does not run during the next one's timing. */
function settle() {
  try {
    execFileSync('sync')
  } catch {
    // no sync(1): the sections just share the disk's background work
  }
}

function shuffled(n) {
  const order = Array.from({ length: n }, (_, i) => i)
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[order[i], order[j]] = [order[j], order[i]]
  }
  return order
}

/**
 * Reports how long creating a 1 KiB file takes here; warns when it is slow.
 * Some file systems (ext4 without a journal, as on the machines these figures
 * come from) pass over inodes deleted in the last one to six minutes when they
 * allocate new ones, so right after a mass deletion (a previous run's cleanup)
 * each file creation can take ten to fifty times as long. Every file-per-entry
 * store pays that (our disk tier, cacache); keyv's SQLite file does not. The
 * probe's files stay until the run's cleanup: it deletes nothing of its own.
 */
function fileCreationProbe() {
  const SLOW_US = 50 // a healthy local disk: 5-30
  const probe = path.join(work, 'probe')
  fs.mkdirSync(probe)
  const times = []
  for (let i = 0; i < 200; i++) {
    const t = process.hrtime.bigint()
    fs.writeFileSync(path.join(probe, String(i)), VALUE, { flag: 'wx' })
    times.push(Number(process.hrtime.bigint() - t) / 1e3)
  }
  const us = median(times)
  console.log(`file creation here: ${us.toFixed(0)} µs per 1 KiB file (median of 200)`)
  if (us > SLOW_US) {
    console.log(
      `  SLOW FILE SYSTEM: over ${SLOW_US} µs, likely still reclaiming a recent mass deletion (a previous run's cleanup?); ` +
        'rows that create files will be slow. Re-run in a few minutes.',
    )
  }
}

console.log(`node ${process.version}, ${os.cpus().length} CPUs, ${ROUNDS} rounds per comparison, 1 KiB values, cache dirs under ${work}`)
fileCreationProbe()

// --- 1. getSync of a hot entry vs lru-cache get ------------------------------
{
  const N = quick ? 10_000 : 100_000
  const OPS = quick ? 100_000 : 500_000
  const keys = Array.from({ length: N }, (_, i) => `hot:${i}`)
  const order = shuffled(N)
  // Each row gets a cache of its own rather than overwriting the last one's
  // entries: an overwrite replaces the entry's file, and hundreds of thousands
  // of just-deleted inodes slow every file creation on ext4 for a while
  // (its allocator skips recently deleted inodes), which would fall on the
  // write-through set section below.
  const hotCache = (name) => new Cache({ directory: path.join(work, name), memoryLimit: '512MiB', sweepInterval: false })
  let cache = hotCache('hot')
  // A queue as long as a round, so every set of the write-behind row is queued (a full queue writes through).
  const behind = new Cache({ directory: path.join(work, 'hot-wb'), memoryLimit: '512MiB', writeMode: 'write-behind', maxReplayEntries: OPS, sweepInterval: false })
  // Every entry holds a 1 KiB value of its own, as a real cache does (the
  // target row). The row after it stores one shared Buffer under every key,
  // for information: the peer then returns a pointer to a single object that
  // never leaves the CPU cache, while ours still copies the entry's bytes.
  const distinct = keys.map((_, i) => {
    const v = Buffer.from(VALUE)
    v.writeUInt32LE(i, VALUE.length - 4)
    return v
  })
  keys.forEach((k, i) => cache.setSync(k, distinct[i]))
  let sink = 0
  if (LRUCache) {
    const lru = new LRUCache({ max: N * 2 })
    keys.forEach((k, i) => lru.set(k, distinct[i]))
    const get = (c) => (i) => {
      sink += c.get(keys[order[i % N]]).length
    }
    const ours = () =>
      timeSync(OPS, (i) => {
        sink += cache.getSync(keys[order[i % N]]).length
      })
    settle()
    // Warm both (JIT, hot tier promotion) before measuring.
    ours()
    timeSync(OPS, get(lru))
    await compare(`hot get (${N} keys, random order)`, 'cache.getSync', 'lru-cache get', ours, () => timeSync(OPS, get(lru)), {
      text: '≤ 2×',
      check: (r) => r <= 2,
    })
    // The peer's get plus the copy every getSync makes (a Buffer of the
    // caller's own, which no later get can change): the floor for any cache
    // that hands out copies. It alone is about 4x the plain get, so no
    // copying getSync can be within 2x of lru-cache's get.
    await compare(`hot get (${N} keys; information)`, 'cache.getSync', 'lru-cache get + a copy of the value', ours, () =>
      timeSync(OPS, (i) => {
        const v = lru.get(keys[order[i % N]])
        const out = Buffer.allocUnsafe(v.length)
        v.copy(out)
        sink += out.length
      }),
    )
    // Rows for information: every key holds the same `value`, on both sides, in a cache of its own.
    const oneValueRow = async (name, dirName, value) => {
      await cache.close()
      cache = hotCache(dirName)
      for (const k of keys) {
        cache.setSync(k, value)
        lru.set(k, value)
      }
      settle()
      ours()
      await compare(name, 'cache.getSync', 'lru-cache get', ours, () => timeSync(OPS, get(lru)))
    }
    await oneValueRow(`hot get, one shared value (${N} keys; information)`, 'hot-shared', VALUE)
    // The same with string values (no Buffer to allocate on the way out).
    await oneValueRow(`hot get, string values (${N} keys)`, 'hot-text', VALUE_TEXT)
    // New keys every round (the flush between rounds writes each once).
    const WB_OPS = OPS / 50
    await compare(
      'set of a new key (write-behind: no disk call)',
      'cache.setSync',
      'lru-cache set',
      async (round) => {
        const ns = timeSync(WB_OPS, (i) => behind.setSync(`wb:${round}:${i}`, VALUE))
        await behind.flush()
        return ns
      },
      (round) => timeSync(WB_OPS, (i) => lru.set(`wb:${round}:${i}`, VALUE)),
    )
  }
  await cache.close()
  await behind.close()
  if (sink === 42) console.log('')
}

settle()
// --- 2. async get of an entry on disk vs cacache.get -------------------------
{
  const N = quick ? 500 : 2000
  const keys = Array.from({ length: N }, (_, i) => `disk:${i}`)
  const order = shuffled(N)
  const dir = path.join(work, 'disk')
  const writer = new Cache({ directory: dir, sweepInterval: false })
  for (const k of keys) writer.setSync(k, VALUE)
  await writer.close()
  // No hot tier: every get reads and verifies the entry file.
  const cache = new Cache({ directory: dir, memoryLimit: 0, sweepInterval: false })
  await cache.ready()
  if (cacache) {
    const cachePath = path.join(work, 'cacache')
    for (const k of keys) await cacache.put(cachePath, k, VALUE)
    await timeAsync(N, (i) => cache.get(keys[order[i]]))
    await timeAsync(N, (i) => cacache.get(cachePath, keys[order[i]]))
    await compare(
      `get from disk (${N} entries, page cache warm)`,
      'await cache.get',
      'cacache.get',
      () => timeAsync(N, (i) => cache.get(keys[order[i]])),
      () => timeAsync(N, (i) => cacache.get(cachePath, keys[order[i]])),
      { text: '≥ 10× faster (ratio ≤ 0.1)', check: (r) => r <= 0.1 },
    )
  }
  await cache.close()
}

settle()
// --- 3. set vs cacache.put and keyv + @keyv/sqlite ---------------------------
{
  const OPS = quick ? 300 : 1000
  const through = new Cache({ directory: path.join(work, 'set-wt'), sweepInterval: false })
  const behind = new Cache({ directory: path.join(work, 'set-wb'), writeMode: 'write-behind', sweepInterval: false })
  const oursThrough = (round) => timeAsync(OPS, (i) => through.set(`s:${round}:${i}`, VALUE))
  const oursBehind = async (round) => {
    const ns = await timeAsync(OPS, (i) => behind.set(`s:${round}:${i}`, VALUE))
    await behind.flush() // not timed: the queue is written out between rounds
    return ns
  }
  const oursBehindSync = async (round) => {
    const ns = timeSync(OPS, (i) => behind.setSync(`ss:${round}:${i}`, VALUE))
    await behind.flush()
    return ns
  }
  if (cacache) {
    const cachePath = path.join(work, 'cacache-put')
    const put = (round) => timeAsync(OPS, (i) => cacache.put(cachePath, `s:${round}:${i}`, VALUE))
    await compare('set (new keys)', 'await cache.set (write-through)', 'cacache.put', oursThrough, put, {
      text: '≥ 10× faster (ratio ≤ 0.1)',
      check: (r) => r <= 0.1,
    })
    await compare('set (new keys)', 'await cache.set (write-behind)', 'cacache.put', oursBehind, put, {
      text: '≥ 10× faster (ratio ≤ 0.1)',
      check: (r) => r <= 0.1,
    })
  }
  if (Keyv && KeyvSqlite) {
    let sqlite
    try {
      const store = new KeyvSqlite(`sqlite://${path.join(work, 'keyv.sqlite')}`)
      await store.query('PRAGMA journal_mode=WAL')
      sqlite = new Keyv({ store })
      await sqlite.set('probe', 'x')
    } catch (err) {
      console.log(`PEER UNAVAILABLE: keyv + @keyv/sqlite failed to open (${err.message}); its comparisons are skipped`)
    }
    if (sqlite) {
      const put = (round) => timeAsync(OPS, (i) => sqlite.set(`s:${round}:${i}`, VALUE_TEXT))
      await compare('set (new keys)', 'await cache.set (write-through)', 'keyv+@keyv/sqlite (WAL) set', oursThrough, put, {
        text: 'faster (ratio < 1)',
        check: (r) => r < 1,
      })
      await compare('set (new keys)', 'await cache.set (write-behind)', 'keyv+@keyv/sqlite (WAL) set', oursBehind, put, {
        text: 'faster (ratio < 1)',
        check: (r) => r < 1,
      })
      await compare('set (new keys)', 'cache.setSync (write-behind)', 'keyv+@keyv/sqlite (WAL) set', oursBehindSync, put, {
        text: 'faster (ratio < 1)',
        check: (r) => r < 1,
      })
      const viaKeyv = new Keyv({ store: new KeyvSturdy(through) })
      await compare(
        'set through Keyv (new keys)',
        'keyv+sturdycache/keyv set (write-through)',
        'keyv+@keyv/sqlite (WAL) set',
        (round) => timeAsync(OPS, (i) => viaKeyv.set(`k:${round}:${i}`, VALUE_TEXT)),
        put,
      )
      await compare(
        'get through Keyv',
        'keyv+sturdycache/keyv get',
        'keyv+@keyv/sqlite (WAL) get',
        (round) => timeAsync(OPS, (i) => viaKeyv.get(`k:${round}:${i}`)),
        (round) => timeAsync(OPS, (i) => sqlite.get(`s:${round}:${i}`)),
      )
      await sqlite.disconnect()
    }
  }
  await through.close()
  await behind.close()
}

console.log('\nsummary (ratio = ours / peer; A/B = median of per-round ratios):')
console.log('| comparison | ours | peer | ours | peer | ratio | A/B | target |')
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |')
for (const r of results) {
  const verdict = r.target ? `${r.target.text}: ${r.target.check(r.ab) ? 'met' : '**missed**'}` : '—'
  console.log(
    `| ${r.name} | ${r.oursLabel} | ${r.theirsLabel} | ${fmt(r.ours)} | ${fmt(r.theirs)} | ${r.ratio.toFixed(3)} | ${r.ab.toFixed(3)} | ${verdict} |`,
  )
}
