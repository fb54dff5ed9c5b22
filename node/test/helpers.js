'use strict'
// Shared by the node --test suites: a fresh cache directory per test, removed
// afterwards, and small file-system helpers for looking at entry files.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const made = []
// Removed when the test file's process exits, after every test's caches have
// closed (t.after hooks run in the order they were added, so a removal added
// before a cache's close would race the cache's background writes).
process.on('exit', () => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 })
})

/** A new empty directory, removed when this test file's process exits. */
function tempDir(t, name = 'sturdy-node-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), name))
  made.push(dir)
  return dir
}

/** A cache directory and a Cache on it, closed when the test ends. */
function openCache(t, options = {}) {
  const { Cache } = require('..')
  const directory = tempDir(t)
  const cache = new Cache({ directory, ...options })
  t.after(() => cache.close())
  return cache
}

/** Every entry file under `<dir>/data`. */
function entryFiles(dir) {
  const data = path.join(dir, 'data')
  if (!fs.existsSync(data)) return []
  return fs
    .readdirSync(data)
    .flatMap((sub) => fs.readdirSync(path.join(data, sub)).map((f) => path.join(data, sub, f)))
    .filter((f) => /^[0-9a-f]{32}$/.test(path.basename(f)))
}

/** Header fields of an entry file (docs/FORMAT.md §3). */
function readHeader(file) {
  const b = fs.readFileSync(file)
  const keyLen = b.readUInt32LE(12)
  const tagLen = b.readUInt16LE(10)
  const storedLen = Number(b.readBigUInt64LE(16))
  const start = 48 + keyLen + tagLen
  return {
    codec: b[8],
    valueType: b[9],
    key: b.subarray(48, 48 + keyLen),
    tag: b.subarray(48 + keyLen, start).toString(),
    expiresMs: Number(b.readBigUInt64LE(40)),
    value: b.subarray(start, start + storedLen),
  }
}

/** Files in `<dir>/quarantine`. */
function quarantined(dir) {
  const q = path.join(dir, 'quarantine')
  return fs.existsSync(q) ? fs.readdirSync(q) : []
}

/** A promise of the next `name` event of `emitter`. */
function nextEvent(emitter, name) {
  return new Promise((resolve) => emitter.once(name, resolve))
}

module.exports = { tempDir, openCache, entryFiles, readHeader, quarantined, nextEvent }
