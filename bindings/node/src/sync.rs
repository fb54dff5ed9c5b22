//! The synchronous hot paths (`getSync`, `setSync`, `hasSync`,
//! `deleteSync`, and async `set`'s `setInMemory`) as plain functions over a cache *handle*.
//!
//! napi-rs's generated glue pays for borrow bookkeeping on every call (several
//! hundred nanoseconds for a class method, about a hundred for a function),
//! more than the core's hot get itself. These four are therefore raw N-API
//! callbacks, registered on the module's exports by [`register`], over a
//! cache *handle*: an external value (type-tagged, so no other external can
//! be mistaken for it) pointing at the same [`Shared`] state as its
//! `NativeCache`. A panic never leaves a callback: it becomes an
//! `ERR_STURDY_INTERNAL` error.

use std::rc::Rc;

use napi::JsValue;
use napi::bindgen_prelude::Object;
use napi::{Env, sys};
use napi_derive::napi;
use sturdycache::SetOptions;

use crate::cache::{Shared, stored, ttl, value_type};
use crate::errors::{Failure, js};
use crate::jsvalue::{self, ArgBuf, Raw, arg_bytes, value_to_js};

/// Marks externals made by [`handle`] (random, fixed).
const TAG: sys::napi_type_tag = sys::napi_type_tag { lower: 0x5f3a_9c1e_7d24_b8a1, upper: 0x2c6b_e093_41f7_d58e };

unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut std::ffi::c_void, _hint: *mut std::ffi::c_void) {
    drop(unsafe { Box::from_raw(data.cast::<Rc<Shared>>()) });
}

fn check(code: sys::napi_status, what: &str) -> Result<(), Failure> {
    if code == sys::Status::napi_ok { Ok(()) } else { Err(Failure::internal(format!("N-API {what} failed ({code})"))) }
}

/// A new handle on `shared`.
pub fn handle(env: &Env, shared: Rc<Shared>) -> napi::Result<Raw> {
    js(env, || {
        let data = Box::into_raw(Box::new(shared));
        let mut value = std::ptr::null_mut();
        let status = unsafe {
            sys::napi_create_external(env.raw(), data.cast(), Some(finalize), std::ptr::null_mut(), &mut value)
        };
        if status != sys::Status::napi_ok {
            drop(unsafe { Box::from_raw(data) });
            return Err(Failure::internal(format!("N-API create_external failed ({status})")));
        }
        check(unsafe { sys::napi_type_tag_object(env.raw(), value, &TAG) }, "type_tag_object")?;
        Ok(Raw(value))
    })
}

/// The state behind a handle made by [`handle`]; a TypeError for anything else.
fn shared<'a>(env: sys::napi_env, value: sys::napi_value) -> Result<&'a Shared, Failure> {
    let bad = || Failure::type_error("ERR_STURDY_INVALID_ARGUMENT", "not a cache handle");
    if jsvalue::type_of(env, value)? != sys::ValueType::napi_external {
        return Err(bad());
    }
    let mut tagged = false;
    check(unsafe { sys::napi_check_object_type_tag(env, value, &TAG, &mut tagged) }, "check_type_tag")?;
    if !tagged {
        return Err(bad());
    }
    let mut data = std::ptr::null_mut();
    check(unsafe { sys::napi_get_value_external(env, value, &mut data) }, "get_value_external")?;
    // The external keeps the Rc alive for as long as the JavaScript value
    // lives, and the value is an argument of this call.
    Ok(unsafe { &**data.cast::<Rc<Shared>>() })
}

type Args<const N: usize> = [sys::napi_value; N];

/// Runs one callback: reads up to `N` arguments (missing ones are
/// `undefined`), runs `body`, and throws its failure (or a caught panic).
fn entry<const N: usize>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    body: impl FnOnce(&Args<N>) -> Result<sys::napi_value, Failure>,
) -> sys::napi_value {
    let run = || {
        let mut argv: Args<N> = [std::ptr::null_mut(); N];
        let mut argc = N;
        check(
            unsafe {
                sys::napi_get_cb_info(
                    env,
                    info,
                    &mut argc,
                    argv.as_mut_ptr(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                )
            },
            "get_cb_info",
        )?;
        if argc < N {
            let undefined = jsvalue::undefined(env)?;
            argv[argc..].fill(undefined);
        }
        body(&argv)
    };
    let failure = match crate::errors::caught(run) {
        Ok(value) => return value,
        Err(failure) => failure,
    };
    match failure.to_js(env) {
        Ok(error) => unsafe { sys::napi_throw(env, error) },
        Err(_) => unsafe {
            sys::napi_throw_error(env, c"ERR_STURDY_INTERNAL".as_ptr(), c"the native addon failed".as_ptr())
        },
    };
    std::ptr::null_mut()
}

/// An optional TTL argument.
fn ttl_arg(env: sys::napi_env, value: sys::napi_value) -> Result<Option<f64>, Failure> {
    match jsvalue::type_of(env, value)? {
        sys::ValueType::napi_undefined | sys::ValueType::napi_null => Ok(None),
        sys::ValueType::napi_number => {
            let mut n = 0.0;
            check(unsafe { sys::napi_get_value_double(env, value, &mut n) }, "get_value_double")?;
            Ok(Some(n))
        }
        _ => Err(Failure::type_error("ERR_STURDY_INVALID_TTL", "ttl must be a number of milliseconds")),
    }
}

/// An optional tag argument.
fn tag_arg(env: sys::napi_env, value: sys::napi_value) -> Result<Option<String>, Failure> {
    match jsvalue::type_of(env, value)? {
        sys::ValueType::napi_undefined | sys::ValueType::napi_null => Ok(None),
        sys::ValueType::napi_string => {
            let mut buf = ArgBuf::new();
            let bytes = arg_bytes(env, value, "tag", &mut buf)?;
            Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
        }
        _ => Err(Failure::type_error("ERR_STURDY_INVALID_ARGUMENT", "tag must be a string")),
    }
}

/// A value type code argument.
fn type_arg(env: sys::napi_env, value: sys::napi_value) -> Result<u32, Failure> {
    let mut n = 0u32;
    if jsvalue::type_of(env, value)? != sys::ValueType::napi_number {
        return Err(Failure::type_error("ERR_STURDY_INVALID_ARGUMENT", "valueType must be a number"));
    }
    check(unsafe { sys::napi_get_value_uint32(env, value, &mut n) }, "get_value_uint32")?;
    Ok(n)
}

/// `getSync(handle, key, pool?, offset?)`: the value for `key`, or
/// `undefined`. Raw bytes are copied into `pool` at `offset` and `pool`
/// itself is returned (see `jsvalue::Scratch`).
unsafe extern "C" fn get_sync(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    entry(env, info, |[handle, key, pool, offset]: &Args<4>| {
        let mut key_buf = ArgBuf::new();
        let key = arg_bytes(env, *key, "key", &mut key_buf)?;
        let value = shared(env, *handle)?.with(|cache| Ok(cache.get(key)?))?;
        value_to_js(env, value.as_ref(), Some((*pool, *offset)))
    })
}

/// `hasSync(handle, key)`: whether `key` has a live value.
unsafe extern "C" fn has_sync(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    entry(env, info, |[handle, key]: &Args<2>| {
        let mut key_buf = ArgBuf::new();
        let key = arg_bytes(env, *key, "key", &mut key_buf)?;
        let found = shared(env, *handle)?.with(|cache| Ok(cache.contains(key)?))?;
        jsvalue::boolean(env, found)
    })
}

/// `deleteSync(handle, key)`: removes `key`; whether anything was removed.
unsafe extern "C" fn delete_sync(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    entry(env, info, |[handle, key]: &Args<2>| {
        let mut key_buf = ArgBuf::new();
        let key = arg_bytes(env, *key, "key", &mut key_buf)?;
        let removed = shared(env, *handle)?.with(|cache| Ok(cache.delete(key)?))?;
        jsvalue::boolean(env, removed)
    })
}

/// `setSync(handle, key, payload, valueType, ttlMs?, tag?)`: stores `payload`
/// (a string or bytes, encoded by the JavaScript layer) under `key`; returns
/// `'disk'` or `'memory'`.
unsafe extern "C" fn set_sync(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    entry(env, info, |args: &Args<6>| {
        let where_to = with_set_args(env, args, |cache, key, payload, opts| Ok(cache.set_with(key, payload, opts)?))?;
        jsvalue::string(env, stored(where_to).as_bytes())
    })
}

/// `setInMemory(handle, key, payload, valueType, ttlMs?, tag?)`: a
/// write-behind set that never touches the disk (`Cache::set_in_memory`):
/// `'memory'` when queued, `undefined` when the set needs a disk write and
/// must go to the thread pool instead.
unsafe extern "C" fn set_in_memory(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    entry(env, info, |args: &Args<6>| {
        match with_set_args(env, args, |cache, key, payload, opts| Ok(cache.set_in_memory(key, payload, opts)?))? {
            Some(where_to) => jsvalue::string(env, stored(where_to).as_bytes()),
            None => jsvalue::undefined(env),
        }
    })
}

/// Reads the arguments `(handle, key, payload, valueType, ttlMs?, tag?)`
/// shared by the set callbacks and runs `set` with them.
fn with_set_args<T>(
    env: sys::napi_env,
    [handle, key, payload, vt, ttl_ms, tag]: &Args<6>,
    set: impl FnOnce(&sturdycache::Cache, &[u8], &[u8], SetOptions<'_>) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let mut key_buf = ArgBuf::new();
    let key = arg_bytes(env, *key, "key", &mut key_buf)?;
    let mut payload_buf = ArgBuf::new();
    let payload = arg_bytes(env, *payload, "value", &mut payload_buf)?;
    let tag = tag_arg(env, *tag)?;
    let opts = SetOptions {
        ttl: ttl(ttl_arg(env, *ttl_ms)?)?,
        tag: tag.as_deref(),
        value_type: value_type(type_arg(env, *vt)?)?,
    };
    shared(env, *handle)?.with(|cache| set(cache, key, payload, opts))
}

/// Adds the raw functions to the module's exports.
#[napi(module_exports)]
pub fn register(exports: Object, env: Env) -> napi::Result<()> {
    type Callback = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;
    let functions: [(&std::ffi::CStr, Callback); 5] = [
        (c"getSync", get_sync),
        (c"hasSync", has_sync),
        (c"deleteSync", delete_sync),
        (c"setSync", set_sync),
        (c"setInMemory", set_in_memory),
    ];
    js(&env, || {
        for (name, callback) in functions {
            let mut function = std::ptr::null_mut();
            check(
                unsafe {
                    sys::napi_create_function(
                        env.raw(),
                        name.as_ptr(),
                        name.to_bytes().len() as isize,
                        Some(callback),
                        std::ptr::null_mut(),
                        &mut function,
                    )
                },
                "create_function",
            )?;
            check(
                unsafe { sys::napi_set_named_property(env.raw(), exports.raw(), name.as_ptr(), function) },
                "set_named_property",
            )?;
        }
        Ok(())
    })
}
