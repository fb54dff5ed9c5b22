// Types of the ESM entry point (index.mjs): the CommonJS exports, plus a default
// export holding all of them.
export * from './index.js'
import * as sturdycache from './index.js'
export default sturdycache
