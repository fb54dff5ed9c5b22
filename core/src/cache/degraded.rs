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

use crate::breaker::Outcome;
use crate::config::WriteMode;
use crate::events::{Event, Mode};
use crate::guard::{DiskPath, ModeChange};
use crate::histogram::{Op, Tier};
use crate::hot::{self, Lookup};
use crate::replay::{Overlay, Pending};

use super::*;

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
            *self.pending_recovery.lock() = Some(change);
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

    /// The read of a disk entry, guarded. A corrupt entry is a failure of the
    /// read path (a burst of them trips it); a missing one is neither.
    pub(super) fn guarded_read(&self, hash: u128) -> Result<Option<Option<Vec<u8>>>> {
        if self.config.fail_on_disk_error {
            return self.disk.read(hash).map(Some);
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
        let outcome = match &result {
            Ok(Some(bytes)) if matches!(format::decode(bytes), Err(DecodeError::Corrupt(_))) => {
                let change =
                    self.guard.finish_with(DiskPath::Read, permit, Outcome::Failure, Some("corrupt entry".into()));
                self.apply(change);
                return result.map(Some);
            }
            _ => self.guard.finish(DiskPath::Read, permit, &result),
        };
        self.apply(outcome);
        match result {
            Ok(r) => Ok(Some(r)),
            Err(_) => {
                self.guard.count_fallback(DiskPath::Read);
                Ok(None)
            }
        }
    }

    /// What the replay queue says about `key`, as a cache answer.
    pub(super) fn overlay(&self, key: &[u8], hash: u128, generation: u32) -> Option<Option<Value>> {
        match self.replay.lookup(key, hash)? {
            Overlay::Gone => Some(None),
            Overlay::Value { data, expires_ms } => {
                if expires_ms != 0 && self.now() >= expires_ms {
                    return Some(None);
                }
                let value = hot::value_of(&data);
                self.hot.insert(hash as u64, data, expires_ms, generation);
                Some(Some(value))
            }
        }
    }

    /// Keeps a write in memory and queues it for replay.
    pub(super) fn keep_in_memory(&self, key: &[u8], hash: u128, pending: Pending) {
        if let Pending::Set { data, expires_ms } = &pending {
            if self.hot.fits(data.len()) {
                self.hot.insert(hash as u64, data.clone(), *expires_ms, self.coherence.generation(hash));
            } else {
                self.hot.remove(hash as u64, key);
            }
        } else {
            self.hot.remove(hash as u64, key);
        }
        let dropped = self.replay.push(key, hash, pending);
        if dropped > 0 {
            let stats = self.replay.stats();
            let incident = self.guard.incident();
            if self.replay_drop_logged.swap(incident, std::sync::atomic::Ordering::Relaxed) != incident {
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
        if self.config.write_mode == WriteMode::WriteBehind && !self.config.fail_on_disk_error {
            return self.set_behind(key, value, opts);
        }
        let prepared = self.prepare(key, value, &opts)?;
        let _guard = self.locks.lock(prepared.hash);
        let (hash, expires) = (prepared.hash, prepared.expires);
        if self.on_disk(DiskPath::Write, || self.write_prepared(key, value, &opts, prepared))?.is_some() {
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
        (n % HOT_SAMPLE == 0).then(|| self.config.clock.monotonic_ns())
    }

    /// Records a call's latency since `start`.
    pub(super) fn record_latency(&self, op: Op, tier: Tier, start: u64) {
        self.latencies.record(op, tier, self.config.clock.monotonic_ns().saturating_sub(start));
    }

    /// A write-behind set: memory and the queue now, the disk when the
    /// background writer gets to it. Never touches the disk.
    fn set_behind(&self, key: &[u8], value: &[u8], opts: SetOptions<'_>) -> Result<Stored> {
        self.check_key(key)?;
        self.check_value(value, opts.tag)?;
        let expires = self.expiry(opts.ttl, self.now())?;
        let hash = format::key_hash(key);
        let tag = opts.tag.unwrap_or("").as_bytes();
        let data = hot::entry_buffer(key, tag, value, opts.value_type);
        {
            let _guard = self.locks.lock(hash);
            self.keep_in_memory(key, hash, Pending::Set { data, expires_ms: expires });
        }
        Counters::inc(&self.counters.sets);
        self.kick();
        Ok(Stored::Memory)
    }

    /// `get` and `contains`, resilient.
    pub(super) fn get_resilient(&self, key: &[u8], promote: bool) -> Result<Option<Value>> {
        self.check_key(key)?;
        let op = if promote { Op::Get } else { Op::Contains };
        let sampled = self.sampled_start();
        let hash = format::key_hash(key);
        let generation = self.coherence.generation(hash);
        let mut expired = false;
        match self.hot.get(hash as u64, key, generation, || self.now()) {
            Lookup::Hit(v) => {
                Counters::inc(&self.counters.hot_hits);
                if let Some(start) = sampled {
                    self.record_latency(op, Tier::Hot, start);
                }
                return Ok(Some(v));
            }
            Lookup::Expired => expired = true,
            Lookup::Miss | Lookup::Stale => {}
        }
        Counters::inc(&self.counters.hot_misses);
        let start = sampled.unwrap_or_else(|| self.config.clock.monotonic_ns());
        if let Some(answer) = self.overlay(key, hash, generation) {
            self.record_latency(op, Tier::Hot, start);
            return Ok(answer);
        }
        let found = self.read_disk(key, hash, generation, promote)?;
        self.record_latency(op, Tier::Disk, start);
        if expired || matches!(found, DiskRead::Expired) {
            Counters::inc(&self.counters.expirations);
        }
        match found {
            DiskRead::Live(v) => {
                Counters::inc(&self.counters.disk_hits);
                Ok(Some(v))
            }
            DiskRead::Missing | DiskRead::Expired => {
                Counters::inc(&self.counters.disk_misses);
                Ok(None)
            }
        }
    }

    /// The value `key` has in memory (hot tier or replay queue), if live.
    fn in_memory(&self, key: &[u8], hash: u128) -> Option<Option<Value>> {
        let generation = self.coherence.generation(hash);
        if let Lookup::Hit(v) = self.hot.get(hash as u64, key, generation, || self.now()) {
            return Some(Some(v));
        }
        self.overlay(key, hash, generation)
    }

    /// `delete`, resilient: the answer counts what memory held when the disk is out of reach.
    pub(super) fn delete_resilient(&self, key: &[u8]) -> Result<bool> {
        self.check_key(key)?;
        let hash = format::key_hash(key);
        if let Some(removed) = self.on_disk(DiskPath::Write, || self.delete(key))? {
            self.replay.forget(key, hash);
            return Ok(removed);
        }
        let _guard = self.locks.lock(hash);
        let held = matches!(self.in_memory(key, hash), Some(Some(_)));
        self.keep_in_memory(key, hash, Pending::Delete);
        if held {
            Counters::inc(&self.counters.deletes);
        }
        Ok(held)
    }

    /// `add`, resilient. While the disk is out of reach it can only see memory
    /// (and, read-only, the disk): it stores when neither holds the key.
    pub(super) fn add_resilient(&self, key: &[u8], value: &[u8], opts: SetOptions<'_>) -> Result<bool> {
        let prepared = self.prepare(key, value, &opts)?;
        let hash = prepared.hash;
        if let Some(stored) = self.on_disk(DiskPath::Write, || self.add(key, value, opts))? {
            if stored {
                self.replay.forget(key, hash);
            }
            return Ok(stored);
        }
        let _guard = self.locks.lock(hash);
        match self.in_memory(key, hash) {
            Some(Some(_)) => return Ok(false),
            Some(None) => {}
            None => {
                let generation = self.coherence.generation(hash);
                if let Ok(DiskRead::Live(_)) = self.read_disk(key, hash, generation, false) {
                    return Ok(false);
                }
            }
        }
        let tag = opts.tag.unwrap_or("").as_bytes();
        let data = hot::entry_buffer(key, tag, value, opts.value_type);
        self.keep_in_memory(key, hash, Pending::Set { data, expires_ms: prepared.expires });
        Counters::inc(&self.counters.sets);
        Ok(true)
    }

    /// `touch`, resilient: a live value in memory (or, read-only, on disk) is
    /// re-queued with the new expiry.
    pub(super) fn touch_resilient(&self, key: &[u8], ttl: Ttl) -> Result<bool> {
        self.check_key(key)?;
        let expires = self.expiry(ttl, self.now())?;
        let hash = format::key_hash(key);
        if let Some(found) = self.on_disk(DiskPath::Write, || self.touch(key, ttl))? {
            return Ok(found);
        }
        let _guard = self.locks.lock(hash);
        let value = match self.in_memory(key, hash) {
            Some(v) => v,
            None => {
                let generation = self.coherence.generation(hash);
                match self.read_disk(key, hash, generation, false) {
                    Ok(DiskRead::Live(v)) => Some(v),
                    _ => None,
                }
            }
        };
        let Some(value) = value else { return Ok(false) };
        let tag = self.tag_of_live(key, hash);
        let data = hot::entry_buffer(key, &tag, &value, value.value_type());
        self.keep_in_memory(key, hash, Pending::Set { data, expires_ms: expires });
        Ok(true)
    }

    /// The tag of `key`'s queued or hot entry (empty when unknown).
    fn tag_of_live(&self, key: &[u8], hash: u128) -> Vec<u8> {
        match self.replay.lookup(key, hash) {
            Some(Overlay::Value { data, .. }) => hot::split(&data).1.to_vec(),
            _ => self.hot.tag_of(hash as u64, key).unwrap_or_default(),
        }
    }

    /// `pop`, resilient: the value memory (or, read-only, the disk) holds, and a
    /// queued delete.
    pub(super) fn pop_resilient(&self, key: &[u8]) -> Result<Option<Value>> {
        self.check_key(key)?;
        let hash = format::key_hash(key);
        if let Some(found) = self.on_disk(DiskPath::Write, || self.pop(key))? {
            self.replay.forget(key, hash);
            return Ok(found);
        }
        let _guard = self.locks.lock(hash);
        let value = match self.in_memory(key, hash) {
            Some(v) => v,
            None => {
                let generation = self.coherence.generation(hash);
                match self.read_disk(key, hash, generation, false) {
                    Ok(DiskRead::Live(v)) => Some(v),
                    _ => None,
                }
            }
        };
        self.keep_in_memory(key, hash, Pending::Delete);
        if value.is_some() {
            Counters::inc(&self.counters.deletes);
        }
        Ok(value)
    }

    /// `clear`, resilient: memory is emptied now, the disk when it is back
    /// (its entries are hidden until then).
    pub(super) fn clear_resilient(&self) -> Result<u64> {
        if let Some(n) = self.on_disk(DiskPath::Write, || self.clear())? {
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
        if let Some(n) = self.on_disk(DiskPath::Write, || self.evict_tag(tag))? {
            return Ok(n);
        }
        let mut gone: std::collections::HashSet<u64> = self.hot.remove_tag(tag.as_bytes()).into_iter().collect();
        for key in self.replay.evict_tag_pending(tag, |data| hot::split(data).1.to_vec()) {
            gone.insert(hot::hash_of(&key));
        }
        Ok(gone.len() as u64)
    }
}
