'use strict'
// How JavaScript values are stored: the cross-language value_type contract
// (docs/FORMAT.md §3.3), shared with the Python and C bindings.
//
//   Buffer / Uint8Array -> 0 BYTES (read back as a Buffer)
//   string              -> 1 STRING
//   object, array       -> 2 JSON (strict: see jsonText)
//   safe integer, bigint-> 3 INT (decimal text; read back as a number when it
//                          fits 2^53, else as a bigint)
//   other number        -> 4 FLOAT (8 bytes little-endian; also -0, NaN, ±Infinity)
//   boolean             -> 5 BOOL (one byte)
//   null                -> 6 NULL (empty)
// Reading: 7 PICKLE and unknown codes come back as raw Buffers. The native
// addon decodes the fixed-width types itself and hands JSON text and big
// integers back as [type, text] pairs, finished here by decodeTagged.

const { typeError, codes } = require('./errors')

const BYTES = 0
const STRING = 1
const JSON_TYPE = 2
const INT = 3
const FLOAT = 4
const BOOL = 5
const NULL = 6
const PICKLE = 7

const valueTypes = Object.freeze({ BYTES, STRING, JSON: JSON_TYPE, INT, FLOAT, BOOL, NULL, PICKLE })

const TRUE_BYTE = Buffer.from([1])
const FALSE_BYTE = Buffer.from([0])
const EMPTY = Buffer.alloc(0)

function isPlainObject(v) {
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

function describe(v) {
  if (v === null) return 'null'
  if (typeof v !== 'object') return typeof v
  return (v.constructor && v.constructor.name) || 'object'
}

// JSON.stringify that refuses what JSON would silently change: functions,
// symbols, bigints, NaN/Infinity and objects other than plain objects and
// arrays (a Map would become {}). Objects with toJSON (Date, Buffer) are
// stored as what toJSON returns, as JSON.stringify does; undefined object
// properties are left out, as JSON.stringify does.
function replacer(key, v) {
  switch (typeof v) {
    case 'string':
    case 'boolean':
    case 'undefined':
      return v
    case 'number':
      if (Number.isFinite(v)) return v
      throw invalidValue(`${v} inside a JSON value`)
    case 'object':
      if (v === null || Array.isArray(v) || isPlainObject(v)) return v
      throw invalidValue(`a ${describe(v)} inside a JSON value`)
    default:
      throw invalidValue(`a ${typeof v} inside a JSON value`)
  }
}

function invalidValue(what) {
  return typeError(
    codes.INVALID_VALUE,
    `cannot store ${what}: values must be a Buffer, Uint8Array, string, number, bigint, boolean, null, ` +
      'or a JSON-serializable plain object or array',
  )
}

function jsonText(value) {
  if (!Array.isArray(value) && !isPlainObject(value) && typeof value.toJSON !== 'function') {
    throw invalidValue(`a ${describe(value)}`)
  }
  try {
    return JSON.stringify(value, replacer)
  } catch (err) {
    if (err && err.code === codes.INVALID_VALUE) throw err
    // Circular structures and throwing toJSON methods.
    throw typeError(codes.INVALID_VALUE, `cannot store this value as JSON: ${err && err.message}`, { cause: err })
  }
}

/** The value_type `value` is stored under; throws a TypeError for values that cannot be stored. */
function typeOf(value) {
  switch (typeof value) {
    case 'string':
      return STRING
    case 'number':
      return Number.isSafeInteger(value) && !Object.is(value, -0) ? INT : FLOAT
    case 'boolean':
      return BOOL
    case 'bigint':
      return INT
    case 'object':
      if (value === null) return NULL
      if (value instanceof Uint8Array) return BYTES
      if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
        throw invalidValue(`a ${describe(value)} (wrap it: Buffer.from(x.buffer, x.byteOffset, x.byteLength))`)
      }
      return JSON_TYPE
    default:
      throw invalidValue(value === undefined ? 'undefined' : `a ${typeof value}`)
  }
}

/** The bytes (or string, stored as UTF-8) of `value` under `type` (from typeOf). */
function payloadOf(value, type) {
  switch (type) {
    case STRING:
    case BYTES:
      return value
    case INT:
      return String(value)
    case FLOAT: {
      const b = Buffer.allocUnsafe(8)
      b.writeDoubleLE(value, 0)
      return b
    }
    case BOOL:
      return value ? TRUE_BYTE : FALSE_BYTE
    case NULL:
      return EMPTY
    default:
      return jsonText(value)
  }
}

/** Finishes a value the addon returned as a [type, text] pair. */
function decodeTagged(pair) {
  const type = pair[0]
  const text = pair[1]
  if (type === JSON_TYPE) {
    try {
      return JSON.parse(text)
    } catch (err) {
      throw typeError(codes.INVALID_STORED_VALUE, `a stored JSON value does not parse: ${err.message}`, { cause: err })
    }
  }
  try {
    return BigInt(text)
  } catch {
    return Buffer.from(text)
  }
}

/** A value from the addon, finished. */
function decoded(v) {
  return Array.isArray(v) ? decodeTagged(v) : v
}

module.exports = { valueTypes, typeOf, payloadOf, decoded }
