// Types of the ESM entry point of `sturdycache/keyv`.
export { KeyvSturdy, createKeyv } from './keyv.js'
export { KeyvSturdy as default } from './keyv.js'
