'use strict'
// `sturdycache/keyv`: the Keyv storage adapter (CommonJS entry point).
const { KeyvSturdy, createKeyv } = require('./lib/keyv')

module.exports = KeyvSturdy
module.exports.KeyvSturdy = KeyvSturdy
module.exports.createKeyv = createKeyv
module.exports.default = KeyvSturdy
