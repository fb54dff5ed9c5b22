// Types of the sturdycache npm package (the JavaScript layer's public surface).
// The addon's own generated declarations are in native/index.d.ts.

import { EventEmitter } from 'node:events'

/** A key: a string (its UTF-8 bytes, as in Python and C) or raw bytes. */
export type Key = string | Uint8Array

/** What a value may be; it is read back with the same type (see `valueTypes`). */
export type Value = Buffer | Uint8Array | string | number | bigint | boolean | null | JsonObject | JsonValue[]
/** A JSON value stored under the JSON value type. */
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject
/** A JSON object. */
export interface JsonObject {
  [key: string]: JsonValue | undefined
}

/** What a read returns: a Buffer for bytes (a Uint8Array is read back as a Buffer), a bigint for integers beyond 2^53. */
export type StoredValue = Buffer | string | number | bigint | boolean | null | JsonObject | JsonValue[]

/** A size: bytes, or a string such as '512MiB', '1GB', '64k'. */
export type Size = number | string

/** The circuit breakers guarding the disk's read and write paths. Durations in ms. */
export interface BreakerOptions {
  /** Consecutive failures that trip a breaker (default 5; 0 disables the rule). */
  failureThreshold?: number
  /** Failure rate over the window that trips it (default 0.5; 0 disables the rule). */
  failureRateThreshold?: number
  /** Calls the window must hold before the rate rule applies (default 10). */
  minimumCalls?: number
  /** Rolling window (default 300 000 ms). */
  rollingWindow?: number
  /** Buckets of the window (default 10). */
  windowBuckets?: number
  /** A call slower than this counts as a failure (default 5000 ms; false: off). */
  slowCallThreshold?: number | false | null
  /** Time open before trial calls (default 60 000 ms), doubling up to maxOpenTimeout. */
  openTimeout?: number
  /** Cap of the open time (default 1 800 000 ms). */
  maxOpenTimeout?: number
  /** Fraction of calls let through while half-open (default 0.5). */
  recoveryFactor?: number
  /** Trial calls outstanding at once while half-open (default 10). */
  halfOpenMaxCalls?: number
  /** Trial successes that close the breaker (default 3). */
  successThreshold?: number
}

/** Every setting of a cache. Sizes in bytes or strings; durations and TTLs in milliseconds. */
export interface CacheOptions {
  /** The cache directory (created if missing). */
  directory: string
  /** Hot (memory) tier budget. Default '64MiB'. 0 disables the hot tier. */
  memoryLimit?: Size
  /** Disk tier budget. Default '1GiB'. */
  diskLimit?: Size
  /** TTL of sets without one (default none; 0 or Infinity: none). */
  defaultTtl?: number | null
  /** 'fsync': every acknowledged set survives a power cut. Default 'none' (survives a killed process). */
  durability?: 'none' | 'fsync'
  /** Longest key (default '64KiB'). */
  maxKeySize?: Size
  /** Longest value (default '128MiB'). */
  maxValueSize?: Size
  /** Values at least this long are zstd-compressed when that saves space (default '4KiB'). */
  compressionThreshold?: Size
  /** zstd level, 1–22 (default 3). */
  compressionLevel?: number
  /** How long quarantined files are kept (default 7 days). */
  quarantineRetention?: number
  /** Cap of the quarantine folder (default '64MiB'). */
  quarantineMaxBytes?: Size
  /** Background maintenance period (default 60 000 ms; false: call sweep() yourself). */
  sweepInterval?: number | false | null
  /** Hot tier shards, a power of two (default 16). */
  hotShards?: number
  /** Circuit breaker settings. */
  breaker?: BreakerOptions
  /** Which disk error kinds count as breaker failures (default all). */
  breakerFailureKinds?: Array<'no_space' | 'read_only' | 'permission_denied' | 'io' | 'timed_out' | 'other'>
  /** Hot budget multiplier while degraded, 1–16 (default 2). */
  degradedMemoryFactor?: number
  /** Writes kept for replay while the disk is out (default 10 000). */
  maxReplayEntries?: number
  /** Bytes kept for replay (default '64MiB'). */
  maxReplayBytes?: Size
  /** Writes replayed per batch after recovery (default 100). */
  drainBatchSize?: number
  /** Health probe period of a healthy disk (default 60 000 ms; false: off). */
  healthInterval?: number | false | null
  /** A disk call running longer than this trips its breaker (default 5000 ms; false: off). */
  ioTimeout?: number | false | null
  /** 'write-behind': sets return after the memory insert; flush() persists. Default 'write-through'. */
  writeMode?: 'write-through' | 'write-behind'
  /** Surface disk errors as rejections instead of degrading (tests of the engine). */
  failOnDiskError?: boolean
  /** When set, every entry carries a keyed MAC and reads require it (tampered files are quarantined). */
  secretKey?: string | Uint8Array | null
  /** Replaces the system clock (tests). */
  clock?: ManualClock | null
}

/** TTL (ms from now; 0 or Infinity: never; undefined: the cache's default) and tag of a write. */
export interface SetOptions {
  ttl?: number | null
  tag?: string | null
}

/** Where a write went: the disk, or memory (the disk could not take it; the write is queued). */
export type Stored = 'disk' | 'memory'

export type Mode = 'normal' | 'read_only' | 'memory_only'
export type DiskHealth = 'healthy' | 'degraded' | 'unhealthy'
export type BreakerState = 'closed' | 'open' | 'half_open' | 'forced_open' | 'disabled'

export interface BreakerStats {
  state: BreakerState
  failureRate: number
  callsInWindow: number
  failuresInWindow: number
  consecutiveFailures: number
  trips: number
  currentOpenTimeoutMs: number
  nextAttemptInMs?: number
}

export interface LastError {
  kind: string
  atMs: number
  message: string
}

export interface Stats {
  hotHits: number
  hotMisses: number
  diskHits: number
  diskMisses: number
  hitRatio: number
  sets: number
  deletes: number
  hotEvictions: number
  diskEvictions: number
  expirations: number
  hotEntries: number
  hotBytes: number
  hotLimit: number
  diskEntries: number
  /** Bytes of entry files, as counted by every process sharing the directory. */
  diskBytes: number
  diskLimit: number
  diskErrors: {
    noSpace: number
    readOnly: number
    permissionDenied: number
    io: number
    timedOut: number
    other: number
    total: number
  }
  corruptions: number
  quarantined: number
  eventsDropped: number
  resilience: {
    mode: Mode
    diskHealth: DiskHealth
    readBreaker: BreakerStats
    writeBreaker: BreakerStats
    fallbackReads: number
    fallbackWrites: number
    recoveries: number
    lastError?: LastError
    incident: number
  }
  replay: { queued: number; drained: number; dropped: number; depth: number; bytes: number; lost: number }
  latencies: Array<{
    op: string
    tier: 'hot' | 'disk'
    count: number
    meanNs: number
    maxNs: number
    p50Ns: number
    p90Ns: number
    p99Ns: number
    p999Ns: number
  }>
}

export interface Health {
  mode: Mode
  diskHealth: DiskHealth
  readBreaker: BreakerState
  writeBreaker: BreakerState
  replayDepth: number
  replayDropped: number
  lastError?: LastError
  incident: number
  coherentAcrossProcesses: boolean
}

export interface SweepReport {
  scanned: number
  expired: number
  evicted: number
  quarantined: number
  leftoversRemoved: number
  quarantineDeleted: number
}

export interface CheckReport {
  scanned: number
  valid: number
  expired: number
  quarantined: number
  errors: number
}

export interface RecoveryReport {
  probes: number
  probesOk: number
  healthChecked: boolean
  drained: number
  lostCleared: number
}

/** The events a Cache emits (on the JavaScript thread). `incident` correlates events and log lines. */
export interface CacheEvents {
  modeChange: [{ from: Mode; to: Mode; cause: string; incident: number }]
  breakerStateChange: [{ breaker: 'read' | 'write'; from: BreakerState; to: BreakerState; incident: number }]
  quarantine: [{ path: string; reason: string; incident: number }]
  replayDrop: [{ dropped: number; queued: number; incident: number }]
  recovered: [{ mode: Mode; drained: number; outageMs: number; incident: number }]
  diskHealth: [{ from: DiskHealth; to: DiskHealth; cause: string; incident: number }]
}

export type FaultOp = 'read' | 'write' | 'fsync' | 'rename' | 'delete' | 'all'
export type FaultError = 'eio' | 'enospc' | 'erofs' | 'eacces' | 'corruption' | 'delay'
export type FaultTrigger = 'always' | 'once' | { times: number } | { probability: number }

/** The chaos API: inject disk faults into one cache at run time. */
export declare class Faults {
  /** Arms a fault; returns its id. 'corruption' applies to reads; 'delay' needs delayMs. */
  inject(fault: { op?: FaultOp; error: FaultError; delayMs?: number; trigger?: FaultTrigger }): number
  /** Disarms one fault; false if it was not armed. */
  remove(id: number): boolean
  /** Disarms every fault. */
  clear(): void
  /** Faults still armed. */
  readonly active: number
  /** Faults injected so far. */
  readonly injected: number
}

/** A resilient two-tier cache (memory + checksummed disk entries) shared with every process and language using its directory. */
export declare class Cache extends EventEmitter<CacheEvents> {
  constructor(options: CacheOptions | string)

  get(key: Key): Promise<StoredValue | undefined>
  getSync(key: Key): StoredValue | undefined
  has(key: Key): Promise<boolean>
  hasSync(key: Key): boolean
  set(key: Key, value: Value, options?: SetOptions): Promise<Stored>
  setSync(key: Key, value: Value, options?: SetOptions): Stored
  add(key: Key, value: Value, options?: SetOptions): Promise<boolean>
  delete(key: Key): Promise<boolean>
  deleteSync(key: Key): boolean
  touch(key: Key, ttl?: number | null): Promise<boolean>
  pop(key: Key): Promise<StoredValue | undefined>
  clear(): Promise<number>
  evictTag(tag: string): Promise<number>
  /** Single-flight get-or-compute: concurrent calls for one key share one `fn` call. */
  wrap<T extends Value>(key: Key, fn: () => T | Promise<T>, options?: SetOptions): Promise<T | StoredValue>
  wrap(key: Key, fn: () => undefined | Promise<undefined>, options?: SetOptions): Promise<StoredValue | undefined>
  /** Keys of live entries: strings where UTF-8, else Buffers; `{ buffers: true }` for Buffers always. */
  keys(options?: { buffers?: false }): AsyncGenerator<string | Buffer, void, undefined>
  keys(options: { buffers: true }): AsyncGenerator<Buffer, void, undefined>

  flush(): Promise<boolean>
  ready(): Promise<void>
  sweep(): Promise<SweepReport>
  check(): Promise<CheckReport>
  runRecovery(): Promise<RecoveryReport>
  overrideBreaker(path: 'read' | 'write', state: 'closed' | 'forced_open' | 'disabled'): void
  flushEvents(): Promise<void>
  close(): Promise<void>
  readonly closed: boolean

  stats(): Stats
  health(): Health
  readonly mode: Mode
  prometheus(): string
  readonly directory: string
  readonly faults: Faults
}

/** A clock that moves only when told to (tests): pass it as `clock`. */
export declare class ManualClock {
  /** A clock standing at `startMs` (default: now), milliseconds since the epoch. */
  constructor(startMs?: number | null)
  advance(byMs: number): void
  setMs(toMs: number): void
  readonly nowMs: number
}

/** The value_type codes shared by every binding (docs/FORMAT.md §3.3). */
export declare const valueTypes: Readonly<{
  BYTES: 0
  STRING: 1
  JSON: 2
  INT: 3
  FLOAT: 4
  BOOL: 5
  NULL: 6
  PICKLE: 7
}>

/** Every `code` an error from this package can carry. */
export declare const codes: Readonly<{
  KEY_TOO_LARGE: 'ERR_STURDY_KEY_TOO_LARGE'
  EMPTY_KEY: 'ERR_STURDY_EMPTY_KEY'
  VALUE_TOO_LARGE: 'ERR_STURDY_VALUE_TOO_LARGE'
  TAG_TOO_LARGE: 'ERR_STURDY_TAG_TOO_LARGE'
  INVALID_CONFIG: 'ERR_STURDY_INVALID_CONFIG'
  INVALID_OPTION: 'ERR_STURDY_INVALID_OPTION'
  INVALID_KEY: 'ERR_STURDY_INVALID_KEY'
  INVALID_VALUE: 'ERR_STURDY_INVALID_VALUE'
  INVALID_TTL: 'ERR_STURDY_INVALID_TTL'
  INVALID_ARGUMENT: 'ERR_STURDY_INVALID_ARGUMENT'
  INVALID_STORED_VALUE: 'ERR_STURDY_INVALID_STORED_VALUE'
  NOT_A_DIRECTORY: 'ERR_STURDY_NOT_A_DIRECTORY'
  NEWER_FORMAT: 'ERR_STURDY_NEWER_FORMAT'
  DISK: 'ERR_STURDY_DISK'
  CLOSED: 'ERR_STURDY_CLOSED'
  INTERNAL: 'ERR_STURDY_INTERNAL'
}>

export type ErrorCode = (typeof codes)[keyof typeof codes]

/** The shape of every error this package throws (a TypeError, RangeError or Error). */
export interface SturdyError extends Error {
  code: ErrorCode
  /** Too-large errors: the configured limit and the size given, in bytes. */
  limit?: number
  size?: number
  /** Disk errors: 'no_space', 'read_only', 'permission_denied', 'io', 'timed_out' or 'other'. */
  kind?: string
}

/** Bytes in a size such as '512MiB' or '1GB' (the core's parser). */
export declare function parseSize(text: string): number

/** This package's version. */
export declare const version: string
/** The Rust core's version. */
export declare const coreVersion: string
