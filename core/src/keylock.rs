//! Per-key write locks.
//!
//! Writers of the same key in one process are serialised around "change the
//! file, bump the generation, update the hot tier", so the hot tier always ends
//! up holding what the disk holds. Locks exist only while held: writers of
//! different keys never wait on each other.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{Mutex, RawMutex, lock_api::ArcMutexGuard};

/// The table of keys currently locked.
#[derive(Debug, Default)]
pub struct KeyLocks {
    held: Mutex<HashMap<u128, Arc<Mutex<()>>>>,
}

/// Holds one key's lock until dropped.
pub struct KeyGuard<'a> {
    locks: &'a KeyLocks,
    hash: u128,
    guard: Option<ArcMutexGuard<RawMutex, ()>>,
}

impl KeyLocks {
    /// Locks the key with hash `hash`, waiting for any other holder.
    pub fn lock(&self, hash: u128) -> KeyGuard<'_> {
        let cell = self.held.lock().entry(hash).or_default().clone();
        KeyGuard { locks: self, hash, guard: Some(cell.lock_arc()) }
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        let Some(guard) = self.guard.take() else { return };
        let cell = ArcMutexGuard::mutex(&guard).clone();
        drop(guard);
        let mut held = self.locks.held.lock();
        // Two references: the table's and ours. Nobody else waits, so forget it.
        if Arc::strong_count(&cell) == 2 {
            held.remove(&self.hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_empty_once_guards_drop() {
        let locks = KeyLocks::default();
        {
            let _a = locks.lock(1);
            let _b = locks.lock(2);
            assert_eq!(locks.held.lock().len(), 2);
        }
        assert!(locks.held.lock().is_empty());
    }

    #[test]
    fn same_key_is_exclusive() {
        let locks = Arc::new(KeyLocks::default());
        let counter = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (locks, counter) = (locks.clone(), counter.clone());
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        let _g = locks.lock(7);
                        let inside = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        assert_eq!(inside, 0, "two holders at once");
                        counter.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}
