// `sturdycache/keyv`: the Keyv storage adapter (ESM entry point).
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { KeyvSturdy, createKeyv } = require('./lib/keyv.js')

export { KeyvSturdy, createKeyv }
export default KeyvSturdy
