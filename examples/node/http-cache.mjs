// A small HTTP response cache that keeps serving through a disk failure.
//
//   node examples/node/http-cache.mjs [--demo] [--port N] [--dir DIRECTORY]
//
// GET /items/:id   a slow "origin" response, cached with wrap() for 60 s
//                  (x-cache: hit | miss; x-cache-mode: normal | read_only | memory_only)
// GET /health      the cache's health as JSON
// POST /chaos      make every disk call fail (EIO) — the chaos API
// DELETE /chaos    heal the disk
//
// With --demo it starts on a free port, drives itself through a disk failure
// and its recovery with requests to 127.0.0.1, prints what happened, checks
// it, and exits (non-zero if anything went wrong).
import http from 'node:http'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { once } from 'node:events'

import { Cache } from '../../node/index.mjs' // in an application: from 'sturdycache'

const args = process.argv.slice(2)
const flag = (name) => {
  const i = args.indexOf(name)
  return i === -1 ? undefined : args[i + 1]
}
const demo = args.includes('--demo')
const directory = flag('--dir') ?? fs.mkdtempSync(path.join(os.tmpdir(), 'sturdy-http-'))

const cache = new Cache({
  directory,
  memoryLimit: '64MiB',
  // Short breaker timings so a demo outage heals in about a second (defaults: 60 s).
  breaker: { failureThreshold: 1, openTimeout: 300, successThreshold: 1 },
})
cache.on('modeChange', (e) => console.log(`  [cache] mode ${e.from} -> ${e.to} (incident ${e.incident})`))
cache.on('recovered', (e) => console.log(`  [cache] recovered: ${e.drained} queued writes replayed after ${Math.round(e.outageMs)} ms`))

let originCalls = 0
/** The slow backend the cache protects. */
async function origin(id) {
  originCalls++
  await new Promise((resolve) => setTimeout(resolve, 20))
  return { id, name: `item ${id}`, renderedAt: new Date().toISOString() }
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, 'http://localhost')
    const item = url.pathname.match(/^\/items\/(\w+)$/)
    if (req.method === 'GET' && item) {
      const key = `GET ${url.pathname}`
      let hit = true
      const body = await cache.wrap(
        key,
        async () => {
          hit = false
          return JSON.stringify(await origin(item[1]))
        },
        { ttl: 60_000, tag: 'items' },
      )
      res.writeHead(200, { 'content-type': 'application/json', 'x-cache': hit ? 'hit' : 'miss', 'x-cache-mode': cache.mode })
      return res.end(body)
    }
    if (req.method === 'GET' && url.pathname === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' })
      return res.end(JSON.stringify(cache.health()))
    }
    if (url.pathname === '/chaos' && req.method === 'POST') {
      cache.faults.inject({ op: 'all', error: 'eio' })
      res.writeHead(204)
      return res.end()
    }
    if (url.pathname === '/chaos' && req.method === 'DELETE') {
      cache.faults.clear()
      res.writeHead(204)
      return res.end()
    }
    res.writeHead(404)
    res.end()
  } catch (err) {
    res.writeHead(500, { 'content-type': 'text/plain' })
    res.end(String(err))
  }
})

server.listen(demo ? 0 : Number(flag('--port') ?? 8080), '127.0.0.1')
await once(server, 'listening')
const base = `http://127.0.0.1:${server.address().port}`
console.log(`http-cache on ${base} (cache in ${directory})`)

if (demo) {
  const failures = []
  const expect = (what, ok) => {
    if (!ok) failures.push(what)
  }
  const get = async (p) => {
    const r = await fetch(base + p)
    const body = await r.json()
    console.log(`GET ${p} -> ${r.status} x-cache=${r.headers.get('x-cache')} mode=${r.headers.get('x-cache-mode')}`)
    return { status: r.status, cache: r.headers.get('x-cache'), mode: r.headers.get('x-cache-mode'), body }
  }

  console.log('\n-- healthy disk --')
  expect('first request is a miss', (await get('/items/1')).cache === 'miss')
  expect('second request is a hit', (await get('/items/1')).cache === 'hit')

  console.log('\n-- the disk fails (every call EIO) --')
  await fetch(`${base}/chaos`, { method: 'POST' })
  const during = await get('/items/2')
  expect('a new item is still served while the disk fails', during.status === 200 && during.cache === 'miss')
  expect('the cache degraded', during.mode !== 'normal' || cache.mode !== 'normal')
  expect('it is served from memory next time', (await get('/items/2')).cache === 'hit')
  expect('an item cached before the failure is still served', (await get('/items/1')).status === 200)
  const health = await (await fetch(`${base}/health`)).json()
  console.log(`health: mode ${health.mode}, write breaker ${health.writeBreaker}, ${health.replayDepth} writes queued`)

  console.log('\n-- the disk heals --')
  const recovered = once(cache, 'recovered')
  await fetch(`${base}/chaos`, { method: 'DELETE' })
  // The background recovery probes after the breaker's open time; give it 20 s at most.
  const timeout = new Promise((resolve) => setTimeout(resolve, 20_000, 'timeout').unref())
  expect('the cache recovered', (await Promise.race([recovered, timeout])) !== 'timeout')
  await cache.flushEvents()
  expect('mode is normal again', cache.mode === 'normal')
  const reader = new Cache({ directory, memoryLimit: 0 })
  expect('the response cached during the outage reached the disk', (await reader.get('GET /items/2')) !== undefined)
  await reader.close()
  expect('the origin was called once per item', originCalls === 2)
  console.log(`origin calls: ${originCalls}`)

  server.close()
  await cache.close()
  if (!flag('--dir')) fs.rmSync(directory, { recursive: true, force: true })
  if (failures.length) {
    console.error(`\ndemo FAILED: ${failures.join('; ')}`)
    process.exit(1)
  }
  console.log('\ndemo ok: served through the disk failure, recovered, nothing lost')
}
