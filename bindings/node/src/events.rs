//! Core events to the JavaScript thread.
//!
//! The core calls listeners on its dispatcher thread; the listener here only
//! queues the event on a thread-safe function, which calls back into
//! JavaScript on the thread that owns the cache. The function is *weak*
//! (unreferenced): an open cache never keeps the process alive by itself. It
//! is referenced only while a `flushEvents()` waits for its marker, so that
//! wait cannot be cut short by the event loop running dry.

use std::sync::Arc;

use napi::bindgen_prelude::Function;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, sys};
use napi_derive::napi;
use sturdycache::{Cache, Event, ListenerId};

/// One event, flattened for JavaScript; the JavaScript layer shapes it per `kind`.
#[napi(object)]
pub struct EventPayload {
    /// `'modeChange'`, `'breakerStateChange'`, `'quarantine'`, `'replayDrop'`,
    /// `'recovered'`, `'diskHealth'`, or `'flush'` (a `flushEvents` marker).
    pub kind: String,
    pub incident: f64,
    pub from: Option<String>,
    pub to: Option<String>,
    pub cause: Option<String>,
    pub breaker: Option<String>,
    pub path: Option<String>,
    pub reason: Option<String>,
    pub dropped: Option<f64>,
    pub queued: Option<f64>,
    pub mode: Option<String>,
    pub drained: Option<f64>,
    pub outage_ms: Option<f64>,
    pub flush_id: Option<f64>,
}

impl EventPayload {
    fn empty(kind: &str, incident: u64) -> Self {
        EventPayload {
            kind: kind.into(),
            incident: incident as f64,
            from: None,
            to: None,
            cause: None,
            breaker: None,
            path: None,
            reason: None,
            dropped: None,
            queued: None,
            mode: None,
            drained: None,
            outage_ms: None,
            flush_id: None,
        }
    }

    /// The marker a `flushEvents()` waits for.
    pub fn flush(id: f64) -> Self {
        EventPayload { flush_id: Some(id), ..Self::empty("flush", 0) }
    }

    /// `event` for JavaScript; `None` for kinds this binding does not know yet.
    fn from_event(event: &Event) -> Option<Self> {
        let base = |kind| Self::empty(kind, event.incident());
        Some(match event {
            Event::ModeChanged { from, to, cause, .. } => EventPayload {
                from: Some(from.as_str().into()),
                to: Some(to.as_str().into()),
                cause: Some(cause.clone()),
                ..base("modeChange")
            },
            Event::BreakerStateChanged { breaker, from, to, .. } => EventPayload {
                breaker: Some(breaker.as_str().into()),
                from: Some((*from).into()),
                to: Some((*to).into()),
                ..base("breakerStateChange")
            },
            Event::Quarantined { path, reason, .. } => EventPayload {
                path: Some(path.to_string_lossy().into_owned()),
                reason: Some((*reason).into()),
                ..base("quarantine")
            },
            Event::ReplayDropped { dropped, queued, .. } => {
                EventPayload { dropped: Some(*dropped as f64), queued: Some(*queued as f64), ..base("replayDrop") }
            }
            Event::Recovered { mode, drained, outage, .. } => EventPayload {
                mode: Some(mode.as_str().into()),
                drained: Some(*drained as f64),
                outage_ms: Some(outage.as_secs_f64() * 1000.0),
                ..base("recovered")
            },
            Event::DiskHealthChanged { from, to, cause, .. } => EventPayload {
                from: Some(from.as_str().into()),
                to: Some(to.as_str().into()),
                cause: Some(cause.clone()),
                ..base("diskHealth")
            },
            _ => return None,
        })
    }
}

/// The thread-safe function events travel on (weak, unbounded queue).
pub type EventSink = ThreadsafeFunction<EventPayload, (), EventPayload, napi::Status, false, true>;

/// A live subscription of one cache's events.
pub struct Subscription {
    id: ListenerId,
    sink: Arc<EventSink>,
    /// `flushEvents()` calls waiting for their marker (the sink is referenced while > 0).
    waiting: u32,
}

impl Subscription {
    /// Subscribes `callback` to `cache`'s events.
    pub fn new(cache: &Cache, callback: Function<'_, EventPayload, ()>) -> napi::Result<Self> {
        let sink: Arc<EventSink> = Arc::new(callback.build_threadsafe_function().weak::<true>().build()?);
        let queued = sink.clone();
        let id = cache.subscribe(move |event| {
            if let Some(payload) = EventPayload::from_event(event) {
                // Non-blocking on an unbounded queue; fails only once the
                // JavaScript side is gone, when there is no one left to tell.
                let _ = queued.call(payload, ThreadsafeFunctionCallMode::NonBlocking);
            }
        });
        Ok(Subscription { id, sink, waiting: 0 })
    }

    /// The sink, to queue a flush marker on from a worker thread.
    pub fn sink(&self) -> Arc<EventSink> {
        self.sink.clone()
    }

    /// Keeps the event loop alive until [`Subscription::release`] (a flush is waiting).
    pub fn hold(&mut self, env: &Env) {
        if self.waiting == 0 {
            unsafe { sys::napi_ref_threadsafe_function(env.raw(), self.sink.raw()) };
        }
        self.waiting += 1;
    }

    /// Undoes one [`Subscription::hold`].
    pub fn release(&mut self, env: &Env) {
        if self.waiting == 1 {
            unsafe { sys::napi_unref_threadsafe_function(env.raw(), self.sink.raw()) };
        }
        self.waiting = self.waiting.saturating_sub(1);
    }

    /// Stops delivery.
    pub fn cancel(self, cache: &Cache) {
        cache.unsubscribe(self.id);
    }
}
