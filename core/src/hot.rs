//! The hot tier: a sharded in-memory map with SIEVE eviction and one byte budget.
//!
//! SIEVE (Zhang et al., NSDI '24) keeps entries in insertion order and marks
//! them visited on a hit; a "hand" walks from the oldest entry towards the
//! newest, clearing marks and evicting the first unmarked entry. A hit only sets
//! an atomic flag, so reads take a shared lock and never reorder a list, and a
//! one-off scan cannot flush entries that are being reused (see the trace test
//! in `tests/hot_policy.rs`).
//!
//! The budget is global: an insert charges its shard and the global counter,
//! then evicts round-robin across shards until the counter is back under the
//! limit, so small shards never turn away a value the whole budget could hold.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use hashbrown::HashTable;
use parking_lot::RwLock;

use crate::value::Value;

const NIL: u32 = u32::MAX;

/// Bytes charged per entry on top of its key, tag and value: the node (64
/// bytes) and its table slot, with the spare capacity of both (up to half of
/// each right after a shard's slot array and table double), and the shared
/// allocation's header and padding. Measured by `tests/memory_overhead.rs`
/// (about 94 bytes with full tables, 133 at 20k entries in 16 shards, 158 just
/// after a doubling), which fails if the real figure grows past it.
pub const ENTRY_OVERHEAD: u64 = 168;

/// What a hot entry holds besides its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryMeta {
    /// Length of the key at the start of the buffer.
    pub key_len: u32,
    /// Length of the tag after the key.
    pub tag_len: u16,
    /// The bindings' value-type tag.
    pub value_type: u8,
    /// Expiry (ms since the epoch), 0 for never.
    pub expires_ms: u64,
    /// The coherence generation the entry was read or written at.
    pub generation: u32,
}

struct Node {
    hash: u64,
    /// key | tag | value
    data: Arc<[u8]>,
    meta: EntryMeta,
    visited: AtomicBool,
    newer: u32,
    older: u32,
}

impl Node {
    fn key(&self) -> &[u8] {
        &self.data[..self.meta.key_len as usize]
    }
    fn tag(&self) -> &[u8] {
        let k = self.meta.key_len as usize;
        &self.data[k..k + self.meta.tag_len as usize]
    }
    fn charge(&self) -> u64 {
        self.data.len() as u64 + ENTRY_OVERHEAD
    }
    fn value(&self) -> Value {
        let start = self.meta.key_len as usize + self.meta.tag_len as usize;
        Value::new(self.data.clone(), start, self.meta.value_type)
    }
}

#[derive(Default)]
struct Shard {
    table: HashTable<u32>,
    slots: Vec<Option<Node>>,
    free: Vec<u32>,
    /// Newest entry.
    head: u32,
    /// Oldest entry.
    tail: u32,
    hand: u32,
}

impl Shard {
    fn new() -> Self {
        Shard { head: NIL, tail: NIL, hand: NIL, ..Default::default() }
    }

    fn node(&self, i: u32) -> &Node {
        self.slots[i as usize].as_ref().expect("linked slot is occupied")
    }

    fn node_mut(&mut self, i: u32) -> &mut Node {
        self.slots[i as usize].as_mut().expect("linked slot is occupied")
    }

    fn find(&self, hash: u64) -> Option<u32> {
        let slots = &self.slots;
        self.table.find(hash, |&i| slots[i as usize].as_ref().is_some_and(|n| n.hash == hash)).copied()
    }

    fn push_head(&mut self, node: Node) -> u32 {
        let hash = node.hash;
        let idx = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(node);
                i
            }
            None => {
                self.slots.push(Some(node));
                (self.slots.len() - 1) as u32
            }
        };
        let old_head = self.head;
        {
            let n = self.node_mut(idx);
            n.older = old_head;
            n.newer = NIL;
        }
        if old_head != NIL {
            self.node_mut(old_head).newer = idx;
        } else {
            self.tail = idx;
        }
        self.head = idx;
        let Shard { table, slots, .. } = self;
        table.insert_unique(hash, idx, |&i| slots[i as usize].as_ref().map_or(0, |n| n.hash));
        idx
    }

    /// Unlinks and frees slot `idx`, returning its node.
    fn remove_at(&mut self, idx: u32) -> Node {
        let (hash, newer, older) = {
            let n = self.node(idx);
            (n.hash, n.newer, n.older)
        };
        if self.hand == idx {
            self.hand = newer;
        }
        if newer != NIL {
            self.node_mut(newer).older = older;
        } else {
            self.head = older;
        }
        if older != NIL {
            self.node_mut(older).newer = newer;
        } else {
            self.tail = newer;
        }
        if let Ok(entry) = self.table.find_entry(hash, |&i| i == idx) {
            entry.remove();
        }
        self.free.push(idx);
        let node = self.slots[idx as usize].take().expect("removed slot was occupied");
        if self.head == NIL {
            // Empty: give the memory of a large burst back.
            self.slots.clear();
            self.free.clear();
            self.table.shrink_to_fit(|_| 0);
        }
        node
    }

    /// Evicts one entry by SIEVE; returns its charge.
    fn evict_one(&mut self) -> Option<u64> {
        if self.tail == NIL {
            return None;
        }
        let mut h = if self.hand == NIL { self.tail } else { self.hand };
        loop {
            let n = self.node(h);
            if n.visited.swap(false, Ordering::Relaxed) {
                h = if n.newer == NIL { self.tail } else { n.newer };
            } else {
                break;
            }
        }
        self.hand = self.node(h).newer;
        Some(self.remove_at(h).charge())
    }
}

/// The outcome of a hot lookup.
#[derive(Debug)]
pub enum Lookup {
    /// A live, current entry.
    Hit(Value),
    /// Nothing for this key.
    Miss,
    /// The entry had expired; it was removed.
    Expired,
    /// Another writer changed the key since the entry was cached; it was removed.
    Stale,
}

/// The sharded hot tier.
pub struct HotTier {
    shards: Box<[RwLock<Shard>]>,
    bytes: AtomicU64,
    entries: AtomicU64,
    limit: AtomicU64,
    cursor: AtomicUsize,
    evictions: AtomicU64,
}

impl std::fmt::Debug for HotTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HotTier")
            .field("shards", &self.shards.len())
            .field("bytes", &self.bytes())
            .field("entries", &self.entries())
            .field("limit", &self.limit())
            .finish()
    }
}

impl HotTier {
    /// A tier of `shards` shards (a power of two) holding at most `limit` bytes.
    pub fn new(shards: usize, limit: u64) -> Self {
        HotTier {
            shards: (0..shards.max(1)).map(|_| RwLock::new(Shard::new())).collect(),
            bytes: AtomicU64::new(0),
            entries: AtomicU64::new(0),
            limit: AtomicU64::new(limit),
            cursor: AtomicUsize::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    fn shard(&self, hash: u64) -> &RwLock<Shard> {
        &self.shards[((hash >> 32) as usize) & (self.shards.len() - 1)]
    }

    /// Bytes charged now.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
    /// Entries held now.
    pub fn entries(&self) -> u64 {
        self.entries.load(Ordering::Relaxed)
    }
    /// The byte budget.
    pub fn limit(&self) -> u64 {
        self.limit.load(Ordering::Relaxed)
    }
    /// Entries evicted for space so far.
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// Looks `key` up. `generation` is the key's current coherence generation;
    /// `now_ms` is only called for entries that have an expiry.
    #[inline]
    pub fn get(&self, hash: u64, key: &[u8], generation: u32, now_ms: impl FnOnce() -> u64) -> Lookup {
        let shard = self.shard(hash);
        let verdict = {
            let guard = shard.read();
            let Some(idx) = guard.find(hash) else { return Lookup::Miss };
            let node = guard.node(idx);
            if node.key() != key {
                return Lookup::Miss;
            }
            if node.meta.generation != generation {
                Lookup::Stale
            } else if node.meta.expires_ms != 0 && now_ms() >= node.meta.expires_ms {
                Lookup::Expired
            } else {
                node.visited.store(true, Ordering::Relaxed);
                return Lookup::Hit(node.value());
            }
        };
        // Drop the dead entry, unless a writer replaced it in the meantime.
        let mut guard = shard.write();
        if let Some(idx) = guard.find(hash) {
            let node = guard.node(idx);
            let dead = node.key() == key
                && (node.meta.generation != generation
                    || (node.meta.expires_ms != 0 && matches!(verdict, Lookup::Expired)));
            if dead {
                let charge = guard.remove_at(idx).charge();
                self.uncharge(charge, 1);
            }
        }
        verdict
    }

    fn uncharge(&self, bytes: u64, entries: u64) {
        self.bytes.fetch_sub(bytes, Ordering::Relaxed);
        self.entries.fetch_sub(entries, Ordering::Relaxed);
    }

    /// Inserts or replaces the entry for `hash`. `data` is key | tag | value.
    /// An entry larger than the whole budget is not kept (and any older entry
    /// for the key is dropped, so the hot tier never serves a superseded value).
    /// Returns whether the entry was kept.
    pub fn insert(&self, hash: u64, data: Arc<[u8]>, meta: EntryMeta) -> bool {
        let node = Node { hash, data, meta, visited: AtomicBool::new(false), newer: NIL, older: NIL };
        let charge = node.charge();
        let fits = charge <= self.limit();
        {
            let mut guard = self.shard(hash).write();
            if let Some(idx) = guard.find(hash) {
                let old = guard.remove_at(idx).charge();
                self.uncharge(old, 1);
            }
            if !fits {
                return false;
            }
            guard.push_head(node);
            self.bytes.fetch_add(charge, Ordering::Relaxed);
            self.entries.fetch_add(1, Ordering::Relaxed);
        }
        self.evict_to_fit();
        true
    }

    /// Evicts round-robin across shards until the budget holds.
    fn evict_to_fit(&self) {
        let mut empty_in_a_row = 0;
        while self.bytes() > self.limit() && empty_in_a_row < self.shards.len() {
            let i = self.cursor.fetch_add(1, Ordering::Relaxed) & (self.shards.len() - 1);
            match self.shards[i].write().evict_one() {
                Some(charge) => {
                    self.uncharge(charge, 1);
                    self.evictions.fetch_add(1, Ordering::Relaxed);
                    empty_in_a_row = 0;
                }
                None => empty_in_a_row += 1,
            }
        }
    }

    /// Removes `key`'s entry, returning its value and metadata.
    pub fn remove(&self, hash: u64, key: &[u8]) -> Option<(Value, EntryMeta)> {
        let mut guard = self.shard(hash).write();
        let idx = guard.find(hash)?;
        if guard.node(idx).key() != key {
            return None;
        }
        let node = guard.remove_at(idx);
        self.uncharge(node.charge(), 1);
        Some((node.value(), node.meta))
    }

    /// Changes a cached entry's expiry and generation; false if it is not cached.
    pub fn retime(&self, hash: u64, key: &[u8], expires_ms: u64, generation: u32) -> bool {
        let mut guard = self.shard(hash).write();
        let Some(idx) = guard.find(hash) else { return false };
        let node = guard.node_mut(idx);
        if node.key() != key {
            return false;
        }
        node.meta.expires_ms = expires_ms;
        node.meta.generation = generation;
        true
    }

    /// Removes every entry whose tag is `tag`; returns their hashes.
    pub fn remove_tag(&self, tag: &[u8]) -> Vec<u64> {
        self.remove_where(|n| n.tag() == tag)
    }

    /// Removes every entry; returns how many.
    pub fn clear(&self) -> u64 {
        self.remove_where(|_| true).len() as u64
    }

    /// Removes the entries `pred` picks; returns their hashes.
    fn remove_where(&self, pred: impl Fn(&Node) -> bool) -> Vec<u64> {
        let mut removed = Vec::new();
        for shard in self.shards.iter() {
            let mut guard = shard.write();
            let doomed: Vec<u32> = (0..guard.slots.len() as u32)
                .filter(|&i| guard.slots[i as usize].as_ref().is_some_and(&pred))
                .collect();
            for idx in doomed {
                let node = guard.remove_at(idx);
                self.uncharge(node.charge(), 1);
                removed.push(node.hash);
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(t: &HotTier, k: u64, len: usize) -> bool {
        let data: Arc<[u8]> = Arc::from(vec![k as u8; len].as_slice());
        let meta = EntryMeta { key_len: 1, tag_len: 0, value_type: 0, expires_ms: 0, generation: 0 };
        t.insert(k << 32 | k, data, meta)
    }

    fn hit(t: &HotTier, k: u64) -> bool {
        matches!(t.get(k << 32 | k, &[k as u8], 0, || 0), Lookup::Hit(_))
    }

    #[test]
    fn budget_holds_and_visited_entries_survive() {
        let per = 100 + ENTRY_OVERHEAD;
        let t = HotTier::new(4, per * 10);
        for k in 0..10 {
            assert!(put(&t, k, 100));
        }
        assert!(hit(&t, 0) && hit(&t, 1));
        for k in 10..15 {
            put(&t, k, 100);
        }
        assert!(t.bytes() <= t.limit());
        assert!(hit(&t, 0) && hit(&t, 1), "visited entries were kept");
        assert_eq!(t.evictions(), 5);
    }

    #[test]
    fn oversized_entry_is_refused_and_drops_the_old_copy() {
        let t = HotTier::new(2, 1000);
        assert!(put(&t, 3, 10));
        assert!(!put(&t, 3, 2000));
        assert!(!hit(&t, 3));
        assert_eq!((t.bytes(), t.entries()), (0, 0));
    }

    #[test]
    fn stale_generation_and_expiry_are_misses() {
        let t = HotTier::new(1, 1 << 20);
        let data: Arc<[u8]> = Arc::from(&b"kv"[..]);
        let meta = EntryMeta { key_len: 1, tag_len: 0, value_type: 0, expires_ms: 50, generation: 7 };
        t.insert(9, data.clone(), meta);
        assert!(matches!(t.get(9, b"k", 8, || 0), Lookup::Stale));
        assert_eq!(t.entries(), 0);
        t.insert(9, data, meta);
        assert!(matches!(t.get(9, b"k", 7, || 49), Lookup::Hit(_)));
        assert!(matches!(t.get(9, b"k", 7, || 50), Lookup::Expired));
        assert!(matches!(t.get(9, b"k", 7, || 0), Lookup::Miss));
    }
}
