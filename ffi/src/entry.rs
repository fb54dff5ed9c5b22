//! Decoding one entry file (docs/FORMAT.md) without a cache: for tools that
//! inspect a cache directory, and for checking the golden vectors from C.

use sturdycache_core::Corruption;
use sturdycache_core::format::{self, Codec, DecodeError};

use crate::boundary::{Failure, bytes, call, infallible, object, out, put};
use crate::status::sturdy_status;

/// Why bytes are not a valid entry (the first failing check of FORMAT.md §4).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sturdy_corruption {
    /// Not corrupt.
    None = 0,
    /// The file does not start with the entry magic.
    BadMagic = 1,
    /// The file is shorter or longer than its header says.
    BadLength = 2,
    /// The checksum does not match.
    BadChecksum = 3,
    /// The compressed value does not decompress to its recorded length.
    BadCompression = 4,
    /// A header field holds a value no writer produces.
    BadHeader = 5,
    /// The entry has no valid MAC under the secret key it was checked with.
    BadMac = 6,
    /// A reason newer than this ABI (the message names it).
    Unknown = 255,
}

impl sturdy_corruption {
    fn of(c: &Corruption) -> Self {
        match c {
            Corruption::BadMagic => Self::BadMagic,
            Corruption::BadLength => Self::BadLength,
            Corruption::BadChecksum => Self::BadChecksum,
            Corruption::BadCompression => Self::BadCompression,
            Corruption::BadHeader => Self::BadHeader,
            Corruption::BadMac => Self::BadMac,
            _ => Self::Unknown,
        }
    }
}

/// A decoded, verified entry. Opaque; created by `sturdy_entry_decode`, read
/// with `sturdy_entry_fields`, released by `sturdy_entry_free`.
/// Thread safety: immutable; may be read from any thread.
pub struct sturdy_entry {
    key: Vec<u8>,
    tag: Vec<u8>,
    value: Vec<u8>,
    value_type: u8,
    codec: u8,
    created_ms: u64,
    expires_ms: u64,
}

/// The fields of a decoded entry. The pointers borrow from the
/// `sturdy_entry` and are valid until `sturdy_entry_free`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sturdy_entry_fields {
    /// The key bytes.
    pub key: *const u8,
    /// The key length.
    pub key_len: usize,
    /// The tag bytes (UTF-8; no tag: length 0).
    pub tag: *const u8,
    /// The tag length.
    pub tag_len: usize,
    /// The value bytes, decompressed.
    pub value: *const u8,
    /// The value length.
    pub value_len: usize,
    /// When it was written, ms since the epoch.
    pub created_ms: u64,
    /// When it expires, ms since the epoch; 0: never.
    pub expires_ms: u64,
    /// The value type code (`STURDY_VALUE_TYPE_*`).
    pub value_type: u8,
    /// How the value was stored: 0 as is, 1 zstd.
    pub codec: u8,
}

/// Decodes and fully verifies the bytes of one entry file; with a secret key
/// (`secret_key` non-NULL), also requires a valid MAC under it, as a cache
/// opened with that key does.
///
/// Returns `STURDY_STATUS_OK` with `*out_entry` set; `STURDY_STATUS_CORRUPT`
/// with `*out_reason` (may be NULL) saying why; `STURDY_STATUS_NEWER_FORMAT` for
/// an intact entry of a newer format version (not corruption).
/// Ownership: `data` and `secret_key` are borrowed for the call (the entry copies what it
/// needs). On success `*out_entry` is a new entry the caller owns
/// (`sturdy_entry_free`); otherwise NULL.
/// Errors: also `STURDY_STATUS_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_entry_decode(
    data: *const u8,
    len: usize,
    secret_key: *const u8,
    secret_key_len: usize,
    out_entry: *mut *mut sturdy_entry,
    out_reason: *mut sturdy_corruption,
) -> sturdy_status {
    call("sturdy_entry_decode", || {
        let slot = unsafe { out(out_entry, "out_entry") }?;
        *slot = std::ptr::null_mut();
        unsafe { put(out_reason, sturdy_corruption::None) };
        let data = unsafe { bytes(data, len, "data") }?;
        let mac_key = if secret_key.is_null() {
            None
        } else {
            Some(format::MacKey::derive(unsafe { bytes(secret_key, secret_key_len, "secret_key") }?))
        };
        match format::decode_with(data, mac_key.as_ref()) {
            Ok(d) => {
                let entry = sturdy_entry {
                    key: d.key.to_vec(),
                    tag: d.tag.to_vec(),
                    value: d.value.into_owned(),
                    value_type: d.header.value_type,
                    codec: match d.header.codec {
                        Codec::None => 0,
                        Codec::Zstd => 1,
                    },
                    created_ms: d.header.created_ms,
                    expires_ms: d.header.expires_ms,
                };
                *slot = Box::into_raw(Box::new(entry));
                Ok(sturdy_status::Ok)
            }
            Err(DecodeError::Corrupt(c)) => {
                unsafe { put(out_reason, sturdy_corruption::of(&c)) };
                Err(Failure::new(sturdy_status::Corrupt, format!("the entry is corrupt ({c})")))
            }
            Err(DecodeError::NewerVersion(v)) => Err(Failure::new(
                sturdy_status::NewerFormat,
                format!("the entry uses format version {v}; this build reads up to {}", format::VERSION),
            )),
        }
    })
}

/// Fills `*out_fields` with views of the entry's fields.
///
/// Ownership: the pointers written borrow from `entry`.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_entry_get_fields(
    entry: *const sturdy_entry,
    out_fields: *mut sturdy_entry_fields,
) -> sturdy_status {
    call("sturdy_entry_get_fields", || {
        let slot = unsafe { out(out_fields, "out_fields") }?;
        let e = unsafe { object(entry, "entry") }?;
        *slot = sturdy_entry_fields {
            key: e.key.as_ptr(),
            key_len: e.key.len(),
            tag: e.tag.as_ptr(),
            tag_len: e.tag.len(),
            value: e.value.as_ptr(),
            value_len: e.value.len(),
            created_ms: e.created_ms,
            expires_ms: e.expires_ms,
            value_type: e.value_type,
            codec: e.codec,
        };
        Ok(sturdy_status::Ok)
    })
}

/// Releases an entry. NULL is ignored.
///
/// Ownership: `entry` must come from `sturdy_entry_decode` and not be used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_entry_free(entry: *mut sturdy_entry) {
    if !entry.is_null() {
        // SAFETY: created by Box::into_raw in sturdy_entry_decode, freed once per the contract.
        infallible((), || drop(unsafe { Box::from_raw(entry) }));
    }
}
