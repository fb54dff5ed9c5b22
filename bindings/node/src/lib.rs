//! napi-rs bindings of sturdycache: the native addon of the `sturdycache` npm
//! package (`node/`).
//!
//! Thin by design: every cache decision is the core's. This crate translates
//! JavaScript arguments into core calls (keys and values as bytes, settings
//! into a [`sturdycache::Config`]), core answers back into JavaScript values,
//! and core errors into `RangeError`/`TypeError`/`Error` objects with stable
//! `code`s. Value *encoding* (which `value_type` a JavaScript value is stored
//! under) lives in the JavaScript layer; decoding the fixed-width types happens
//! here so a hot `getSync` costs one native call.
#![deny(clippy::all)]
// napi-derive registers exports only outside `cfg(test)`, so in the unit-test
// build the raw callbacks and what only they use look unused.
#![cfg_attr(test, allow(dead_code))]

mod cache;
mod clock;
mod errors;
mod events;
mod jsvalue;
mod options;
mod reports;
mod sync;
mod tasks;

use napi_derive::napi;

/// The core library's version.
#[napi]
pub fn core_version() -> String {
    sturdycache::VERSION.to_string()
}

/// Bytes in a size setting such as `'512MiB'` (the core's parser, so every
/// binding reads sizes the same way).
#[napi]
pub fn parse_size(env: napi::Env, text: String) -> napi::Result<f64> {
    errors::js(&env, || {
        let bytes = sturdycache::parse_size(&text)?;
        Ok(bytes as f64)
    })
}
