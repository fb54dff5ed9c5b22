//! The replay queue: writes accepted while the disk could not take them.
//!
//! It is an overlay, not just a log: a get that misses the hot tier asks it
//! before the disk, so a value overwritten or deleted during an outage is
//! never read back from the stale file underneath. The last write per key
//! wins. When the queue is over its entry or byte bound, the oldest writes are
//! dropped; a dropped key is remembered (by hash, 16 bytes) as *lost*: reads of
//! it are misses until the drain deletes its stale disk copy, so a dropped
//! write is a lost entry, never a wrong value.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

/// A queued write.
#[derive(Debug, Clone)]
pub enum Pending {
    /// Store this entry buffer (`hot::entry_buffer`) with this expiry.
    Set {
        /// prefix | key | tag | value
        data: Arc<[u8]>,
        /// Expiry, ms since the epoch; 0 for never.
        expires_ms: u64,
    },
    /// Remove the key.
    Delete,
}

/// What the overlay says about a key.
#[derive(Debug, Clone)]
pub enum Overlay {
    /// A queued value.
    Value {
        /// The entry buffer.
        data: Arc<[u8]>,
        /// Expiry, ms; 0 for never.
        expires_ms: u64,
    },
    /// Deleted during the outage, or dropped from the queue: a miss.
    Gone,
}

/// One write taken for draining.
#[derive(Debug, Clone)]
pub struct Drained {
    /// The key.
    pub key: Vec<u8>,
    /// Its 128-bit hash.
    pub hash: u128,
    /// The write.
    pub pending: Pending,
    seq: u64,
}

/// Counters of the queue's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Writes queued.
    pub queued: u64,
    /// Writes replayed to disk.
    pub drained: u64,
    /// Writes dropped because the queue was full.
    pub dropped: u64,
    /// Writes waiting now.
    pub depth: u64,
    /// Bytes waiting now.
    pub bytes: u64,
    /// Keys whose stale disk copy must be deleted before it may be read again.
    pub lost: u64,
}

struct Slot {
    hash: u128,
    pending: Pending,
    seq: u64,
    bytes: u64,
}

#[derive(Default)]
struct State {
    by_key: HashMap<Vec<u8>, Slot>,
    by_age: BTreeMap<u64, Vec<u8>>,
    lost: HashSet<u128>,
    /// `clear` ran while the disk was out of reach: every disk entry is stale.
    cleared: bool,
    /// `evict_tag` ran for these tags while the disk was out of reach.
    evicted_tags: Vec<String>,
    next_seq: u64,
    bytes: u64,
    stats: ReplayStats,
}

impl State {
    fn remove(&mut self, key: &[u8]) -> Option<Slot> {
        let slot = self.by_key.remove(key)?;
        self.by_age.remove(&slot.seq);
        self.bytes -= slot.bytes;
        Some(slot)
    }
}

/// The bounded replay queue.
pub struct ReplayQueue {
    state: Mutex<State>,
    /// True while anything is queued or lost: lets the read path skip the
    /// lock entirely in normal operation.
    busy: AtomicBool,
    max_entries: usize,
    max_bytes: u64,
}

impl std::fmt::Debug for ReplayQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayQueue").field("stats", &self.stats()).finish()
    }
}

/// Bytes a queued write is charged: its buffer (or key) and a fixed overhead.
fn charge(key: &[u8], pending: &Pending) -> u64 {
    let body = match pending {
        Pending::Set { data, .. } => data.len(),
        Pending::Delete => key.len(),
    };
    body as u64 + 96
}

impl ReplayQueue {
    /// A queue of at most `max_entries` writes and `max_bytes` bytes.
    pub fn new(max_entries: usize, max_bytes: u64) -> Self {
        ReplayQueue {
            state: Mutex::new(State::default()),
            busy: AtomicBool::new(false),
            max_entries: max_entries.max(1),
            max_bytes,
        }
    }

    fn refresh_busy(&self, s: &State) {
        let busy = !s.by_key.is_empty() || !s.lost.is_empty() || s.cleared || !s.evicted_tags.is_empty();
        self.busy.store(busy, Ordering::Release);
    }

    /// Queues a write for `key`, replacing any queued one. Returns how many
    /// older writes were dropped to make room.
    pub fn push(&self, key: &[u8], hash: u128, pending: Pending) -> u64 {
        let mut s = self.state.lock();
        self.push_locked(&mut s, key, hash, pending)
    }

    /// Queues a write for `key` only if that drops no older write; otherwise
    /// hands it back. Write-behind sets on a healthy disk use it: a full queue
    /// there means the writer is behind, and the caller writes through itself
    /// (backpressure) rather than losing an accepted write.
    pub fn try_push(&self, key: &[u8], hash: u128, pending: Pending) -> Result<(), Pending> {
        let mut s = self.state.lock();
        let replaced = s.by_key.get(key).map_or(0, |slot| slot.bytes);
        let entries = s.by_key.len() + usize::from(!s.by_key.contains_key(key));
        let bytes = s.bytes - replaced + charge(key, &pending);
        if self.over_bounds(entries, bytes) {
            return Err(pending);
        }
        let dropped = self.push_locked(&mut s, key, hash, pending);
        debug_assert_eq!(dropped, 0);
        Ok(())
    }

    /// Whether a queue of `entries` writes and `bytes` bytes is over its
    /// bounds (a single write larger than the byte bound is still kept).
    fn over_bounds(&self, entries: usize, bytes: u64) -> bool {
        entries > self.max_entries || (bytes > self.max_bytes && entries > 1)
    }

    fn push_locked(&self, s: &mut State, key: &[u8], hash: u128, pending: Pending) -> u64 {
        s.remove(key);
        s.lost.remove(&hash);
        let bytes = charge(key, &pending);
        let seq = s.next_seq;
        s.next_seq += 1;
        s.by_age.insert(seq, key.to_vec());
        s.by_key.insert(key.to_vec(), Slot { hash, pending, seq, bytes });
        s.bytes += bytes;
        s.stats.queued += 1;
        let mut dropped = 0;
        while self.over_bounds(s.by_key.len(), s.bytes) {
            let Some((_, oldest)) = s.by_age.pop_first() else { break };
            if let Some(slot) = s.by_key.remove(&oldest) {
                s.bytes -= slot.bytes;
                s.lost.insert(slot.hash);
                dropped += 1;
            }
        }
        s.stats.dropped += dropped;
        if s.lost.len() > self.max_entries.saturating_mul(4) {
            // Too many stale copies to remember one by one: hide the whole disk
            // and clear it on recovery (entries lost, never wrong values).
            log::warn!("replay queue: {} keys lost; the disk will be cleared on recovery", s.lost.len());
            s.lost.clear();
            s.cleared = true;
        }
        self.refresh_busy(s);
        dropped
    }

    /// What the queue says about `key` (`None`: nothing; read on).
    #[inline]
    pub fn lookup(&self, key: &[u8], hash: u128) -> Option<Overlay> {
        if !self.busy.load(Ordering::Acquire) {
            return None;
        }
        let s = self.state.lock();
        match s.by_key.get(key) {
            Some(Slot { pending: Pending::Set { data, expires_ms }, .. }) => {
                Some(Overlay::Value { data: data.clone(), expires_ms: *expires_ms })
            }
            Some(Slot { pending: Pending::Delete, .. }) => Some(Overlay::Gone),
            None if s.cleared || s.lost.contains(&hash) => Some(Overlay::Gone),
            None => None,
        }
    }

    /// Forgets `key`'s queued write: a newer write reached the disk directly.
    pub fn forget(&self, key: &[u8], hash: u128) {
        if !self.busy.load(Ordering::Acquire) {
            return;
        }
        let mut s = self.state.lock();
        s.remove(key);
        s.lost.remove(&hash);
        self.refresh_busy(&s);
    }

    /// Takes up to `n` of the oldest writes for replay (see [`ReplayQueue::done`]).
    pub fn take(&self, n: usize) -> Vec<Drained> {
        let s = self.state.lock();
        let keys: Vec<Vec<u8>> = s.by_age.values().take(n).cloned().collect();
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(slot) = s.by_key.get(&key) {
                out.push(Drained { key, hash: slot.hash, pending: slot.pending.clone(), seq: slot.seq });
            }
        }
        out
    }

    /// The keys of queued sets (what memory-only `keys()` adds to the hot tier's).
    pub fn queued_keys(&self) -> Vec<Vec<u8>> {
        let s = self.state.lock();
        s.by_key
            .iter()
            .filter(|(_, slot)| matches!(slot.pending, Pending::Set { .. }))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Whether a taken write is still the latest for its key.
    pub fn is_current(&self, w: &Drained) -> bool {
        self.state.lock().by_key.get(&w.key).is_some_and(|slot| slot.seq == w.seq)
    }

    /// Marks a taken write as replayed, unless a newer write for its key was
    /// queued meanwhile (which then stays queued). Returns whether it was.
    pub fn done(&self, w: &Drained) -> bool {
        let mut s = self.state.lock();
        let current = s.by_key.get(&w.key).is_some_and(|slot| slot.seq == w.seq);
        if current {
            s.remove(&w.key);
            s.stats.drained += 1;
        }
        self.refresh_busy(&s);
        current
    }

    /// Up to `n` lost keys whose stale disk copies still need deleting.
    pub fn lost(&self, n: usize) -> Vec<u128> {
        self.state.lock().lost.iter().take(n).copied().collect()
    }

    /// Whether `hash` is still a lost key (no newer write replaced it).
    pub fn is_lost(&self, hash: u128) -> bool {
        self.state.lock().lost.contains(&hash)
    }

    /// Marks a lost key's stale copy as deleted.
    pub fn lost_cleared(&self, hash: u128) {
        let mut s = self.state.lock();
        s.lost.remove(&hash);
        self.refresh_busy(&s);
    }

    /// Whether nothing is queued or lost.
    pub fn is_empty(&self) -> bool {
        !self.busy.load(Ordering::Acquire)
    }

    /// Counters and sizes.
    pub fn stats(&self) -> ReplayStats {
        let s = self.state.lock();
        ReplayStats { depth: s.by_key.len() as u64, bytes: s.bytes, lost: s.lost.len() as u64, ..s.stats }
    }

    /// A `clear` the disk could not take: forgets everything queued and hides
    /// every disk entry until [`ReplayQueue::disk_chores_done`].
    pub fn clear_pending(&self) {
        let mut s = self.state.lock();
        let (stats, next_seq) = (s.stats, s.next_seq);
        *s = State { stats, next_seq, cleared: true, ..State::default() };
        self.refresh_busy(&s);
    }

    /// An `evict_tag` the disk could not take (or not yet): turns queued sets
    /// with the tag into queued deletes (`tag_of` reads a queued buffer's tag),
    /// so an older disk copy under another tag cannot come back, and hides disk
    /// entries carrying the tag. Returns the keys whose queued sets it removed.
    pub fn evict_tag_pending(&self, tag: &str, tag_of: impl Fn(&[u8]) -> Vec<u8>) -> Vec<Vec<u8>> {
        let mut s = self.state.lock();
        let doomed: Vec<Vec<u8>> = s
            .by_key
            .iter()
            .filter(|(_, slot)| matches!(&slot.pending, Pending::Set { data, .. } if tag_of(data) == tag.as_bytes()))
            .map(|(k, _)| k.clone())
            .collect();
        let state = &mut *s;
        for key in &doomed {
            if let Some(slot) = state.by_key.get_mut(key) {
                let delete_bytes = charge(key, &Pending::Delete);
                state.bytes = state.bytes - slot.bytes + delete_bytes;
                slot.bytes = delete_bytes;
                slot.pending = Pending::Delete;
            }
        }
        if !s.evicted_tags.iter().any(|t| t == tag) {
            s.evicted_tags.push(tag.to_string());
        }
        self.refresh_busy(&s);
        doomed
    }

    /// Whether a disk entry with this tag must be treated as gone.
    pub fn hides(&self, tag: &[u8]) -> bool {
        if !self.busy.load(Ordering::Acquire) {
            return false;
        }
        let s = self.state.lock();
        s.cleared || s.evicted_tags.iter().any(|t| t.as_bytes() == tag)
    }

    /// Whether a `clear` or `evict_tag` has yet to reach the disk: until it has,
    /// writes must queue behind it rather than go to the disk directly.
    pub fn chores_pending(&self) -> bool {
        if !self.busy.load(Ordering::Acquire) {
            return false;
        }
        let s = self.state.lock();
        s.cleared || !s.evicted_tags.is_empty()
    }

    /// The whole-disk chores to do before replaying writes: (clear, tags to evict).
    pub fn disk_chores(&self) -> (bool, Vec<String>) {
        let s = self.state.lock();
        (s.cleared, s.evicted_tags.clone())
    }

    /// Marks the chores returned by [`ReplayQueue::disk_chores`] as done.
    pub fn disk_chores_done(&self, cleared: bool, tags: &[String]) {
        let mut s = self.state.lock();
        if cleared {
            s.cleared = false;
        }
        s.evicted_tags.retain(|t| !tags.contains(t));
        self.refresh_busy(&s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[u8]) -> Pending {
        Pending::Set { data: Arc::from(v), expires_ms: 0 }
    }

    #[test]
    fn last_write_wins_and_deletes_shadow_the_disk() {
        let q = ReplayQueue::new(10, 1 << 20);
        assert!(q.lookup(b"a", 1).is_none() && q.is_empty());
        q.push(b"a", 1, set(b"v1"));
        q.push(b"a", 1, set(b"v2"));
        assert!(matches!(q.lookup(b"a", 1), Some(Overlay::Value { data, .. }) if &*data == b"v2"));
        q.push(b"a", 1, Pending::Delete);
        assert!(matches!(q.lookup(b"a", 1), Some(Overlay::Gone)));
        assert_eq!(q.stats().depth, 1);
    }

    #[test]
    fn overflow_drops_the_oldest_and_remembers_it_as_lost() {
        let q = ReplayQueue::new(2, 1 << 20);
        q.push(b"a", 1, set(b"1"));
        q.push(b"b", 2, set(b"2"));
        assert_eq!(q.push(b"c", 3, set(b"3")), 1);
        assert!(matches!(q.lookup(b"a", 1), Some(Overlay::Gone)), "a dropped write is a miss, never the old disk copy");
        assert_eq!(q.lost(10), vec![1]);
        q.lost_cleared(1);
        assert!(q.lookup(b"a", 1).is_none());
        let s = q.stats();
        assert_eq!((s.queued, s.dropped, s.depth, s.lost), (3, 1, 2, 0));
    }

    #[test]
    fn try_push_refuses_what_would_drop_but_replaces_in_place() {
        let q = ReplayQueue::new(2, 1 << 20);
        assert!(q.try_push(b"a", 1, set(b"1")).is_ok());
        assert!(q.try_push(b"b", 2, set(b"2")).is_ok());
        assert!(matches!(q.try_push(b"c", 3, set(b"3")), Err(Pending::Set { .. })), "a third key would drop a");
        assert!(q.try_push(b"a", 1, set(b"1b")).is_ok(), "replacing a queued key drops nothing");
        assert!(matches!(q.lookup(b"a", 1), Some(Overlay::Value { data, .. }) if &*data == b"1b"));
        assert!(q.lookup(b"c", 3).is_none());
        let bytes = ReplayQueue::new(100, 400);
        assert!(bytes.try_push(b"a", 1, set(&[0; 150])).is_ok());
        assert!(bytes.try_push(b"b", 2, set(&[0; 150])).is_err(), "over the byte bound");
        let s = bytes.stats();
        assert_eq!((s.queued, s.dropped, s.depth), (1, 0, 1));
    }

    #[test]
    fn byte_bound_drops_too() {
        let q = ReplayQueue::new(100, 400);
        q.push(b"a", 1, set(&[0; 150]));
        q.push(b"b", 2, set(&[0; 150]));
        assert!(q.stats().bytes <= 400);
        assert!(matches!(q.lookup(b"a", 1), Some(Overlay::Gone)));
    }

    #[test]
    fn drain_keeps_a_write_queued_after_it_was_taken() {
        let q = ReplayQueue::new(10, 1 << 20);
        q.push(b"a", 1, set(b"old"));
        q.push(b"b", 2, Pending::Delete);
        let batch = q.take(10);
        assert_eq!(batch.iter().map(|w| w.key.clone()).collect::<Vec<_>>(), vec![b"a".to_vec(), b"b".to_vec()]);
        q.push(b"a", 1, set(b"new"));
        for w in &batch {
            q.done(w);
        }
        assert!(matches!(q.lookup(b"a", 1), Some(Overlay::Value { data, .. }) if &*data == b"new"));
        assert!(q.lookup(b"b", 2).is_none());
        assert_eq!(q.stats().drained, 1);
    }

    #[test]
    fn a_direct_write_supersedes_the_queue() {
        let q = ReplayQueue::new(10, 1 << 20);
        q.push(b"a", 1, set(b"queued"));
        q.forget(b"a", 1);
        assert!(q.lookup(b"a", 1).is_none() && q.is_empty());
    }
}
