//! napi-rs bindings of sturdycache (skeleton; see issue 6).
#![deny(clippy::all)]
