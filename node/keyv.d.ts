// Types of `sturdycache/keyv`: a Keyv (v5) storage adapter over a Cache.
import { EventEmitter } from 'node:events'
import type { Cache, CacheOptions, StoredValue } from './index.js'

/** Keyv's storage adapter interface, as KeyvSturdy implements it. */
export declare class KeyvSturdy extends EventEmitter {
  /**
   * @param options a Cache (shared; disconnect() leaves it open), Cache options
   * or a directory path (the adapter then owns its Cache).
   */
  constructor(options: Cache | CacheOptions | string)
  /** The Cache entries are stored in. */
  readonly cache: Cache
  /** Whether disconnect() closes the Cache. */
  readonly owned: boolean
  /** Set by Keyv: entries are tagged with it, and clear() removes only them. */
  namespace: string | undefined
  readonly opts: { dialect: 'sturdycache'; url: string }
  get(key: string): Promise<StoredValue | undefined>
  getMany(keys: string[]): Promise<Array<StoredValue | undefined>>
  set(key: string, value: any, ttl?: number): Promise<boolean>
  setMany(entries: Array<{ key: string; value: any; ttl?: number }>): Promise<void>
  delete(key: string): Promise<boolean>
  deleteMany(keys: string[]): Promise<boolean>
  has(key: string): Promise<boolean>
  hasMany(keys: string[]): Promise<boolean[]>
  clear(): Promise<void>
  iterator(namespace?: string): AsyncGenerator<[string, StoredValue], void, undefined>
  disconnect(): Promise<void>
}

/** A Keyv instance over a new KeyvSturdy (needs the `keyv` package). */
export declare function createKeyv(options: Cache | CacheOptions | string, keyvOptions?: Record<string, unknown>): import('keyv').Keyv

export default KeyvSturdy
