//! Resilience events, delivered to registered listeners off the caller's thread.
//!
//! [`EventBus::emit`] never blocks: events go into a bounded queue read by one
//! dispatcher thread (`sturdycache-events`, started on the first
//! [`EventBus::subscribe`]); when the queue is full the event is dropped and
//! counted ([`EventBus::dropped`]). With no listener, `emit` costs one relaxed
//! atomic load. Listeners are called one after the other, in emission order; a
//! listener that panics is caught, counted and logged once, and the others
//! still run.
//!
//! Every incident carries a correlation id from [`EventBus::next_incident`]
//! that the cache also writes into its log line for that incident.
//!
//! A listener should not own the cache (hold a `Weak` instead): the cache owns
//! its bus, so an owning listener would keep both alive forever.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Mutex as StdMutex, OnceLock};
use std::thread::{JoinHandle, ThreadId};
use std::time::Duration;

use parking_lot::{Condvar, Mutex, RwLock};

/// How many events may wait for the dispatcher before new ones are dropped.
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;

/// The cache's operating mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Both disk paths healthy.
    #[default]
    Normal,
    /// Writes cannot reach the disk: they go to memory and the replay queue;
    /// reads are still served from disk.
    ReadOnly,
    /// No disk calls at all.
    MemoryOnly,
}

impl Mode {
    /// A snake-case name, stable for logs, metrics and bindings.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Normal => "normal",
            Mode::ReadOnly => "read_only",
            Mode::MemoryOnly => "memory_only",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The disk's health as judged by the background probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DiskHealth {
    /// Probes succeed promptly.
    #[default]
    Healthy,
    /// Probes succeed, but slowly or not every time.
    Degraded,
    /// Probes fail.
    Unhealthy,
}

impl DiskHealth {
    /// A snake-case name, stable for logs, metrics and bindings.
    pub fn as_str(self) -> &'static str {
        match self {
            DiskHealth::Healthy => "healthy",
            DiskHealth::Degraded => "degraded",
            DiskHealth::Unhealthy => "unhealthy",
        }
    }
}

impl std::fmt::Display for DiskHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which disk path a circuit breaker guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerName {
    /// The read path.
    Read,
    /// The write path.
    Write,
}

impl BreakerName {
    /// `"read"` or `"write"`.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerName::Read => "read",
            BreakerName::Write => "write",
        }
    }
}

impl std::fmt::Display for BreakerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something a listener may want to know about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The cache changed mode.
    ModeChanged {
        /// The previous mode.
        from: Mode,
        /// The new mode.
        to: Mode,
        /// Why, in words (for example the error that tripped a breaker).
        cause: String,
        /// Correlation id.
        incident: u64,
    },
    /// A circuit breaker changed state.
    BreakerStateChanged {
        /// Which breaker.
        breaker: BreakerName,
        /// The previous state (`"closed"`, `"open"`, `"half_open"`, …).
        from: &'static str,
        /// The new state.
        to: &'static str,
        /// Correlation id.
        incident: u64,
    },
    /// A corrupt entry file was moved to the quarantine folder.
    Quarantined {
        /// Where the file now lies.
        path: PathBuf,
        /// Why it was judged corrupt (for example `"bad-checksum"`).
        reason: &'static str,
        /// Correlation id.
        incident: u64,
    },
    /// The replay queue overflowed and dropped its oldest writes.
    ReplayDropped {
        /// Writes dropped by this overflow.
        dropped: u64,
        /// Writes still queued.
        queued: u64,
        /// Correlation id.
        incident: u64,
    },
    /// The disk came back.
    Recovered {
        /// The mode the cache is now in.
        mode: Mode,
        /// Queued writes replayed to the disk.
        drained: u64,
        /// How long the outage lasted.
        outage: Duration,
        /// Correlation id (the one of the incident that began the outage).
        incident: u64,
    },
    /// The background probe changed its verdict on the disk.
    DiskHealthChanged {
        /// The previous verdict.
        from: DiskHealth,
        /// The new verdict.
        to: DiskHealth,
        /// Why, in words.
        cause: String,
        /// Correlation id.
        incident: u64,
    },
}

impl Event {
    /// The event's correlation id.
    pub fn incident(&self) -> u64 {
        match self {
            Event::ModeChanged { incident, .. }
            | Event::BreakerStateChanged { incident, .. }
            | Event::Quarantined { incident, .. }
            | Event::ReplayDropped { incident, .. }
            | Event::Recovered { incident, .. }
            | Event::DiskHealthChanged { incident, .. } => *incident,
        }
    }

    /// A snake-case name of the kind of event, stable (the bindings use it).
    pub fn name(&self) -> &'static str {
        match self {
            Event::ModeChanged { .. } => "mode_changed",
            Event::BreakerStateChanged { .. } => "breaker_state_changed",
            Event::Quarantined { .. } => "quarantined",
            Event::ReplayDropped { .. } => "replay_dropped",
            Event::Recovered { .. } => "recovered",
            Event::DiskHealthChanged { .. } => "disk_health_changed",
        }
    }
}

/// One line, for logs and demos: `mode_changed incident=7: normal -> read_only (cause)`.
impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} incident={}: ", self.name(), self.incident())?;
        match self {
            Event::ModeChanged { from, to, cause, .. } => write!(f, "{from} -> {to} ({cause})"),
            Event::BreakerStateChanged { breaker, from, to, .. } => write!(f, "{breaker} breaker {from} -> {to}"),
            Event::Quarantined { path, reason, .. } => write!(f, "{} ({reason})", path.display()),
            Event::ReplayDropped { dropped, queued, .. } => write!(f, "{dropped} queued writes dropped, {queued} left"),
            Event::Recovered { mode, drained, outage, .. } => {
                write!(f, "now {mode}, {drained} writes replayed after {outage:?}")
            }
            Event::DiskHealthChanged { from, to, cause, .. } => write!(f, "{from} -> {to} ({cause})"),
        }
    }
}

/// Identifies a subscription, for [`EventBus::unsubscribe`].
pub type ListenerId = u64;

type Listener = Arc<dyn Fn(&Event) + Send + Sync>;

/// Returns a new correlation id: process-wide, strictly increasing, starting at 1.
pub fn next_incident() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

enum Msg {
    Event(Event),
    /// Delivered once every message sent before it has been.
    Flush(u64),
}

/// State shared with the dispatcher thread.
struct Shared {
    /// Copy-on-write, so the dispatcher calls listeners without holding a lock
    /// (a listener may subscribe or unsubscribe).
    listeners: RwLock<Arc<Vec<(ListenerId, Listener)>>>,
    /// The highest flush ticket processed.
    flushed: Mutex<u64>,
    flushed_cv: Condvar,
    panics: AtomicU64,
    panic_logged: AtomicBool,
}

struct Dispatcher {
    tx: SyncSender<Msg>,
    thread: ThreadId,
    handle: JoinHandle<()>,
}

/// Delivers [`Event`]s to listeners on a dedicated thread. See the module docs.
pub struct EventBus {
    shared: Arc<Shared>,
    capacity: usize,
    listener_count: AtomicUsize,
    next_id: AtomicU64,
    next_ticket: AtomicU64,
    dropped: AtomicU64,
    drop_logged: AtomicBool,
    dispatcher: OnceLock<Dispatcher>,
    starting: StdMutex<()>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus")
            .field("listeners", &self.listener_count.load(Ordering::Relaxed))
            .field("dropped", &self.dropped())
            .field("listener_panics", &self.listener_panics())
            .finish_non_exhaustive()
    }
}

impl EventBus {
    /// A bus with a queue of [`DEFAULT_QUEUE_CAPACITY`] events. No thread is
    /// started until the first [`subscribe`](Self::subscribe).
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_QUEUE_CAPACITY)
    }

    /// A bus whose queue holds at most `capacity` events (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        EventBus {
            shared: Arc::new(Shared {
                listeners: RwLock::new(Arc::new(Vec::new())),
                flushed: Mutex::new(0),
                flushed_cv: Condvar::new(),
                panics: AtomicU64::new(0),
                panic_logged: AtomicBool::new(false),
            }),
            capacity: capacity.max(1),
            listener_count: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            next_ticket: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            drop_logged: AtomicBool::new(false),
            dispatcher: OnceLock::new(),
            starting: StdMutex::new(()),
        }
    }

    /// Registers `f`, to be called on the dispatcher thread for every event
    /// dispatched from now on. Starts the dispatcher thread on first use.
    pub fn subscribe(&self, f: impl Fn(&Event) + Send + Sync + 'static) -> ListenerId {
        self.start_dispatcher();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut listeners = self.shared.listeners.write();
        let mut next = Vec::with_capacity(listeners.len() + 1);
        next.extend(listeners.iter().cloned());
        next.push((id, Arc::new(f) as Listener));
        *listeners = Arc::new(next);
        self.listener_count.store(listeners.len(), Ordering::Relaxed);
        id
    }

    /// Removes a listener; `false` if `id` was not subscribed. An event being
    /// delivered at that moment may still reach it; [`flush`](Self::flush)
    /// afterwards to be sure it is never called again.
    pub fn unsubscribe(&self, id: ListenerId) -> bool {
        let mut listeners = self.shared.listeners.write();
        if !listeners.iter().any(|(i, _)| *i == id) {
            return false;
        }
        *listeners = Arc::new(listeners.iter().filter(|(i, _)| *i != id).cloned().collect());
        self.listener_count.store(listeners.len(), Ordering::Relaxed);
        true
    }

    /// Queues `event` for the listeners. Never blocks: with no listener it is
    /// discarded; when the queue is full it is dropped and counted.
    pub fn emit(&self, event: Event) {
        if self.listener_count.load(Ordering::Relaxed) == 0 {
            return;
        }
        let sent = match self.dispatcher.get() {
            Some(d) => match d.tx.try_send(Msg::Event(event)) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
            },
            None => false,
        };
        if !sent {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if !self.drop_logged.swap(true, Ordering::Relaxed) {
                log::warn!(
                    "sturdycache: event queue full ({} events), dropping events (dropped so far: {n}); \
                     a listener is too slow",
                    self.capacity
                );
            }
        }
    }

    /// Events dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Listener calls that panicked.
    pub fn listener_panics(&self) -> u64 {
        self.shared.panics.load(Ordering::Relaxed)
    }

    /// Waits until every event emitted before this call has been delivered to
    /// the listeners. Returns at once when no listener was ever subscribed, or
    /// when called from a listener (the dispatcher cannot wait on itself).
    /// Blocks as long as a listener does.
    pub fn flush(&self) {
        let Some(d) = self.dispatcher.get() else { return };
        if std::thread::current().id() == d.thread {
            return;
        }
        // AcqRel: tickets are taken in an order consistent with the sends that
        // preceded them, so processing a later ticket implies this one's events
        // were processed too.
        let ticket = self.next_ticket.fetch_add(1, Ordering::AcqRel) + 1;
        if d.tx.send(Msg::Flush(ticket)).is_err() {
            return;
        }
        let mut flushed = self.shared.flushed.lock();
        while *flushed < ticket {
            self.shared.flushed_cv.wait(&mut flushed);
        }
    }

    /// A new correlation id (see [`next_incident`]).
    pub fn next_incident(&self) -> u64 {
        next_incident()
    }

    fn start_dispatcher(&self) {
        if self.dispatcher.get().is_some() {
            return;
        }
        let _guard = self.starting.lock().unwrap_or_else(|e| e.into_inner());
        if self.dispatcher.get().is_some() {
            return;
        }
        let (tx, rx) = mpsc::sync_channel(self.capacity);
        let shared = self.shared.clone();
        match std::thread::Builder::new().name("sturdycache-events".into()).spawn(move || dispatch(&shared, rx)) {
            Ok(handle) => {
                let thread = handle.thread().id();
                let _ = self.dispatcher.set(Dispatcher { tx, thread, handle });
            }
            // Retried at the next subscribe; meanwhile events are counted as dropped.
            Err(e) => log::error!("sturdycache: cannot start the event dispatcher thread: {e}"),
        }
    }
}

impl Drop for EventBus {
    /// Delivers the events still queued, then stops the dispatcher thread and
    /// waits for it (unless dropped from a listener, on that very thread).
    fn drop(&mut self) {
        if let Some(d) = self.dispatcher.take() {
            drop(d.tx);
            if std::thread::current().id() != d.thread {
                let _ = d.handle.join();
            }
        }
    }
}

fn dispatch(shared: &Shared, rx: Receiver<Msg>) {
    // Ends when the bus drops its sender, after the queued messages.
    while let Ok(msg) = rx.recv() {
        match msg {
            Msg::Event(event) => {
                let listeners = shared.listeners.read().clone();
                for (id, f) in listeners.iter() {
                    let call = std::panic::AssertUnwindSafe(|| f(&event));
                    if std::panic::catch_unwind(call).is_err() {
                        shared.panics.fetch_add(1, Ordering::Relaxed);
                        if !shared.panic_logged.swap(true, Ordering::Relaxed) {
                            log::error!(
                                "sturdycache: event listener {id} panicked on {} (incident {}); \
                                 later listener panics are counted, not logged",
                                event.name(),
                                event.incident()
                            );
                        }
                    }
                }
            }
            Msg::Flush(ticket) => {
                let mut flushed = shared.flushed.lock();
                *flushed = (*flushed).max(ticket);
                shared.flushed_cv.notify_all();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    fn dropped_event(n: u64) -> Event {
        Event::ReplayDropped { dropped: n, queued: 0, incident: n }
    }

    /// A listener that records the `dropped` field of every `ReplayDropped`.
    fn recorder(bus: &EventBus) -> (ListenerId, Arc<Mutex<Vec<u64>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let id = bus.subscribe(move |e| {
            if let Event::ReplayDropped { dropped, .. } = e {
                s.lock().push(*dropped);
            }
        });
        (id, seen)
    }

    #[test]
    fn events_arrive_in_order_on_the_dispatcher_thread_and_flush_waits_for_them() {
        let bus = EventBus::new();
        let (_, seen) = recorder(&bus);
        let threads = Arc::new(Mutex::new(Vec::new()));
        let t = threads.clone();
        bus.subscribe(move |_| t.lock().push(std::thread::current().name().map(str::to_owned)));
        for n in 0..500 {
            bus.emit(dropped_event(n));
        }
        bus.flush();
        assert_eq!(*seen.lock(), (0..500).collect::<Vec<_>>(), "all delivered, in order, by the time flush returns");
        assert_eq!(bus.dropped(), 0);
        let threads = threads.lock();
        assert_eq!(threads.len(), 500);
        assert!(threads.iter().all(|n| n.as_deref() == Some("sturdycache-events")), "{:?}", threads.first());
    }

    #[test]
    fn flush_waits_for_a_listener_still_running() {
        let bus = EventBus::new();
        let (entered_tx, entered_rx) = channel::<()>();
        let (gate_tx, gate_rx) = channel::<()>();
        let gate_rx = Mutex::new(gate_rx);
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        bus.subscribe(move |_| {
            entered_tx.send(()).unwrap();
            gate_rx.lock().recv().unwrap();
            d.store(true, Ordering::SeqCst);
        });
        bus.emit(dropped_event(1));
        entered_rx.recv().unwrap();
        std::thread::scope(|s| {
            let flusher = s.spawn(|| {
                bus.flush();
                done.load(Ordering::SeqCst)
            });
            // Open the gate only once the flusher has taken its ticket, so a
            // flush that did not wait would have read `done == false`.
            while bus.next_ticket.load(Ordering::Acquire) == 0 {
                std::thread::yield_now();
            }
            gate_tx.send(()).unwrap();
            assert!(flusher.join().unwrap(), "flush returned before the listener finished");
        });
    }

    #[test]
    fn emit_without_listeners_does_nothing_and_flush_returns() {
        let bus = EventBus::new();
        bus.emit(dropped_event(1));
        bus.flush();
        assert_eq!(bus.dropped(), 0);
        assert!(bus.dispatcher.get().is_none(), "no thread before the first subscribe");
    }

    #[test]
    fn unsubscribed_listener_receives_nothing_more() {
        let bus = EventBus::new();
        let (a, seen_a) = recorder(&bus);
        let (_, seen_b) = recorder(&bus);
        bus.emit(dropped_event(1));
        bus.flush();
        assert!(bus.unsubscribe(a));
        assert!(!bus.unsubscribe(a), "a second unsubscribe finds nothing");
        assert!(!bus.unsubscribe(9_999));
        bus.emit(dropped_event(2));
        bus.flush();
        assert_eq!(*seen_a.lock(), vec![1]);
        assert_eq!(*seen_b.lock(), vec![1, 2]);
    }

    #[test]
    fn a_panicking_listener_is_counted_and_does_not_stop_delivery() {
        let bus = EventBus::new();
        bus.subscribe(|e| {
            if e.incident() % 2 == 0 {
                panic!("listener bug (expected by this test)");
            }
        });
        let (_, seen) = recorder(&bus);
        for n in 1..=6 {
            bus.emit(dropped_event(n));
        }
        bus.flush();
        assert_eq!(*seen.lock(), vec![1, 2, 3, 4, 5, 6], "the next listener still ran each time");
        assert_eq!(bus.listener_panics(), 3);
        bus.emit(dropped_event(7));
        bus.flush();
        assert_eq!(seen.lock().last(), Some(&7), "the dispatcher survived");
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_blocking() {
        const CAP: usize = 4;
        let bus = EventBus::with_capacity(CAP);
        let (entered_tx, entered_rx) = channel::<u64>();
        let (gate_tx, gate_rx) = channel::<()>();
        let gate_rx = Mutex::new(gate_rx);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        bus.subscribe(move |e| {
            if e.incident() == 0 {
                entered_tx.send(0).unwrap();
                gate_rx.lock().recv().unwrap();
            }
            s.lock().push(e.incident());
        });
        // The dispatcher takes event 0 and blocks in the listener: the queue is empty.
        bus.emit(dropped_event(0));
        entered_rx.recv().unwrap();
        for n in 1..=CAP as u64 + 3 {
            bus.emit(dropped_event(n));
        }
        assert_eq!(bus.dropped(), 3, "the queue holds {CAP}; the 3 beyond are dropped");
        gate_tx.send(()).unwrap();
        bus.flush();
        assert_eq!(*seen.lock(), (0..=CAP as u64).collect::<Vec<_>>(), "the queued ones arrive, the others never");
    }

    #[test]
    fn dropping_the_bus_delivers_pending_events_and_ends_the_thread() {
        let bus = EventBus::new();
        let token = Arc::new(());
        let weak_token = Arc::downgrade(&token);
        let (tx, rx) = channel::<u64>();
        bus.subscribe(move |e| {
            let _keep = &token;
            tx.send(e.incident()).unwrap();
        });
        let weak_shared = Arc::downgrade(&bus.shared);
        for n in 0..10 {
            bus.emit(dropped_event(n));
        }
        drop(bus);
        // The dispatcher has exited (drop joined it), releasing the state and the listeners.
        assert!(weak_shared.upgrade().is_none(), "the dispatcher still holds the shared state");
        assert!(weak_token.upgrade().is_none(), "the listener was not dropped");
        assert_eq!(rx.iter().collect::<Vec<_>>(), (0..10).collect::<Vec<_>>(), "pending events delivered on drop");
    }

    #[test]
    fn flush_and_subscribe_from_inside_a_listener_do_not_deadlock() {
        let bus = Arc::new(EventBus::new());
        let weak = Arc::downgrade(&bus);
        let (tx, rx) = channel::<ListenerId>();
        let tx = Mutex::new(tx);
        bus.subscribe(move |e| {
            if e.incident() != 1 {
                return;
            }
            if let Some(bus) = weak.upgrade() {
                bus.flush();
                let id = bus.subscribe(|_| {});
                tx.lock().send(id).unwrap();
            }
        });
        bus.emit(dropped_event(1));
        let id = rx.recv().unwrap();
        bus.flush();
        assert!(bus.unsubscribe(id), "the listener subscribed from inside a listener is registered");
    }

    #[test]
    fn incidents_are_unique_and_increasing_across_threads() {
        let bus = EventBus::new();
        let first = bus.next_incident();
        assert!(first >= 1);
        let ids: Vec<u64> = std::thread::scope(|s| {
            let hs: Vec<_> =
                (0..4).map(|_| s.spawn(|| (0..1000).map(|_| next_incident()).collect::<Vec<_>>())).collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len(), "duplicate correlation id");
        assert!(sorted[0] > first);
        assert!(bus.next_incident() > *sorted.last().unwrap());
    }

    #[test]
    fn names_and_display_are_stable() {
        let events = [
            Event::ModeChanged { from: Mode::Normal, to: Mode::ReadOnly, cause: "ENOSPC".into(), incident: 3 },
            Event::BreakerStateChanged { breaker: BreakerName::Write, from: "closed", to: "open", incident: 4 },
            Event::Quarantined { path: "/q/x".into(), reason: "bad-checksum", incident: 5 },
            dropped_event(6),
            Event::Recovered { mode: Mode::Normal, drained: 9, outage: Duration::from_secs(2), incident: 7 },
            Event::DiskHealthChanged {
                from: DiskHealth::Healthy,
                to: DiskHealth::Unhealthy,
                cause: "EIO".into(),
                incident: 8,
            },
        ];
        let names: Vec<_> = events.iter().map(Event::name).collect();
        assert_eq!(
            names,
            [
                "mode_changed",
                "breaker_state_changed",
                "quarantined",
                "replay_dropped",
                "recovered",
                "disk_health_changed"
            ]
        );
        assert_eq!(events.iter().map(Event::incident).collect::<Vec<_>>(), [3, 4, 5, 6, 7, 8]);
        assert_eq!(events[0].to_string(), "mode_changed incident=3: normal -> read_only (ENOSPC)");
        assert_eq!(events[1].to_string(), "breaker_state_changed incident=4: write breaker closed -> open");
        assert_eq!(Mode::MemoryOnly.to_string(), "memory_only");
        assert_eq!(DiskHealth::Degraded.as_str(), "degraded");
        assert_eq!(BreakerName::Read.as_str(), "read");
    }
}
