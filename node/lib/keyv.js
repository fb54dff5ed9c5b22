'use strict'
// A Keyv (v5) storage adapter over a sturdycache Cache: `new Keyv({ store:
// new KeyvSturdy({ directory }) })`. Keyv serializes values (to strings by
// default) and prefixes keys with its namespace; the adapter stores each entry
// tagged with that namespace, so a namespaced clear() is one evictTag().

const { EventEmitter } = require('node:events')
const { Cache } = require('./cache')

// A TTL from Keyv (ms; undefined or 0 for none) as the Cache takes it.
function ttlOf(ttl) {
  return typeof ttl === 'number' && ttl > 0 ? ttl : undefined
}

class KeyvSturdy extends EventEmitter {
  /**
   * @param options a Cache (shared, not closed by disconnect()), Cache
   * options, or a directory path (the adapter then owns its Cache).
   */
  constructor(options) {
    super()
    this.owned = !(options instanceof Cache)
    this.cache = this.owned ? new Cache(options) : options
    /** Set by Keyv; entries are tagged with it. */
    this.namespace = undefined
    // Keyv reads opts.dialect and opts.url to decide whether to use iterator().
    this.opts = { dialect: 'sturdycache', url: `sturdycache://${this.cache.directory}` }
  }

  async get(key) {
    return this.cache.get(key)
  }

  async getMany(keys) {
    return Promise.all(keys.map((key) => this.cache.get(key)))
  }

  async set(key, value, ttl) {
    await this.cache.set(key, value, { ttl: ttlOf(ttl), tag: this.namespace })
    return true
  }

  async setMany(entries) {
    await Promise.all(entries.map(({ key, value, ttl }) => this.set(key, value, ttl)))
  }

  async delete(key) {
    return this.cache.delete(key)
  }

  async deleteMany(keys) {
    const removed = await Promise.all(keys.map((key) => this.cache.delete(key)))
    return removed.every(Boolean)
  }

  async has(key) {
    return this.cache.has(key)
  }

  async hasMany(keys) {
    return Promise.all(keys.map((key) => this.cache.has(key)))
  }

  /** Clears this namespace's entries (everything when there is no namespace). */
  async clear() {
    if (this.namespace) await this.cache.evictTag(this.namespace)
    else await this.cache.clear()
  }

  /** [key, value] pairs of the namespace (keys as stored, with their prefix). */
  async *iterator(namespace) {
    const prefix = namespace ? `${namespace}:` : undefined
    for await (const key of this.cache.keys()) {
      if (typeof key !== 'string' || (prefix && !key.startsWith(prefix))) continue
      const value = await this.cache.get(key)
      if (value !== undefined) yield [key, value]
    }
  }

  /** Closes the Cache if the adapter opened it. */
  async disconnect() {
    if (this.owned) await this.cache.close()
  }
}

/** A Keyv instance over a new KeyvSturdy (needs the `keyv` package). */
function createKeyv(options, keyvOptions) {
  const { Keyv } = require('keyv')
  return new Keyv({ store: new KeyvSturdy(options), ...keyvOptions })
}

module.exports = { KeyvSturdy, createKeyv }
