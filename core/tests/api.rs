//! Behaviour tests of the public `Cache` API in one process.
//!
//! Every test uses a `ManualClock` and no periodic sweep, so time only moves
//! when a test says so and every outcome is decided by the script.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sturdycache::clock::ManualClock;
use sturdycache::{Cache, Config, DIRECTORY_VERSION, ENTRY_OVERHEAD, Error, LoadError, SetOptions, Ttl, Value, format};

/// A fixed start time (2023-11-14), far from 0 so that "expires 0 = never" cannot be confused with a time.
const T0: u64 = 1_700_000_000_000;
const HEADER_AND_CHECKSUM: u64 = (format::HEADER_LEN + format::CHECKSUM_LEN) as u64;
const WATCHDOG: Duration = Duration::from_secs(10);

fn config(dir: &Path, clock: &ManualClock) -> Config {
    let mut c = Config::new(dir);
    c.sweep_interval = None;
    c.clock = Arc::new(clock.clone());
    c
}

fn open(c: Config) -> Cache {
    let cache = Cache::open(c).expect("open");
    cache.wait_ready();
    cache
}

/// A fresh directory and clock, and a cache with default settings on them.
fn fresh() -> (tempfile::TempDir, ManualClock, Cache) {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let cache = open(config(dir.path(), &clock));
    (dir, clock, cache)
}

/// A second cache on the same directory with no hot tier: every read of it goes to disk.
fn disk_view(dir: &Path, clock: &ManualClock) -> Cache {
    let mut c = config(dir, clock);
    c.memory_limit = 0;
    open(c)
}

fn opts(ttl: Ttl) -> SetOptions<'static> {
    SetOptions { ttl, ..Default::default() }
}

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

fn get(cache: &Cache, key: &[u8]) -> Option<Vec<u8>> {
    cache.get(key).unwrap().map(|v| v.to_vec())
}

/// Every regular file under `root`, recursively, with its length.
fn files_under(root: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let Ok(list) = std::fs::read_dir(root) else { return out };
    for e in list {
        let e = e.unwrap();
        let meta = e.metadata().unwrap();
        if meta.is_dir() {
            out.extend(files_under(&e.path()));
        } else {
            out.push((e.path(), meta.len()));
        }
    }
    out
}

fn data_bytes(dir: &Path) -> u64 {
    files_under(&dir.join("data")).iter().map(|f| f.1).sum()
}

/// The entry file holding `key`, found by walking `data/` and decoding every entry.
fn find_entry(dir: &Path, key: &[u8]) -> Option<PathBuf> {
    files_under(&dir.join("data")).into_iter().map(|f| f.0).find(|p| {
        let bytes = std::fs::read(p).unwrap_or_default();
        format::decode(&bytes).is_ok_and(|d| d.key == key)
    })
}

fn entry_of(dir: &Path, key: &[u8]) -> PathBuf {
    find_entry(dir, key).unwrap_or_else(|| panic!("no entry file for {:?}", String::from_utf8_lossy(key)))
}

fn stored_expiry(path: &Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    format::decode(&bytes).unwrap().header.expires_ms
}

fn quarantine_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = files_under(&dir.join("quarantine"))
        .into_iter()
        .map(|f| f.0.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every file under `dir` with its contents.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    files_under(dir).into_iter().map(|(p, _)| (p.clone(), std::fs::read(&p).unwrap())).collect()
}

/// Spins until `cond` holds; fails the test after `WATCHDOG`.
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + WATCHDOG;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

// ---------------------------------------------------------------------------
// Basics
// ---------------------------------------------------------------------------

#[test]
fn set_get_contains_delete_pop() {
    let (_dir, _clock, cache) = fresh();
    assert_eq!(get(&cache, b"k"), None);
    assert!(!cache.contains(b"k").unwrap());

    cache.set(b"k", b"v1").unwrap();
    assert_eq!(get(&cache, b"k").as_deref(), Some(&b"v1"[..]));
    assert!(cache.contains(b"k").unwrap());
    cache.set(b"k", b"v2").unwrap();
    assert_eq!(get(&cache, b"k").as_deref(), Some(&b"v2"[..]), "a set replaces");

    assert!(cache.delete(b"k").unwrap());
    assert!(!cache.delete(b"k").unwrap(), "nothing left to delete");
    assert_eq!(get(&cache, b"k"), None);
    assert!(!cache.contains(b"k").unwrap());

    cache.set(b"p", b"popped").unwrap();
    cache.set(b"other", b"stays").unwrap();
    assert_eq!(cache.pop(b"p").unwrap().as_deref(), Some(&b"popped"[..]));
    assert_eq!(cache.pop(b"p").unwrap(), None, "pop takes the value away");
    assert_eq!(get(&cache, b"p"), None);
    assert_eq!(get(&cache, b"other").as_deref(), Some(&b"stays"[..]));
}

#[test]
fn values_of_every_size_and_their_types_round_trip_through_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let cfg = config(dir.path(), &clock);
    let threshold = cfg.compression_threshold;
    let compressible = b"abcdefgh".repeat(4 * threshold / 8);
    let incompressible = random_bytes(4 * threshold, 1);
    let cases: Vec<(&[u8], Vec<u8>, u8)> = vec![
        (b"empty", Vec::new(), 1),
        (b"one", vec![0x5a], 2),
        (b"compressible", compressible.clone(), 3),
        (b"incompressible", incompressible.clone(), 4),
    ];
    {
        let cache = open(cfg);
        for (key, value, ty) in &cases {
            cache.set_with(key, value, SetOptions { value_type: *ty, ..Default::default() }).unwrap();
            let got = cache.get(key).unwrap().unwrap();
            assert_eq!((got.as_bytes(), got.value_type()), (&value[..], *ty));
        }
    }
    // On disk: the compressible value is stored compressed, the others as given.
    let len = |key: &[u8]| std::fs::metadata(entry_of(dir.path(), key)).unwrap().len();
    assert_eq!(len(b"empty"), HEADER_AND_CHECKSUM + 5);
    assert_eq!(len(b"one"), HEADER_AND_CHECKSUM + 3 + 1);
    assert!(len(b"compressible") < compressible.len() as u64 / 4, "compressed: {}", len(b"compressible"));
    assert_eq!(len(b"incompressible"), HEADER_AND_CHECKSUM + 14 + incompressible.len() as u64);

    // A new cache on the directory starts with a cold hot tier: the first reads come from disk
    // (types intact), the second from the promoted copies (types intact).
    let cache = open(config(dir.path(), &clock));
    for (key, value, ty) in &cases {
        let got = cache.get(key).unwrap().unwrap();
        assert_eq!((got.as_bytes(), got.value_type()), (&value[..], *ty));
    }
    let m = cache.metrics();
    assert_eq!((m.disk_hits, m.hot_hits), (4, 0));
    for (key, value, ty) in &cases {
        let got = cache.get(key).unwrap().unwrap();
        assert_eq!((got.as_bytes(), got.value_type()), (&value[..], *ty));
    }
    let m = cache.metrics();
    assert_eq!((m.disk_hits, m.hot_hits), (4, 4));
}

// ---------------------------------------------------------------------------
// TTL
// ---------------------------------------------------------------------------

#[test]
fn an_entry_expires_at_its_expiry_instant_in_the_hot_tier_and_on_disk() {
    let (dir, clock, cache) = fresh();
    let disk = disk_view(dir.path(), &clock);
    let ttl = opts(Ttl::After(Duration::from_secs(10)));
    cache.set_with(b"hot", b"h", ttl).unwrap();
    cache.set_with(b"disk", b"d", ttl).unwrap();
    let disk_file = entry_of(dir.path(), b"disk");
    assert_eq!(stored_expiry(&disk_file), T0 + 10_000);

    clock.advance(Duration::from_millis(9_999));
    assert_eq!(get(&cache, b"hot").as_deref(), Some(&b"h"[..]));
    assert_eq!(cache.metrics().hot_hits, 1);
    assert_eq!(get(&disk, b"disk").as_deref(), Some(&b"d"[..]));
    assert_eq!(disk.metrics().disk_hits, 1);

    clock.advance(Duration::from_millis(1)); // exactly the expiry instant
    assert_eq!(get(&cache, b"hot"), None, "the hot tier returned an expired entry");
    assert_eq!(cache.metrics().hot_hits, 1);
    assert!(!cache.contains(b"hot").unwrap());
    assert!(disk_file.exists());
    assert_eq!(get(&disk, b"disk"), None, "the disk tier returned an expired entry");
    assert!(!disk_file.exists(), "a read of an expired entry removes its file");
    assert_eq!(find_entry(dir.path(), b"hot"), None, "the hot read removed its file too");
}

#[test]
fn default_ttl_applies_unless_overridden() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let mut c = config(dir.path(), &clock);
    c.default_ttl = Some(Duration::from_secs(60));
    let cache = open(c);
    cache.set(b"default", b"d").unwrap();
    cache.set_with(b"never", b"n", opts(Ttl::Never)).unwrap();
    cache.set_with(b"short", b"s", opts(Ttl::After(Duration::from_secs(5)))).unwrap();
    assert_eq!(stored_expiry(&entry_of(dir.path(), b"default")), T0 + 60_000);
    assert_eq!(stored_expiry(&entry_of(dir.path(), b"never")), 0);

    clock.advance(Duration::from_secs(5));
    assert_eq!(get(&cache, b"short"), None);
    assert!(get(&cache, b"default").is_some());
    clock.advance(Duration::from_secs(55));
    assert_eq!(get(&cache, b"default"), None);
    clock.advance(Duration::from_secs(365 * 24 * 3600));
    assert_eq!(get(&cache, b"never").as_deref(), Some(&b"n"[..]));
    assert_eq!(get(&disk_view(dir.path(), &clock), b"never").as_deref(), Some(&b"n"[..]));
}

#[test]
fn sweep_removes_expired_entries_another_instance_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let sweeper = open(config(dir.path(), &clock));
    let writer = open(config(dir.path(), &clock));
    let ttl = opts(Ttl::After(Duration::from_secs(10)));
    for key in [&b"e1"[..], b"e2", b"e3"] {
        writer.set_with(key, b"x", ttl).unwrap();
    }
    writer.set(b"live", b"y").unwrap();
    assert_eq!(sweeper.metrics().disk_entries, 0, "the sweeper has not scanned the writer's entries yet");

    clock.advance(Duration::from_secs(10));
    let report = sweeper.sweep().unwrap();
    assert_eq!((report.scanned, report.expired), (4, 3));
    assert_eq!(sweeper.metrics().expirations, 3);
    assert_eq!(sweeper.metrics().disk_entries, 1);
    assert_eq!(files_under(&dir.path().join("data")).len(), 1);
    assert!(find_entry(dir.path(), b"live").is_some());
    assert_eq!(get(&writer, b"e1"), None);
    assert_eq!(get(&writer, b"live").as_deref(), Some(&b"y"[..]));
}

#[test]
fn touch_extends_and_shortens_expiry() {
    let (dir, clock, cache) = fresh();
    cache.set_with(b"k", b"v", opts(Ttl::After(Duration::from_secs(10)))).unwrap();
    clock.advance(Duration::from_secs(5));
    assert!(cache.touch(b"k", Ttl::After(Duration::from_secs(60))).unwrap());
    let path = entry_of(dir.path(), b"k");
    assert_eq!(stored_expiry(&path), T0 + 65_000);

    clock.advance(Duration::from_secs(30)); // past the original expiry
    assert_eq!(get(&cache, b"k").as_deref(), Some(&b"v"[..]));
    assert_eq!(cache.metrics().hot_hits, 1, "the hot copy was retimed, not dropped");
    assert_eq!(get(&disk_view(dir.path(), &clock), b"k").as_deref(), Some(&b"v"[..]));

    assert!(cache.touch(b"k", Ttl::After(Duration::from_secs(1))).unwrap());
    assert_eq!(stored_expiry(&path), T0 + 36_000);
    clock.advance(Duration::from_secs(1));
    let hot_hits = cache.metrics().hot_hits;
    assert_eq!(get(&cache, b"k"), None, "the hot copy kept the old, longer expiry");
    assert_eq!(cache.metrics().hot_hits, hot_hits);

    cache.set_with(b"n", b"v", opts(Ttl::After(Duration::from_secs(1)))).unwrap();
    assert!(cache.touch(b"n", Ttl::Never).unwrap());
    assert_eq!(stored_expiry(&entry_of(dir.path(), b"n")), 0);
    clock.advance(Duration::from_secs(3600));
    assert!(get(&cache, b"n").is_some());
}

#[test]
fn touch_retimes_an_entry_held_only_in_the_hot_tier() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let mut c = config(dir.path(), &clock);
    c.disk_limit = 2 * (HEADER_AND_CHECKSUM + 2 + 100);
    let cache = open(c);
    for key in [&b"k0"[..], b"x1", b"x2"] {
        clock.advance(Duration::from_millis(1));
        cache.set(key, &[7; 100]).unwrap();
    }
    assert_eq!(find_entry(dir.path(), b"k0"), None, "k0 was evicted from disk");
    assert_eq!(cache.metrics().disk_evictions, 1);
    assert!(get(&cache, b"k0").is_some(), "k0 is still in the hot tier");

    assert!(cache.touch(b"k0", Ttl::After(Duration::from_secs(10))).unwrap());
    clock.advance(Duration::from_secs(10));
    assert_eq!(get(&cache, b"k0"), None, "the hot-only entry kept expiry never");
}

#[test]
fn touch_of_a_missing_or_expired_key_is_false() {
    let (dir, clock, cache) = fresh();
    assert!(!cache.touch(b"missing", Ttl::Never).unwrap());
    assert_eq!(get(&cache, b"missing"), None);

    cache.set_with(b"k", b"v", opts(Ttl::After(Duration::from_secs(1)))).unwrap();
    clock.advance(Duration::from_secs(1));
    assert!(!cache.touch(b"k", Ttl::Never).unwrap(), "touch revived an expired entry");
    assert_eq!(get(&cache, b"k"), None);
    assert_eq!(find_entry(dir.path(), b"k"), None);
}

#[test]
fn a_zero_ttl_is_refused_and_stores_nothing() {
    let (dir, _clock, cache) = fresh();
    cache.set(b"k", b"old").unwrap();
    let before = snapshot(&dir.path().join("data"));
    let zero = opts(Ttl::After(Duration::ZERO));
    let is_invalid = |r: Result<(), Error>| matches!(r, Err(Error::InvalidConfig(ref m)) if m.contains("ttl"));

    assert!(is_invalid(cache.set_with(b"k", b"new", zero).map(|_| ())));
    assert!(is_invalid(cache.set_with(b"z", b"new", zero).map(|_| ())));
    assert!(is_invalid(cache.add(b"z", b"new", zero).map(|_| ())));
    assert!(is_invalid(cache.touch(b"k", Ttl::After(Duration::ZERO)).map(|_| ())));
    let loaded = cache.get_or_insert_with(b"z", zero, || Ok::<_, String>(b"new".to_vec()));
    assert!(matches!(loaded, Err(LoadError::Invalid(Error::InvalidConfig(_)))), "{loaded:?}");

    assert_eq!(get(&cache, b"k").as_deref(), Some(&b"old"[..]));
    assert_eq!(get(&cache, b"z"), None);
    assert_eq!(snapshot(&dir.path().join("data")), before);
}

// ---------------------------------------------------------------------------
// add, evict_tag, keys, clear
// ---------------------------------------------------------------------------

#[test]
fn add_stores_only_when_no_live_value() {
    let (dir, clock, cache) = fresh();
    assert!(cache.add(b"a", b"first", SetOptions::default()).unwrap());
    assert!(!cache.add(b"a", b"second", SetOptions::default()).unwrap());
    assert_eq!(get(&cache, b"a").as_deref(), Some(&b"first"[..]));
    assert_eq!(get(&disk_view(dir.path(), &clock), b"a").as_deref(), Some(&b"first"[..]));

    // Expired, with the entry in this cache's hot tier.
    cache.set_with(b"e", b"old", opts(Ttl::After(Duration::from_secs(1)))).unwrap();
    // Expired, in a cache whose hot tier never saw it.
    cache.set_with(b"f", b"old", opts(Ttl::After(Duration::from_secs(1)))).unwrap();
    clock.advance(Duration::from_secs(1));
    assert!(cache.add(b"e", b"new", SetOptions::default()).unwrap());
    assert_eq!(get(&cache, b"e").as_deref(), Some(&b"new"[..]));
    let cold = disk_view(dir.path(), &clock);
    assert!(cold.add(b"f", b"new", SetOptions::default()).unwrap());
    assert_eq!(get(&cold, b"f").as_deref(), Some(&b"new"[..]));
    assert_eq!(get(&cache, b"f").as_deref(), Some(&b"new"[..]));
    assert_eq!(cache.metrics().sets, 4, "a, e, f and the add of e; not the refused add");
}

#[test]
fn evict_tag_removes_exactly_the_tagged_entries() {
    let (dir, clock, cache) = fresh();
    let tagged = |t: &'static str| SetOptions::default().with_tag(t);
    cache.set_with(b"a1", b"1", tagged("a")).unwrap();
    cache.set_with(b"a2", b"2", tagged("a")).unwrap();
    cache.set_with(b"b1", b"3", tagged("b")).unwrap();
    cache.set_with(b"ab", b"4", tagged("ab")).unwrap();
    cache.set(b"untagged", b"5").unwrap();
    assert_eq!(cache.metrics().hot_entries, 5);

    assert_eq!(cache.evict_tag("a").unwrap(), 2);
    assert_eq!(cache.metrics().hot_entries, 3, "tagged hot entries were dropped");
    assert_eq!(get(&cache, b"a1"), None);
    assert_eq!(get(&cache, b"a2"), None);
    for key in [&b"b1"[..], b"ab", b"untagged"] {
        assert!(get(&cache, key).is_some());
    }
    assert_eq!(files_under(&dir.path().join("data")).len(), 3);
    let disk = disk_view(dir.path(), &clock);
    assert_eq!(get(&disk, b"a1"), None);
    assert!(get(&disk, b"b1").is_some());
    assert_eq!(cache.evict_tag("a").unwrap(), 0);
    assert_eq!(cache.evict_tag("nope").unwrap(), 0);
}

#[test]
fn keys_lists_exactly_the_live_keys() {
    let (dir, clock, cache) = fresh();
    for key in [&b"k1"[..], b"k2", b"k3", b"gone"] {
        cache.set(key, b"v").unwrap();
    }
    cache.set_with(b"t1", b"v", opts(Ttl::After(Duration::from_secs(10)))).unwrap();
    cache.set_with(b"t2", b"v", opts(Ttl::After(Duration::from_secs(10)))).unwrap();
    cache.delete(b"gone").unwrap();
    disk_view(dir.path(), &clock).set(b"k4", b"from another instance").unwrap();

    let sorted = |c: &Cache| {
        let mut k: Vec<Vec<u8>> = c.keys().unwrap().map(Result::unwrap).collect();
        k.sort();
        k
    };
    let live: Vec<Vec<u8>> = [&b"k1"[..], b"k2", b"k3", b"k4"].iter().map(|k| k.to_vec()).collect();
    let mut with_ttl = live.clone();
    with_ttl.extend([b"t1".to_vec(), b"t2".to_vec()]);
    with_ttl.sort();
    assert_eq!(sorted(&cache), with_ttl);
    clock.advance(Duration::from_secs(10));
    assert_eq!(sorted(&cache), live);
}

#[test]
fn clear_empties_both_tiers() {
    let (dir, clock, cache) = fresh();
    for i in 0..5u8 {
        cache.set(&[b'k', i], b"v").unwrap();
    }
    cache.set_with(b"ttl", b"v", opts(Ttl::After(Duration::from_secs(60)))).unwrap();
    assert_eq!(cache.metrics().hot_entries, 6);

    assert_eq!(cache.clear().unwrap(), 6);
    let m = cache.metrics();
    assert_eq!((m.hot_entries, m.hot_bytes, m.disk_entries), (0, 0, 0));
    assert_eq!(files_under(&dir.path().join("data")), Vec::new());
    for i in 0..5u8 {
        assert_eq!(get(&cache, &[b'k', i]), None);
    }
    assert_eq!(disk_view(dir.path(), &clock).keys().unwrap().count(), 0);
    assert_eq!(cache.clear().unwrap(), 0);
}

// ---------------------------------------------------------------------------
// Budgets
// ---------------------------------------------------------------------------

#[test]
fn disk_limit_holds_after_every_set_and_evicts_least_recently_used() {
    const VALUE: usize = 1000;
    let entry = HEADER_AND_CHECKSUM + 4 + VALUE as u64; // key "k000"
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let mut c = config(dir.path(), &clock);
    c.disk_limit = 20 * entry;
    c.memory_limit = 0; // every get reaches the disk and records recency there
    let cache = open(c);
    let key = |i: usize| format!("k{i:03}").into_bytes();
    let hot: Vec<usize> = (0..5).collect();

    for i in 0..100 {
        if i > 0 && i % 10 == 0 {
            // Past the recency granularity, so these reads move the hot keys to the young end.
            clock.advance(Duration::from_secs(61));
            for &h in &hot {
                assert!(cache.get(&key(h)).unwrap().is_some(), "recently read k{h:03} was evicted");
            }
        }
        clock.advance(Duration::from_millis(1));
        cache.set(&key(i), &random_bytes(VALUE, i as u64)).unwrap();
        let used = data_bytes(dir.path());
        assert!(used <= 20 * entry, "after set {i}: {used} bytes on disk > limit {}", 20 * entry);
    }
    // The 5 hot keys plus the 15 newest: every round of reads is followed by 10 sets, so the
    // entries evicted are always older than the last round of reads.
    let mut expected: Vec<Vec<u8>> = hot.iter().map(|&h| key(h)).chain((85..100).map(key)).collect();
    expected.sort();
    let mut listed: Vec<Vec<u8>> = cache.keys().unwrap().map(Result::unwrap).collect();
    listed.sort();
    assert_eq!(listed, expected);
    assert_eq!(data_bytes(dir.path()), 20 * entry);
    assert_eq!(cache.metrics().disk_evictions, 80);
    assert_eq!(cache.get(&key(50)).unwrap(), None);
}

#[test]
fn hot_tier_stays_within_its_byte_budget() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let per_entry = 4 + 200 + ENTRY_OVERHEAD; // key "h000", 200-byte value
    let mut c = config(dir.path(), &clock);
    c.memory_limit = 10 * per_entry;
    let cache = open(c);
    let key = |i: usize| format!("h{i:03}").into_bytes();
    for i in 0..30 {
        cache.set(&key(i), &[i as u8; 200]).unwrap();
        let m = cache.metrics();
        assert!(m.hot_bytes <= m.hot_limit, "after set {i}: {} > {}", m.hot_bytes, m.hot_limit);
    }
    let m = cache.metrics();
    assert_eq!((m.hot_entries, m.hot_bytes, m.hot_evictions), (10, 10 * per_entry, 20));
    for i in 0..30 {
        assert_eq!(get(&cache, &key(i)), Some(vec![i as u8; 200]));
        let m = cache.metrics();
        assert!(m.hot_bytes <= m.hot_limit, "after get {i}: {} > {}", m.hot_bytes, m.hot_limit);
    }
}

#[test]
fn a_value_larger_than_the_hot_budget_lives_on_disk_only() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let mut c = config(dir.path(), &clock);
    c.memory_limit = 3000;
    let cache = open(c);
    cache.set(b"small", b"s").unwrap();
    cache.set(b"big", b"an old small value").unwrap();
    assert_eq!(cache.metrics().hot_entries, 2);

    let big = random_bytes(5000, 9);
    cache.set(b"big", &big).unwrap();
    let m = cache.metrics();
    assert_eq!(m.hot_entries, 1, "the big value was cached in memory, or the old copy kept");
    assert_eq!(m.hot_bytes, 5 + 1 + ENTRY_OVERHEAD);
    for round in 1..=2 {
        assert_eq!(get(&cache, b"big"), Some(big.clone()));
        let m = cache.metrics();
        assert_eq!((m.disk_hits, m.hot_hits, m.hot_entries), (round, 0, 1));
    }
}

#[test]
fn a_warm_read_promotes_and_contains_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    {
        let writer = open(config(dir.path(), &clock));
        writer.set(b"read", b"r").unwrap();
        writer.set(b"checked", b"c").unwrap();
    }
    let cache = open(config(dir.path(), &clock));
    assert_eq!(cache.metrics().hot_entries, 0);
    assert!(get(&cache, b"read").is_some());
    let m = cache.metrics();
    assert_eq!((m.disk_hits, m.hot_hits, m.hot_entries), (1, 0, 1));
    assert!(get(&cache, b"read").is_some());
    assert_eq!(cache.metrics().hot_hits, 1, "the second read was not a hot hit");

    assert!(cache.contains(b"checked").unwrap());
    assert_eq!(cache.metrics().hot_entries, 1, "contains promoted");
    assert!(get(&cache, b"checked").is_some());
    let m = cache.metrics();
    assert_eq!((m.disk_hits, m.hot_hits, m.hot_entries), (3, 1, 2));
}

// ---------------------------------------------------------------------------
// Single-flight
// ---------------------------------------------------------------------------

#[test]
fn concurrent_callers_for_one_missing_key_run_one_loader() {
    let (_dir, _clock, cache) = fresh();
    let calls = AtomicUsize::new(0);
    let barrier = Barrier::new(8);
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let (cache, calls, barrier, release_rx) = (&cache, &calls, &barrier, &release_rx);

    let values: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let started_tx = started_tx.clone();
                s.spawn(move || {
                    barrier.wait();
                    cache
                        .get_or_insert_with(b"shared", SetOptions::default(), || {
                            calls.fetch_add(1, Ordering::SeqCst);
                            let _ = started_tx.send(());
                            // Blocks until the test drops the sender.
                            let _ = release_rx.lock().unwrap().recv();
                            Ok::<_, String>(b"loaded".to_vec())
                        })
                        .unwrap()
                })
            })
            .collect();
        started_rx.recv_timeout(WATCHDOG).expect("no loader started");
        // Every caller looks the key up once before joining the load, and the leader once more
        // after taking the lead: 9 misses mean all 8 have passed their look-up while the value
        // was still missing, so each either waits for the leader or (if it is slower than the
        // release) finds the stored value.
        wait_until("all callers to look the key up", || cache.metrics().disk_misses >= 9);
        drop(release_tx);
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(values.len(), 8);
    assert!(values.iter().all(|v| v == &b"loaded"), "{values:?}");
    assert_eq!(get(cache, b"shared").as_deref(), Some(&b"loaded"[..]));
}

/// Runs a leader whose loader `fail`s once released, and a waiter whose loader succeeds.
/// Returns the leader's outcome, the waiter's value and how often the waiter's loader ran.
fn leader_fails_waiter_takes_over(
    fail: fn() -> Result<Vec<u8>, String>,
) -> (std::thread::Result<Result<Value, LoadError<String>>>, Value, usize) {
    let (_dir, _clock, cache) = fresh();
    let waiter_calls = AtomicUsize::new(0);
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (cache, waiter_calls) = (&cache, &waiter_calls);
    let (leader, waiter) = std::thread::scope(|s| {
        let leader = s.spawn(move || {
            cache.get_or_insert_with(b"k", SetOptions::default(), || {
                let _ = started_tx.send(());
                let _ = release_rx.recv();
                fail()
            })
        });
        started_rx.recv_timeout(WATCHDOG).expect("the leader's loader did not start");
        let waiter = s.spawn(move || {
            cache.get_or_insert_with(b"k", SetOptions::default(), || {
                waiter_calls.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(b"from the waiter".to_vec())
            })
        });
        // The leader's two look-ups and the waiter's one: the waiter is joining the flight.
        wait_until("the waiter to look the key up", || cache.metrics().disk_misses >= 3);
        drop(release_tx);
        (leader.join(), waiter.join().unwrap().unwrap())
    });
    assert_eq!(get(cache, b"k").as_deref(), Some(&b"from the waiter"[..]));
    (leader, waiter, waiter_calls.load(Ordering::SeqCst))
}

#[test]
fn a_failed_loader_hands_the_load_to_a_waiter() {
    let (leader, waiter, calls) = leader_fails_waiter_takes_over(|| Err("boom".to_string()));
    assert!(matches!(leader, Ok(Err(LoadError::Loader(ref e))) if e == "boom"), "{leader:?}");
    assert_eq!(waiter.as_bytes(), b"from the waiter");
    assert_eq!(calls, 1);
}

#[test]
fn a_panicking_loader_panics_its_caller_and_a_waiter_takes_over() {
    let (leader, waiter, calls) = leader_fails_waiter_takes_over(|| panic!("loader exploded"));
    let payload = leader.expect_err("the loader's panic did not reach its caller");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"loader exploded"));
    assert_eq!(waiter.as_bytes(), b"from the waiter");
    assert_eq!(calls, 1);
}

#[test]
fn the_loader_runs_with_no_cache_lock_held() {
    let (_dir, _clock, cache) = fresh();
    cache.set(b"key-4", b"neighbour").unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    let c = cache.clone();
    std::thread::spawn(move || {
        let result = c.get_or_insert_with(b"key-5", SetOptions::default(), || {
            assert_eq!(c.get(b"key-5").unwrap(), None, "the key being loaded");
            assert!(!c.contains(b"key-5").unwrap());
            assert_eq!(c.get(b"key-4").unwrap().as_deref(), Some(&b"neighbour"[..]));
            c.set(b"key-6", b"set inside").unwrap();
            assert!(c.add(b"key-7", b"added inside", SetOptions::default()).unwrap());
            assert!(c.touch(b"key-4", Ttl::Never).unwrap());
            assert!(c.delete(b"key-4").unwrap());
            let inner = c.get_or_insert_with(b"key-8", SetOptions::default(), || Ok::<_, String>(b"inner".to_vec()));
            assert_eq!(inner.unwrap().as_bytes(), b"inner");
            c.sweep().unwrap();
            assert_eq!(c.keys().unwrap().count(), 3);
            Ok::<_, String>(b"outer".to_vec())
        });
        let _ = done_tx.send(result.map(|v| v.to_vec()));
    });
    let result = done_rx.recv_timeout(WATCHDOG).expect("deadlock: the loader's cache calls did not finish");
    assert_eq!(result.unwrap(), b"outer");
    assert_eq!(get(&cache, b"key-5").as_deref(), Some(&b"outer"[..]));
    assert_eq!(get(&cache, b"key-6").as_deref(), Some(&b"set inside"[..]));
    assert_eq!(get(&cache, b"key-4"), None);
}

// ---------------------------------------------------------------------------
// Quarantine and leftovers
// ---------------------------------------------------------------------------

fn no_hot_tier(dir: &Path, clock: &ManualClock) -> Config {
    let mut c = config(dir, clock);
    c.memory_limit = 0;
    c
}

#[test]
fn a_corrupt_entry_is_a_miss_and_is_quarantined_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let cache = open(no_hot_tier(dir.path(), &clock));
    cache.set(b"garbage", b"value one").unwrap();
    cache.set(b"flipped", b"value two").unwrap();
    cache.set(b"fine", b"value three").unwrap();

    let garbage = entry_of(dir.path(), b"garbage");
    std::fs::write(&garbage, b"not an entry at all ".repeat(10)).unwrap();
    let flipped = entry_of(dir.path(), b"flipped");
    let mut bytes = std::fs::read(&flipped).unwrap();
    let last_value_byte = bytes.len() - format::CHECKSUM_LEN - 1;
    bytes[last_value_byte] ^= 0x01;
    std::fs::write(&flipped, &bytes).unwrap();

    assert_eq!(get(&cache, b"garbage"), None);
    assert_eq!(get(&cache, b"flipped"), None);
    assert_eq!(get(&cache, b"fine").as_deref(), Some(&b"value three"[..]));
    assert!(!garbage.exists() && !flipped.exists());
    let names = quarantine_names(dir.path());
    assert_eq!(names.len(), 2, "{names:?}");
    let name_of = |key: &[u8]| {
        let hash = format!("{:032x}", format::key_hash(key));
        names.iter().find(|n| n.contains(&hash)).cloned().unwrap_or_else(|| panic!("{hash} not in {names:?}"))
    };
    assert!(name_of(b"garbage").starts_with(&format!("{T0}-bad-magic-")), "{names:?}");
    assert!(name_of(b"flipped").starts_with(&format!("{T0}-bad-checksum-")), "{names:?}");
    let kept = std::fs::read(dir.path().join("quarantine").join(name_of(b"garbage"))).unwrap();
    assert_eq!(kept, b"not an entry at all ".repeat(10), "the quarantined file is the corrupt file");
    let m = cache.metrics();
    assert_eq!((m.corruptions, m.quarantined), (2, 2));
    assert_eq!(get(&cache, b"garbage"), None, "still a miss");
    assert_eq!(cache.metrics().corruptions, 2, "no file left to find corrupt again");
}

fn quarantine_by_read(cache: &Cache, dir: &Path, key: &[u8], garbage_len: usize) {
    cache.set(key, b"v").unwrap();
    std::fs::write(entry_of(dir, key), vec![b'#'; garbage_len]).unwrap();
    assert_eq!(get(cache, key), None);
}

#[test]
fn sweep_deletes_quarantined_files_after_the_retention() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let mut c = no_hot_tier(dir.path(), &clock);
    c.quarantine_retention = Duration::from_secs(3600);
    let cache = open(c);
    quarantine_by_read(&cache, dir.path(), b"k", 100);
    assert_eq!(quarantine_names(dir.path()).len(), 1);

    clock.advance(Duration::from_millis(3_599_999));
    assert_eq!(cache.sweep().unwrap().quarantine_deleted, 0);
    assert_eq!(quarantine_names(dir.path()).len(), 1);
    clock.advance(Duration::from_millis(1));
    assert_eq!(cache.sweep().unwrap().quarantine_deleted, 1);
    assert_eq!(quarantine_names(dir.path()), Vec::<String>::new());
}

#[test]
fn the_quarantine_size_cap_deletes_the_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let mut c = no_hot_tier(dir.path(), &clock);
    c.quarantine_max_bytes = 2500;
    let cache = open(c);
    for key in [&b"first"[..], b"second", b"third"] {
        quarantine_by_read(&cache, dir.path(), key, 1000);
        clock.advance(Duration::from_secs(1));
    }
    assert_eq!(quarantine_names(dir.path()).len(), 3);
    assert_eq!(cache.sweep().unwrap().quarantine_deleted, 1);
    let names = quarantine_names(dir.path());
    let has = |key: &[u8]| names.iter().any(|n| n.contains(&format!("{:032x}", format::key_hash(key))));
    assert!(!has(b"first") && has(b"second") && has(b"third"), "{names:?}");
}

/// Kills and reaps a child process when dropped.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn open_removes_stale_temp_files_and_keeps_live_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let live = ChildGuard(std::process::Command::new("sleep").arg("30").spawn().unwrap());
    let alive = live.0.id();

    let folder = dir.path().join("data").join("ab");
    std::fs::create_dir_all(&folder).unwrap();
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let clock = ManualClock::new(now_ms);
    // (name, age): stale means removed by the open scan.
    let files = [
        (format!(".tmp-{dead}-1"), 120_000, true),
        (format!(".del-{dead}-2"), 120_000, true),
        (format!(".tmp-{dead}-3"), 30_000, false), // its writer may only just have died
        (format!(".tmp-{alive}-1"), 120_000, false),
        (format!(".tmp-{alive}-2"), 3_660_000, true), // an hour old: abandoned whoever wrote it
    ];
    for (name, age, _) in &files {
        let path = folder.join(name);
        std::fs::write(&path, b"partial").unwrap();
        let mtime = UNIX_EPOCH + Duration::from_millis(now_ms - age);
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(mtime).unwrap();
    }

    let _cache = open(config(dir.path(), &clock));
    for (name, age, stale) in &files {
        assert_eq!(folder.join(name).exists(), !stale, "{name} aged {age} ms");
    }
    drop(live);
}

// ---------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------

#[test]
fn bad_keys_and_values_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let mut c = config(dir.path(), &clock);
    c.max_key_size = 16;
    c.max_value_size = 100;
    let cache = open(c);
    cache.set(b"keep", b"kept").unwrap();
    let before = snapshot(&dir.path().join("data"));
    let unchanged = |what: &str| {
        assert_eq!(get(&cache, b"keep").as_deref(), Some(&b"kept"[..]), "after {what}");
        assert_eq!(snapshot(&dir.path().join("data")), before, "after {what}");
    };

    let long = [b'k'; 17];
    for key in [&b""[..], &long[..]] {
        let check = |what: &str, e: Error| {
            if key.is_empty() {
                assert!(matches!(e, Error::EmptyKey), "{what}: {e:?}");
            } else {
                assert!(matches!(e, Error::KeyTooLarge { len: 17, max: 16 }), "{what}: {e:?}");
                let msg = e.to_string();
                assert!(msg.contains("17") && msg.contains("16"), "{what}: {msg}");
            }
            unchanged(what);
        };
        check("get", cache.get(key).unwrap_err());
        check("contains", cache.contains(key).unwrap_err());
        check("set", cache.set(key, b"v").unwrap_err());
        check("add", cache.add(key, b"v", SetOptions::default()).unwrap_err());
        check("delete", cache.delete(key).unwrap_err());
        check("touch", cache.touch(key, Ttl::Never).unwrap_err());
        check("pop", cache.pop(key).unwrap_err());
        match cache.get_or_insert_with(key, SetOptions::default(), || Ok::<_, String>(b"v".to_vec())) {
            Err(LoadError::Invalid(e)) => check("get_or_insert_with", e),
            other => panic!("get_or_insert_with: {other:?}"),
        }
    }
    cache.set(&[b'k'; 16], b"a key of exactly the limit").unwrap();
    cache.delete(&[b'k'; 16]).unwrap();

    let big = [0u8; 101];
    let too_big = |what: &str, e: Error| {
        assert!(matches!(e, Error::ValueTooLarge { len: 101, max: 100 }), "{what}: {e:?}");
        unchanged(what);
    };
    too_big("set over an existing key", cache.set(b"keep", &big).unwrap_err());
    too_big("set", cache.set(b"new", &big).unwrap_err());
    too_big("add", cache.add(b"new", &big, SetOptions::default()).unwrap_err());
    match cache.get_or_insert_with(b"new", SetOptions::default(), || Ok::<_, String>(big.to_vec())) {
        Err(LoadError::Invalid(e)) => too_big("get_or_insert_with", e),
        other => panic!("get_or_insert_with: {other:?}"),
    }
    let tag = "t".repeat(format::MAX_TAG_LEN + 1);
    let e = cache.set_with(b"keep", b"v", SetOptions::default().with_tag(&tag)).unwrap_err();
    assert!(matches!(e, Error::TagTooLarge { .. }), "{e:?}");
    unchanged("a tag too large");
    assert_eq!(get(&cache, b"new"), None);
    cache.set(b"new", &big[..100]).unwrap();
    assert_eq!(get(&disk_view(dir.path(), &clock), b"keep").as_deref(), Some(&b"kept"[..]));
}

#[test]
fn invalid_settings_are_refused_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    open(config(dir.path(), &clock)).set(b"keep", b"kept").unwrap();
    let before = snapshot(dir.path());
    let missing = dir.path().join("never-created");
    type Spoil = fn(&mut Config);
    let cases: [(&str, Spoil); 4] = [
        ("hot_shards", |c| c.hot_shards = 3),
        ("compression_level", |c| c.compression_level = 0),
        ("disk_limit", |c| c.disk_limit = 0),
        ("default_ttl", |c| c.default_ttl = Some(Duration::ZERO)),
    ];
    for (setting, spoil) in cases {
        for target in [dir.path(), &missing] {
            let mut c = config(target, &clock);
            spoil(&mut c);
            match Cache::open(c) {
                Err(Error::InvalidConfig(msg)) => assert!(msg.contains(setting), "{setting}: {msg}"),
                other => panic!("{setting}: {other:?}"),
            }
        }
        assert!(!missing.exists(), "{setting}: a refused open created the directory");
        assert_eq!(snapshot(dir.path()), before, "{setting}: a refused open changed the directory");
    }
    assert_eq!(get(&open(config(dir.path(), &clock)), b"keep").as_deref(), Some(&b"kept"[..]));
}

#[test]
fn a_path_that_is_a_file_is_not_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    std::fs::write(&file, b"not a cache").unwrap();
    match Cache::open(config(&file, &ManualClock::new(T0))) {
        Err(Error::NotADirectory(p)) => assert_eq!(p, file),
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"not a cache");
}

#[test]
fn a_newer_directory_format_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    open(config(dir.path(), &clock)).set(b"keep", b"kept").unwrap();
    let version = dir.path().join("VERSION");
    let ours = std::fs::read(&version).unwrap();
    assert_eq!(ours, format!("sturdycache {DIRECTORY_VERSION}\n").as_bytes());
    std::fs::write(&version, b"sturdycache 99\n").unwrap();
    let before = snapshot(dir.path());

    match Cache::open(config(dir.path(), &clock)) {
        Err(e @ Error::NewerFormat { found: 99, supported: DIRECTORY_VERSION, .. }) => {
            assert!(e.to_string().contains("99"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(snapshot(dir.path()), before, "the refused open changed the directory");
    std::fs::write(&version, &ours).unwrap();
    assert_eq!(get(&open(config(dir.path(), &clock)), b"keep").as_deref(), Some(&b"kept"[..]));
}

// ---------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------

#[test]
fn metrics_count_a_scripted_scenario_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let mut c = config(dir.path(), &clock);
    c.memory_limit = 1000;
    let cache = open(c);

    cache.set(b"a", b"va").unwrap(); // sets 1
    cache.set_with(b"b", b"vb", opts(Ttl::After(Duration::from_secs(10)))).unwrap(); // sets 2
    assert!(get(&cache, b"a").is_some()); // hot hit 1
    assert!(get(&cache, b"x").is_none()); // hot miss 1, disk miss 1
    assert!(cache.delete(b"a").unwrap()); // deletes 1
    assert!(!cache.delete(b"a").unwrap()); // removed nothing: not counted
    assert!(get(&cache, b"a").is_none()); // hot miss 2, disk miss 2
    clock.advance(Duration::from_secs(10));
    assert!(get(&cache, b"b").is_none()); // hot miss 3, disk miss 3, expiration 1
    cache.set(b"c", &[3; 2000]).unwrap(); // sets 3; too big for the hot tier
    assert!(get(&cache, b"c").is_some()); // hot miss 4, disk hit 1
    assert!(cache.pop(b"c").unwrap().is_some()); // deletes 2
    assert!(cache.pop(b"c").unwrap().is_none()); // nothing: not counted
    assert!(cache.add(b"d", b"vd", SetOptions::default()).unwrap()); // sets 4
    assert!(!cache.add(b"d", b"vd", SetOptions::default()).unwrap()); // not stored: not counted
    cache.set_with(b"e", b"ve", opts(Ttl::After(Duration::from_secs(5)))).unwrap(); // sets 5
    clock.advance(Duration::from_secs(5));
    assert_eq!(cache.sweep().unwrap().expired, 1); // expiration 2

    let m = cache.metrics();
    assert_eq!((m.hot_hits, m.hot_misses), (1, 4), "{m:?}");
    assert_eq!((m.disk_hits, m.disk_misses), (1, 3), "{m:?}");
    assert_eq!((m.sets, m.deletes, m.expirations), (5, 2, 2), "{m:?}");
    assert_eq!((m.hot_entries, m.disk_entries), (1, 1), "{m:?}");
    assert_eq!((m.disk_evictions, m.corruptions, m.quarantined), (0, 0, 0), "{m:?}");
    assert_eq!(m.disk_bytes, data_bytes(dir.path()), "{m:?}");
}

/// A `touch` in one handle racing a `set` of the same key in another (two
/// handles on one directory have separate hot tiers and key locks, like two
/// processes): the set's value must stand, never the touched old value.
#[test]
fn touch_racing_a_set_elsewhere_never_brings_the_old_value_back() {
    use sturdycache::fs::{Fault, FaultRule, FaultyFs, FsOp, StdFs, Trigger};
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let faulty = Arc::new(FaultyFs::new(Arc::new(StdFs)));
    let mut slow = config(dir.path(), &clock);
    slow.fs = faulty.clone();
    let toucher = open(slow);
    let writer = open(config(dir.path(), &clock));
    toucher.set(b"k", b"old").unwrap();
    // Hold the touch after it read the entry and before it publishes the rewrite.
    faulty.inject(FaultRule::new(FsOp::Write, Fault::Delay(Duration::from_millis(300)), Trigger::Once));
    let touching = {
        let toucher = toucher.clone();
        std::thread::spawn(move || toucher.touch(b"k", Ttl::After(Duration::from_secs(60))))
    };
    wait_until("the touch to stall writing its rewritten entry", || faulty.fired() == 1);
    writer.set(b"k", b"new").unwrap();
    assert!(touching.join().unwrap().unwrap(), "the key was live when touched");
    assert_eq!(get(&writer, b"k").as_deref(), Some(&b"new"[..]));
    assert_eq!(get(&toucher, b"k").as_deref(), Some(&b"new"[..]));
    assert_eq!(get(&disk_view(dir.path(), &clock), b"k").as_deref(), Some(&b"new"[..]));
}

/// `evict_tag` counts keys: one tagged entry only on disk and another only in
/// memory are two removals, and the empty tag ("no tag") removes nothing.
#[test]
fn evict_tag_counts_keys_across_tiers() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let writer = open(config(dir.path(), &clock));
    let cache = open(config(dir.path(), &clock));
    let tagged = SetOptions::default().with_tag("t");
    writer.set_with(b"on-disk", b"a", tagged).unwrap(); // not in `cache`'s hot tier
    cache.set_with(b"in-memory", b"b", tagged).unwrap();
    cache.set(b"untagged", b"c").unwrap();
    std::fs::remove_file(entry_of(dir.path(), b"in-memory")).unwrap(); // now only in `cache`'s memory
    assert!(cache.contains(b"in-memory").unwrap());
    assert_eq!(cache.evict_tag("").unwrap(), 0, "the empty tag names no group");
    assert_eq!(cache.evict_tag("t").unwrap(), 2);
    assert_eq!(get(&cache, b"on-disk"), None);
    assert_eq!(get(&cache, b"in-memory"), None);
    assert_eq!(get(&cache, b"untagged").as_deref(), Some(&b"c"[..]));
}

/// A directory the cache cannot write to (root ignores mode bits, so the seam
/// plays the kernel) is a typed error at open, classified by its errno, when
/// `fail_on_disk_error` asks for errors; by default the cache opens degraded
/// (tests/resilience.rs).
#[test]
fn an_unwritable_directory_is_a_typed_error_at_open() {
    use sturdycache::DiskErrorKind;
    use sturdycache::fs::{Fault, FaultRule, FaultyFs, FsOp, StdFs, Trigger};
    for (errno, kind) in [(13, DiskErrorKind::PermissionDenied), (30, DiskErrorKind::ReadOnly)] {
        let dir = tempfile::tempdir().unwrap();
        let faulty = Arc::new(FaultyFs::new(Arc::new(StdFs)));
        faulty.inject(FaultRule::new(FsOp::Write, Fault::Errno(errno), Trigger::Always));
        let mut c = config(dir.path(), &ManualClock::new(T0));
        c.fs = faulty.clone();
        c.fail_on_disk_error = true;
        match Cache::open(c) {
            Err(Error::Disk { kind: got, .. }) => assert_eq!(got, kind, "errno {errno}"),
            other => panic!("errno {errno}: expected a disk error, got {other:?}"),
        }
        faulty.clear();
        let mut c = config(dir.path(), &ManualClock::new(T0));
        c.fs = faulty;
        assert!(Cache::open(c).is_ok(), "the same directory opens once it is writable");
    }
}

/// `get_from_memory` + `get_after_memory` answer and count exactly like `get`.
#[test]
fn a_get_in_two_halves_answers_and_counts_like_one_get() {
    use sturdycache::MemoryLookup;
    let (dir, clock, cache) = fresh();
    cache.set(b"hot", b"in memory").unwrap();
    match cache.get_from_memory(b"hot").unwrap() {
        MemoryLookup::Hit(v, _) => assert_eq!(&v[..], b"in memory"),
        other => panic!("expected a hot hit, got {other:?}"),
    }
    // Another handle with a cold hot tier: memory misses, the second half reads the disk.
    let cold = open(config(dir.path(), &clock));
    let miss = match cold.get_from_memory(b"hot").unwrap() {
        MemoryLookup::Miss(miss) => miss,
        other => panic!("expected a miss, got {other:?}"),
    };
    assert_eq!(cold.get_after_memory(b"hot", miss).unwrap().as_deref(), Some(&b"in memory"[..]));
    let m = cold.metrics();
    assert_eq!((m.hot_hits, m.hot_misses, m.disk_hits, m.disk_misses), (0, 1, 1, 0));
    // A miss handed back with another key is a fresh lookup of that key, never the first key's value.
    let MemoryLookup::Miss(miss) = cold.get_from_memory(b"absent").unwrap() else { panic!("absent is a miss") };
    assert_eq!(cold.get_after_memory(b"hot", miss).unwrap().as_deref(), Some(&b"in memory"[..]));
    assert!(matches!(cold.get_from_memory(b""), Err(Error::EmptyKey)));
}

/// Threads of one process opening a new directory at once (Node workers share
/// a pid) all open it in normal mode: none loses a race on VERSION.
#[test]
fn threads_opening_a_new_directory_at_once_all_open_normally() {
    use sturdycache::Mode;
    for round in 0..10 {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join(format!("new-{round}"));
        let barrier = Arc::new(Barrier::new(8));
        let modes: Vec<Mode> = (0..8)
            .map(|_| {
                let (dir, barrier) = (dir.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let cache = Cache::open(Config::new(&dir)).expect("open");
                    cache.mode()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        assert!(modes.iter().all(|m| *m == Mode::Normal), "round {round}: {modes:?}");
        assert_eq!(std::fs::read_to_string(dir.join("VERSION")).unwrap(), format!("sturdycache {DIRECTORY_VERSION}\n"));
    }
}

/// A file system without [`FileSystem::rename_new`] (the trait's default),
/// like an old kernel or a network file system: otherwise the real one.
#[derive(Debug)]
struct WithoutRenameNew;

impl sturdycache::fs::FileSystem for WithoutRenameNew {
    fn create_dir_all(&self, path: &Path) -> std::io::Result<()> {
        sturdycache::fs::StdFs.create_dir_all(path)
    }
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        sturdycache::fs::StdFs.read(path)
    }
    fn read_head(&self, path: &Path, max_len: usize) -> std::io::Result<Vec<u8>> {
        sturdycache::fs::StdFs.read_head(path, max_len)
    }
    fn write_new(&self, path: &Path, data: &[u8], sync: bool) -> std::io::Result<()> {
        sturdycache::fs::StdFs.write_new(path, data, sync)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        sturdycache::fs::StdFs.rename(from, to)
    }
    fn hard_link(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        sturdycache::fs::StdFs.hard_link(from, to)
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        sturdycache::fs::StdFs.remove_file(path)
    }
    fn sync_dir(&self, path: &Path) -> std::io::Result<()> {
        sturdycache::fs::StdFs.sync_dir(path)
    }
    fn read_dir(&self, path: &Path) -> std::io::Result<Vec<sturdycache::fs::DirEntry>> {
        sturdycache::fs::StdFs.read_dir(path)
    }
    fn metadata(&self, path: &Path) -> std::io::Result<sturdycache::fs::FileMeta> {
        sturdycache::fs::StdFs.metadata(path)
    }
    fn set_accessed(&self, path: &Path, at_ms: u64) -> std::io::Result<()> {
        sturdycache::fs::StdFs.set_accessed(path, at_ms)
    }
    fn map_shared(&self, path: &Path, len: u64) -> std::io::Result<memmap2::MmapMut> {
        sturdycache::fs::StdFs.map_shared(path, len)
    }
}

/// A set publishes its entry with a rename that refuses to replace, so a
/// new key costs no look at an old file; an entry this handle does not know
/// of (written by another process) is still found and its bytes still
/// counted, on the real file system and on one that cannot refuse.
#[test]
fn a_new_key_is_published_without_a_look_and_an_unknown_old_entry_is_still_counted() {
    use sturdycache::fs::{FaultyFs, FileSystem, FsOp, StdFs};
    let looks_for_a_new_key = |inner: Arc<dyn FileSystem>| {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let faulty = Arc::new(FaultyFs::new(inner));
        let mut counted = config(dir.path(), &clock);
        counted.fs = faulty.clone();
        let cache = open(counted);
        let other = open(config(dir.path(), &clock));
        cache.wait_ready(); // the open work's own looks are not the set's
        cache.set(b"new", b"first").unwrap(); // makes the entry's folder
        assert!(cache.delete(b"new").unwrap());
        let before = faulty.calls(FsOp::Metadata);
        cache.set(b"new", b"value").unwrap();
        let looks = faulty.calls(FsOp::Metadata) - before;
        other.set(b"shared", &[7; 3000]).unwrap(); // not in `cache`'s index
        cache.set(b"shared", b"small").unwrap();
        assert_eq!(get(&other, b"shared").as_deref(), Some(&b"small"[..]));
        assert_eq!(cache.metrics().disk_bytes, data_bytes(dir.path()), "the replaced 3000-byte entry was subtracted");
        looks
    };
    assert_eq!(looks_for_a_new_key(Arc::new(StdFs)), 0);
    assert_eq!(looks_for_a_new_key(Arc::new(WithoutRenameNew)), 1, "without rename_new the set looks first");
}
