//! `sturdy_value`: a value handed to C without copying its bytes and
//! without allocating: the caller's struct holds the library's reference to
//! the core's shared buffer, released by `sturdy_value_free`.

use sturdycache_core::Value;

use crate::boundary::infallible;

/// Words of private storage in `sturdy_value` for the library's reference.
const OWNER_WORDS: usize = 4;

// The core's `Value` (a reference-counted buffer, an offset, a type byte) must
// fit the private storage; if it ever grows, this fails the build, not a program.
const _: () = assert!(size_of::<Value>() <= OWNER_WORDS * 8 && align_of::<Value>() <= 8);

/// A cached value, filled by `sturdy_cache_get`, `sturdy_cache_pop` and
/// `sturdy_cache_get_or_load` into a struct the caller provides (on the stack
/// is fine). The bytes are not copied: `data` points into the library's
/// reference-counted buffer, which stays valid (even after the entry is
/// overwritten or deleted, or the cache closed) until `sturdy_value_free`.
///
/// Ownership: a filled struct owns one reference; release it with
/// `sturdy_value_free` exactly once. That call zeroes the struct, so freeing
/// the same struct again, or a zeroed one (what a miss leaves), is a no-op.
/// Do not free two copies of one struct; do not write its fields.
/// Thread safety: the bytes are immutable; the struct may move between threads.
#[repr(C)]
#[derive(Debug)]
pub struct sturdy_value {
    /// The value's bytes (not NUL-terminated); NULL when the struct is empty.
    pub data: *const u8,
    /// The number of bytes at `data`.
    pub len: usize,
    /// The type code its writer stored (`STURDY_VALUE_TYPE_*`: 0 bytes, 1
    /// UTF-8 text, 2 JSON, 3 decimal integer, 4 float64 LE, 5 bool, 6 null, 7
    /// Python pickle; other codes are the writer's own).
    pub value_type: u8,
    /// Private: the library's reference to the buffer. Never read or write it.
    pub owner: [u64; 4],
}

impl sturdy_value {
    /// An empty struct (what a miss leaves, and what `sturdy_value_free` restores).
    pub(crate) const EMPTY: sturdy_value =
        sturdy_value { data: std::ptr::null(), len: 0, value_type: 0, owner: [0; OWNER_WORDS] };

    /// Moves `value` into `slot`, field by field (building the struct on the
    /// stack and copying it costs a store-forwarding stall on the hot path).
    #[inline]
    pub(crate) fn fill(slot: &mut sturdy_value, value: Value) {
        let bytes = value.as_bytes();
        slot.data = bytes.as_ptr();
        slot.len = bytes.len();
        slot.value_type = value.value_type();
        // SAFETY: the storage is large and aligned enough (checked above); the
        // bytes `data` points to live in the buffer's heap allocation, which
        // moving the handle does not move. `slot` held no value (callers
        // write EMPTY first), so nothing is overwritten without being dropped.
        unsafe { std::ptr::write(slot.owner.as_mut_ptr().cast::<Value>(), value) };
    }
}

/// Releases the value's reference to the library's buffer and zeroes the
/// struct. NULL and zeroed structs are ignored.
///
/// Ownership: after it returns, the bytes `value->data` pointed to must not be used.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_value_free(value: *mut sturdy_value) {
    // SAFETY: NULL or the caller's struct, per the contract.
    let Some(v) = (unsafe { value.as_mut() }) else { return };
    // A filled struct always has a non-NULL `data` (even for an empty value:
    // it points into the shared buffer); an empty or freed one has NULL.
    if v.data.is_null() {
        return;
    }
    // SAFETY: a non-NULL `data` means `owner` holds a `Value` written by
    // `fill` and not yet released (freeing zeroes the struct).
    let held = unsafe { std::ptr::read(v.owner.as_ptr().cast::<Value>()) };
    *v = sturdy_value::EMPTY;
    infallible((), || drop(held));
}

/// Value type code: raw bytes (what a plain C or Rust set stores).
pub const STURDY_VALUE_TYPE_BYTES: u8 = 0;
/// Value type code: UTF-8 text (Python `str`, JavaScript `string`).
pub const STURDY_VALUE_TYPE_STRING: u8 = 1;
/// Value type code: UTF-8 JSON text.
pub const STURDY_VALUE_TYPE_JSON: u8 = 2;
/// Value type code: a decimal ASCII integer, optional leading `-`, any precision.
pub const STURDY_VALUE_TYPE_INT: u8 = 3;
/// Value type code: 8 bytes, IEEE-754 binary64, little-endian.
pub const STURDY_VALUE_TYPE_FLOAT: u8 = 4;
/// Value type code: one byte, 0 or 1.
pub const STURDY_VALUE_TYPE_BOOL: u8 = 5;
/// Value type code: an empty value standing for null / None.
pub const STURDY_VALUE_TYPE_NULL: u8 = 6;
/// Value type code: a Python pickle (protocol 5); C gets the raw bytes.
pub const STURDY_VALUE_TYPE_PICKLE: u8 = 7;

#[cfg(test)]
mod tests {
    use super::*;
    use sturdycache_core::value_type;

    #[test]
    fn the_value_type_codes_are_the_cores() {
        let ours = [
            STURDY_VALUE_TYPE_BYTES,
            STURDY_VALUE_TYPE_STRING,
            STURDY_VALUE_TYPE_JSON,
            STURDY_VALUE_TYPE_INT,
            STURDY_VALUE_TYPE_FLOAT,
            STURDY_VALUE_TYPE_BOOL,
            STURDY_VALUE_TYPE_NULL,
            STURDY_VALUE_TYPE_PICKLE,
        ];
        let core = [
            value_type::BYTES,
            value_type::STRING,
            value_type::JSON,
            value_type::INT,
            value_type::FLOAT,
            value_type::BOOL,
            value_type::NULL,
            value_type::PICKLE,
        ];
        assert_eq!(ours, core);
    }

    #[test]
    fn freeing_fills_and_empties_and_a_second_free_is_a_no_op() {
        let mut v = sturdy_value::EMPTY;
        sturdy_value::fill(&mut v, Value::from_slice(b"abc", 1));
        assert_eq!((v.len, v.value_type), (3, 1));
        assert_eq!(unsafe { std::slice::from_raw_parts(v.data, v.len) }, b"abc");
        unsafe { sturdy_value_free(&mut v) };
        assert!(v.data.is_null() && v.owner == [0; 4]);
        unsafe { sturdy_value_free(&mut v) };
        unsafe { sturdy_value_free(std::ptr::null_mut()) };
    }
}
