//! Event listeners: a C function pointer plus user data, called on the
//! library's event thread with a `sturdy_event` that borrows its strings.

use std::ffi::{CString, c_char, c_void};
use std::time::Duration;

use sturdycache_core::Event;

use crate::boundary::{Failure, c_string, call, put};
use crate::cache::{cache_ref, sturdy_cache, sturdy_mode};
use crate::status::sturdy_status;

/// What kind of event a `sturdy_event` is.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sturdy_event_kind {
    /// The cache changed mode (`from`, `to`, `mode`, `cause`).
    ModeChanged = 0,
    /// A circuit breaker changed state (`breaker`, `from`, `to`).
    BreakerStateChanged = 1,
    /// A corrupt entry file was moved to the quarantine folder (`path`, `reason`).
    Quarantined = 2,
    /// The replay queue overflowed and dropped its oldest writes (`dropped`, `queued`).
    ReplayDropped = 3,
    /// The disk came back (`mode`, `drained`, `outage_ms`).
    Recovered = 4,
    /// The background probe changed its verdict on the disk (`from`, `to`, `cause`).
    DiskHealthChanged = 5,
    /// An event kind newer than this ABI (`name` and `text` describe it).
    Other = 6,
}

/// One event, as a listener sees it. Fields that do not apply to the event's
/// kind are NULL (strings) or 0.
///
/// Ownership: the struct and every string in it belong to the library and are
/// valid only during the listener call; copy what you need to keep.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sturdy_event {
    /// The kind of event.
    pub kind: sturdy_event_kind,
    /// `MODE_CHANGED`: the new mode; `RECOVERED`: the mode now; otherwise `STURDY_MODE_NORMAL`.
    pub mode: sturdy_mode,
    /// Correlation id; the cache's log line for the incident carries it too.
    pub incident: u64,
    /// The kind as a stable snake-case name (`"mode_changed"`, `"quarantined"`, ...).
    pub name: *const c_char,
    /// The state before: a mode (`"normal"`, `"read_only"`, `"memory_only"`), a
    /// breaker state (`"closed"`, `"open"`, `"half_open"`, ...) or a disk health
    /// (`"healthy"`, `"degraded"`, `"unhealthy"`).
    pub from: *const c_char,
    /// The state after, named as `from`.
    pub to: *const c_char,
    /// `BREAKER_STATE_CHANGED`: `"read"` or `"write"`.
    pub breaker: *const c_char,
    /// `MODE_CHANGED`, `DISK_HEALTH_CHANGED`: why, in words.
    pub cause: *const c_char,
    /// `QUARANTINED`: where the file now lies.
    pub path: *const c_char,
    /// `QUARANTINED`: why it was judged corrupt (`"bad-checksum"`, ...).
    pub reason: *const c_char,
    /// `REPLAY_DROPPED`: writes dropped by this overflow.
    pub dropped: u64,
    /// `REPLAY_DROPPED`: writes still queued.
    pub queued: u64,
    /// `RECOVERED`: queued writes replayed to the disk.
    pub drained: u64,
    /// `RECOVERED`: how long the outage lasted, ms.
    pub outage_ms: u64,
    /// The whole event in one line, for logs.
    pub text: *const c_char,
}

/// A listener: called on a library thread (never the thread that caused the
/// event), one event at a time, in order, for every event after it was
/// subscribed. It may call any library function except `sturdy_cache_close` /
/// `sturdy_cache_free` of a cache another thread is flushing events of. It
/// must return promptly (events queue behind it; a full queue drops events,
/// counted in `events_dropped`) and must not unwind (C++ exceptions, longjmp)
/// into the library.
pub type sturdy_event_callback = Option<unsafe extern "C" fn(event: *const sturdy_event, user_data: *mut c_void)>;

/// The owned strings a `sturdy_event` points into while a listener runs.
struct Strings {
    name: CString,
    from: Option<CString>,
    to: Option<CString>,
    breaker: Option<CString>,
    cause: Option<CString>,
    path: Option<CString>,
    reason: Option<CString>,
    text: CString,
}

fn ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(std::ptr::null(), |c| c.as_ptr())
}

fn some(text: &str) -> Option<CString> {
    Some(c_string(text))
}

/// Translates `event` and calls `deliver` with a view of it.
fn translate(event: &Event, deliver: impl FnOnce(&sturdy_event)) {
    let mut s = Strings {
        name: c_string(event.name()),
        from: None,
        to: None,
        breaker: None,
        cause: None,
        path: None,
        reason: None,
        text: c_string(event.to_string()),
    };
    let mut view = sturdy_event {
        kind: sturdy_event_kind::Other,
        mode: sturdy_mode::Normal,
        incident: event.incident(),
        name: std::ptr::null(),
        from: std::ptr::null(),
        to: std::ptr::null(),
        breaker: std::ptr::null(),
        cause: std::ptr::null(),
        path: std::ptr::null(),
        reason: std::ptr::null(),
        dropped: 0,
        queued: 0,
        drained: 0,
        outage_ms: 0,
        text: std::ptr::null(),
    };
    match event {
        Event::ModeChanged { from, to, cause, .. } => {
            view.kind = sturdy_event_kind::ModeChanged;
            view.mode = sturdy_mode::of(*to);
            (s.from, s.to, s.cause) = (some(from.as_str()), some(to.as_str()), some(cause));
        }
        Event::BreakerStateChanged { breaker, from, to, .. } => {
            view.kind = sturdy_event_kind::BreakerStateChanged;
            (s.breaker, s.from, s.to) = (some(breaker.as_str()), some(from), some(to));
        }
        Event::Quarantined { path, reason, .. } => {
            view.kind = sturdy_event_kind::Quarantined;
            s.path = Some(c_string(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str())));
            s.reason = some(reason);
        }
        Event::ReplayDropped { dropped, queued, .. } => {
            view.kind = sturdy_event_kind::ReplayDropped;
            (view.dropped, view.queued) = (*dropped, *queued);
        }
        Event::Recovered { mode, drained, outage, .. } => {
            view.kind = sturdy_event_kind::Recovered;
            view.mode = sturdy_mode::of(*mode);
            (view.drained, view.outage_ms) = (*drained, millis(*outage));
        }
        Event::DiskHealthChanged { from, to, cause, .. } => {
            view.kind = sturdy_event_kind::DiskHealthChanged;
            (s.from, s.to, s.cause) = (some(from.as_str()), some(to.as_str()), some(cause));
        }
        _ => {}
    }
    view.name = s.name.as_ptr();
    view.text = s.text.as_ptr();
    view.from = ptr(&s.from);
    view.to = ptr(&s.to);
    view.breaker = ptr(&s.breaker);
    view.cause = ptr(&s.cause);
    view.path = ptr(&s.path);
    view.reason = ptr(&s.reason);
    deliver(&view);
    drop(s);
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A C listener and its user data.
struct Listener {
    callback: unsafe extern "C" fn(*const sturdy_event, *mut c_void),
    user_data: *mut c_void,
}

// SAFETY: the header tells the caller that the callback runs on a library
// thread with this user data; making that safe is the caller's side of the contract.
unsafe impl Send for Listener {}
// SAFETY: as above; the library only passes the pointer along.
unsafe impl Sync for Listener {}

/// Registers `callback` to be called with `user_data` for every event from now
/// on (mode changes, breaker transitions, quarantined files, replay drops,
/// recoveries, disk health changes). Starts the event thread on first use.
///
/// Ownership: `user_data` stays the caller's; it must remain valid until
/// `sturdy_cache_unsubscribe` or `sturdy_cache_close` returns (both wait for a
/// listener call in progress).
/// `*out_listener_id` (may be NULL) identifies the subscription.
/// Thread safety: `callback` runs on a library thread, concurrently with the
/// caller's threads: protect what it shares with them.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` (cache or callback), `STURDY_STATUS_CLOSED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_subscribe(
    cache: *const sturdy_cache,
    callback: sturdy_event_callback,
    user_data: *mut c_void,
    out_listener_id: *mut u64,
) -> sturdy_status {
    call("sturdy_cache_subscribe", || {
        let callback = callback.ok_or_else(|| Failure::null("callback"))?;
        let listener = Listener { callback, user_data };
        let id = unsafe { cache_ref(cache) }?.subscribe(move |event| {
            let l = &listener;
            // SAFETY: a C function and its user data, per the subscribe contract.
            translate(event, |view| unsafe { (l.callback)(view, l.user_data) });
        })?;
        unsafe { put(out_listener_id, id) };
        Ok(sturdy_status::Ok)
    })
}

/// Removes a listener and waits until no call of it is in progress (unless
/// called from a listener, which cannot wait for itself); after it returns the
/// listener's `user_data` may be freed.
///
/// Returns `STURDY_STATUS_OK`, or `STURDY_STATUS_NOT_FOUND` if `listener_id` is
/// not subscribed through this handle.
/// Ownership: the library keeps none of the pointers passed in; results are written
/// to the caller's memory.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT`, `STURDY_STATUS_CLOSED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_unsubscribe(cache: *const sturdy_cache, listener_id: u64) -> sturdy_status {
    call("sturdy_cache_unsubscribe", || {
        let handle = unsafe { cache_ref(cache) }?;
        if !handle.unsubscribe(listener_id)? {
            return Ok(sturdy_status::NotFound);
        }
        handle.handle()?.flush_events();
        Ok(sturdy_status::Ok)
    })
}

/// Waits until every event emitted before this call has been delivered to the
/// listeners (returns at once when called from a listener, or with none).
///
/// Ownership: the library keeps none of the pointers passed in; results are written
/// to the caller's memory.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT`, `STURDY_STATUS_CLOSED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_flush_events(cache: *const sturdy_cache) -> sturdy_status {
    call("sturdy_cache_flush_events", || {
        unsafe { cache_ref(cache) }?.handle()?.flush_events();
        Ok(sturdy_status::Ok)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;
    use sturdycache_core::Mode;

    fn collect(event: &Event) -> (sturdy_event_kind, Vec<Option<String>>, [u64; 5]) {
        let mut out = None;
        translate(event, |v| {
            let s =
                |p: *const c_char| (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned());
            out = Some((
                v.kind,
                vec![s(v.name), s(v.from), s(v.to), s(v.breaker), s(v.cause), s(v.path), s(v.reason)],
                [v.incident, v.dropped, v.queued, v.drained, v.outage_ms],
            ));
        });
        out.unwrap()
    }

    #[test]
    fn each_event_fills_the_fields_of_its_kind() {
        let (kind, s, n) = collect(&Event::ModeChanged {
            from: Mode::Normal,
            to: Mode::ReadOnly,
            cause: "ENOSPC".into(),
            incident: 3,
        });
        assert_eq!(kind, sturdy_event_kind::ModeChanged);
        let want = |v: &[Option<&str>]| v.iter().map(|o| o.map(str::to_owned)).collect::<Vec<_>>();
        assert_eq!(
            s,
            want(&[Some("mode_changed"), Some("normal"), Some("read_only"), None, Some("ENOSPC"), None, None])
        );
        assert_eq!(n, [3, 0, 0, 0, 0]);
        let (kind, _, n) = collect(&Event::Recovered {
            mode: Mode::Normal,
            drained: 9,
            outage: Duration::from_millis(1500),
            incident: 4,
        });
        assert_eq!(kind, sturdy_event_kind::Recovered);
        assert_eq!(n, [4, 0, 0, 9, 1500]);
        let (kind, s, _) = collect(&Event::Quarantined { path: "/q/x".into(), reason: "bad-checksum", incident: 5 });
        assert_eq!(kind, sturdy_event_kind::Quarantined);
        assert_eq!((s[5].as_deref(), s[6].as_deref()), (Some("/q/x"), Some("bad-checksum")));
    }
}
