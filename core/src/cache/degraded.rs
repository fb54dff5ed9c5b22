//! The cache's answers while the disk misbehaves (the FACT fallback contract):
//! every operation first tries the disk through the guard; when the guard says
//! no, or the disk call fails, the operation is answered from memory and the
//! replay queue instead of failing.
//!
//! - set: kept in the hot tier and queued for replay; the caller sees
//!   [`Stored::Memory`].
//! - get: the hot tier, then the replay queue, then (read path permitting) the
//!   disk; anything else is a miss.
//! - delete: removed from memory, and a delete queued so the old disk copy
//!   cannot come back; the answer counts what memory held.
//! - add, touch, pop, clear, evict_tag: the same rules, on memory and queue.

use crate::breaker::{Outcome, Permit};
use crate::config::WriteMode;
use crate::events::{Event, Mode};
use crate::guard::{DiskPath, ModeChange};
use crate::histogram::{Op, Tier};
use crate::hot::{self, Lookup};
use crate::replay::{Overlay, Pending};

use super::*;
use std::sync::Arc;

/// A disk read that reached the disk: the file's bytes (`None`: no file) and
/// the permit to report its outcome with, once decoded.
pub(super) struct ReadAttempt {
    pub(super) bytes: Option<Vec<u8>>,
    pub(super) permit: Option<Permit>,
}

/// One hot-tier call in this many is timed.
const HOT_SAMPLE: u32 = 64;

/// Where a set's value went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Written to disk (durably, with `Durability::Fsync`).
    Disk,
    /// Kept in memory and queued for replay: the disk could not take it now.
    Memory,
}

impl Stored {
    /// Whether the value reached the disk.
    pub fn on_disk(self) -> bool {
        self == Stored::Disk
    }
}

/// What [`Cache::get_from_memory`](super::Cache::get_from_memory) found.
#[derive(Debug, Clone)]
pub enum MemoryLookup {
    /// The hot tier holds the key's live, current value, with the
    /// attachment a binding kept for it ([`Cache::attach`](super::Cache::attach)),
    /// which stands for exactly these bytes.
    Hit(Value, Option<Attachment>),
    /// It does not: finish with [`Cache::get_after_memory`](super::Cache::get_after_memory).
    Miss(MemoryMiss),
}

/// Where a get that memory could not answer stands (plain data, `Send`).
#[derive(Debug, Clone, Copy)]
pub struct MemoryMiss {
    hash: u128,
    generation: u32,
    expired: bool,
    promote: bool,
    sampled: Option<u64>,
}

impl Inner {
    /// Runs `call` (one engine operation) through the guard on `path`.
    /// `Ok(Some(v))`: it ran and succeeded. `Ok(None)`: the disk was not
    /// touched, or failed; answer from memory. `Err`: bad input, or any error
    /// when `fail_on_disk_error` is set.
    pub(super) fn on_disk<T>(&self, path: DiskPath, call: impl FnOnce() -> Result<T>) -> Result<Option<T>> {
        if self.config.fail_on_disk_error {
            return call().map(Some);
        }
        let (permit, change) = self.guard.admit(path);
        self.apply(change);
        let Some(permit) = permit else {
            self.guard.count_fallback(path);
            return Ok(None);
        };
        let call_in_flight = self.guard.enter(path);
        let result = call();
        drop(call_in_flight);
        let change = self.guard.finish(path, permit, &result);
        self.apply(change);
        match result {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.disk_kind().is_some() => {
                self.guard.count_fallback(path);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Acts on a mode change: the hot budget grows while degraded and shrinks
    /// back after; the background thread is woken to probe or drain.
    pub(super) fn apply(&self, change: Option<ModeChange>) {
        let Some(change) = change else { return };
        let base = self.config.memory_limit;
        if change.to == Mode::Normal {
            self.hot.set_limit(base);
            *self.pending_recovery.lock() = Some((change, self.replay.stats().drained));
        } else {
            let grown = (base as f64 * self.config.degraded_memory_factor) as u64;
            self.hot.set_limit(grown);
        }
        self.kick();
    }

    /// Wakes the background thread.
    pub(super) fn kick(&self) {
        self.wake.1.notify_all();
    }

    /// Reads `hash`'s entry file through the guard. `Ok(None)`: the read path
    /// is closed or failed (answer from memory). The permit comes back with
    /// the bytes, so the caller can report a corrupt entry as the call's
    /// outcome after decoding it once.
    pub(super) fn guarded_read(&self, hash: u128) -> Result<Option<ReadAttempt>> {
        if self.config.fail_on_disk_error {
            return Ok(Some(ReadAttempt { bytes: self.disk.read(hash)?, permit: None }));
        }
        let (permit, change) = self.guard.admit(DiskPath::Read);
        self.apply(change);
        let Some(permit) = permit else {
            self.guard.count_fallback(DiskPath::Read);
            return Ok(None);
        };
        let call_in_flight = self.guard.enter(DiskPath::Read);
        let result = self.disk.read(hash);
        drop(call_in_flight);
        match result {
            Ok(bytes) => Ok(Some(ReadAttempt { bytes, permit: Some(permit) })),
            Err(e) => {
                let change = self.guard.finish(DiskPath::Read, permit, &Err::<(), _>(e));
                self.apply(change);
                self.guard.count_fallback(DiskPath::Read);
                Ok(None)
            }
        }
    }

    /// Reports a guarded read's outcome (see [`Inner::guarded_read`]).
    pub(super) fn finish_read(&self, permit: Option<Permit>, outcome: Outcome) {
        if let Some(permit) = permit {
            let cause = (outcome == Outcome::Failure).then(|| "corrupt entry".to_string());
            let change = self.guard.finish_with(DiskPath::Read, permit, outcome, cause);
            self.apply(change);
        }
    }

    /// What the replay queue says about `key`, as a cache answer.
    ///
    /// A queued value is never promoted into the hot tier from here: a writer
    /// may be replacing it on disk this very moment (the queue forgets it only
    /// after the disk write), and a promoted copy could outlive that write.
    pub(super) fn overlay(&self, key: &[u8], hash: u128) -> Option<Option<Value>> {
        match self.replay.lookup(key, hash)? {
            Overlay::Gone => Some(None),
            Overlay::Value { data, expires_ms } => {
                if expires_ms != 0 && self.now() >= expires_ms {
                    return Some(None);
                }
                Some(Some(hot::value_of(&data)))
            }
        }
    }

    /// Whether add, touch or pop of `key` may act on the disk directly: not
    /// while the queue holds a newer word on it (a queued write or delete, a
    /// dropped write, a clear or evict_tag not yet on disk), or the disk copy
    /// they read could be one this process has since overwritten or deleted.
    fn direct(&self, key: &[u8], hash: u128) -> bool {
        !self.replay.chores_pending() && self.replay.lookup(key, hash).is_none()
    }

    /// Keeps a write in memory and queues it for replay.
    pub(super) fn keep_in_memory(&self, key: &[u8], hash: u128, pending: Pending) {
        // Queue first, then update the hot tier: a get promoting the older
        // disk copy meanwhile looks at the queue after its insert and drops
        // that copy (see `read_entry`). No generation bump: in memory-only
        // mode it would make the hot copies of other keys in the bucket stale,
        // and a stale copy cannot be read again from disk there.
        let set = match &pending {
            Pending::Set { data, expires_ms } => Some((data.clone(), *expires_ms)),
            Pending::Delete => None,
        };
        let dropped = self.replay.push(key, hash, pending);
        self.mirror_queued(key, hash, set);
        self.report_dropped(dropped);
    }

    /// Makes the hot tier agree with a write just queued for `key`: the
    /// queued value (`set`: its entry buffer and expiry) if it fits, else nothing.
    fn mirror_queued(&self, key: &[u8], hash: u128, set: Option<(Arc<[u8]>, u64)>) {
        let generation = self.coherence.generation(hash);
        match set {
            Some((data, expires_ms)) if self.hot.fits(data.len()) => {
                self.hot.insert(hash as u64, data, expires_ms, generation);
            }
            _ => {
                self.hot.remove(hash as u64, key);
            }
        }
    }

    /// Logs (at most once per 10 s) and reports writes the full replay queue dropped.
    fn report_dropped(&self, dropped: u64) {
        if dropped > 0 {
            let stats = self.replay.stats();
            let incident = self.guard.incident();
            let now = self.config.clock.monotonic_ns();
            let last = self.replay_drop_logged.load(std::sync::atomic::Ordering::Relaxed);
            // One line per 10 s at most, however many writes are dropped.
            if (last == 0 || now.saturating_sub(last) >= 10_000_000_000)
                && self
                    .replay_drop_logged
                    .compare_exchange(
                        last,
                        now.max(1),
                        std::sync::atomic::Ordering::Relaxed,
                        std::sync::atomic::Ordering::Relaxed,
                    )
                    .is_ok()
            {
                log::warn!(
                    "[incident {incident}] replay queue full ({} writes, {} bytes): dropping the oldest writes \
                     (lost entries, never wrong values); {} dropped so far",
                    stats.depth,
                    stats.bytes,
                    stats.dropped
                );
            }
            self.events.emit(Event::ReplayDropped { dropped, queued: stats.depth, incident });
        }
    }

    /// `set`, resilient.
    pub(super) fn set_resilient(&self, key: &[u8], value: &[u8], opts: SetOptions<'_>) -> Result<Stored> {
        if self.writes_behind() {
            return self.set_behind(key, value, opts);
        }
        self.set_through(key, value, opts)
    }

    /// Whether sets are queued for the background writer: write-behind mode,
    /// unless disk errors must surface (`fail_on_disk_error` has no queue).
    pub(super) fn writes_behind(&self) -> bool {
        self.config.write_mode == WriteMode::WriteBehind && !self.config.fail_on_disk_error
    }

    /// A write-through set: on disk before it returns, or kept in memory and
    /// queued when the disk cannot take it.
    fn set_through(&self, key: &[u8], value: &[u8], opts: SetOptions<'_>) -> Result<Stored> {
        let prepared = self.prepare(key, value, &opts)?;
        let _guard = self.locks.lock(prepared.hash);
        let (hash, expires) = (prepared.hash, prepared.expires);
        // A clear or evict_tag not yet on disk would wipe (or hide) a direct write: queue behind it.
        let direct = !self.replay.chores_pending();
        // The queued write is forgotten only once the new one is on disk, so a
        // reader always finds the latest completed write in the hot tier, the
        // queue or the disk (queued values are never promoted: see `overlay`).
        if direct && self.on_disk(DiskPath::Write, || self.write_prepared(key, value, &opts, prepared))?.is_some() {
            self.replay.forget(key, hash);
            drop(_guard);
            self.enforce_disk_limit();
            return Ok(Stored::Disk);
        }
        let tag = opts.tag.unwrap_or("").as_bytes();
        let data = hot::entry_buffer(key, tag, value, opts.value_type);
        self.keep_in_memory(key, hash, Pending::Set { data, expires_ms: expires });
        Counters::inc(&self.counters.sets);
        Ok(Stored::Memory)
    }

    /// A start time for one call in [`HOT_SAMPLE`] (hot-tier calls are too
    /// fast to time every one: a clock reading costs about half a hot hit).
    fn sampled_start(&self) -> Option<u64> {
        thread_local!(static CALLS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) });
        let n = CALLS.with(|c| {
            let n = c.get().wrapping_add(1);
            c.set(n);
            n
        });
        n.is_multiple_of(HOT_SAMPLE).then(|| self.config.clock.monotonic_ns())
    }

    /// Records a call's latency since `start`.
    pub(super) fn record_latency(&self, op: Op, tier: Tier, start: u64) {
        self.latencies.record(op, tier, self.config.clock.monotonic_ns().saturating_sub(start));
    }

    /// A write-behind set: memory and the queue now, the disk when the
    /// background writer gets to it, so it does not touch the disk, with one
    /// exception. On a healthy disk a full queue means the writer has fallen
    /// behind a burst of sets. Then the set writes through itself
    /// (backpressure) instead of dropping an accepted write. While degraded,
    /// the full queue drops its oldest writes as usual (see `replay`).
    fn set_behind(&self, key: &[u8], value: &[u8], opts: SetOptions<'_>) -> Result<Stored> {
        match self.set_queued(key, value, opts)? {
            Some(stored) => Ok(stored),
            None => {
                self.kick();
                self.set_through(key, value, opts)
            }
        }
    }

    /// The part of a write-behind set that never touches the disk: queues the
    /// write and mirrors it in the hot tier, or returns `None` when the disk is
    /// healthy and the queue full (the write must go through instead).
    pub(super) fn set_queued(&self, key: &[u8], value: &[u8], opts: SetOptions<'_>) -> Result<Option<Stored>> {
        self.check_key(key)?;
        self.check_value(value, opts.tag)?;
        let expires = self.expiry(opts.ttl, self.now())?;
        let hash = format::key_hash(key);
        let tag = opts.tag.unwrap_or("").as_bytes();
        let data = hot::entry_buffer(key, tag, value, opts.value_type);
        {
            let _guard = self.locks.lock(hash);
            let pending = Pending::Set { data: data.clone(), expires_ms: expires };
            if self.guard.mode() != Mode::Normal {
                self.keep_in_memory(key, hash, pending);
            } else if self.replay.try_push(key, hash, pending).is_ok() {
                self.mirror_queued(key, hash, Some((data, expires)));
            } else {
                return Ok(None);
            }
        }
        Counters::inc(&self.counters.sets);
        self.kick();
        Ok(Some(Stored::Memory))
    }

    /// `get` and `contains`, resilient.
    pub(super) fn get_resilient(&self, key: &[u8], promote: bool) -> Result<Option<Value>> {
        match self.get_from_memory(key, promote)? {
            MemoryLookup::Hit(v, _) => Ok(Some(v)),
            MemoryLookup::Miss(miss) => self.get_beyond_memory(key, miss),
        }
    }

    /// The first half of a get: the hot tier only, never the disk, never a
    /// wait beyond a shard lock.
    pub(super) fn get_from_memory(&self, key: &[u8], promote: bool) -> Result<MemoryLookup> {
        self.check_key(key)?;
        let op = if promote { Op::Get } else { Op::Contains };
        let sampled = self.sampled_start();
        let hash = format::key_hash(key);
        let generation = self.coherence.generation(hash);
        let expired = match self.hot.get(hash as u64, key, generation, || self.now()) {
            Lookup::Hit(v, attached) => {
                Counters::inc(&self.counters.hot_hits);
                if let Some(start) = sampled {
                    self.record_latency(op, Tier::Hot, start);
                }
                return Ok(MemoryLookup::Hit(v, attached));
            }
            Lookup::Expired => true,
            Lookup::Miss | Lookup::Stale => false,
        };
        Ok(MemoryLookup::Miss(MemoryMiss { hash, generation, expired, promote, sampled }))
    }

    /// The second half of a get, after the hot tier could not answer: the
    /// replay queue, then the disk.
    pub(super) fn get_beyond_memory(&self, key: &[u8], miss: MemoryMiss) -> Result<Option<Value>> {
        let MemoryMiss { hash, generation, expired, promote, sampled } = miss;
        if hash != format::key_hash(key) {
            return self.get_resilient(key, promote); // a miss of another key: start over
        }
        let op = if promote { Op::Get } else { Op::Contains };
        Counters::inc(&self.counters.hot_misses);
        let start = sampled.unwrap_or_else(|| self.config.clock.monotonic_ns());
        if let Some(answer) = self.overlay(key, hash) {
            self.record_latency(op, Tier::Hot, start);
            return Ok(answer);
        }
        let found = self.read_disk(key, hash, generation, promote)?;
        self.record_latency(op, Tier::Disk, start);
        if expired || matches!(found, DiskEntry::Expired) {
            Counters::inc(&self.counters.expirations);
        }
        match found {
            DiskEntry::Live { data } => {
                Counters::inc(&self.counters.disk_hits);
                Ok(Some(hot::value_of(&data)))
            }
            DiskEntry::Missing | DiskEntry::Expired => {
                Counters::inc(&self.counters.disk_misses);
                Ok(None)
            }
        }
    }

    /// The value `key` has in memory (hot tier or replay queue), if live.
    fn in_memory(&self, key: &[u8], hash: u128) -> Option<Option<Value>> {
        let generation = self.coherence.generation(hash);
        if let Lookup::Hit(v, _) = self.hot.get(hash as u64, key, generation, || self.now()) {
            return Some(Some(v));
        }
        self.overlay(key, hash)
    }

    /// `delete`, resilient: the answer counts what memory held when the disk is out of reach.
    pub(super) fn delete_resilient(&self, key: &[u8]) -> Result<bool> {
        self.check_key(key)?;
        let hash = format::key_hash(key);
        // Locked until the queue has forgotten the key's older writes, so a
        // drain cannot replay one of them over this delete.
        let _guard = self.locks.lock(hash);
        let held = matches!(self.in_memory(key, hash), Some(Some(_)));
        if let Some(removed) = self.on_disk(DiskPath::Write, || self.delete_locked(key, hash))? {
            self.replay.forget(key, hash); // after the disk delete (see set_resilient)
            return Ok(removed || held);
        }
        self.keep_in_memory(key, hash, Pending::Delete);
        if held {
            Counters::inc(&self.counters.deletes);
        }
        Ok(held)
    }

    /// `add`, resilient. A queued write is the key's live state, so it is
    /// consulted first; while the disk is out of reach `add` sees memory (and,
    /// read-only, the disk) and stores when neither holds the key.
    pub(super) fn add_resilient(&self, key: &[u8], value: &[u8], opts: SetOptions<'_>) -> Result<bool> {
        let prepared = self.prepare(key, value, &opts)?;
        let hash = prepared.hash;
        if self.direct(key, hash)
            && let Some(stored) = self.on_disk(DiskPath::Write, || self.add(key, value, opts))?
        {
            return Ok(stored);
        }
        let _guard = self.locks.lock(hash);
        let memory = self.in_memory(key, hash);
        if self.live_entry(key, hash, memory).is_some() {
            return Ok(false);
        }
        Ok(self.queue_set(key, hash, value, &opts, prepared.expires))
    }

    /// Keeps a set in memory and the replay queue; counts it. Returns true.
    fn queue_set(&self, key: &[u8], hash: u128, value: &[u8], opts: &SetOptions<'_>, expires_ms: u64) -> bool {
        let tag = opts.tag.unwrap_or("").as_bytes();
        let data = hot::entry_buffer(key, tag, value, opts.value_type);
        self.keep_in_memory(key, hash, Pending::Set { data, expires_ms });
        Counters::inc(&self.counters.sets);
        self.kick();
        true
    }

    /// The live entry buffer of `key`: from memory when memory knows the key
    /// (`memory` is [`Inner::in_memory`]'s answer), else from the disk when
    /// the read path allows; `None` when absent.
    fn live_entry(&self, key: &[u8], hash: u128, memory: Option<Option<Value>>) -> Option<Arc<[u8]>> {
        match memory {
            Some(Some(_)) => match self.replay.lookup(key, hash) {
                Some(Overlay::Value { data, .. }) => Some(data),
                _ => self.hot.entry(hash as u64, key, self.coherence.generation(hash)),
            },
            Some(None) => None,
            None => {
                let generation = self.coherence.generation(hash);
                match self.read_entry(key, hash, generation, false) {
                    Ok(DiskEntry::Live { data, .. }) => Some(data),
                    _ => None,
                }
            }
        }
    }

    /// `touch`, resilient: a queued value, or any live value while the disk
    /// cannot take writes, is re-queued with the new expiry (tag kept).
    pub(super) fn touch_resilient(&self, key: &[u8], ttl: Ttl) -> Result<bool> {
        self.check_key(key)?;
        let expires = self.expiry(ttl, self.now())?;
        let hash = format::key_hash(key);
        if self.direct(key, hash)
            && let Some(found) = self.on_disk(DiskPath::Write, || self.touch(key, ttl))?
        {
            return Ok(found);
        }
        let _guard = self.locks.lock(hash);
        let memory = self.in_memory(key, hash);
        let Some(data) = self.live_entry(key, hash, memory) else { return Ok(false) };
        let (_, tag, value, value_type) = hot::split(&data);
        let data = hot::entry_buffer(key, tag, value, value_type);
        self.keep_in_memory(key, hash, Pending::Set { data, expires_ms: expires });
        self.kick();
        Ok(true)
    }

    /// `pop`, resilient: a queued value is popped from memory; while the disk
    /// cannot take writes, the live value (memory, or read-only disk) is
    /// returned and a delete queued.
    pub(super) fn pop_resilient(&self, key: &[u8]) -> Result<Option<Value>> {
        self.check_key(key)?;
        let hash = format::key_hash(key);
        if self.direct(key, hash)
            && let Some(found) = self.on_disk(DiskPath::Write, || self.pop(key))?
        {
            return Ok(found);
        }
        let _guard = self.locks.lock(hash);
        let memory = self.in_memory(key, hash);
        let value = self.live_entry(key, hash, memory).map(|data| hot::value_of(&data));
        self.keep_in_memory(key, hash, Pending::Delete);
        self.kick();
        if value.is_some() {
            Counters::inc(&self.counters.deletes);
        }
        Ok(value)
    }

    /// `clear`, resilient: memory is emptied now, the disk when it is back
    /// (its entries are hidden until then).
    pub(super) fn clear_resilient(&self) -> Result<u64> {
        if self.config.fail_on_disk_error {
            return self.clear(); // no degrading, so nothing is ever queued
        }
        // Writes queued before the clear must never come back, whether the
        // disk takes the clear now or later (and no drain may race it).
        let _no_drain = self.draining.lock();
        self.replay.clear_pending();
        if let Some(n) = self.on_disk(DiskPath::Write, || self.clear())? {
            self.replay.disk_chores_done(true, &[]);
            return Ok(n);
        }
        let n = self.hot.clear();
        self.replay.clear_pending();
        self.coherence.bump_all();
        Ok(n)
    }

    /// `evict_tag`, resilient: memory now, the disk when it is back (tagged
    /// disk entries are hidden until then).
    pub(super) fn evict_tag_resilient(&self, tag: &str) -> Result<u64> {
        if tag.is_empty() {
            return Ok(0);
        }
        if self.config.fail_on_disk_error {
            return self.evict_tag(tag);
        }
        // Queued writes with the tag predate the eviction: drop them first (see clear_resilient).
        let _no_drain = self.draining.lock();
        let queued = self.replay.evict_tag_pending(tag, |data| hot::split(data).1.to_vec());
        if let Some(n) = self.on_disk(DiskPath::Write, || self.evict_tag(tag))? {
            self.replay.disk_chores_done(false, &[tag.to_string()]);
            return Ok(n);
        }
        let mut gone: std::collections::HashSet<u64> = self.hot.remove_tag(tag.as_bytes()).into_iter().collect();
        for key in queued {
            gone.insert(hot::hash_of(&key));
        }
        Ok(gone.len() as u64)
    }
}
