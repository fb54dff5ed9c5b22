//! Measures what a hot entry really costs on the heap beyond its key and value,
//! and checks that the hot tier's budget charge (`ENTRY_OVERHEAD`) covers it,
//! so `memory_limit` never undercounts.
//!
//! A counting global allocator tracks live heap bytes. The same N sets run
//! twice, once with the hot tier on and once with it off (`memory_limit = 0`);
//! the disk side (index, key locks, transient buffers) is the same in both
//! runs, so the difference is the hot tier's: N copies of key + value plus the
//! per-entry overhead.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use sturdycache::clock::ManualClock;
use sturdycache::{Cache, Config, Durability, ENTRY_OVERHEAD};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const KEY_LEN: usize = 16;
const VALUE_LEN: usize = 100;

/// Live heap growth over `n` sets of distinct 16-byte keys and 100-byte values
/// into a fresh cache with the given hot budget and shard count. The keys and
/// values are built before the first reading, so only what the cache keeps is
/// counted. The clock stands still, so the disk index (whose recency order
/// depends on the time of each set) grows identically in every run and
/// cancels out of the difference.
fn growth(n: usize, memory_limit: u64, hot_shards: Option<usize>) -> isize {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path());
    config.memory_limit = memory_limit;
    if let Some(shards) = hot_shards {
        config.hot_shards = shards;
    }
    config.durability = Durability::None;
    config.sweep_interval = None;
    config.clock = Arc::new(ManualClock::starting_now());
    let cache = Cache::open(config).unwrap();
    cache.wait_ready();
    let keys: Vec<[u8; KEY_LEN]> = (0..n).map(|i| *format!("k{i:015}").as_bytes().first_chunk().unwrap()).collect();
    let value = [0xA5u8; VALUE_LEN];
    // Warm up the lazily grown pieces every run shares (thread-local buffers,
    // the key-lock table), so they do not land inside the window.
    cache.set(b"warm-up", &value).unwrap();
    cache.delete(b"warm-up").unwrap();
    let before = LIVE.load(Ordering::SeqCst);
    for k in &keys {
        cache.set(k, &value).unwrap();
    }
    let after = LIVE.load(Ordering::SeqCst);
    let m = cache.metrics();
    let expected_hot = if memory_limit == 0 { 0 } else { n as u64 };
    assert_eq!(m.hot_entries, expected_hot, "every entry is (or is not) in the hot tier, as configured");
    assert_eq!(m.disk_entries, n as u64);
    after - before
}

/// Heap bytes per hot entry beyond its key and value, at `n` entries
/// (`hot_shards` None: the default shard count).
fn hot_overhead(n: usize, hot_shards: Option<usize>) -> f64 {
    let on = growth(n, 1 << 30, hot_shards);
    let off = growth(n, 0, hot_shards);
    let payload = (n * (KEY_LEN + VALUE_LEN)) as isize;
    let overhead = (on - off - payload) as f64 / n as f64;
    // The run with the hot tier on keeps at least the Arc header (16 bytes) and
    // one table slot per entry; a smaller figure means the measurement is broken.
    assert!(overhead >= 16.0, "implausibly small overhead {overhead:.1}: the measurement is broken");
    overhead
}

/// The counter is global, so the tests of this binary take turns (for their
/// whole run: even a failing test's panic allocates).
fn alone() -> MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn assert_within_charge(overhead: f64) {
    assert!(
        overhead <= ENTRY_OVERHEAD as f64,
        "a hot entry costs {overhead:.1} bytes beyond key and value, but the budget charges only {ENTRY_OVERHEAD}"
    );
}

#[test]
fn hot_entry_overhead_is_within_the_charged_constant() {
    let _alone = alone();
    const N: usize = 20_000;
    let overhead = hot_overhead(N, None);
    println!(
        "hot tier: {overhead:.1} heap bytes per entry beyond key and value at {N} entries, default shards \
         (charged: ENTRY_OVERHEAD = {ENTRY_OVERHEAD})"
    );
    assert_within_charge(overhead);
}

/// The per-entry cost is highest right after a shard's slot array and hash
/// table have doubled (2^k + 1 entries in one shard): half of both is then
/// spare capacity. The charge must cover that point too, or a budget filled
/// with small entries would be exceeded. (A shard holding only one or two
/// entries costs more per entry, a few hundred bytes in all, which the charge
/// does not try to cover.)
#[test]
fn the_charge_covers_the_overhead_right_after_the_tables_grow() {
    let _alone = alone();
    let full = hot_overhead(2048, Some(1));
    let just_grown = hot_overhead(2049, Some(1));
    println!(
        "hot tier, one shard: {full:.1} bytes per entry at 2048 entries (tables full), \
         {just_grown:.1} at 2049 (tables just doubled); charged: {ENTRY_OVERHEAD}"
    );
    assert_within_charge(full);
    assert_within_charge(just_grown);
}
