//! `NativeCache`, the base class of `sturdycache.Cache`: one core [`Cache`]
//! handle plus the diskcache-shaped calls on every request's path (get, set,
//! the mapping protocol, memoize), which translate keys and values
//! ([`crate::codec`]), run the core call with the GIL released and translate
//! the answer back. Everything else the Python subclass builds on the
//! underscore methods here.
//!
//! The handle sits in an `ArcSwapOption`: `close` takes it out (the core stops
//! once calls in flight finish), the next use reopens it (as diskcache does),
//! and a forked child abandons the parent's handle without touching its locks.
//! A core handle is only ever dropped with the GIL released, because dropping
//! it waits for its event thread, which may be waiting for the GIL.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use pyo3::exceptions::{PyKeyError, PyRuntimeError, PyStopIteration, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyString, PyTuple};
use sturdycache::breaker::BreakerState;
use sturdycache::chaos::{ChaosError, ChaosOp};
use sturdycache::fs::{RuleId, Trigger};
use sturdycache::{
    Attachment, Cache, Config, DiskPath, Keys, LoadError, MemoryLookup, SetOptions, Ttl, UnknownName, Value,
    parse_name, value_type,
};

use crate::codec::{self, Ignore};
use crate::errors::{CacheError, to_py};
use crate::{config, convert, forkgate, gate};

/// `expire` as seconds: a number, a `datetime.timedelta`, or None.
fn expire_seconds(expire: Option<&Bound<'_, PyAny>>) -> PyResult<Option<f64>> {
    let Some(e) = expire else { return Ok(None) };
    if e.is_none() {
        return Ok(None);
    }
    if e.is_exact_instance_of::<PyFloat>() || e.is_exact_instance_of::<PyInt>() {
        return e.extract().map(Some);
    }
    if !e.is_instance_of::<PyBool>() && e.hasattr("total_seconds")? {
        return e.call_method0("total_seconds")?.extract().map(Some);
    }
    if e.is_instance_of::<PyFloat>() || (e.is_instance_of::<PyInt>() && !e.is_instance_of::<PyBool>()) {
        return e.extract().map(Some);
    }
    Err(PyTypeError::new_err(format!(
        "expire must be a number of seconds, a timedelta or None, not {}",
        e.get_type().name()?
    )))
}

/// Seconds → core TTL: None is the cache's default_ttl, infinity is never.
fn ttl(seconds: Option<f64>) -> PyResult<Ttl> {
    match seconds {
        None => Ok(Ttl::Default),
        Some(s) if s == f64::INFINITY => Ok(Ttl::Never),
        Some(s) if s > 0.0 => Duration::try_from_secs_f64(s)
            .map(Ttl::After)
            .map_err(|_| PyValueError::new_err(format!("expire is out of range: {s}"))),
        Some(s) => Err(PyValueError::new_err(format!(
            "expire must be a positive number of seconds, float('inf') or None, got {s}"
        ))),
    }
}

fn expire_ttl(expire: Option<&Bound<'_, PyAny>>) -> PyResult<Ttl> {
    ttl(expire_seconds(expire)?)
}

fn tag_text<'a>(tag: Option<&'a Bound<'_, PyAny>>) -> PyResult<Option<Cow<'a, str>>> {
    match tag {
        None => Ok(None),
        Some(t) if t.is_none() => Ok(None),
        Some(t) => match t.cast_exact::<PyString>() {
            Ok(s) => s.to_cow().map(Some),
            Err(_) => Err(PyTypeError::new_err(format!("tag must be a str or None, not {}", t.get_type().name()?))),
        },
    }
}

/// A name the core did not accept (a fault op, a breaker path or state).
fn name_error(e: UnknownName) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn unsupported(what: &str) -> PyErr {
    pyo3::exceptions::PyNotImplementedError::new_err(format!(
        "{what} is not supported by sturdycache (see docs/MIGRATING_FROM_DISKCACHE.md)"
    ))
}

/// Drops a core handle without the GIL.
fn release(py: Python<'_>, cache: Arc<Cache>) {
    py.detach(move || {
        let _inside = forkgate::enter();
        drop(cache)
    });
}

static PICKLE_DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn pickle(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let dumps = PICKLE_DUMPS.get_or_try_init(py, || py.import("pickle")?.getattr("dumps").map(Bound::unbind))?;
    let bytes = dumps.bind(py).call1((value, 5))?;
    Ok(bytes.cast::<PyBytes>()?.as_bytes().to_vec())
}

/// The base class of `sturdycache.Cache`.
#[pyclass(subclass, frozen, module = "sturdycache._native")]
pub struct NativeCache {
    slot: ArcSwapOption<Cache>,
    config: OnceLock<Config>,
    use_json: AtomicBool,
    /// The Python callable events go to (subscribed again on reopen).
    dispatcher: OnceLock<Py<PyAny>>,
}

impl Drop for NativeCache {
    fn drop(&mut self) {
        if let Some(cache) = self.slot.swap(None) {
            // Dealloc runs attached; release the GIL while the core stops its threads.
            let _ = Python::try_attach(move |py| release(py, cache));
        }
    }
}

impl NativeCache {
    /// The open core handle, reopening a closed (or fork-abandoned) cache.
    fn handle(&self, py: Python<'_>) -> PyResult<Arc<Cache>> {
        match self.slot.load_full() {
            Some(cache) => Ok(cache),
            None => self.reopen(py),
        }
    }

    fn reopen(&self, py: Python<'_>) -> PyResult<Arc<Cache>> {
        let config = self.config.get().ok_or_else(|| CacheError::new_err("Cache.__init__ has not run"))?.clone();
        if gate::is_closed() {
            return Err(CacheError::new_err("the interpreter is exiting: caches are closed"));
        }
        let cache = Arc::new(
            py.detach(move || {
                let _inside = forkgate::enter();
                Cache::open(config)
            })
            .map_err(to_py)?,
        );
        if let Some(dispatcher) = self.dispatcher.get() {
            subscribe(&cache, dispatcher.clone_ref(py));
        }
        let previous = self.slot.compare_and_swap(&None::<Arc<Cache>>, Some(cache.clone()));
        match &*previous {
            None => Ok(cache),
            Some(winner) => {
                let winner = winner.clone();
                release(py, cache); // another thread reopened first
                Ok(winner)
            }
        }
    }

    /// Runs `f` on the core handle with the GIL released (the handle is
    /// dropped there too).
    ///
    /// While a fork is being prepared the call lets go of the handle (so the
    /// fork can close the cache) and waits; afterwards it runs on the handle
    /// reopened after the fork.
    fn run<T: Send, F: FnOnce(&Cache) -> T + Send>(&self, py: Python<'_>, f: F) -> PyResult<T> {
        let mut call = f;
        loop {
            let cache = self.handle(py)?;
            let outcome = py.detach(move || match forkgate::try_enter() {
                Some(inside) => {
                    let result = call(&cache);
                    drop(cache);
                    drop(inside);
                    Ok(result)
                }
                None => {
                    drop(cache);
                    forkgate::wait_for_fork();
                    Err(call)
                }
            });
            match outcome {
                Ok(result) => return Ok(result),
                Err(back) => call = back,
            }
        }
    }

    /// A get. A hot hit is answered with the GIL held: the hot tier never
    /// touches the disk or waits beyond a shard lock, and no fork can begin
    /// while this thread holds the GIL, so neither the GIL release nor the
    /// fork gate is needed. Only a miss releases the GIL, for the replay queue
    /// and the disk.
    fn fetch(&self, py: Python<'_>, key: &[u8]) -> PyResult<Option<(Value, Option<Attachment>)>> {
        let miss = match &*self.slot.load() {
            Some(cache) => match cache.get_from_memory(key).map_err(to_py)? {
                MemoryLookup::Hit(v, attached) => return Ok(Some((v, attached))),
                MemoryLookup::Miss(miss) => Some(miss),
            },
            None => None, // closed: `run` reopens it
        };
        let found = self.run(py, |c| match miss {
            Some(miss) => c.get_after_memory(key, miss),
            None => c.get(key),
        })?;
        Ok(found.map_err(to_py)?.map(|v| (v, None)))
    }

    /// `get(key, default)`: the value, or `default` (None if not given).
    pub(crate) fn lookup<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let key = codec::key(key)?;
        match self.fetch(py, &key)? {
            Some((v, attached)) => self.decoded(py, &key, &v, attached),
            None => Ok(default.unwrap_or_else(|| py.None().into_bound(py))),
        }
    }

    /// The Python object for `v` (a value of `key`). A bytes or str object
    /// is kept with the hot entry (`Cache::attach`; both are immutable, so
    /// every reader may share it) and later hits return it without decoding
    /// or copying again.
    fn decoded<'py>(
        &self,
        py: Python<'py>,
        key: &[u8],
        v: &Value,
        attached: Option<Attachment>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if let Some(object) = attached.as_deref().and_then(|a| a.downcast_ref::<Py<PyAny>>()) {
            return Ok(object.bind(py).clone());
        }
        let object = codec::decode(py, v.value_type(), v.as_bytes(), self.unpickle())?;
        let immutable = object.is_exact_instance_of::<PyBytes>() || object.is_exact_instance_of::<PyString>();
        if let (true, Some(cache)) = (immutable, &*self.slot.load()) {
            cache.attach(key, v, Arc::new(object.clone().unbind()));
        }
        Ok(object)
    }

    fn unpickle(&self) -> bool {
        !self.use_json.load(Ordering::Relaxed)
    }

    /// Encodes `key` and `value` and runs `write` (the core's set or add) on
    /// them off the GIL.
    fn write<T: Send>(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        ttl: Ttl,
        tag: Option<&str>,
        write: impl FnOnce(&Cache, &[u8], &[u8], SetOptions<'_>) -> sturdycache::Result<T> + Send,
    ) -> PyResult<T> {
        let key = codec::key(key)?;
        let (value_type, bytes) = codec::value(value, self.use_json.load(Ordering::Relaxed))?;
        let opts = SetOptions { ttl, tag, value_type };
        self.run(py, |c| write(c, &key, &bytes, opts))?.map_err(to_py)
    }

    /// The shared body of `set` and `add`, which take diskcache's arguments:
    /// `expire` seconds, `read` (`value` is a file to read) and `tag`.
    #[allow(clippy::too_many_arguments)] // diskcache's arguments, plus the core call
    fn write_with_options<T: Send>(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        expire: Option<&Bound<'_, PyAny>>,
        read: bool,
        tag: Option<&Bound<'_, PyAny>>,
        write: impl FnOnce(&Cache, &[u8], &[u8], SetOptions<'_>) -> sturdycache::Result<T> + Send,
    ) -> PyResult<T> {
        let ttl = expire_ttl(expire)?;
        let tag = tag_text(tag)?;
        let data = if read { value.call_method0("read")? } else { value.clone() };
        self.write(py, key, &data, ttl, tag.as_deref(), write)
    }

    /// The value for `key`, computed by `load` (bytes, stored as a pickle) if
    /// missing; single-flight in the core. Decoded.
    pub(crate) fn load<'py>(
        &self,
        py: Python<'py>,
        key: &[u8],
        ttl: Ttl,
        tag: Option<&str>,
        load: impl FnOnce() -> PyResult<Vec<u8>> + Send,
    ) -> PyResult<Bound<'py, PyAny>> {
        let opts = SetOptions { ttl, tag, value_type: value_type::PICKLE };
        match self.run(py, |c| c.get_or_insert_with(key, opts, load))? {
            Ok(v) => codec::decode(py, v.value_type(), v.as_bytes(), self.unpickle()),
            Err(LoadError::Loader(e)) => Err(e),
            Err(LoadError::Invalid(e)) => Err(to_py(e)),
        }
    }
}

fn subscribe(cache: &Cache, callback: Py<PyAny>) {
    cache.subscribe(move |event| {
        let _ = gate::call_python(|py| {
            let delivered = convert::event(py, event).and_then(|d| callback.bind(py).call1((d,)).map(|_| ()));
            if let Err(e) = delivered {
                e.write_unraisable(py, Some(callback.bind(py)));
            }
        });
    });
}

#[pymethods]
impl NativeCache {
    /// An unopened handle; `Cache.__init__` opens it with `_open`.
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn new(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> Self {
        NativeCache {
            slot: ArcSwapOption::empty(),
            config: OnceLock::new(),
            use_json: AtomicBool::new(false),
            dispatcher: OnceLock::new(),
        }
    }

    /// Opens the cache in `directory` with `settings` (once per object).
    fn _open(
        &self,
        py: Python<'_>,
        directory: &str,
        settings: Option<&Bound<'_, PyDict>>,
        use_json: bool,
    ) -> PyResult<()> {
        let config = config::build(directory, settings)?;
        if self.config.get().is_some() {
            return Err(PyRuntimeError::new_err("the cache is already open"));
        }
        let opening = config.clone();
        let cache = py
            .detach(move || {
                let _inside = forkgate::enter();
                Cache::open(opening)
            })
            .map_err(to_py)?;
        self.use_json.store(use_json, Ordering::Relaxed);
        if self.config.set(config).is_err() {
            release(py, Arc::new(cache));
            return Err(PyRuntimeError::new_err("the cache is already open"));
        }
        self.slot.store(Some(Arc::new(cache)));
        Ok(())
    }

    /// Flushes queued writes (if the disk takes them) and releases the core
    /// handle; False if it was not open.
    fn _close(&self, py: Python<'_>) -> bool {
        match self.slot.swap(None) {
            Some(cache) => {
                py.detach(move || {
                    let _inside = forkgate::enter();
                    cache.flush();
                    drop(cache);
                });
                true
            }
            None => false,
        }
    }

    /// In a forked child: leaks the parent's handle (its threads and locks
    /// are not this process's); the next use opens a fresh one.
    fn _abandon(&self) {
        if let Some(cache) = self.slot.swap(None) {
            std::mem::forget(cache);
        }
    }

    /// Whether a core handle is open now.
    fn _is_open(&self) -> bool {
        self.slot.load().is_some()
    }

    // ---------------------------------------------------------------- diskcache API

    /// The value for `key`, or `default`. `read=True` returns a bytes value as
    /// a file object. A corrupt entry is quarantined and is a miss.
    #[pyo3(signature = (key, default=None, read=false, expire_time=false, tag=false, retry=false))]
    #[allow(clippy::too_many_arguments)] // diskcache's signature
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
        read: bool,
        expire_time: bool,
        tag: bool,
        retry: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = retry; // never needed: no call waits on a lock that can time out
        if expire_time || tag {
            return Err(unsupported("get(expire_time=True) / get(tag=True)"));
        }
        let value = self.lookup(py, key, default)?;
        if read && value.is_instance_of::<PyBytes>() {
            return py.import("io")?.getattr("BytesIO")?.call1((value,));
        }
        Ok(value)
    }

    fn __getitem__<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let encoded = codec::key(key)?;
        match self.fetch(py, &encoded)? {
            Some((v, attached)) => self.decoded(py, &encoded, &v, attached),
            None => Err(PyKeyError::new_err(key.clone().unbind())),
        }
    }

    fn __contains__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let key = codec::key(key)?;
        self.run(py, |c| c.contains(&key))?.map_err(to_py)
    }

    /// Stores `key` → `value` (`expire` seconds, optional `tag`). Returns True:
    /// when the disk cannot take the write it is kept in memory and replayed.
    #[pyo3(signature = (key, value, expire=None, read=false, tag=None, retry=false))]
    #[allow(clippy::too_many_arguments)] // diskcache's signature
    fn set(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        expire: Option<&Bound<'_, PyAny>>,
        read: bool,
        tag: Option<&Bound<'_, PyAny>>,
        retry: bool,
    ) -> PyResult<bool> {
        let _ = retry;
        self.write_with_options(py, key, value, expire, read, tag, Cache::set_with)?;
        Ok(true)
    }

    fn __setitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.write(py, key, value, Ttl::Default, None, Cache::set_with).map(|_| ())
    }

    /// Stores only if `key` has no live value (atomic across processes);
    /// returns whether it stored.
    #[pyo3(signature = (key, value, expire=None, read=false, tag=None, retry=false))]
    #[allow(clippy::too_many_arguments)] // diskcache's signature
    fn add(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        expire: Option<&Bound<'_, PyAny>>,
        read: bool,
        tag: Option<&Bound<'_, PyAny>>,
        retry: bool,
    ) -> PyResult<bool> {
        let _ = retry;
        self.write_with_options(py, key, value, expire, read, tag, Cache::add)
    }

    /// Sets `key`'s expiry (None: the cache's default_ttl, i.e. never unless
    /// one is set); returns whether `key` had a live value.
    #[pyo3(signature = (key, expire=None, retry=false))]
    fn touch(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        expire: Option<&Bound<'_, PyAny>>,
        retry: bool,
    ) -> PyResult<bool> {
        let _ = retry;
        let ttl = expire_ttl(expire)?;
        let key = codec::key(key)?;
        self.run(py, |c| c.touch(&key, ttl))?.map_err(to_py)
    }

    /// Removes and returns `key`'s value (across processes only one pop gets it).
    #[pyo3(signature = (key, default=None, expire_time=false, tag=false, retry=false))]
    fn pop<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
        expire_time: bool,
        tag: bool,
        retry: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = retry;
        if expire_time || tag {
            return Err(unsupported("pop(expire_time=True) / pop(tag=True)"));
        }
        let key = codec::key(key)?;
        match self.run(py, |c| c.pop(&key))?.map_err(to_py)? {
            Some(v) => codec::decode(py, v.value_type(), v.as_bytes(), self.unpickle()),
            None => Ok(default.unwrap_or_else(|| py.None().into_bound(py))),
        }
    }

    /// Removes `key`; returns whether it was there.
    #[pyo3(signature = (key, retry=false))]
    fn delete(&self, py: Python<'_>, key: &Bound<'_, PyAny>, retry: bool) -> PyResult<bool> {
        let _ = retry;
        let key = codec::key(key)?;
        self.run(py, |c| c.delete(&key))?.map_err(to_py)
    }

    fn __delitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let encoded = codec::key(key)?;
        if self.run(py, |c| c.delete(&encoded))?.map_err(to_py)? {
            Ok(())
        } else {
            Err(PyKeyError::new_err(key.clone().unbind()))
        }
    }

    /// Removes every entry; returns how many disk entries were removed.
    #[pyo3(signature = (retry=false))]
    fn clear(&self, py: Python<'_>, retry: bool) -> PyResult<u64> {
        let _ = retry;
        self.run(py, |c| c.clear())?.map_err(to_py)
    }

    /// Removes every entry tagged `tag`; returns how many keys were removed.
    #[pyo3(signature = (tag, retry=false))]
    fn evict(&self, py: Python<'_>, tag: &Bound<'_, PyAny>, retry: bool) -> PyResult<u64> {
        let _ = retry;
        let tag = tag_text(Some(tag))?.ok_or_else(|| PyTypeError::new_err("tag must be a str"))?;
        self.run(py, |c| c.evict_tag(&tag))?.map_err(to_py)
    }

    /// Live entries (reads every entry: O(entries)).
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.run(py, |c| -> sturdycache::Result<usize> {
            let mut n = 0;
            for key in c.keys()? {
                key?;
                n += 1;
            }
            Ok(n)
        })?
        .map_err(to_py)
    }

    // ---------------------------------------------------------------- for the Python layer

    /// Raw keys of live entries, read lazily.
    fn _keys(&self, py: Python<'_>) -> PyResult<KeyIter> {
        let keys = self.run(py, |c| c.keys())?.map_err(to_py)?;
        Ok(KeyIter { keys: Mutex::new(keys) })
    }

    /// The value for the entry key `key` (bytes), computed by `loader()`
    /// (returning bytes, stored as a pickle) if missing; single-flight.
    #[pyo3(signature = (key, loader, expire=None, tag=None))]
    fn _load<'py>(
        &self,
        py: Python<'py>,
        key: &[u8],
        loader: Py<PyAny>,
        expire: Option<&Bound<'py, PyAny>>,
        tag: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let ttl = expire_ttl(expire)?;
        let tag = tag_text(tag)?;
        let load = move || {
            Python::attach(|py| {
                let produced = loader.bind(py).call0()?;
                let bytes =
                    produced.cast::<PyBytes>().map_err(|_| PyTypeError::new_err("the loader must return bytes"))?;
                Ok(bytes.as_bytes().to_vec())
            })
        };
        self.load(py, key, ttl, tag.as_deref(), load)
    }

    fn _sweep<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let report = self.run(py, |c| c.sweep())?.map_err(to_py)?;
        convert::sweep(py, &report)
    }

    fn _check<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let report = self.run(py, |c| c.check())?.map_err(to_py)?;
        convert::check(py, &report)
    }

    fn _metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let m = self.run(py, |c| c.metrics())?;
        convert::metrics(py, &m)
    }

    fn _prometheus(&self, py: Python<'_>) -> PyResult<String> {
        self.run(py, |c| c.prometheus())
    }

    fn _mode(&self, py: Python<'_>) -> PyResult<&'static str> {
        Ok(self.handle(py)?.mode().as_str())
    }

    fn _disk_health(&self, py: Python<'_>) -> PyResult<&'static str> {
        Ok(self.handle(py)?.disk_health().as_str())
    }

    fn _coherent(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.handle(py)?.is_coherent_across_processes())
    }

    /// Sends every event (as a dict) to `dispatcher`, now and after reopening.
    fn _subscribe(&self, py: Python<'_>, dispatcher: Py<PyAny>) -> PyResult<()> {
        // Open first: a reopen that finds the dispatcher set subscribes it itself.
        let cache = self.handle(py)?;
        if self.dispatcher.set(dispatcher.clone_ref(py)).is_err() {
            release(py, cache);
            return Ok(()); // already subscribed
        }
        subscribe(&cache, dispatcher);
        release(py, cache);
        Ok(())
    }

    fn _flush_events(&self, py: Python<'_>) -> PyResult<()> {
        self.run(py, |c| c.flush_events())
    }

    fn _flush(&self, py: Python<'_>) -> PyResult<bool> {
        self.run(py, |c| c.flush())
    }

    fn _run_recovery<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let report = self.run(py, |c| c.run_recovery())?;
        convert::recovery(py, &report)
    }

    fn _wait_ready(&self, py: Python<'_>) -> PyResult<()> {
        self.run(py, |c| c.wait_ready())
    }

    fn _override_breaker(&self, py: Python<'_>, path: &str, state: &str) -> PyResult<()> {
        let path: DiskPath = path.parse().map_err(name_error)?;
        // The states an operator may set; open and half-open are the breaker's own.
        let overrides = [BreakerState::ForcedOpen, BreakerState::Disabled, BreakerState::Closed];
        let state = parse_name("state", state, overrides, BreakerState::as_str).map_err(name_error)?;
        self.run(py, |c| c.override_breaker(path, state))
    }

    #[pyo3(signature = (op, error, times=None, probability=None, delay=None))]
    fn _inject_fault(
        &self,
        py: Python<'_>,
        op: &str,
        error: &str,
        times: Option<u64>,
        probability: Option<f64>,
        delay: Option<f64>,
    ) -> PyResult<u64> {
        let op: ChaosOp = op.parse().map_err(name_error)?;
        let error = match error {
            "eio" => ChaosError::Eio,
            "enospc" => ChaosError::Enospc,
            "erofs" => ChaosError::Erofs,
            "eacces" => ChaosError::Eacces,
            "corruption" => ChaosError::Corruption,
            "delay" => {
                let s = delay.ok_or_else(|| PyValueError::new_err("a delay fault needs delay=<seconds>"))?;
                ChaosError::Delay(Duration::try_from_secs_f64(s).map_err(|_| {
                    PyValueError::new_err(format!("delay must be a finite, non-negative number of seconds, got {s}"))
                })?)
            }
            other => {
                return Err(PyValueError::new_err(format!(
                    "error must be one of eio, enospc, erofs, eacces, corruption, delay; got '{other}'"
                )));
            }
        };
        let trigger = match (times, probability) {
            (Some(_), Some(_)) => return Err(PyValueError::new_err("give times or probability, not both")),
            (Some(0), None) => return Err(PyValueError::new_err("times must be at least 1")),
            (Some(n), None) => Trigger::Times(n),
            (None, Some(p)) => Trigger::Probability(p),
            (None, None) => Trigger::Always,
        };
        let injected = self.run(py, |c| c.faults().inject(op, error, trigger))?;
        injected.map(|RuleId(id)| id).map_err(to_py)
    }

    fn _remove_fault(&self, py: Python<'_>, id: u64) -> PyResult<bool> {
        self.run(py, |c| c.faults().remove(RuleId(id)))
    }

    fn _clear_faults(&self, py: Python<'_>) -> PyResult<()> {
        self.run(py, |c| c.faults().clear())
    }

    fn _faults_active(&self, py: Python<'_>) -> PyResult<usize> {
        self.run(py, |c| c.faults().active())
    }

    fn _faults_injected(&self, py: Python<'_>) -> PyResult<u64> {
        self.run(py, |c| c.faults().injected())
    }
}

/// Keys of live entries, read lazily (one entry file per key).
#[pyclass(frozen, module = "sturdycache._native")]
pub struct KeyIter {
    keys: Mutex<Keys>,
}

#[pymethods]
impl KeyIter {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        // try_lock: a second thread blocking here with the GIL while the
        // holder waits for the GIL would deadlock.
        let mut keys = self.keys.try_lock().map_err(|e| match e {
            std::sync::TryLockError::WouldBlock => PyRuntimeError::new_err("key iterator used by two threads at once"),
            std::sync::TryLockError::Poisoned(_) => PyRuntimeError::new_err("key iterator is broken"),
        })?;
        let keys: &mut Keys = &mut keys;
        match py.detach(|| {
            let _inside = forkgate::enter();
            keys.next()
        }) {
            Some(Ok(key)) => Ok(PyBytes::new(py, &key)),
            Some(Err(e)) => Err(to_py(e)),
            None => Err(PyStopIteration::new_err(())),
        }
    }
}

/// A memoized function: `memo(*args, **kwargs)` returns the cached result for
/// those arguments, computing it once (single-flight in the core) on a miss.
/// Results are stored pickled. A descriptor, so it memoizes methods too.
#[pyclass(frozen, dict, module = "sturdycache._native")]
pub struct Memo {
    cache: Py<NativeCache>,
    func: Py<PyAny>,
    prefix: Vec<u8>,
    typed: bool,
    ignore: Ignore,
    ttl: Ttl,
    tag: Option<String>,
}

#[pymethods]
impl Memo {
    #[new]
    #[pyo3(signature = (cache, func, prefix, typed=false, ignore_positions=Vec::new(), ignore_names=Vec::new(), expire=None, tag=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        cache: Py<NativeCache>,
        func: Py<PyAny>,
        prefix: Vec<u8>,
        typed: bool,
        ignore_positions: Vec<usize>,
        ignore_names: Vec<String>,
        expire: Option<&Bound<'_, PyAny>>,
        tag: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let ttl = expire_ttl(expire)?;
        let tag = tag_text(tag)?.map(Cow::into_owned);
        Ok(Memo {
            cache,
            func,
            prefix,
            typed,
            ignore: Ignore { positions: ignore_positions, names: ignore_names },
            ttl,
            tag,
        })
    }

    #[pyo3(signature = (*args, **kwargs))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let key = codec::memo_key(&self.prefix, args, kwargs, self.typed, &self.ignore)?;
        let func = self.func.clone_ref(py);
        let args = args.clone().unbind();
        let kwargs = kwargs.map(|k| k.clone().unbind());
        let load = move || {
            Python::attach(|py| {
                let result = func.bind(py).call(args.bind(py), kwargs.as_ref().map(|k| k.bind(py)))?;
                pickle(py, &result)
            })
        };
        self.cache.get().load(py, &key, self.ttl, self.tag.as_deref(), load)
    }

    /// The entry key a call with these arguments uses (bytes; usable with
    /// `cache[key]`, `del cache[key]`).
    #[pyo3(signature = (*args, **kwargs))]
    fn cache_key<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, &codec::memo_key(&self.prefix, args, kwargs, self.typed, &self.ignore)?))
    }

    fn __get__<'py>(
        slf: Bound<'py, Self>,
        obj: Option<Bound<'py, PyAny>>,
        _owner: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match obj {
            Some(obj) if !obj.is_none() => {
                let py = slf.py();
                py.import("types")?.getattr("MethodType")?.call1((slf, obj))
            }
            _ => Ok(slf.into_any()),
        }
    }

    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        visit.call(&self.cache)?;
        visit.call(&self.func)?;
        Ok(())
    }
}

/// The entry key of a memoized call (for the async wrapper): `prefix` + the
/// encoded arguments.
#[pyfunction]
#[pyo3(signature = (prefix, args, kwargs=None, typed=false, ignore_positions=Vec::new(), ignore_names=Vec::new()))]
pub fn memo_key<'py>(
    py: Python<'py>,
    prefix: &[u8],
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
    typed: bool,
    ignore_positions: Vec<usize>,
    ignore_names: Vec<String>,
) -> PyResult<Bound<'py, PyBytes>> {
    let ignore = Ignore { positions: ignore_positions, names: ignore_names };
    Ok(PyBytes::new(py, &codec::memo_key(prefix, args, kwargs, typed, &ignore)?))
}

/// Encodes a key as the cache does (for tests and tools).
#[pyfunction]
pub fn encode_key<'py>(py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(py, &codec::key(key)?))
}

/// Encodes a value as the cache does: `(value_type, bytes)`.
#[pyfunction]
#[pyo3(signature = (value, use_json=false))]
pub fn encode_value<'py>(value: &Bound<'py, PyAny>, use_json: bool) -> PyResult<(u8, Bound<'py, PyBytes>)> {
    let (t, bytes) = codec::value(value, use_json)?;
    Ok((t, PyBytes::new(value.py(), &bytes)))
}

/// Decodes a stored `(value_type, bytes)` as the cache does.
#[pyfunction]
#[pyo3(signature = (value_type, raw, unpickle=true))]
pub fn decode_value<'py>(py: Python<'py>, value_type: u8, raw: &[u8], unpickle: bool) -> PyResult<Bound<'py, PyAny>> {
    codec::decode(py, value_type, raw, unpickle)
}
