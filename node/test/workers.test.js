'use strict'
// worker_threads: several workers use one directory at once (each loads the
// addon in its own context; their caches share the directory and its
// coherence map).

const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { Worker } = require('node:worker_threads')

const { Cache } = require('..')
const { tempDir } = require('./helpers')

function reply(worker) {
  return new Promise((resolve, reject) => {
    worker.once('message', (msg) => (msg.error ? reject(new Error(msg.error)) : resolve(msg)))
    worker.once('error', reject)
  })
}

test('four workers write, race add(), and read each other’s entries', { timeout: 60_000 }, async (t) => {
  const directory = tempDir(t)
  const workers = 4
  const perWorker = 100
  const pool = Array.from(
    { length: workers },
    (_, id) => new Worker(path.join(__dirname, 'fixtures', 'worker.js'), { workerData: { directory, id, workers, perWorker } }),
  )
  const exits = pool.map((w) => new Promise((resolve) => w.once('exit', resolve)))
  // If an assertion fails midway, the workers still waiting for a message must not keep the process alive.
  t.after(() => Promise.all(pool.map((w) => w.terminate())))

  const written = await Promise.all(pool.map((w) => (w.postMessage('write'), reply(w))))
  assert.equal(written.filter((r) => r.won).length, 1, 'exactly one add() wins across workers')
  const winner = written.findIndex((r) => r.won)

  const read = await Promise.all(pool.map((w) => (w.postMessage('read'), reply(w))))
  for (const r of read) {
    assert.equal(r.missing, 0)
    assert.equal(r.winner, winner)
  }
  // Every worker ends by itself (half of them without closing their cache).
  assert.deepEqual(await Promise.all(exits), [0, 0, 0, 0])

  const cache = new Cache(directory)
  t.after(() => cache.close())
  assert.deepEqual(await cache.get('w3:99'), { id: 3, i: 99 })
})
