'use strict'
// `sturdycache/keyv`: the Keyv storage adapter (CommonJS entry point).
const { KeyvSturdy, createKeyv } = require('./lib/keyv')

module.exports = { KeyvSturdy, createKeyv, default: KeyvSturdy }
