// Compile-only checks of the ESM-side types.
import sturdycache, { Cache, type CacheOptions } from 'sturdycache'
import KeyvSturdy, { createKeyv } from 'sturdycache/keyv'

const options: CacheOptions = { directory: '/tmp/esm' }
const a: Cache = new Cache(options)
const b: Cache = new sturdycache.Cache('/tmp/esm')
const adapter: KeyvSturdy = new KeyvSturdy(a)
const keyv = createKeyv(b)
void [adapter, keyv]
// @ts-expect-error: the default export has no such member
sturdycache.Nope
