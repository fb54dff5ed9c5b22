//! Core errors (and the binding's own argument errors) as JavaScript errors:
//! bad input is a `RangeError` or `TypeError`, everything else an `Error`,
//! each with a stable `code` (`ERR_STURDY_*`) and, where the core reports
//! them, the numbers behind the message (`size`, `limit`) or the disk
//! failure's `kind`.

use napi::{Env, sys};
use sturdycache::Error;

use crate::jsvalue;

/// Which JavaScript constructor an error uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsKind {
    /// `Error`.
    Error,
    /// `TypeError`: an argument of the wrong type.
    Type,
    /// `RangeError`: an argument of the right type outside its limits.
    Range,
}

/// Everything a native call can fail with.
#[derive(Debug)]
pub enum Failure {
    /// An error from the core.
    Core(Error),
    /// An error the binding raises itself (argument types, closed cache).
    Plain {
        /// The constructor.
        kind: JsKind,
        /// The stable `code`.
        code: &'static str,
        /// The message.
        message: String,
    },
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Core(e)
    }
}

impl Failure {
    /// A `TypeError` with `code`.
    pub fn type_error(code: &'static str, message: impl Into<String>) -> Self {
        Failure::Plain { kind: JsKind::Type, code, message: message.into() }
    }

    /// A `RangeError` with `code`.
    pub fn range_error(code: &'static str, message: impl Into<String>) -> Self {
        Failure::Plain { kind: JsKind::Range, code, message: message.into() }
    }

    /// The error of any call on a closed cache.
    pub fn closed() -> Self {
        Failure::Plain { kind: JsKind::Error, code: "ERR_STURDY_CLOSED", message: "the cache is closed".into() }
    }

    /// A failure of N-API itself (never expected).
    pub fn internal(message: String) -> Self {
        Failure::Plain { kind: JsKind::Error, code: "ERR_STURDY_INTERNAL", message }
    }

    /// The constructor, code and message this failure maps to.
    fn parts(&self) -> (JsKind, &'static str, String) {
        match self {
            Failure::Plain { kind, code, message } => (*kind, code, message.clone()),
            Failure::Core(e) => {
                let (kind, code) = match e {
                    Error::KeyTooLarge { .. } => (JsKind::Range, "ERR_STURDY_KEY_TOO_LARGE"),
                    Error::EmptyKey => (JsKind::Range, "ERR_STURDY_EMPTY_KEY"),
                    Error::ValueTooLarge { .. } => (JsKind::Range, "ERR_STURDY_VALUE_TOO_LARGE"),
                    Error::TagTooLarge { .. } => (JsKind::Range, "ERR_STURDY_TAG_TOO_LARGE"),
                    Error::InvalidConfig(_) => (JsKind::Range, "ERR_STURDY_INVALID_CONFIG"),
                    Error::NotADirectory(_) => (JsKind::Error, "ERR_STURDY_NOT_A_DIRECTORY"),
                    Error::NewerFormat { .. } => (JsKind::Error, "ERR_STURDY_NEWER_FORMAT"),
                    Error::Disk { .. } => (JsKind::Error, "ERR_STURDY_DISK"),
                    _ => (JsKind::Error, "ERR_STURDY_INTERNAL"),
                };
                let message = match e {
                    Error::InvalidConfig(_) | Error::KeyTooLarge { .. } | Error::ValueTooLarge { .. } => {
                        camel_case_settings(&e.to_string())
                    }
                    _ => e.to_string(),
                };
                (kind, code, message)
            }
        }
    }

    /// Builds the JavaScript error object.
    pub fn to_js(&self, env: sys::napi_env) -> std::result::Result<sys::napi_value, Failure> {
        let (kind, code, message) = self.parts();
        let js_code = jsvalue::string(env, code.as_bytes())?;
        let js_msg = jsvalue::string(env, message.as_bytes())?;
        let mut err = std::ptr::null_mut();
        let status = unsafe {
            match kind {
                JsKind::Error => sys::napi_create_error(env, js_code, js_msg, &mut err),
                JsKind::Type => sys::napi_create_type_error(env, js_code, js_msg, &mut err),
                JsKind::Range => sys::napi_create_range_error(env, js_code, js_msg, &mut err),
            }
        };
        if status != sys::Status::napi_ok {
            return Err(Failure::internal(format!("N-API create_error failed ({status})")));
        }
        if let Failure::Core(e) = self {
            match e {
                Error::KeyTooLarge { len, max }
                | Error::ValueTooLarge { len, max }
                | Error::TagTooLarge { len, max } => {
                    set_number(env, err, c"size", *len as f64)?;
                    set_number(env, err, c"limit", *max as f64)?;
                }
                Error::Disk { kind, op, path, .. } => {
                    set_string(env, err, c"kind", kind.as_str())?;
                    set_string(env, err, c"op", op)?;
                    set_string(env, err, c"path", &path.to_string_lossy())?;
                }
                Error::NewerFormat { found, supported, .. } => {
                    set_number(env, err, c"found", f64::from(*found))?;
                    set_number(env, err, c"supported", f64::from(*supported))?;
                }
                _ => {}
            }
        }
        Ok(err)
    }

    /// This failure as a napi-rs error that carries the JavaScript error
    /// object, so napi-rs throws (or rejects with) exactly that object.
    pub fn into_napi(self, env: &Env) -> napi::Error {
        match self.to_js(env.raw()) {
            Ok(obj) => napi::Error::from(unsafe { napi::Unknown::from_raw_unchecked(env.raw(), obj) }),
            Err(_) => napi::Error::new(napi::Status::GenericFailure, self.parts().2),
        }
    }
}

/// Settings the core names in its messages, and their JavaScript names.
const SETTING_NAMES: [(&str, &str); 29] = [
    ("memory_limit", "memoryLimit"),
    ("disk_limit", "diskLimit"),
    ("default_ttl", "defaultTtl"),
    ("max_key_size", "maxKeySize"),
    ("max_value_size", "maxValueSize"),
    ("compression_threshold", "compressionThreshold"),
    ("compression_level", "compressionLevel"),
    ("quarantine_retention", "quarantineRetention"),
    ("quarantine_max_bytes", "quarantineMaxBytes"),
    ("sweep_interval", "sweepInterval"),
    ("hot_shards", "hotShards"),
    ("degraded_memory_factor", "degradedMemoryFactor"),
    ("max_replay_entries", "maxReplayEntries"),
    ("max_replay_bytes", "maxReplayBytes"),
    ("drain_batch_size", "drainBatchSize"),
    ("health_interval", "healthInterval"),
    ("io_timeout", "ioTimeout"),
    ("secret_key", "secretKey"),
    ("failure_rate_threshold", "failureRateThreshold"),
    ("failure_threshold", "failureThreshold"),
    ("minimum_calls", "minimumCalls"),
    ("rolling_window", "rollingWindow"),
    ("window_buckets", "windowBuckets"),
    ("slow_call_threshold", "slowCallThreshold"),
    ("max_open_timeout", "maxOpenTimeout"),
    ("open_timeout", "openTimeout"),
    ("recovery_factor", "recoveryFactor"),
    ("half_open_max_calls", "halfOpenMaxCalls"),
    ("success_threshold", "successThreshold"),
];

/// A core message with its setting names as the JavaScript options spell
/// them (`max_key_size` -> `maxKeySize`), so the message names the option
/// the caller can change. Longer names come first where one contains another.
fn camel_case_settings(message: &str) -> String {
    let mut out = message.to_string();
    for (snake, camel) in SETTING_NAMES {
        if out.contains(snake) {
            out = out.replace(snake, camel);
        }
    }
    out
}

fn set_number(
    env: sys::napi_env,
    obj: sys::napi_value,
    name: &std::ffi::CStr,
    n: f64,
) -> std::result::Result<(), Failure> {
    let v = jsvalue::number(env, n)?;
    set(env, obj, name, v)
}

fn set_string(
    env: sys::napi_env,
    obj: sys::napi_value,
    name: &std::ffi::CStr,
    s: &str,
) -> std::result::Result<(), Failure> {
    let v = jsvalue::string(env, s.as_bytes())?;
    set(env, obj, name, v)
}

fn set(
    env: sys::napi_env,
    obj: sys::napi_value,
    name: &std::ffi::CStr,
    v: sys::napi_value,
) -> std::result::Result<(), Failure> {
    let status = unsafe { sys::napi_set_named_property(env, obj, name.as_ptr(), v) };
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Failure::internal(format!("N-API set_named_property failed ({status})")))
    }
}

/// Runs `f`, turning a [`Failure`] into the thrown JavaScript error. A panic
/// in `f` is caught here (it must not unwind into Node) and reported as an
/// `ERR_STURDY_INTERNAL` error.
pub fn js<T>(env: &Env, f: impl FnOnce() -> std::result::Result<T, Failure>) -> napi::Result<T> {
    caught(f).map_err(|e| e.into_napi(env))
}

/// Runs `f`, turning a panic into a [`Failure`].
pub fn caught<T>(f: impl FnOnce() -> std::result::Result<T, Failure>) -> std::result::Result<T, Failure> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(Failure::internal("a panic in the native addon was caught (a bug: please report it)".into()))
    })
}
