'use strict'
// Errors the JavaScript layer raises itself. They follow the native ones: a
// TypeError for a wrong type, a RangeError for a value out of range, each with
// a stable `code` (ERR_STURDY_*) and a message that names the limit.

function withCode(ErrorClass, code, message, props) {
  const err = new ErrorClass(message)
  err.code = code
  if (props) Object.assign(err, props)
  return err
}

/** A TypeError with `code`. */
function typeError(code, message, props) {
  return withCode(TypeError, code, message, props)
}

/** A RangeError with `code`. */
function rangeError(code, message, props) {
  return withCode(RangeError, code, message, props)
}

/** Every `code` an error from this package can carry. */
const codes = Object.freeze({
  KEY_TOO_LARGE: 'ERR_STURDY_KEY_TOO_LARGE',
  EMPTY_KEY: 'ERR_STURDY_EMPTY_KEY',
  VALUE_TOO_LARGE: 'ERR_STURDY_VALUE_TOO_LARGE',
  TAG_TOO_LARGE: 'ERR_STURDY_TAG_TOO_LARGE',
  INVALID_CONFIG: 'ERR_STURDY_INVALID_CONFIG',
  INVALID_OPTION: 'ERR_STURDY_INVALID_OPTION',
  INVALID_KEY: 'ERR_STURDY_INVALID_KEY',
  INVALID_VALUE: 'ERR_STURDY_INVALID_VALUE',
  INVALID_TTL: 'ERR_STURDY_INVALID_TTL',
  INVALID_ARGUMENT: 'ERR_STURDY_INVALID_ARGUMENT',
  INVALID_STORED_VALUE: 'ERR_STURDY_INVALID_STORED_VALUE',
  NOT_A_DIRECTORY: 'ERR_STURDY_NOT_A_DIRECTORY',
  NEWER_FORMAT: 'ERR_STURDY_NEWER_FORMAT',
  DISK: 'ERR_STURDY_DISK',
  CLOSED: 'ERR_STURDY_CLOSED',
  INTERNAL: 'ERR_STURDY_INTERNAL',
})

module.exports = { typeError, rangeError, codes }
