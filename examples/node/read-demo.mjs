// Reads back, from Node, the entries the README demo wrote from Rust (or any
// other language) into a cache directory: the same keys, the same bytes.
//
//   node examples/node/read-demo.mjs DIRECTORY
//
// Exits non-zero if an entry the demo leaves on disk is missing, or one it
// removed (the corrupted report, the deleted during:5) is served.
import { Cache } from '../../node/index.mjs' // in an application: from 'sturdycache'

const directory = process.argv[2] ?? 'demo-cache'
const cache = new Cache({ directory, memoryLimit: 0 }) // every read from disk
await cache.ready()

const show = (v) => (Buffer.isBuffer(v) ? JSON.stringify(v.toString('utf8')) : JSON.stringify(v))
const keys = []
for await (const key of cache.keys()) keys.push(key)
keys.sort()
console.log(`node ${process.version} reads ${keys.length} entries from ${directory}:`)
for (const key of keys) {
  const value = await cache.get(key)
  const text = show(value)
  console.log(`  ${key} -> ${text.length > 60 ? `${text.slice(0, 60)}…` : text}`)
}

const expectPresent = ['user:1', 'before', 'during:3']
const expectAbsent = ['report:2026', 'during:5']
const missing = []
for (const key of expectPresent) if ((await cache.get(key)) === undefined) missing.push(key)
const served = []
for (const key of expectAbsent) if ((await cache.get(key)) !== undefined) served.push(key)
await cache.close()
if (missing.length || served.length) {
  console.error(`node read-back FAILED: missing ${missing.join(', ') || '-'}; served ${served.join(', ') || '-'}`)
  process.exit(1)
}
console.log(`node read-back ok: ${expectPresent.join(', ')} present; ${expectAbsent.join(', ')} absent`)
