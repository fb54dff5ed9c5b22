//! `NativeCache`: the core [`Cache`] as a JavaScript class. Every method
//! translates arguments, calls the core once and translates the answer; the
//! asynchronous ones run that call on the libuv thread pool ([`Job`]).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use napi::bindgen_prelude::{AsyncTask, Function};
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::{Either, Env};
use napi_derive::napi;
use sturdycache::breaker::BreakerState;
use sturdycache::chaos::{ChaosError, ChaosOp};
use sturdycache::fs::{RuleId, Trigger};
use sturdycache::{Cache, DiskPath, MemoryLookup, SetOptions, Stored, Ttl, UnknownName, parse_name};

use crate::clock::ManualClock;
use crate::errors::{Failure, js};
use crate::events::{EventPayload, Subscription};
use crate::jsvalue::{ArgBuf, Raw, arg_bytes, value_to_js};
use crate::options::{NativeOptions, to_config};
use crate::reports::{Check, Health, Recovery, Stats, Sweep};
use crate::tasks::{Job, Out};

/// The state behind one `NativeCache`, shared with its handle (see `sync.rs`).
///
/// Touched only on the JavaScript thread that created it; cells rather than
/// `&mut self` methods because napi-rs keeps a method's borrow of `self`
/// until the promise it returned settles, and events arrive meanwhile.
pub struct Shared {
    cache: RefCell<Option<Cache>>,
    events: RefCell<Option<Subscription>>,
}

/// An open cache (or a closed one: every call then fails with `ERR_STURDY_CLOSED`).
#[napi]
pub struct NativeCache {
    shared: Rc<Shared>,
}

/// A TTL argument in milliseconds: `undefined`/`null` is the cache's default,
/// `0` and `Infinity` never expire (as in lru-cache), anything else must be
/// a positive number.
pub(crate) fn ttl(ms: Option<f64>) -> Result<Ttl, Failure> {
    match ms {
        None => Ok(Ttl::Default),
        Some(x) if x == 0.0 || x == f64::INFINITY => Ok(Ttl::Never),
        Some(x) if x > 0.0 && x.is_finite() => Duration::try_from_secs_f64(x / 1000.0)
            .map(Ttl::After)
            .map_err(|_| Failure::range_error("ERR_STURDY_INVALID_TTL", format!("ttl {x} ms is out of range"))),
        Some(x) => Err(Failure::range_error(
            "ERR_STURDY_INVALID_TTL",
            format!("ttl must be a number of milliseconds greater than 0 (0 or Infinity: never expires), got {x}"),
        )),
    }
}

pub(crate) fn value_type(n: u32) -> Result<u8, Failure> {
    u8::try_from(n)
        .map_err(|_| Failure::range_error("ERR_STURDY_INVALID_VALUE", format!("value type {n} is not 0..=255")))
}

pub(crate) fn stored(s: Stored) -> &'static str {
    if s.on_disk() { "disk" } else { "memory" }
}

/// An owned copy of a key or value argument, for a pooled call.
fn owned(env: &Env, value: Raw, what: &'static str) -> Result<Vec<u8>, Failure> {
    Ok(arg_bytes(env.raw(), value.0, what, &mut ArgBuf::new())?.to_vec())
}

/// A name the core did not accept, as the TypeError every bad choice gets.
fn bad_name(e: UnknownName) -> Failure {
    Failure::type_error("ERR_STURDY_INVALID_ARGUMENT", e.to_string())
}

fn chaos_op(op: &str) -> Result<ChaosOp, Failure> {
    op.parse().map_err(bad_name)
}

fn chaos_error(error: &str, delay_ms: Option<f64>) -> Result<ChaosError, Failure> {
    Ok(match error {
        "eio" => ChaosError::Eio,
        "enospc" => ChaosError::Enospc,
        "erofs" => ChaosError::Erofs,
        "eacces" => ChaosError::Eacces,
        "corruption" => ChaosError::Corruption,
        "delay" => ChaosError::Delay(crate::options::millis("delayMs", delay_ms.unwrap_or(0.0))?),
        other => {
            return Err(Failure::type_error(
                "ERR_STURDY_INVALID_ARGUMENT",
                format!(
                    "fault error must be 'eio', 'enospc', 'erofs', 'eacces', 'corruption' or 'delay', got {other:?}"
                ),
            ));
        }
    })
}

fn trigger(kind: &str, amount: Option<f64>) -> Result<Trigger, Failure> {
    let amount = |what: &str| {
        amount.filter(|n| n.is_finite() && *n >= 0.0).ok_or_else(|| {
            Failure::range_error(
                "ERR_STURDY_INVALID_ARGUMENT",
                format!("trigger '{what}' needs a number of at least 0"),
            )
        })
    };
    Ok(match kind {
        "once" => Trigger::Once,
        "always" => Trigger::Always,
        "times" => Trigger::Times(amount("times")? as u64),
        "probability" => Trigger::Probability(amount("probability")?),
        other => {
            return Err(Failure::type_error(
                "ERR_STURDY_INVALID_ARGUMENT",
                format!("trigger must be 'once', 'always', 'times' or 'probability', got {other:?}"),
            ));
        }
    })
}

fn breaker_state(state: &str) -> Result<BreakerState, Failure> {
    // The states an operator may set; open and half-open are the breaker's own.
    let overrides = [BreakerState::Closed, BreakerState::ForcedOpen, BreakerState::Disabled];
    parse_name("breaker override", state, overrides, BreakerState::as_str).map_err(bad_name)
}

fn disk_path(path: &str) -> Result<DiskPath, Failure> {
    path.parse().map_err(bad_name)
}

impl Shared {
    /// A clone of the open cache (for a pooled call).
    pub fn open(&self) -> Result<Cache, Failure> {
        self.cache.borrow().as_ref().cloned().ok_or_else(Failure::closed)
    }

    /// Runs `f` on the open cache without cloning it (the synchronous hot paths).
    pub fn with<T>(&self, f: impl FnOnce(&Cache) -> Result<T, Failure>) -> Result<T, Failure> {
        match self.cache.borrow().as_ref() {
            Some(cache) => f(cache),
            None => Err(Failure::closed()),
        }
    }

    fn take(&self) -> Option<Cache> {
        let cache = self.cache.borrow_mut().take()?;
        if let Some(events) = self.events.borrow_mut().take() {
            events.cancel(&cache);
        }
        Some(cache)
    }
}

impl NativeCache {
    fn open(&self) -> Result<Cache, Failure> {
        self.shared.open()
    }

    /// A pooled call on a clone of the cache, or a rejected promise when the
    /// cache is closed or the arguments are bad.
    fn job(
        &self,
        prepare: impl FnOnce(Cache) -> Result<Box<dyn FnOnce() -> Result<Out, Failure> + Send>, Failure>,
    ) -> AsyncTask<Job> {
        let job = match self.open().and_then(prepare) {
            Ok(work) => Job::new(work),
            Err(f) => Job::fail(f),
        };
        AsyncTask::new(job)
    }

    /// The shared body of `set` and `add`: copies the arguments on the calling
    /// thread, then runs `write` (the core call) on the pool.
    #[allow(clippy::too_many_arguments)] // the napi method's arguments, plus the core call
    fn write_job(
        &self,
        env: &Env,
        key: Raw,
        payload: Raw,
        value_type: u32,
        ttl_ms: Option<f64>,
        tag: Option<String>,
        write: impl FnOnce(&Cache, &[u8], &[u8], SetOptions<'_>) -> sturdycache::Result<Out> + Send + 'static,
    ) -> AsyncTask<Job> {
        self.job(|cache| {
            let key = owned(env, key, "key")?;
            let payload = owned(env, payload, "value")?;
            let (ttl, vt) = (ttl(ttl_ms)?, self::value_type(value_type)?);
            Ok(Box::new(move || {
                let opts = SetOptions { ttl, tag: tag.as_deref(), value_type: vt };
                Ok(write(&cache, &key, &payload, opts)?)
            }) as Work)
        })
    }
}

type Work = Box<dyn FnOnce() -> Result<Out, Failure> + Send>;

#[napi]
impl NativeCache {
    /// Opens the cache described by `options` (see `NativeOptions`); `clock`
    /// replaces the system clock (tests).
    #[napi(constructor)]
    pub fn new(env: Env, options: NativeOptions, clock: Option<&ManualClock>) -> napi::Result<Self> {
        js(&env, || {
            let mut config = to_config(&options)?;
            if let Some(clock) = clock {
                config.clock = Arc::new(clock.inner.clone());
            }
            let cache = Cache::open(config)?;
            Ok(NativeCache { shared: Rc::new(Shared { cache: RefCell::new(Some(cache)), events: RefCell::new(None) }) })
        })
    }

    /// The value for `key` when the hot tier holds it (looked up here: the
    /// hot tier never touches the disk), else a promise of the value (or
    /// `undefined`) from the thread pool, which finishes the same get with the
    /// replay queue and the disk.
    #[napi(ts_args_type = "key: string | Uint8Array", ts_return_type = "unknown | Promise<unknown>")]
    pub fn get(&self, env: Env, key: Raw) -> napi::Result<Either<Raw, AsyncTask<Job>>> {
        let found = crate::errors::caught(|| {
            let cache = self.open()?;
            let key = owned(&env, key, "key")?;
            Ok(match cache.get_from_memory(&key)? {
                MemoryLookup::Hit(value, _) => Either::A(value),
                MemoryLookup::Miss(miss) => {
                    Either::B(Job::new(move || Ok(Out::Value(cache.get_after_memory(&key, miss)?))))
                }
            })
        });
        match found {
            Ok(Either::A(value)) => js(&env, || value_to_js(env.raw(), Some(&value), None).map(|v| Either::A(Raw(v)))),
            Ok(Either::B(job)) => Ok(Either::B(AsyncTask::new(job))),
            // Reported through a promise, as for every other failure of an async method.
            Err(failure) => Ok(Either::B(AsyncTask::new(Job::fail(failure)))),
        }
    }

    /// Promise of whether `key` has a live value.
    #[napi(ts_args_type = "key: string | Uint8Array", ts_return_type = "Promise<boolean>")]
    pub fn has(&self, env: Env, key: Raw) -> AsyncTask<Job> {
        self.job(|cache| {
            let key = owned(&env, key, "key")?;
            Ok(Box::new(move || Ok(Out::Bool(cache.contains(&key)?))) as Work)
        })
    }

    /// Promise form of `setSync`.
    #[napi(
        ts_args_type = "key: string | Uint8Array, payload: string | Uint8Array, valueType: number, ttlMs?: number | null, tag?: string | null",
        ts_return_type = "Promise<'disk' | 'memory'>"
    )]
    pub fn set(
        &self,
        env: Env,
        key: Raw,
        payload: Raw,
        value_type: u32,
        ttl_ms: Option<f64>,
        tag: Option<String>,
    ) -> AsyncTask<Job> {
        self.write_job(&env, key, payload, value_type, ttl_ms, tag, |c, k, v, o| {
            Ok(Out::Stored(stored(c.set_with(k, v, o)?)))
        })
    }

    /// Promise of whether `key` was stored (only if it had no live value).
    #[napi(
        ts_args_type = "key: string | Uint8Array, payload: string | Uint8Array, valueType: number, ttlMs?: number | null, tag?: string | null",
        ts_return_type = "Promise<boolean>"
    )]
    pub fn add(
        &self,
        env: Env,
        key: Raw,
        payload: Raw,
        value_type: u32,
        ttl_ms: Option<f64>,
        tag: Option<String>,
    ) -> AsyncTask<Job> {
        self.write_job(&env, key, payload, value_type, ttl_ms, tag, |c, k, v, o| Ok(Out::Bool(c.add(k, v, o)?)))
    }

    /// Promise form of `deleteSync`.
    #[napi(ts_args_type = "key: string | Uint8Array", ts_return_type = "Promise<boolean>")]
    pub fn delete(&self, env: Env, key: Raw) -> AsyncTask<Job> {
        self.job(|cache| {
            let key = owned(&env, key, "key")?;
            Ok(Box::new(move || Ok(Out::Bool(cache.delete(&key)?))) as Work)
        })
    }

    /// Promise of whether `key` had a live value whose expiry was changed.
    #[napi(ts_args_type = "key: string | Uint8Array, ttlMs?: number | null", ts_return_type = "Promise<boolean>")]
    pub fn touch(&self, env: Env, key: Raw, ttl_ms: Option<f64>) -> AsyncTask<Job> {
        self.job(|cache| {
            let key = owned(&env, key, "key")?;
            let ttl = ttl(ttl_ms)?;
            Ok(Box::new(move || Ok(Out::Bool(cache.touch(&key, ttl)?))) as Work)
        })
    }

    /// Promise of the removed value, or `undefined`.
    #[napi(ts_args_type = "key: string | Uint8Array", ts_return_type = "Promise<unknown>")]
    pub fn pop(&self, env: Env, key: Raw) -> AsyncTask<Job> {
        self.job(|cache| {
            let key = owned(&env, key, "key")?;
            Ok(Box::new(move || Ok(Out::Value(cache.pop(&key)?))) as Work)
        })
    }

    /// Promise of the number of disk entries removed.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn clear(&self) -> AsyncTask<Job> {
        self.job(|cache| Ok(Box::new(move || Ok(Out::Count(cache.clear()?))) as Work))
    }

    /// Promise of the number of keys tagged `tag` that were removed.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn evict_tag(&self, tag: String) -> AsyncTask<Job> {
        self.job(|cache| Ok(Box::new(move || Ok(Out::Count(cache.evict_tag(&tag)?))) as Work))
    }

    /// Promise of whether every queued write reached the disk.
    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn flush(&self) -> AsyncTask<Job> {
        self.job(|cache| Ok(Box::new(move || Ok(Out::Bool(cache.flush()))) as Work))
    }

    /// `flush` on the calling thread (the process-exit hook uses it).
    #[napi]
    pub fn flush_sync(&self, env: Env) -> napi::Result<bool> {
        js(&env, || Ok(self.shared.cache.borrow().as_ref().is_none_or(|c| c.flush())))
    }

    /// Promise that resolves once the background open work is done.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn ready(&self) -> AsyncTask<Job> {
        self.job(|cache| {
            Ok(Box::new(move || {
                cache.wait_ready();
                Ok(Out::Unit)
            }) as Work)
        })
    }

    /// Promise of a sweep report.
    #[napi(ts_return_type = "Promise<Sweep>")]
    pub fn sweep(&self) -> AsyncTask<Job> {
        self.job(|cache| Ok(Box::new(move || Ok(Out::object(Sweep::from(cache.sweep()?)))) as Work))
    }

    /// Promise of a check report (every entry read and verified).
    #[napi(ts_return_type = "Promise<Check>")]
    pub fn check(&self) -> AsyncTask<Job> {
        self.job(|cache| Ok(Box::new(move || Ok(Out::object(Check::from(cache.check()?)))) as Work))
    }

    /// Promise of a recovery report (one recovery round now).
    #[napi(ts_return_type = "Promise<Recovery>")]
    pub fn run_recovery(&self) -> AsyncTask<Job> {
        self.job(|cache| Ok(Box::new(move || Ok(Out::object(Recovery::from(cache.run_recovery())))) as Work))
    }

    /// A cursor over the keys of live entries.
    #[napi]
    pub fn keys(&self, env: Env) -> napi::Result<KeysCursor> {
        js(&env, || {
            let keys = self.open()?.keys()?;
            Ok(KeysCursor { keys: Arc::new(Mutex::new(Some(keys))) })
        })
    }

    /// Counters, sizes, resilience state and latencies.
    #[napi]
    pub fn stats(&self, env: Env) -> napi::Result<Stats> {
        js(&env, || Ok(Stats::from(&self.open()?.metrics())))
    }

    /// Mode, breakers, disk health and the replay queue.
    #[napi]
    pub fn health(&self, env: Env) -> napi::Result<Health> {
        js(&env, || {
            let cache = self.open()?;
            Ok(Health::new(&cache.metrics(), cache.is_coherent_across_processes()))
        })
    }

    /// `'normal'`, `'read_only'` or `'memory_only'`.
    #[napi(getter)]
    pub fn mode(&self, env: Env) -> napi::Result<String> {
        js(&env, || Ok(self.open()?.mode().as_str().to_string()))
    }

    /// Every metric in the Prometheus text format.
    #[napi]
    pub fn prometheus(&self, env: Env) -> napi::Result<String> {
        js(&env, || Ok(self.open()?.prometheus()))
    }

    /// The cache directory.
    #[napi(getter)]
    pub fn directory(&self, env: Env) -> napi::Result<String> {
        js(&env, || Ok(self.open()?.directory().to_string_lossy().into_owned()))
    }

    /// The handle the synchronous functions take (`getSync(handle, key)`, …).
    #[napi(ts_return_type = "unknown")]
    pub fn handle(&self, env: Env) -> napi::Result<Raw> {
        crate::sync::handle(&env, self.shared.clone())
    }

    /// Whether `close` has been called.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.shared.cache.borrow().is_none()
    }

    /// Delivers every event to `callback` on this thread (once per cache).
    #[napi]
    pub fn subscribe(&self, env: Env, callback: Function<'_, EventPayload, ()>) -> napi::Result<()> {
        js(&env, || {
            let cache = self.open()?;
            let mut events = self.shared.events.borrow_mut();
            if events.is_none() {
                let subscription =
                    Subscription::new(&cache, callback).map_err(|e| Failure::internal(e.reason.clone()))?;
                *events = Some(subscription);
            }
            Ok(())
        })
    }

    /// Promise of whether a `'flush'` marker with `id` was queued behind
    /// every event emitted so far (false when nothing is subscribed). The
    /// event loop is kept alive until `eventsFlushed` is called for it.
    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn flush_events(&self, env: Env, id: f64) -> AsyncTask<Job> {
        let cache = match self.open() {
            Ok(c) => c.clone(),
            Err(f) => return AsyncTask::new(Job::fail(f)),
        };
        let mut events = self.shared.events.borrow_mut();
        let Some(events) = events.as_mut() else {
            return AsyncTask::new(Job::new(move || {
                cache.flush_events();
                Ok(Out::Bool(false))
            }));
        };
        events.hold(&env);
        let sink = events.sink();
        AsyncTask::new(Job::new(move || {
            cache.flush_events();
            let _ = sink.call(EventPayload::flush(id), ThreadsafeFunctionCallMode::NonBlocking);
            Ok(Out::Bool(true))
        }))
    }

    /// Undoes the hold of one `flushEvents` whose marker arrived.
    #[napi]
    pub fn events_flushed(&self, env: Env) {
        if let Some(events) = self.shared.events.borrow_mut().as_mut() {
            events.release(&env);
        }
    }

    /// Arms a fault on this cache's disk (the chaos API); returns its id.
    #[napi]
    pub fn inject_fault(
        &self,
        env: Env,
        op: String,
        error: String,
        delay_ms: Option<f64>,
        trigger_kind: String,
        amount: Option<f64>,
    ) -> napi::Result<f64> {
        js(&env, || {
            let cache = self.open()?;
            let id = cache.faults().inject(
                chaos_op(&op)?,
                chaos_error(&error, delay_ms)?,
                trigger(&trigger_kind, amount)?,
            )?;
            Ok(id.0 as f64)
        })
    }

    /// Disarms one fault; false if it was not armed.
    #[napi]
    pub fn remove_fault(&self, env: Env, id: f64) -> napi::Result<bool> {
        js(&env, || Ok(self.open()?.faults().remove(RuleId(id as u64))))
    }

    /// Disarms every fault.
    #[napi]
    pub fn clear_faults(&self, env: Env) -> napi::Result<()> {
        js(&env, || {
            self.open()?.faults().clear();
            Ok(())
        })
    }

    /// Faults still armed.
    #[napi]
    pub fn faults_active(&self, env: Env) -> napi::Result<f64> {
        js(&env, || Ok(self.open()?.faults().active() as f64))
    }

    /// Faults injected so far.
    #[napi]
    pub fn faults_injected(&self, env: Env) -> napi::Result<f64> {
        js(&env, || Ok(self.open()?.faults().injected() as f64))
    }

    /// Operator override of a disk path's breaker.
    #[napi]
    pub fn override_breaker(&self, env: Env, path: String, state: String) -> napi::Result<()> {
        js(&env, || {
            self.open()?.override_breaker(disk_path(&path)?, breaker_state(&state)?);
            Ok(())
        })
    }

    /// Closes the cache: later calls fail with `ERR_STURDY_CLOSED`; queued
    /// writes are flushed on the pool, then the core cache is dropped (its
    /// background threads stop). Calls already running finish first.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close(&self) -> AsyncTask<Job> {
        let cache = self.shared.take();
        AsyncTask::new(Job::new(move || {
            if let Some(cache) = cache {
                cache.flush();
            }
            Ok(Out::Unit)
        }))
    }

    /// `close` on the calling thread.
    #[napi]
    pub fn close_sync(&self, env: Env) -> napi::Result<()> {
        js(&env, || {
            if let Some(cache) = self.shared.take() {
                cache.flush();
            }
            Ok(())
        })
    }
}

/// Walks the keys of live entries in batches on the thread pool.
#[napi]
pub struct KeysCursor {
    keys: Arc<Mutex<Option<sturdycache::Keys>>>,
}

#[napi]
impl KeysCursor {
    /// Promise of up to `max` keys as Buffers; an empty array when done.
    #[napi(ts_return_type = "Promise<Buffer[]>")]
    pub fn next_batch(&self, max: u32) -> AsyncTask<Job> {
        let keys = self.keys.clone();
        AsyncTask::new(Job::new(move || {
            let mut guard = keys.lock().map_err(|_| Failure::internal("key cursor lock poisoned".into()))?;
            let mut batch = Vec::new();
            while batch.len() < max.max(1) as usize {
                let Some(iter) = guard.as_mut() else { break };
                match iter.next() {
                    Some(Ok(key)) => batch.push(key),
                    Some(Err(e)) => {
                        *guard = None;
                        return Err(e.into());
                    }
                    None => *guard = None,
                }
            }
            Ok(Out::Keys(batch))
        }))
    }
}
