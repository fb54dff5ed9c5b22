// ESM entry point: the same objects as the CommonJS one (one addon instance).
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const sturdycache = require('./index.js')

export const { Cache, ManualClock, valueTypes, codes, parseSize, coreVersion, version } = sturdycache
export default sturdycache
