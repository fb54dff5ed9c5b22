//! The C ABI of sturdycache (skeleton; see issue 4).
#![warn(missing_docs)]
