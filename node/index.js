'use strict'
// sturdycache: a resilient two-tier cache (memory + checksummed disk entries)
// for Node, over the Rust core. CommonJS entry point; index.mjs is the ESM one.

const native = require('./lib/native')
const { Cache } = require('./lib/cache')
const { valueTypes } = require('./lib/encoding')
const { codes } = require('./lib/errors')

/** Bytes in a size such as '512MiB' or '1GB' (the core's parser). */
function parseSize(text) {
  return native.parseSize(text)
}

module.exports = {
  Cache,
  ManualClock: native.ManualClock,
  valueTypes,
  codes,
  parseSize,
  coreVersion: native.coreVersion(),
  version: require('./package.json').version,
}
