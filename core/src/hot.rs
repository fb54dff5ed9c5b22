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
//! then evicts round-robin across the other shards until the counter is back
//! under the limit (its own shard only when the others are empty, so a small
//! cache does not throw away what it just stored).
//!
//! Memory per entry is kept small on purpose (see [`ENTRY_OVERHEAD`]): a node
//! is 64 bytes (40 before it could carry an attachment), the immutable parts of an entry (key and tag lengths, value
//! type) live in an 8-byte prefix of its one shared allocation, the key hash is
//! recomputed rather than stored, and nodes live in fixed-size chunks, so a
//! shard never holds more than one chunk of spare slots.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use hashbrown::HashTable;
use parking_lot::RwLock;

use crate::value::{Attachment, Value};

const NIL: u32 = u32::MAX;
/// Slots per chunk of a shard's node store.
const CHUNK: usize = 64;
/// Bytes before the key in an entry buffer: key length (u32 LE), tag length
/// (u16 LE), value type, one spare byte.
const PREFIX: usize = 8;

/// Bytes charged per entry on top of its key, tag and value: the 64-byte node,
/// the buffer's 8-byte prefix and 16-byte reference counts, and the hash-table
/// slot with its spare capacity (up to half right after the table doubles),
/// plus a margin for the last, partly used chunk of nodes. Measured by
/// `tests/memory_overhead.rs` (about 102 bytes at 2048 entries in one shard,
/// 104.5 right after its tables double, 102 at 20k entries in 16 shards),
/// which fails if the real figure grows past it.
pub const ENTRY_OVERHEAD: u64 = 112;

/// What an attachment adds to its entry's charge: as many bytes as the
/// value again (a decoded copy of it) plus an object header's worth.
pub fn attachment_charge(value_len: usize) -> u64 {
    value_len as u64 + 64
}

/// The hot tier's 64-bit hash of a key: the low half of its file-name hash.
pub fn hash_of(key: &[u8]) -> u64 {
    crate::format::key_hash(key) as u64
}

/// The length of the entry buffer for these parts.
pub fn entry_buffer_len(key: &[u8], tag: &[u8], value: &[u8]) -> usize {
    PREFIX + key.len() + tag.len() + value.len()
}

/// Builds an entry buffer: prefix | key | tag | value.
pub fn entry_buffer(key: &[u8], tag: &[u8], value: &[u8], value_type: u8) -> Arc<[u8]> {
    let mut buf = Vec::with_capacity(entry_buffer_len(key, tag, value));
    buf.extend_from_slice(&(key.len() as u32).to_le_bytes());
    buf.extend_from_slice(&(tag.len() as u16).to_le_bytes());
    buf.push(value_type);
    buf.push(0);
    buf.extend_from_slice(key);
    buf.extend_from_slice(tag);
    buf.extend_from_slice(value);
    buf.into()
}

/// What an entry buffer holds, read from its prefix.
struct Parts {
    key_len: usize,
    tag_len: usize,
    value_type: u8,
}

fn parts(buf: &[u8]) -> Parts {
    Parts {
        key_len: u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize,
        tag_len: u16::from_le_bytes([buf[4], buf[5]]) as usize,
        value_type: buf[6],
    }
}

/// The parts of an entry buffer: key, tag, value and value type.
pub fn split(buf: &[u8]) -> (&[u8], &[u8], &[u8], u8) {
    let p = parts(buf);
    let key_end = PREFIX + p.key_len;
    let tag_end = key_end + p.tag_len;
    (&buf[PREFIX..key_end], &buf[key_end..tag_end], &buf[tag_end..], p.value_type)
}

/// The value of an entry buffer, sharing its allocation.
pub fn value_of(buf: &Arc<[u8]>) -> Value {
    let p = parts(buf);
    Value::new(buf.clone(), PREFIX + p.key_len + p.tag_len, p.value_type)
}

/// What an entry buffer charges against the budget.
pub fn charge_of(buf_len: usize) -> u64 {
    buf_len as u64 - PREFIX as u64 + ENTRY_OVERHEAD
}

struct Node {
    /// prefix | key | tag | value
    data: Arc<[u8]>,
    /// Expiry (ms since the epoch), 0 for never.
    expires_ms: u64,
    /// The coherence generation the entry was read or written at.
    generation: u32,
    newer: u32,
    older: u32,
    visited: AtomicBool,
    /// A binding's decoded form of the value, set at most once (see
    /// [`HotTier::attach`]) and charged with the entry.
    attached: OnceLock<Attachment>,
}

impl Node {
    fn new(data: Arc<[u8]>, expires_ms: u64, generation: u32) -> Self {
        Node {
            data,
            expires_ms,
            generation,
            newer: NIL,
            older: NIL,
            visited: AtomicBool::new(false),
            attached: OnceLock::new(),
        }
    }

    fn key(&self) -> &[u8] {
        let p = parts(&self.data);
        &self.data[PREFIX..PREFIX + p.key_len]
    }
    fn tag(&self) -> &[u8] {
        let p = parts(&self.data);
        &self.data[PREFIX + p.key_len..PREFIX + p.key_len + p.tag_len]
    }
    fn hash(&self) -> u64 {
        hash_of(self.key())
    }
    fn charge(&self) -> u64 {
        let attached = if self.attached.get().is_some() { attachment_charge(self.value_len()) } else { 0 };
        charge_of(self.data.len()) + attached
    }
    fn value_len(&self) -> usize {
        split(&self.data).2.len()
    }
}

/// Nodes in fixed-size chunks, addressed by slot number.
#[derive(Default)]
struct Slots {
    chunks: Vec<Box<[Option<Node>]>>,
    /// Slots ever handed out (the next fresh slot).
    used: u32,
    free: Vec<u32>,
}

impl Slots {
    fn get(&self, i: u32) -> Option<&Node> {
        self.chunks.get(i as usize / CHUNK).and_then(|c| c[i as usize % CHUNK].as_ref())
    }

    fn get_mut(&mut self, i: u32) -> Option<&mut Node> {
        self.chunks.get_mut(i as usize / CHUNK).and_then(|c| c[i as usize % CHUNK].as_mut())
    }

    fn put(&mut self, node: Node) -> u32 {
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = self.used;
                self.used += 1;
                if i as usize / CHUNK == self.chunks.len() {
                    self.chunks.push((0..CHUNK).map(|_| None).collect());
                }
                i
            }
        };
        self.chunks[i as usize / CHUNK][i as usize % CHUNK] = Some(node);
        i
    }

    fn take(&mut self, i: u32) -> Option<Node> {
        let node = self.chunks.get_mut(i as usize / CHUNK)?[i as usize % CHUNK].take()?;
        self.free.push(i);
        Some(node)
    }

    fn occupied(&self) -> impl Iterator<Item = (u32, &Node)> {
        (0..self.used).filter_map(|i| self.get(i).map(|n| (i, n)))
    }

    fn reset(&mut self) {
        *self = Slots::default();
    }
}

struct Shard {
    table: HashTable<u32>,
    slots: Slots,
    /// Newest entry.
    head: u32,
    /// Oldest entry.
    tail: u32,
    hand: u32,
}

impl Shard {
    fn new() -> Self {
        Shard { table: HashTable::new(), slots: Slots::default(), head: NIL, tail: NIL, hand: NIL }
    }

    fn node(&self, i: u32) -> &Node {
        self.slots.get(i).expect("linked slot is occupied")
    }

    fn node_mut(&mut self, i: u32) -> &mut Node {
        self.slots.get_mut(i).expect("linked slot is occupied")
    }

    /// The slot holding `key`, if any.
    fn find(&self, hash: u64, key: &[u8]) -> Option<u32> {
        let slots = &self.slots;
        self.table.find(hash, |&i| slots.get(i).is_some_and(|n| n.key() == key)).copied()
    }

    fn push_head(&mut self, hash: u64, node: Node) -> u32 {
        let idx = self.slots.put(node);
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
        table.insert_unique(hash, idx, |&i| slots.get(i).map_or(0, Node::hash));
        idx
    }

    /// Unlinks and frees slot `idx`, returning its node.
    fn remove_at(&mut self, idx: u32) -> Node {
        let (newer, older) = {
            let n = self.node(idx);
            (n.newer, n.older)
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
        let hash = self.node(idx).hash();
        if let Ok(entry) = self.table.find_entry(hash, |&i| i == idx) {
            entry.remove();
        }
        let node = self.slots.take(idx).expect("removed slot was occupied");
        if self.head == NIL {
            // Empty: give the memory of a large burst back.
            self.slots.reset();
            self.table = HashTable::new();
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
    /// A live, current entry, with its attachment if it has one.
    Hit(Value, Option<Attachment>),
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

    fn shard_index(&self, hash: u64) -> usize {
        ((hash >> 32) as usize) & (self.shards.len() - 1)
    }

    fn shard(&self, hash: u64) -> &RwLock<Shard> {
        &self.shards[self.shard_index(hash)]
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

    /// Whether an entry buffer of `buf_len` bytes fits the budget at all.
    pub fn fits(&self, buf_len: usize) -> bool {
        charge_of(buf_len) <= self.limit()
    }

    /// Looks `key` up (`hash` is [`hash_of`] the key). `generation` is the key's
    /// current coherence generation; `now_ms` is only called for entries that
    /// have an expiry.
    #[inline]
    pub fn get(&self, hash: u64, key: &[u8], generation: u32, now_ms: impl FnOnce() -> u64) -> Lookup {
        let shard = self.shard(hash);
        let verdict = {
            let guard = shard.read();
            let Some(idx) = guard.find(hash, key) else { return Lookup::Miss };
            let node = guard.node(idx);
            if node.generation != generation {
                Lookup::Stale
            } else if node.expires_ms != 0 && now_ms() >= node.expires_ms {
                Lookup::Expired
            } else {
                node.visited.store(true, Ordering::Relaxed);
                return Lookup::Hit(value_of(&node.data), node.attached.get().cloned());
            }
        };
        // Drop the dead entry, unless a writer replaced it in the meantime.
        let mut guard = shard.write();
        if let Some(idx) = guard.find(hash, key) {
            let node = guard.node(idx);
            let dead = node.generation != generation || (node.expires_ms != 0 && matches!(verdict, Lookup::Expired));
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

    /// Inserts or replaces the entry in `data` (an [`entry_buffer`]) under
    /// `hash` ([`hash_of`] its key). An entry larger than the whole budget is
    /// not kept (and any older entry for the key is dropped, so the hot tier
    /// never serves a superseded value). Returns whether the entry was kept.
    pub fn insert(&self, hash: u64, data: Arc<[u8]>, expires_ms: u64, generation: u32) -> bool {
        let node = Node::new(data, expires_ms, generation);
        debug_assert_eq!(hash, node.hash(), "hash is the key's hot hash");
        let charge = node.charge();
        let fits = charge <= self.limit();
        let home = self.shard_index(hash);
        {
            let mut guard = self.shards[home].write();
            if let Some(idx) = guard.find(hash, node.key()) {
                let old = guard.remove_at(idx).charge();
                self.uncharge(old, 1);
            }
            if !fits {
                return false;
            }
            guard.push_head(hash, node);
            self.bytes.fetch_add(charge, Ordering::Relaxed);
            self.entries.fetch_add(1, Ordering::Relaxed);
        }
        self.evict_to_fit(Some(home));
        true
    }

    /// Keeps `attachment` with `key`'s entry if `value` was read from it and
    /// it has none yet, charging [`attachment_charge`] to the budget (and
    /// evicting to fit). Returns whether it was kept. An entry replaced,
    /// removed or already attached meanwhile is left alone.
    pub fn attach(&self, hash: u64, key: &[u8], value: &Value, attachment: Attachment) -> bool {
        let home = self.shard_index(hash);
        {
            let guard = self.shards[home].read();
            let Some(idx) = guard.find(hash, key) else { return false };
            let node = guard.node(idx);
            if !value.is_in(&node.data) || node.attached.set(attachment).is_err() {
                return false;
            }
            // Charged under the shard lock: a removal (which takes the write
            // lock) uncharges the attachment with the entry.
            self.bytes.fetch_add(attachment_charge(node.value_len()), Ordering::Relaxed);
        }
        self.evict_to_fit(Some(home));
        true
    }

    /// Evicts round-robin across shards until the budget holds, sparing shard
    /// `spare` (where an entry was just inserted) until the others are empty.
    fn evict_to_fit(&self, spare: Option<usize>) {
        let n = self.shards.len();
        let others = if spare.is_some() && n > 1 { n - 1 } else { n };
        let mut empty_in_a_row = 0;
        while self.bytes() > self.limit() {
            let i = if empty_in_a_row < others {
                let i = self.cursor.fetch_add(1, Ordering::Relaxed) & (n - 1);
                if Some(i) == spare && n > 1 {
                    continue;
                }
                i
            } else {
                match spare {
                    Some(s) if n > 1 => s,
                    _ => return,
                }
            };
            match self.shards[i].write().evict_one() {
                Some(charge) => {
                    self.uncharge(charge, 1);
                    self.evictions.fetch_add(1, Ordering::Relaxed);
                    empty_in_a_row = 0;
                }
                None if empty_in_a_row >= others => return,
                None => empty_in_a_row += 1,
            }
        }
    }

    /// Changes the budget, evicting at once if it shrank.
    pub fn set_limit(&self, limit: u64) {
        self.limit.store(limit, Ordering::Relaxed);
        self.evict_to_fit(None);
    }

    /// The keys held now (a snapshot, in no particular order).
    pub fn keys(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let guard = shard.read();
            out.extend(guard.slots.occupied().map(|(_, n)| n.key().to_vec()));
        }
        out
    }

    /// `key`'s entry buffer, if cached and current (expiry is the caller's
    /// business: this is for rewriting an entry, not for answering a get).
    pub fn entry(&self, hash: u64, key: &[u8], generation: u32) -> Option<Arc<[u8]>> {
        let guard = self.shard(hash).read();
        let idx = guard.find(hash, key)?;
        let node = guard.node(idx);
        (node.generation == generation).then(|| node.data.clone())
    }

    /// Removes `key`'s entry; returns whether there was one.
    pub fn remove(&self, hash: u64, key: &[u8]) -> bool {
        let mut guard = self.shard(hash).write();
        let Some(idx) = guard.find(hash, key) else { return false };
        let node = guard.remove_at(idx);
        self.uncharge(node.charge(), 1);
        true
    }

    /// Changes a cached entry's expiry and generation, if it is the copy of
    /// generation `from` (a stale copy must not become current); false if not.
    pub fn retime(&self, hash: u64, key: &[u8], expires_ms: u64, from: u32, generation: u32) -> bool {
        let mut guard = self.shard(hash).write();
        let Some(idx) = guard.find(hash, key) else { return false };
        let node = guard.node_mut(idx);
        if node.generation != from {
            return false;
        }
        node.expires_ms = expires_ms;
        node.generation = generation;
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
            let doomed: Vec<u32> = guard.slots.occupied().filter(|(_, n)| pred(n)).map(|(i, _)| i).collect();
            for idx in doomed {
                let node = guard.remove_at(idx);
                self.uncharge(node.charge(), 1);
                removed.push(node.hash());
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: u64) -> [u8; 8] {
        k.to_le_bytes()
    }

    fn put(t: &HotTier, k: u64, len: usize) -> bool {
        t.insert(hash_of(&key(k)), entry_buffer(&key(k), b"", &vec![k as u8; len], 0), 0, 0)
    }

    fn hit(t: &HotTier, k: u64) -> bool {
        matches!(t.get(hash_of(&key(k)), &key(k), 0, || 0), Lookup::Hit(..))
    }

    #[test]
    fn node_is_64_bytes() {
        assert_eq!(std::mem::size_of::<Option<Node>>(), 64);
    }

    #[test]
    fn buffer_round_trips_its_parts() {
        let buf = entry_buffer(b"key", b"tag", b"value", 9);
        let v = value_of(&buf);
        assert_eq!((&*v, v.value_type()), (&b"value"[..], 9));
        let node = Node::new(buf, 0, 0);
        assert_eq!((node.key(), node.tag()), (&b"key"[..], &b"tag"[..]));
        assert_eq!(node.charge(), 3 + 3 + 5 + ENTRY_OVERHEAD);
        node.attached.set(Arc::new(7u8)).unwrap();
        assert_eq!(node.charge(), 3 + 3 + 5 + ENTRY_OVERHEAD + 5 + 64);
    }

    fn value(t: &HotTier, k: u64) -> Value {
        match t.get(hash_of(&key(k)), &key(k), 0, || 0) {
            Lookup::Hit(v, _) => v,
            other => panic!("entry {k}: {other:?}"),
        }
    }

    fn attachment(t: &HotTier, k: u64) -> Option<Attachment> {
        match t.get(hash_of(&key(k)), &key(k), 0, || 0) {
            Lookup::Hit(_, a) => a,
            other => panic!("entry {k}: {other:?}"),
        }
    }

    #[test]
    fn an_attachment_comes_back_with_its_entry_and_is_charged() {
        let t = HotTier::new(1, 1 << 20);
        put(&t, 1, 100);
        let before = t.bytes();
        let v = value(&t, 1);
        assert!(attachment(&t, 1).is_none());
        assert!(t.attach(hash_of(&key(1)), &key(1), &v, Arc::new(41u32)));
        assert!(!t.attach(hash_of(&key(1)), &key(1), &v, Arc::new(42u32)), "the first one stays");
        assert_eq!(t.bytes(), before + attachment_charge(100));
        assert_eq!(attachment(&t, 1).and_then(|a| a.downcast_ref::<u32>().copied()), Some(41));
        assert!(t.remove(hash_of(&key(1)), &key(1)));
        assert_eq!((t.bytes(), t.entries()), (0, 0), "removal uncharges the attachment too");
    }

    #[test]
    fn an_attachment_for_a_replaced_entry_is_refused() {
        let t = HotTier::new(1, 1 << 20);
        put(&t, 1, 100);
        let old = value(&t, 1);
        put(&t, 1, 50); // a new value for the key
        assert!(!t.attach(hash_of(&key(1)), &key(1), &old, Arc::new(1u8)));
        assert!(attachment(&t, 1).is_none());
        assert!(!t.attach(hash_of(&key(9)), &key(9), &old, Arc::new(1u8)), "no entry");
    }

    #[test]
    fn attachments_count_against_the_budget() {
        let per = charge_of(PREFIX + 8 + 100);
        let t = HotTier::new(1, per * 4);
        for k in 0..4 {
            put(&t, k, 100);
        }
        let v = value(&t, 0);
        assert!(t.attach(hash_of(&key(0)), &key(0), &v, Arc::new(0u8)));
        assert!(t.bytes() <= t.limit(), "evicted to fit the attachment");
        assert_eq!(t.entries(), 3);
    }

    #[test]
    fn budget_holds_and_visited_entries_survive() {
        // One shard: exact SIEVE. Across shards it is approximate, which the
        // trace test in tests/hot_policy.rs measures at realistic sizes.
        let per = charge_of(PREFIX + 8 + 100);
        let t = HotTier::new(1, per * 10);
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
    fn a_fresh_insert_is_not_the_victim_while_other_shards_hold_entries() {
        // Many shards and room for three entries: the shard of the newest entry
        // is usually empty but for it, so plain round-robin would often pick it.
        let per = charge_of(PREFIX + 8 + 10);
        let t = HotTier::new(64, per * 3);
        for k in 0..200 {
            put(&t, k, 10);
            assert!(hit(&t, k), "entry {k} survived its own insert");
        }
        assert!(t.bytes() <= t.limit());
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
        let h = hash_of(b"k");
        let data = entry_buffer(b"k", b"", b"v", 0);
        t.insert(h, data.clone(), 50, 7);
        assert!(matches!(t.get(h, b"k", 8, || 0), Lookup::Stale));
        assert_eq!(t.entries(), 0);
        t.insert(h, data, 50, 7);
        assert!(matches!(t.get(h, b"k", 7, || 49), Lookup::Hit(..)));
        assert!(matches!(t.get(h, b"k", 7, || 50), Lookup::Expired));
        assert!(matches!(t.get(h, b"k", 7, || 0), Lookup::Miss));
    }

    #[test]
    fn chunks_are_given_back_when_a_shard_empties() {
        let t = HotTier::new(1, 1 << 30);
        for k in 0..(CHUNK as u64 * 3) {
            put(&t, k, 1);
        }
        assert_eq!(t.shards[0].read().slots.chunks.len(), 3);
        assert_eq!(t.clear(), CHUNK as u64 * 3);
        assert!(t.shards[0].read().slots.chunks.is_empty());
        assert_eq!((t.bytes(), t.entries()), (0, 0));
    }
}
