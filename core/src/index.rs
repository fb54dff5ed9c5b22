//! The disk index: this process's view of the disk tier's entries, for
//! least-recently-used eviction and expiry sweeps without reading every file.
//!
//! It is rebuilt from a directory scan at open (in the background) and at
//! every sweep, and updated by this process's own operations in between.
//! Entries written by other processes join it at the next scan; their bytes
//! count at once through the shared counter in the coherence map.

use std::collections::{BTreeSet, HashMap};

use parking_lot::Mutex;

/// Recency marks on disk are refreshed at most this often per entry, so warm
/// hits do not turn into metadata writes.
pub const ATIME_GRANULARITY_MS: u64 = 60_000;

/// What the index knows of one entry file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    /// File length.
    pub len: u64,
    /// Last write or warm read, ms since the epoch.
    pub last_use: u64,
    /// Expiry, 0 for never.
    pub expires: u64,
}

#[derive(Debug, Default)]
struct State {
    items: HashMap<u128, Item>,
    by_age: BTreeSet<(u64, u128)>,
}

impl State {
    fn put(&mut self, hash: u128, item: Item) -> Option<Item> {
        let old = self.items.insert(hash, item);
        if let Some(o) = old {
            self.by_age.remove(&(o.last_use, hash));
        }
        self.by_age.insert((item.last_use, hash));
        old
    }
}

/// The index.
#[derive(Debug, Default)]
pub struct DiskIndex {
    state: Mutex<State>,
}

impl DiskIndex {
    /// Records a written entry; returns what it replaced.
    pub fn record(&self, hash: u128, item: Item) -> Option<Item> {
        self.state.lock().put(hash, item)
    }

    /// The entry's item, if known.
    pub fn get(&self, hash: u128) -> Option<Item> {
        self.state.lock().items.get(&hash).copied()
    }

    /// Marks a warm read. Returns true when the on-disk recency mark is due a refresh.
    pub fn touch(&self, hash: u128, now: u64, len: u64, expires: u64) -> bool {
        let mut s = self.state.lock();
        let prev = s.items.get(&hash).copied();
        match prev {
            Some(p) if now.saturating_sub(p.last_use) < ATIME_GRANULARITY_MS => false,
            _ => {
                s.put(hash, Item { len, last_use: now, expires });
                true
            }
        }
    }

    /// Forgets an entry; returns its item.
    pub fn forget(&self, hash: u128) -> Option<Item> {
        let mut s = self.state.lock();
        let old = s.items.remove(&hash)?;
        s.by_age.remove(&(old.last_use, hash));
        Some(old)
    }

    /// The least recently used entry.
    pub fn oldest(&self) -> Option<(u128, Item)> {
        let s = self.state.lock();
        let &(_, hash) = s.by_age.first()?;
        s.items.get(&hash).map(|i| (hash, *i))
    }

    /// Entries expired at `now`.
    pub fn expired(&self, now: u64) -> Vec<u128> {
        let s = self.state.lock();
        s.items.iter().filter(|(_, i)| i.expires != 0 && now >= i.expires).map(|(h, _)| *h).collect()
    }

    /// Replaces the whole index with a scan's findings.
    pub fn replace(&self, items: impl IntoIterator<Item = (u128, Item)>) {
        let mut fresh = State::default();
        for (h, i) in items {
            fresh.put(h, i);
        }
        *self.state.lock() = fresh;
    }

    /// Forgets everything.
    pub fn clear(&self) {
        *self.state.lock() = State::default();
    }

    /// Number of entries known.
    pub fn len(&self) -> usize {
        self.state.lock().items.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_follows_use() {
        let idx = DiskIndex::default();
        idx.record(1, Item { len: 10, last_use: 100, expires: 0 });
        idx.record(2, Item { len: 10, last_use: 200, expires: 0 });
        assert_eq!(idx.oldest().unwrap().0, 1);
        assert!(idx.touch(1, 100 + ATIME_GRANULARITY_MS, 10, 0));
        assert_eq!(idx.oldest().unwrap().0, 2);
        assert!(!idx.touch(1, 100 + ATIME_GRANULARITY_MS + 1, 10, 0), "within granularity");
        assert_eq!(idx.forget(2).unwrap().len, 10);
        assert_eq!(idx.len(), 1);
    }

    #[test]
    fn expired_lists_only_due_entries() {
        let idx = DiskIndex::default();
        idx.record(1, Item { len: 1, last_use: 0, expires: 50 });
        idx.record(2, Item { len: 1, last_use: 0, expires: 0 });
        idx.record(3, Item { len: 1, last_use: 0, expires: 500 });
        assert_eq!(idx.expired(50), vec![1]);
    }
}
