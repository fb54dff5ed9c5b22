//! The C ABI of sturdycache: `libsturdycache.so` / `libsturdycache.a` with the
//! header `include/sturdycache.h` (generated from this crate by cbindgen).
//!
//! This crate only translates: C pointers and lengths into Rust slices, core
//! errors into [`sturdy_status`] codes with a thread-local message, core enums
//! and snapshots into `repr(C)` types. Every cache behaviour lives in the
//! `sturdycache` core crate.
//!
//! Conventions (modelled on rustls-ffi):
//! - every name starts with `sturdy_`; handles are opaque and heap-allocated by
//!   the library, each with its own free function that accepts NULL;
//! - every fallible function returns a [`sturdy_status`] and writes results
//!   through out-parameters; [`sturdy_last_error_message`] explains the last
//!   failure on the calling thread;
//! - no panic crosses the boundary: each entry point runs under
//!   `catch_unwind` and reports [`sturdy_status::STURDY_STATUS_PANIC`];
//! - enum inputs are taken as integers and checked, so an out-of-range value
//!   is a status, never undefined behaviour.

#![warn(missing_docs)]
#![allow(non_camel_case_types)]
// Every `extern "C"` function checks its pointers before use and documents the
// caller's obligations in the header; clippy's per-function `# Safety` lint
// would duplicate that on each of them.
#![allow(clippy::missing_safety_doc)]

mod boundary;
pub mod cache;
pub mod chaos;
pub mod clock;
pub mod entry;
pub mod events;
pub mod keys;
pub mod maintenance;
pub mod options;
pub mod stats;
pub mod status;
pub mod strings;
pub mod value;

pub use cache::*;
pub use chaos::*;
pub use clock::*;
pub use entry::*;
pub use events::*;
pub use keys::*;
pub use maintenance::*;
pub use options::*;
pub use stats::*;
pub use status::*;
pub use strings::*;
pub use value::*;
