//! Raw N-API conversions on the hot paths: key and value bytes in, cached
//! values out.
//!
//! These go through `napi::sys` directly instead of napi-rs's typed wrappers
//! because they run on every `getSync`/`setSync`: a string key is read into a
//! stack buffer and a `Buffer` key is borrowed in place, so a hot get allocates
//! nothing in Rust.

use std::mem::MaybeUninit;

use napi::bindgen_prelude::{FromNapiValue, ToNapiValue, TypeName, ValidateNapiValue};
use napi::{Result, ValueType, sys};
use sturdycache::{Value, value_type};

use crate::errors::Failure;

/// Any JavaScript value, passed through untouched (arguments the binding
/// inspects itself, and values it builds itself).
#[derive(Clone, Copy)]
pub struct Raw(pub sys::napi_value);

impl FromNapiValue for Raw {
    unsafe fn from_napi_value(_env: sys::napi_env, value: sys::napi_value) -> Result<Self> {
        Ok(Raw(value))
    }
}

impl ToNapiValue for Raw {
    unsafe fn to_napi_value(_env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        Ok(val.0)
    }
}

impl TypeName for Raw {
    fn type_name() -> &'static str {
        "unknown"
    }
    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

impl ValidateNapiValue for Raw {}

/// Strings up to this many UTF-8 bytes are read without a heap allocation.
const INLINE: usize = 512;

/// Room for a string argument's UTF-8 on the caller's stack (uninitialised
/// until N-API writes it), with a heap fallback for long strings. Passed in
/// by the caller rather than returned, so the 512 bytes are never moved.
pub struct ArgBuf {
    inline: [MaybeUninit<u8>; INLINE],
    heap: Vec<u8>,
}

impl ArgBuf {
    /// An empty buffer (nothing is zeroed).
    pub fn new() -> Self {
        ArgBuf { inline: [MaybeUninit::uninit(); INLINE], heap: Vec::new() }
    }
}

impl Default for ArgBuf {
    fn default() -> Self {
        Self::new()
    }
}

fn status(code: sys::napi_status, what: &str) -> std::result::Result<(), Failure> {
    if code == sys::Status::napi_ok { Ok(()) } else { Err(Failure::internal(format!("N-API {what} failed ({code})"))) }
}

/// The JavaScript type of `value`.
pub fn type_of(env: sys::napi_env, value: sys::napi_value) -> std::result::Result<sys::napi_valuetype, Failure> {
    let mut t = 0;
    status(unsafe { sys::napi_typeof(env, value, &mut t) }, "typeof")?;
    Ok(t)
}

/// Reads a string (as UTF-8) or a `Uint8Array`/`Buffer` (as is). `what`
/// names the argument in the TypeError for anything else.
///
/// The borrowed form points into the typed array's backing store, which does
/// not move while this native call runs (no JavaScript runs in between).
pub fn arg_bytes<'a>(
    env: sys::napi_env,
    value: sys::napi_value,
    what: &'static str,
    buf: &'a mut ArgBuf,
) -> std::result::Result<&'a [u8], Failure> {
    match type_of(env, value)? {
        sys::ValueType::napi_string => read_string(env, value, buf),
        sys::ValueType::napi_object => {
            let mut is_typed = false;
            status(unsafe { sys::napi_is_typedarray(env, value, &mut is_typed) }, "is_typedarray")?;
            if is_typed {
                let mut kind = 0;
                let mut len = 0usize;
                let mut data = std::ptr::null_mut();
                let mut offset = 0usize;
                status(
                    unsafe {
                        sys::napi_get_typedarray_info(
                            env,
                            value,
                            &mut kind,
                            &mut len,
                            &mut data,
                            std::ptr::null_mut(),
                            &mut offset,
                        )
                    },
                    "get_typedarray_info",
                )?;
                if kind == sys::TypedarrayType::uint8_array {
                    // `data` is already adjusted by the byte offset; a detached
                    // or empty array has a null pointer.
                    let slice = if len == 0 || data.is_null() {
                        &[][..]
                    } else {
                        unsafe { std::slice::from_raw_parts(data as *const u8, len) }
                    };
                    return Ok(slice);
                }
            }
            Err(wrong_type(what))
        }
        _ => Err(wrong_type(what)),
    }
}

fn wrong_type(what: &'static str) -> Failure {
    let code = if what == "key" { "ERR_STURDY_INVALID_KEY" } else { "ERR_STURDY_INVALID_VALUE" };
    Failure::type_error(code, format!("{what} must be a string, a Buffer or a Uint8Array"))
}

fn read_string(env: sys::napi_env, value: sys::napi_value, buf: &mut ArgBuf) -> std::result::Result<&[u8], Failure> {
    let mut len = 0usize;
    status(
        unsafe { sys::napi_get_value_string_utf8(env, value, buf.inline.as_mut_ptr().cast(), INLINE, &mut len) },
        "get_value_string_utf8",
    )?;
    // V8 stops before a character that does not fit (and keeps one byte for a
    // NUL), so a string that filled the buffer to within a character may have
    // been cut short: ask for its real length.
    if len + 4 < INLINE {
        // SAFETY: N-API wrote the first `len` bytes.
        return Ok(unsafe { std::slice::from_raw_parts(buf.inline.as_ptr().cast::<u8>(), len) });
    }
    let mut full = 0usize;
    status(
        unsafe { sys::napi_get_value_string_utf8(env, value, std::ptr::null_mut(), 0, &mut full) },
        "get_value_string_utf8",
    )?;
    buf.heap.resize(full + 1, 0);
    status(
        unsafe { sys::napi_get_value_string_utf8(env, value, buf.heap.as_mut_ptr().cast(), full + 1, &mut len) },
        "get_value_string_utf8",
    )?;
    buf.heap.truncate(len);
    Ok(&buf.heap)
}

/// `undefined`.
pub fn undefined(env: sys::napi_env) -> std::result::Result<sys::napi_value, Failure> {
    let mut v = std::ptr::null_mut();
    status(unsafe { sys::napi_get_undefined(env, &mut v) }, "get_undefined")?;
    Ok(v)
}

/// A boolean.
pub fn boolean(env: sys::napi_env, b: bool) -> std::result::Result<sys::napi_value, Failure> {
    let mut v = std::ptr::null_mut();
    status(unsafe { sys::napi_get_boolean(env, b, &mut v) }, "get_boolean")?;
    Ok(v)
}

/// A number.
pub fn number(env: sys::napi_env, n: f64) -> std::result::Result<sys::napi_value, Failure> {
    let mut v = std::ptr::null_mut();
    status(unsafe { sys::napi_create_double(env, n, &mut v) }, "create_double")?;
    Ok(v)
}

/// A string from UTF-8 (invalid sequences become U+FFFD).
pub fn string(env: sys::napi_env, s: &[u8]) -> std::result::Result<sys::napi_value, Failure> {
    let mut v = std::ptr::null_mut();
    status(unsafe { sys::napi_create_string_utf8(env, s.as_ptr().cast(), s.len() as isize, &mut v) }, "create_string")?;
    Ok(v)
}

/// A string from UTF-8 text; pure ASCII (the common case) is handed to V8 as
/// Latin-1, which it copies without decoding.
pub fn text(env: sys::napi_env, s: &[u8]) -> std::result::Result<sys::napi_value, Failure> {
    if !s.is_ascii() {
        return string(env, s);
    }
    let mut v = std::ptr::null_mut();
    status(
        unsafe { sys::napi_create_string_latin1(env, s.as_ptr().cast(), s.len() as isize, &mut v) },
        "create_string_latin1",
    )?;
    Ok(v)
}

/// A new `Buffer` holding a copy of `bytes`.
pub fn buffer(env: sys::napi_env, bytes: &[u8]) -> std::result::Result<sys::napi_value, Failure> {
    let mut v = std::ptr::null_mut();
    let mut data = std::ptr::null_mut();
    status(
        unsafe { sys::napi_create_buffer_copy(env, bytes.len(), bytes.as_ptr().cast(), &mut data, &mut v) },
        "create_buffer_copy",
    )?;
    Ok(v)
}

/// A `[valueType, text]` pair the JavaScript layer finishes decoding (JSON
/// text, integers beyond 2^53).
fn tagged(env: sys::napi_env, value_type: u8, text: &[u8]) -> std::result::Result<sys::napi_value, Failure> {
    let mut arr = std::ptr::null_mut();
    status(unsafe { sys::napi_create_array_with_length(env, 2, &mut arr) }, "create_array")?;
    let t = number(env, f64::from(value_type))?;
    let s = string(env, text)?;
    status(unsafe { sys::napi_set_element(env, arr, 0, t) }, "set_element")?;
    status(unsafe { sys::napi_set_element(env, arr, 1, s) }, "set_element")?;
    Ok(arr)
}

/// A caller's pool `Buffer` that byte values are copied into, so JavaScript
/// can hand out a view of it instead of native code creating a `Buffer`
/// (which costs about a microsecond in Node 20, against tens of nanoseconds
/// for a view). The same idea as Node's own `Buffer.allocUnsafe` pool.
///
/// Layout: a u32 little-endian at 0 is the answer's length (`u32::MAX`: "the
/// pool is full, give me a fresh one"); the bytes go at `offset` (at least 8).
pub struct Scratch<'a> {
    value: sys::napi_value,
    bytes: &'a mut [u8],
    offset: usize,
}

/// Where data may start in a [`Scratch`] pool (after the length word).
const SCRATCH_DATA: usize = 8;

/// The length word meaning "no room left at this offset".
const SCRATCH_FULL: u32 = u32::MAX;

impl<'a> Scratch<'a> {
    /// The pool `Buffer` passed as `value` with the free `offset`, if they are one.
    pub fn of(
        env: sys::napi_env,
        value: sys::napi_value,
        offset: sys::napi_value,
    ) -> std::result::Result<Option<Self>, Failure> {
        if type_of(env, value)? != sys::ValueType::napi_object || type_of(env, offset)? != sys::ValueType::napi_number {
            return Ok(None);
        }
        let mut is_buffer = false;
        status(unsafe { sys::napi_is_buffer(env, value, &mut is_buffer) }, "is_buffer")?;
        if !is_buffer {
            return Ok(None);
        }
        let mut at = 0u32;
        status(unsafe { sys::napi_get_value_uint32(env, offset, &mut at) }, "get_value_uint32")?;
        let mut data = std::ptr::null_mut();
        let mut len = 0usize;
        status(unsafe { sys::napi_get_buffer_info(env, value, &mut data, &mut len) }, "get_buffer_info")?;
        let offset = at as usize;
        if data.is_null() || len < SCRATCH_DATA || offset < SCRATCH_DATA || offset > len {
            return Ok(None);
        }
        // The Buffer is an argument of the running call: its memory stays put
        // and no JavaScript touches it until the call returns.
        Ok(Some(Scratch { value, bytes: unsafe { std::slice::from_raw_parts_mut(data.cast::<u8>(), len) }, offset }))
    }

    /// Copies `bytes` in at the offset and returns the pool itself as the
    /// answer; says "full" when they fit a fresh pool but not the space left;
    /// `None` when they would not fit even a fresh pool.
    fn hold(self, bytes: &[u8]) -> Option<sys::napi_value> {
        if bytes.len() > self.bytes.len() - SCRATCH_DATA {
            return None;
        }
        let end = self.offset + bytes.len();
        if end > self.bytes.len() {
            self.bytes[..4].copy_from_slice(&SCRATCH_FULL.to_le_bytes());
        } else {
            self.bytes[..4].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
            self.bytes[self.offset..end].copy_from_slice(bytes);
        }
        Some(self.value)
    }
}

/// The pool arguments of a call (`pool`, `offset`), looked at only when the
/// answer is raw bytes.
pub type PoolArgs = Option<(sys::napi_value, sys::napi_value)>;

/// Raw bytes through the pool when given and large enough, else as a new Buffer.
fn bytes_out(env: sys::napi_env, bytes: &[u8], pool: PoolArgs) -> std::result::Result<sys::napi_value, Failure> {
    let held = match pool {
        Some((value, offset)) => Scratch::of(env, value, offset)?.and_then(|s| s.hold(bytes)),
        None => None,
    };
    match held {
        Some(v) => Ok(v),
        None => buffer(env, bytes),
    }
}

/// Largest integer a JavaScript number holds exactly.
const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// A cached value as JavaScript: `undefined` for a miss; a `Buffer`, string,
/// number, boolean or `null` by its value type; a `[type, text]` pair for JSON
/// and for integers a number cannot hold exactly. Unknown codes (and
/// malformed payloads of known ones) come back as raw bytes.
///
/// With `pool` arguments, raw bytes that fit are copied into the pool and the
/// pool Buffer itself is returned (see [`Scratch`]).
pub fn value_to_js(
    env: sys::napi_env,
    value: Option<&Value>,
    pool: PoolArgs,
) -> std::result::Result<sys::napi_value, Failure> {
    let Some(value) = value else { return undefined(env) };
    let bytes = value.as_bytes();
    match value.value_type() {
        value_type::STRING => text(env, bytes),
        value_type::JSON => tagged(env, value_type::JSON, bytes),
        value_type::INT => {
            let small = std::str::from_utf8(bytes).ok().and_then(|s| s.parse::<i64>().ok());
            match small {
                Some(n) if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&n) => number(env, n as f64),
                _ => tagged(env, value_type::INT, bytes),
            }
        }
        value_type::FLOAT => match <[u8; 8]>::try_from(bytes) {
            Ok(b) => number(env, f64::from_le_bytes(b)),
            Err(_) => bytes_out(env, bytes, pool),
        },
        value_type::BOOL => match bytes {
            [0] => boolean(env, false),
            [1] => boolean(env, true),
            _ => bytes_out(env, bytes, pool),
        },
        value_type::NULL => {
            let mut v = std::ptr::null_mut();
            status(unsafe { sys::napi_get_null(env, &mut v) }, "get_null")?;
            Ok(v)
        }
        _ => bytes_out(env, bytes, pool),
    }
}
