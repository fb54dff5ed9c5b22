//! The `value_type` codes every binding writes and reads (docs/FORMAT.md §3.3).
//!
//! The core stores the byte and hands it back without interpreting it; these
//! codes are the contract that lets a value written from one language be read,
//! with its type, from another. A reader given a code it does not know returns
//! the raw bytes.

/// Raw bytes (Rust `&[u8]`, Python `bytes`, Node `Buffer`, C buffers).
pub const BYTES: u8 = 0;
/// UTF-8 text.
pub const STRING: u8 = 1;
/// UTF-8 JSON text.
pub const JSON: u8 = 2;
/// An integer as decimal ASCII with an optional leading `-`, any precision.
pub const INT: u8 = 3;
/// An IEEE-754 binary64, 8 bytes little-endian.
pub const FLOAT: u8 = 4;
/// A boolean, one byte: 0 or 1.
pub const BOOL: u8 = 5;
/// A null / `None`: an empty value.
pub const NULL: u8 = 6;
/// A Python pickle (protocol 5); other languages return the raw bytes.
pub const PICKLE: u8 = 7;
