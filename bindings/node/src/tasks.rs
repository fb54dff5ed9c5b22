//! Asynchronous calls: the core call runs on the libuv thread pool, the result
//! is turned into JavaScript back on the JavaScript thread.

use napi::bindgen_prelude::ToNapiValue;
use napi::{Env, Task, sys};
use sturdycache::Value;

use crate::errors::Failure;
use crate::jsvalue::{self, Raw};

/// What a pooled call produced, before it becomes JavaScript.
pub enum Out {
    /// Nothing (`undefined`).
    Unit,
    /// A cached value or a miss.
    Value(Option<Value>),
    /// A yes/no answer.
    Bool(bool),
    /// A count.
    Count(u64),
    /// Where a set went: `'disk'` or `'memory'`.
    Stored(&'static str),
    /// A batch of keys.
    Keys(Vec<Vec<u8>>),
    /// A report object, converted on the JavaScript thread.
    Object(Box<dyn FnOnce(sys::napi_env) -> napi::Result<sys::napi_value> + Send>),
}

impl Out {
    /// A report struct, converted with its `ToNapiValue`.
    pub fn object<T: ToNapiValue + Send + 'static>(t: T) -> Out {
        Out::Object(Box::new(move |env| unsafe { T::to_napi_value(env, t) }))
    }

    fn into_js(self, env: sys::napi_env) -> Result<sys::napi_value, Failure> {
        match self {
            Out::Unit => jsvalue::undefined(env),
            Out::Value(v) => jsvalue::value_to_js(env, v.as_ref(), None),
            Out::Bool(b) => jsvalue::boolean(env, b),
            Out::Count(n) => jsvalue::number(env, n as f64),
            Out::Stored(s) => jsvalue::string(env, s.as_bytes()),
            Out::Keys(keys) => {
                let mut arr = std::ptr::null_mut();
                unsafe { sys::napi_create_array_with_length(env, keys.len(), &mut arr) };
                for (i, k) in keys.iter().enumerate() {
                    let b = jsvalue::buffer(env, k)?;
                    unsafe { sys::napi_set_element(env, arr, i as u32, b) };
                }
                Ok(arr)
            }
            Out::Object(f) => f(env).map_err(|e| Failure::internal(e.reason)),
        }
    }
}

type Work = Box<dyn FnOnce() -> Result<Out, Failure> + Send>;

/// One core call for the thread pool.
pub struct Job {
    work: Option<Work>,
}

impl Job {
    /// A job running `work` on the pool.
    pub fn new(work: impl FnOnce() -> Result<Out, Failure> + Send + 'static) -> Self {
        Job { work: Some(Box::new(work)) }
    }

    /// A job that only fails (argument errors found before queueing are
    /// reported through the promise, as callers of an async method expect).
    pub fn fail(failure: Failure) -> Self {
        Job::new(move || Err(failure))
    }
}

impl Task for Job {
    type Output = Result<Out, Failure>;
    type JsValue = Raw;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(match self.work.take() {
            Some(work) => crate::errors::caught(work),
            None => Err(Failure::internal("job ran twice".into())),
        })
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Raw> {
        match output.and_then(|out| out.into_js(env.raw())) {
            Ok(v) => Ok(Raw(v)),
            Err(f) => Err(f.into_napi(&env)),
        }
    }
}
