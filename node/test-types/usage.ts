// Compile-only checks of the CommonJS-side types (tsc -p test-types): the API
// as documented type-checks, and misuse does not (each @ts-expect-error fails
// the compile if the line stops being an error).
import sturdy = require('sturdycache')
import keyvEntry = require('sturdycache/keyv')

const { Cache, ManualClock, valueTypes, codes, parseSize } = sturdy

async function usage(): Promise<void> {
  const clock = new ManualClock(0)
  const cache = new Cache({
    directory: '/tmp/x',
    memoryLimit: '256MiB',
    diskLimit: 8 << 30,
    defaultTtl: 60_000,
    durability: 'fsync',
    sweepInterval: false,
    breaker: { failureThreshold: 3, slowCallThreshold: null },
    breakerFailureKinds: ['io', 'no_space'],
    writeMode: 'write-behind',
    secretKey: Buffer.from('k'),
    clock,
  })
  const stored: sturdy.Stored = await cache.set('k', { a: [1, 2, null] }, { ttl: 1000, tag: 't' })
  cache.setSync(Buffer.from('k'), new Uint8Array(2))
  cache.setSync('n', 12n)
  const v: sturdy.StoredValue | undefined = await cache.get('k')
  const s = cache.getSync('k')
  const w: number | sturdy.StoredValue = await cache.wrap('w', async () => 42, { ttl: 5 })
  for await (const key of cache.keys()) {
    const k: string | Buffer = key
    void k
  }
  for await (const key of cache.keys({ buffers: true })) key.byteLength
  cache.on('modeChange', (e) => {
    const to: sturdy.Mode = e.to
    void to
  })
  cache.on('recovered', (e) => e.outageMs.toFixed())
  const id: number = cache.faults.inject({ op: 'write', error: 'eio', trigger: { times: 3 } })
  cache.faults.remove(id)
  const health: sturdy.Health = cache.health()
  const stats: sturdy.Stats = cache.stats()
  stats.resilience.writeBreaker.state satisfies sturdy.BreakerState
  const report: sturdy.SweepReport = await cache.sweep()
  await cache.close()
  const code: sturdy.ErrorCode = codes.KEY_TOO_LARGE
  const bytes: number = parseSize('1GiB') + valueTypes.JSON
  void [stored, v, s, w, health, report, code, bytes]

  // @ts-expect-error: durability is 'none' or 'fsync'
  new Cache({ directory: 'x', durability: 'always' })
  // @ts-expect-error: a directory is required
  new Cache({ memoryLimit: 1 })
  // @ts-expect-error: keys are strings or bytes
  cache.getSync(42)
  // @ts-expect-error: functions are not values
  await cache.set('k', () => 1)
  // @ts-expect-error: no such event
  cache.on('modeChanged', () => {})
  // @ts-expect-error: no such fault
  cache.faults.inject({ op: 'write', error: 'gremlins' })

  const adapter = new keyvEntry.KeyvSturdy({ directory: '/tmp/k' })
  const got: sturdy.StoredValue | undefined = await adapter.get('k')
  void got
}
void usage
