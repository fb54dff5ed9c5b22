'use strict'
// Process life: an open cache never keeps the process alive, and leaving
// without close() loses no acknowledged write.

const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')

const { Cache } = require('..')
const { tempDir } = require('./helpers')

const CHILD = path.join(__dirname, 'fixtures', 'child.js')
// A child that does not exit within this long is killed and the test fails.
const LIMIT_MS = 30_000

function run(directory, role, ...args) {
  return spawnSync(process.execPath, [CHILD, directory, role, ...args], { encoding: 'utf8', timeout: LIMIT_MS })
}

test('an open cache with event listeners does not keep the process alive', (t) => {
  const directory = tempDir(t)
  const r = run(directory, 'idle')
  assert.equal(r.signal, null, 'the child had to be killed: something kept it alive')
  assert.equal(r.status, 0, r.stderr)
})

test('write-behind sets reach the disk when the process ends without close()', async (t) => {
  for (const how of ['natural', 'process.exit']) {
    const directory = tempDir(t)
    const r = run(directory, 'write-behind-exit', how)
    assert.equal(r.status, 0, r.stderr)
    const cache = new Cache(directory)
    for (let i = 0; i < 200; i++) assert.equal(await cache.get(`wb:${i}`), i, `${how}: wb:${i}`)
    await cache.close()
  }
})

test('a process killed with SIGKILL loses none of the sets it acknowledged (durability fsync)', async (t) => {
  const directory = tempDir(t)
  const child = spawn(process.execPath, [CHILD, directory, 'ack-then-die'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const acked = await new Promise((resolve) => {
    let text = ''
    child.stdout.on('data', (chunk) => {
      text += chunk
      const lines = text.split('\n').slice(0, -1)
      if (lines.length >= 40) {
        child.kill('SIGKILL')
        resolve(lines.map(Number))
      }
    })
  })
  await new Promise((resolve) => child.once('exit', resolve))
  const cache = new Cache(directory)
  t.after(() => cache.close())
  for (const i of acked) assert.equal(await cache.get(`acked:${i}`), i)
})
