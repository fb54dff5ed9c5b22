'use strict'
// The public Cache class: the core cache (through the addon) with Node's
// conventions — promises by default (the work runs on the libuv thread pool),
// synchronous twins for hot paths, an EventEmitter for resilience events,
// an async iterator over keys and single-flight `wrap`.

const { EventEmitter } = require('node:events')
const { isUtf8 } = require('node:buffer')

const { NativeCache, ManualClock, getSync, setSync, setInMemory, hasSync, deleteSync } = require('./native')
const { typeOf, payloadOf, decoded } = require('./encoding')
const { normalize } = require('./options')
const { Faults } = require('./faults')
const { typeError, codes } = require('./errors')
const exit = require('./exit')

/** Events the core reports, by their name on the emitter. */
const EVENT_NAMES = new Set(['modeChange', 'breakerStateChange', 'quarantine', 'replayDrop', 'recovered', 'diskHealth'])

/**
 * getSync's raw-byte answers are copied by the addon into a pool Buffer and
 * handed out as views of it, as Buffer.allocUnsafe does with Node's own pool:
 * creating a Buffer from native code costs about a microsecond in Node 20, a
 * view of the pool a few tens of nanoseconds. Layout (shared with the addon):
 * the answer's length as u32 at 0 (0xffffffff: no room left), data from 8.
 * One pool per thread (module instance); a full pool is left to the views
 * still using it and replaced.
 */
const POOL_SIZE = 128 * 1024
const POOL_FULL = 0xffffffff
let pool
let poolLength
let poolOffset

function newPool() {
  pool = Buffer.allocUnsafeSlow(POOL_SIZE)
  poolLength = new Uint32Array(pool.buffer, pool.byteOffset, 1)
  poolOffset = 8
}
newPool()

/** The view of the answer the addon just wrote at poolOffset. */
function fromPool(length) {
  const out = Buffer.from(pool.buffer, pool.byteOffset + poolOffset, length)
  poolOffset += (length + 7) & ~7
  return out
}

/** Keys fetched per trip to the thread pool by `keys()`. */
const KEY_BATCH = 256

// The event object for each kind (the addon sends one flat shape).
function shapeEvent(p) {
  switch (p.kind) {
    case 'modeChange':
    case 'diskHealth':
      return { from: p.from, to: p.to, cause: p.cause, incident: p.incident }
    case 'breakerStateChange':
      return { breaker: p.breaker, from: p.from, to: p.to, incident: p.incident }
    case 'quarantine':
      return { path: p.path, reason: p.reason, incident: p.incident }
    case 'replayDrop':
      return { dropped: p.dropped, queued: p.queued, incident: p.incident }
    case 'recovered':
      return { mode: p.mode, drained: p.drained, outageMs: p.outageMs, incident: p.incident }
    default:
      return { ...p }
  }
}

// TTL and tag of a set's options object.
function setOptions(options) {
  if (options === undefined || options === null) return [undefined, undefined]
  if (typeof options !== 'object') throw typeError(codes.INVALID_ARGUMENT, 'set options must be an object ({ ttl, tag })')
  const { ttl, tag } = options
  if (ttl !== undefined && ttl !== null && typeof ttl !== 'number') {
    throw typeError(codes.INVALID_TTL, `ttl must be a number of milliseconds, got ${typeof ttl}`)
  }
  if (tag !== undefined && tag !== null && typeof tag !== 'string') {
    throw typeError(codes.INVALID_ARGUMENT, `tag must be a string, got ${typeof tag}`)
  }
  return [ttl, tag]
}

// One identity per key for `wrap`'s in-flight map: a string and the Buffer of
// its UTF-8 bytes are the same entry, so they share an id.
function flightId(key) {
  if (typeof key === 'string') return key
  if (key instanceof Uint8Array) {
    const b = Buffer.from(key.buffer, key.byteOffset, key.byteLength)
    return isUtf8(b) ? b.toString('utf8') : `\u0000${b.toString('hex')}`
  }
  return undefined
}

class Cache extends EventEmitter {
  #native
  #handle
  #writeBehind
  #exitToken
  #faults
  #closing
  #subscribed = false
  #flights = new Map()
  #flushWaiters = new Map()
  #flushSeq = 0

  /**
   * Opens (creating if needed) the cache in `options.directory` (or in the
   * directory `options` names). See index.d.ts for every setting.
   */
  constructor(options) {
    super()
    const { native, clock } = normalize(options, ManualClock)
    this.#native = new NativeCache(native, clock)
    this.#writeBehind = native.writeMode === 'write-behind'
    this.#handle = this.#native.handle()
    this.#exitToken = exit.remember(this.#native)
    this.#faults = new Faults(this.#native)
  }

  // The core's events are subscribed to with the first listener for one of
  // them (a cache nobody listens to starts no event thread).
  on(name, listener) {
    this.#subscribeFor(name)
    return super.on(name, listener)
  }

  addListener(name, listener) {
    return this.on(name, listener)
  }

  once(name, listener) {
    this.#subscribeFor(name)
    return super.once(name, listener)
  }

  prependListener(name, listener) {
    this.#subscribeFor(name)
    return super.prependListener(name, listener)
  }

  prependOnceListener(name, listener) {
    this.#subscribeFor(name)
    return super.prependOnceListener(name, listener)
  }

  #subscribeFor(name) {
    if (!EVENT_NAMES.has(name) || this.#subscribed || this.#native.closed) return
    this.#subscribed = true
    this.#native.subscribe((payload) => {
      if (payload.kind === 'flush') {
        const done = this.#flushWaiters.get(payload.flushId)
        if (done) {
          this.#flushWaiters.delete(payload.flushId)
          this.#native.eventsFlushed()
          done()
        }
        return
      }
      this.emit(payload.kind, shapeEvent(payload))
    })
  }

  // --- reads -------------------------------------------------------------

  /**
   * The value for `key`, or undefined. A value in the hot tier is answered
   * here (the hot tier never touches the disk); anything else is looked up
   * on the thread pool.
   */
  get(key) {
    const found = this.#native.get(key)
    if (found instanceof Promise) return found.then(decoded)
    try {
      return Promise.resolve(decoded(found))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** The value for `key`, or undefined, without leaving the JavaScript thread. */
  getSync(key) {
    let v = getSync(this.#handle, key, pool, poolOffset)
    if (v === pool) {
      if (poolLength[0] !== POOL_FULL) return fromPool(poolLength[0])
      newPool()
      v = getSync(this.#handle, key, pool, poolOffset)
      if (v === pool) return fromPool(poolLength[0])
    }
    return Array.isArray(v) ? decoded(v) : v
  }

  /** Whether `key` has a live value. */
  has(key) {
    return this.#native.has(key)
  }

  /** Whether `key` has a live value, synchronously. */
  hasSync(key) {
    return hasSync(this.#handle, key)
  }

  // --- writes ------------------------------------------------------------

  /**
   * Stores `value` under `key`; resolves to 'disk', or to 'memory' when the
   * disk could not take it (the cache is degraded; the write is queued).
   */
  async set(key, value, options) {
    const [ttl, tag] = setOptions(options)
    const type = typeOf(value)
    const payload = payloadOf(value, type)
    // A write-behind set that the core can queue makes no disk call, so it
    // runs here rather than paying a thread-pool round trip. A write-through
    // set, or a write-behind one that finds the queue full (the core then
    // writes through: backpressure), waits for the disk, so it goes to the pool.
    if (this.#writeBehind) {
      const queued = setInMemory(this.#handle, key, payload, type, ttl, tag)
      if (queued !== undefined) return queued
    }
    return this.#native.set(key, payload, type, ttl, tag)
  }

  /** `set`, synchronously. */
  setSync(key, value, options) {
    const type = typeOf(value)
    const payload = payloadOf(value, type)
    if (options === undefined) return setSync(this.#handle, key, payload, type)
    const [ttl, tag] = setOptions(options)
    return setSync(this.#handle, key, payload, type, ttl, tag)
  }

  /** Stores `value` only if `key` has no live value (atomic across processes); whether it stored. */
  async add(key, value, options) {
    const [ttl, tag] = setOptions(options)
    const type = typeOf(value)
    return this.#native.add(key, payloadOf(value, type), type, ttl, tag)
  }

  /** Removes `key`; whether anything was removed. */
  delete(key) {
    return this.#native.delete(key)
  }

  /** `delete`, synchronously. */
  deleteSync(key) {
    return deleteSync(this.#handle, key)
  }

  /** Sets `key`'s expiry to `ttl` ms from now (0 or Infinity: never); whether it had a live value. */
  touch(key, ttl) {
    if (ttl !== undefined && ttl !== null && typeof ttl !== 'number') {
      return Promise.reject(typeError(codes.INVALID_TTL, `ttl must be a number of milliseconds, got ${typeof ttl}`))
    }
    return this.#native.touch(key, ttl)
  }

  /** Removes `key` and returns its value (across processes only one pop gets it). */
  pop(key) {
    return this.#native.pop(key).then(decoded)
  }

  /** Removes every entry; resolves to the number of disk entries removed. */
  clear() {
    return this.#native.clear()
  }

  /** Removes every entry tagged `tag`; resolves to how many were removed. */
  evictTag(tag) {
    if (typeof tag !== 'string') return Promise.reject(typeError(codes.INVALID_ARGUMENT, 'tag must be a string'))
    return this.#native.evictTag(tag)
  }

  /**
   * The value for `key`, computing it with `fn` (sync or async) and storing it
   * on a miss. Concurrent calls for one key on this Cache share one `fn` call
   * (single flight); if it throws, every waiter gets the error and the next
   * call tries again. A result of undefined is returned but not stored.
   */
  wrap(key, fn, options) {
    if (typeof fn !== 'function') {
      return Promise.reject(typeError(codes.INVALID_ARGUMENT, 'wrap needs a function that computes the value'))
    }
    const id = flightId(key)
    const running = id === undefined ? undefined : this.#flights.get(id)
    if (running) return running
    const flight = (async () => {
      try {
        const hit = await this.get(key)
        if (hit !== undefined) return hit
        const value = await fn()
        if (value !== undefined) await this.set(key, value, options)
        return value
      } finally {
        if (id !== undefined) this.#flights.delete(id)
      }
    })()
    if (id !== undefined) this.#flights.set(id, flight)
    return flight
  }

  // --- iteration ---------------------------------------------------------

  /**
   * The keys of live entries, in no particular order: strings where the key
   * bytes are UTF-8, Buffers otherwise (`{ buffers: true }`: always Buffers).
   * While the cache is degraded, the keys held in memory.
   */
  async *keys(options) {
    const buffers = Boolean(options && options.buffers)
    const cursor = this.#native.keys()
    for (;;) {
      const batch = await cursor.nextBatch(KEY_BATCH)
      if (batch.length === 0) return
      for (const key of batch) yield buffers || !isUtf8(key) ? key : key.toString('utf8')
    }
  }

  // --- maintenance and life ----------------------------------------------

  /** Writes everything queued to disk; whether nothing is left queued. */
  flush() {
    return this.#native.flush()
  }

  /** Resolves once the background open work (the disk index) is done. */
  ready() {
    return this.#native.ready()
  }

  /** Runs the periodic maintenance now (expiry, disk budget, leftovers, quarantine). */
  sweep() {
    return this.#native.sweep()
  }

  /** Reads and verifies every entry, quarantining corrupt ones. */
  check() {
    return this.#native.check()
  }

  /** Runs one recovery round now (probe a failing disk, drain the replay queue). */
  runRecovery() {
    return this.#native.runRecovery()
  }

  /** Operator override of a disk path's breaker: 'forced_open', 'disabled' or 'closed'. */
  overrideBreaker(path, state) {
    this.#native.overrideBreaker(path, state)
  }

  /** Resolves once every event emitted so far has been delivered to the listeners. */
  async flushEvents() {
    const id = ++this.#flushSeq
    const marker = new Promise((resolve) => this.#flushWaiters.set(id, resolve))
    const queued = await this.#native.flushEvents(id)
    if (!queued) {
      this.#flushWaiters.delete(id)
      return
    }
    await marker
  }

  /**
   * Flushes queued writes and closes the cache; later calls fail with
   * ERR_STURDY_CLOSED. Idempotent: every call returns the same promise.
   */
  close() {
    if (!this.#closing) {
      exit.forget(this.#exitToken)
      this.#closing = this.#native.close().then(() => {
        for (const done of this.#flushWaiters.values()) done()
        this.#flushWaiters.clear()
      })
    }
    return this.#closing
  }

  /** Whether close() has been called. */
  get closed() {
    return this.#native.closed
  }

  // --- observability -----------------------------------------------------

  /** Counters, sizes, resilience state and latencies. */
  stats() {
    return this.#native.stats()
  }

  /** Mode, breakers, disk health and the replay queue at a glance. */
  health() {
    return this.#native.health()
  }

  /** 'normal', 'read_only' or 'memory_only'. */
  get mode() {
    return this.#native.mode
  }

  /** Every metric in the Prometheus text exposition format. */
  prometheus() {
    return this.#native.prometheus()
  }

  /** The cache directory. */
  get directory() {
    return this.#native.directory
  }

  /** The chaos API: inject disk faults into this cache. */
  get faults() {
    return this.#faults
  }
}

module.exports = { Cache, EVENT_NAMES }
