'use strict'
// `new Cache(options)`: checks the types of the settings and hands them to the
// addon, which turns them into the core's Config. Ranges are the core's to
// judge, so its RangeError names the limit. Names are the core's settings in
// camelCase; sizes are numbers of bytes or strings such as '512MiB' (parsed by
// the core); durations and TTLs are milliseconds.

const { typeError, rangeError, codes } = require('./errors')

const SIZES = [
  'memoryLimit',
  'diskLimit',
  'maxKeySize',
  'maxValueSize',
  'compressionThreshold',
  'quarantineMaxBytes',
  'maxReplayBytes',
]
const NUMBERS = [
  'compressionLevel',
  'quarantineRetention',
  'hotShards',
  'degradedMemoryFactor',
  'maxReplayEntries',
  'drainBatchSize',
]
// Durations that `false` (or null) switches off.
const SWITCHABLE = ['sweepInterval', 'healthInterval', 'ioTimeout']
const CHOICES = { durability: ['none', 'fsync'], writeMode: ['write-through', 'write-behind'] }
const BREAKER_NUMBERS = [
  'failureThreshold',
  'failureRateThreshold',
  'minimumCalls',
  'rollingWindow',
  'windowBuckets',
  'openTimeout',
  'maxOpenTimeout',
  'recoveryFactor',
  'halfOpenMaxCalls',
  'successThreshold',
]
const KNOWN = new Set([
  'directory',
  'defaultTtl',
  'breaker',
  'breakerFailureKinds',
  'failOnDiskError',
  'secretKey',
  'clock',
  ...SIZES,
  ...NUMBERS,
  ...SWITCHABLE,
  ...Object.keys(CHOICES),
])

function invalid(name, expected, got) {
  const shown = typeof got === 'string' ? JSON.stringify(got) : typeof got === 'object' ? 'an object' : String(got)
  return typeError(codes.INVALID_OPTION, `option ${name} must be ${expected}, got ${shown}`)
}

function number(name, v) {
  if (typeof v !== 'number') throw invalid(name, 'a number', v)
  return v
}

/**
 * The addon's options and the clock for `options` (a directory path or an
 * options object).
 */
function normalize(options, ManualClock) {
  if (typeof options === 'string') options = { directory: options }
  if (options === null || typeof options !== 'object') {
    throw typeError(codes.INVALID_OPTION, 'new Cache() needs a directory path or an options object with `directory`')
  }
  for (const name of Object.keys(options)) {
    if (!KNOWN.has(name)) throw typeError(codes.INVALID_OPTION, `unknown option ${name}`)
  }
  const { directory } = options
  if (typeof directory !== 'string' || directory.length === 0) {
    throw invalid('directory', 'a non-empty path string', directory)
  }
  const out = { directory }
  for (const name of SIZES) {
    const v = options[name]
    if (v === undefined) continue
    if (typeof v !== 'number' && typeof v !== 'string') throw invalid(name, "a number of bytes or a size such as '512MiB'", v)
    out[name] = v
  }
  for (const name of NUMBERS) {
    if (options[name] !== undefined) out[name] = number(name, options[name])
  }
  for (const name of SWITCHABLE) {
    const v = options[name]
    if (v === undefined) continue
    if (v === null || v === false) out[name] = false
    else out[name] = number(name, v)
  }
  for (const [name, allowed] of Object.entries(CHOICES)) {
    const v = options[name]
    if (v === undefined) continue
    if (!allowed.includes(v)) throw invalid(name, allowed.map((a) => `'${a}'`).join(' or '), v)
    out[name] = v
  }
  const ttl = options.defaultTtl
  if (ttl !== undefined && ttl !== null && ttl !== 0 && ttl !== Infinity) {
    number('defaultTtl', ttl)
    if (!(ttl > 0)) throw rangeError(codes.INVALID_CONFIG, `defaultTtl must be greater than 0 ms (0 or Infinity: none), got ${ttl}`)
    out.defaultTtl = ttl
  }
  if (options.breaker !== undefined) out.breaker = breaker(options.breaker)
  if (options.breakerFailureKinds !== undefined) {
    const kinds = options.breakerFailureKinds
    if (!Array.isArray(kinds) || !kinds.every((k) => typeof k === 'string')) {
      throw invalid('breakerFailureKinds', 'an array of strings', kinds)
    }
    out.breakerFailureKinds = kinds
  }
  if (options.failOnDiskError !== undefined) {
    if (typeof options.failOnDiskError !== 'boolean') throw invalid('failOnDiskError', 'a boolean', options.failOnDiskError)
    out.failOnDiskError = options.failOnDiskError
  }
  if (options.secretKey !== undefined && options.secretKey !== null) {
    const k = options.secretKey
    if (typeof k === 'string') out.secretKey = Buffer.from(k, 'utf8')
    else if (k instanceof Uint8Array) out.secretKey = Buffer.from(k.buffer, k.byteOffset, k.byteLength)
    else throw invalid('secretKey', 'a string, Buffer or Uint8Array', k)
  }
  let clock = null
  if (options.clock !== undefined && options.clock !== null) {
    if (!(options.clock instanceof ManualClock)) throw invalid('clock', 'a ManualClock', options.clock)
    clock = options.clock
  }
  return { native: out, clock }
}

function breaker(b) {
  if (b === null || typeof b !== 'object') throw invalid('breaker', 'an object', b)
  const out = {}
  for (const name of Object.keys(b)) {
    if (name === 'slowCallThreshold') {
      const v = b[name]
      out[name] = v === null || v === false ? false : number(`breaker.${name}`, v)
    } else if (BREAKER_NUMBERS.includes(name)) {
      out[name] = number(`breaker.${name}`, b[name])
    } else {
      throw typeError(codes.INVALID_OPTION, `unknown option breaker.${name}`)
    }
  }
  return out
}

module.exports = { normalize }
