'use strict'
// Several processes on one directory: their writes are visible to each other,
// add() and pop() are atomic across processes, and a hot tier never serves a
// value another process has replaced.

const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { fork, spawnSync } = require('node:child_process')

const { Cache } = require('..')
const { tempDir } = require('./helpers')

const CHILD = path.join(__dirname, 'fixtures', 'child.js')

function message(child) {
  return new Promise((resolve, reject) => {
    child.once('message', resolve)
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`child exited with ${code} before answering`)))
  })
}

function exited(child) {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)))
}

test('three processes write and read each other’s entries', { timeout: 60_000 }, async (t) => {
  const directory = tempDir(t)
  const processes = 3
  const perProcess = 50
  const children = Array.from({ length: processes }, (_, me) =>
    fork(CHILD, [directory, 'write-read', String(me), String(processes), String(perProcess)]),
  )
  const done = children.map(exited)
  await Promise.all(children.map(message))
  const results = await Promise.all(children.map((c) => (c.send('go'), message(c))))
  assert.deepEqual(
    results.map((r) => r.missing),
    [0, 0, 0],
  )
  assert.deepEqual(await Promise.all(done), [0, 0, 0])
})

test('add() and pop() have exactly one winner across four processes', { timeout: 60_000 }, async (t) => {
  const directory = tempDir(t)
  const cache = new Cache(directory)
  t.after(() => cache.close())
  await cache.set('token', 'the only one')
  const children = Array.from({ length: 4 }, () => fork(CHILD, [directory, 'race']))
  const done = children.map(exited)
  await Promise.all(children.map(message))
  const results = await Promise.all(children.map((c) => (c.send('go'), message(c))))
  const adders = results.filter((r) => r.added)
  assert.equal(adders.length, 1)
  assert.equal(await cache.get('lock'), children[results.indexOf(adders[0])].pid)
  const poppers = results.filter((r) => r.popped !== null)
  assert.equal(poppers.length, 1)
  assert.equal(poppers[0].popped, 'the only one')
  assert.equal(await cache.get('token'), undefined)
  await Promise.all(done)
})

test('a value another process replaced is not served stale from memory', { timeout: 60_000 }, async (t) => {
  const directory = tempDir(t)
  const cache = new Cache(directory)
  t.after(() => cache.close())
  cache.setSync('config', 'v1')
  assert.equal(cache.getSync('config'), 'v1') // now in this process's hot tier
  const r = spawnSync(process.execPath, [CHILD, directory, 'set', 'config', 'v2'], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  assert.equal(cache.getSync('config'), 'v2')
  assert.equal(await cache.get('config'), 'v2')
})
