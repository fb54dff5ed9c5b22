//! `secret_key` (authenticated entries) and `Cache::check` (a full audit).
//!
//! Every test uses a `ManualClock` and no periodic sweep, so time only moves
//! when a test says so.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sturdycache::clock::ManualClock;
use sturdycache::format::{self, Compression, EncodeInput, MacKey};
use sturdycache::{Cache, CheckReport, Config, Error, SetOptions, parse_size};

const T0: u64 = 1_700_000_000_000;

fn config(dir: &Path, clock: &ManualClock, secret: Option<&[u8]>) -> Config {
    let mut c = Config::new(dir);
    c.sweep_interval = None;
    c.health_interval = None;
    c.clock = Arc::new(clock.clone());
    // No hot tier: every read below goes to the disk, where verification happens.
    c.memory_limit = 0;
    c.secret_key = secret.map(<[u8]>::to_vec);
    c
}

fn open(c: Config) -> Cache {
    let cache = Cache::open(c).expect("open");
    cache.wait_ready();
    cache
}

fn entry_path(dir: &Path, key: &[u8]) -> PathBuf {
    let hash = format::key_hash(key);
    dir.join("data").join(format!("{:02x}", hash >> 120)).join(format!("{hash:032x}"))
}

fn quarantine_reasons(dir: &Path) -> Vec<String> {
    let Ok(list) = std::fs::read_dir(dir.join("quarantine")) else { return Vec::new() };
    let mut reasons: Vec<String> = list
        .map(|e| {
            // `<ms>-<reason>-<hash>-<pid>-<n>`, where every reason is `bad-<what>`.
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.split('-').skip(1).take(2).collect::<Vec<_>>().join("-")
        })
        .collect();
    reasons.sort();
    reasons
}

/// An entry for `key` as a writer without the secret (or an attacker) would write it.
fn forged(key: &[u8], value: &[u8], mac_key: Option<&MacKey>) -> Vec<u8> {
    let input = EncodeInput { key, tag: b"", value, value_type: 7, created_ms: T0, expires_ms: 0, mac_key };
    format::encode(&input, Compression { threshold: usize::MAX, level: 3 })
}

#[test]
fn a_keyed_cache_reads_its_own_entries_and_quarantines_forgeries() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let cache = open(config(dir.path(), &clock, Some(b"s3cret")));
    cache.set(b"model", b"weights").unwrap();
    assert_eq!(cache.get(b"model").unwrap().as_deref(), Some(&b"weights"[..]));

    // Someone who can write the directory but lacks the secret replaces the entry.
    std::fs::write(entry_path(dir.path(), b"model"), forged(b"model", b"evil pickle", None)).unwrap();
    assert_eq!(cache.get(b"model").unwrap(), None, "a forged entry is a miss, never returned");
    assert_eq!(quarantine_reasons(dir.path()), ["bad-mac"]);

    // A MAC under another key is refused too.
    let other = MacKey::derive(b"guess");
    std::fs::write(entry_path(dir.path(), b"model"), forged(b"model", b"evil", Some(&other))).unwrap();
    assert_eq!(cache.get(b"model").unwrap(), None);
    assert_eq!(cache.metrics().quarantined, 2);
}

#[test]
fn caches_sharing_a_secret_share_entries_and_touch_keeps_them_valid() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let writer = open(config(dir.path(), &clock, Some(b"shared")));
    writer.set_with(b"k", b"v", SetOptions::ttl(Duration::from_secs(10))).unwrap();
    assert!(writer.touch(b"k", sturdycache::Ttl::After(Duration::from_secs(60))).unwrap());
    let reader = open(config(dir.path(), &clock, Some(b"shared")));
    clock.advance(Duration::from_secs(30));
    assert_eq!(reader.get(b"k").unwrap().as_deref(), Some(&b"v"[..]), "touched entry still authenticates");
    // A cache without the secret still reads authenticated entries (integrity is checked, the MAC is not).
    let keyless = open(config(dir.path(), &clock, None));
    assert_eq!(keyless.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    assert!(quarantine_reasons(dir.path()).is_empty());
}

#[test]
fn entries_written_without_the_secret_are_refused_by_a_keyed_cache() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    open(config(dir.path(), &clock, None)).set(b"old", b"unauthenticated").unwrap();
    let keyed = open(config(dir.path(), &clock, Some(b"new secret")));
    assert_eq!(keyed.get(b"old").unwrap(), None);
    assert_eq!(quarantine_reasons(dir.path()), ["bad-mac"]);
}

#[test]
fn an_empty_secret_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    match Cache::open(config(dir.path(), &clock, Some(b""))) {
        Err(Error::InvalidConfig(msg)) => assert!(msg.contains("secret_key"), "{msg}"),
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

#[test]
fn check_verifies_every_entry_and_quarantines_the_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let cache = open(config(dir.path(), &clock, None));
    for i in 0..5u8 {
        cache.set(&[b'k', i], &[i; 100]).unwrap();
    }
    cache.set_with(b"short-lived", b"x", SetOptions::ttl(Duration::from_secs(1))).unwrap();
    // One bit flip in a value, one truncation.
    let flip = entry_path(dir.path(), &[b'k', 1]);
    let mut bytes = std::fs::read(&flip).unwrap();
    bytes[format::HEADER_LEN + 5] ^= 0x10;
    std::fs::write(&flip, bytes).unwrap();
    let cut = entry_path(dir.path(), &[b'k', 3]);
    let bytes = std::fs::read(&cut).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() - 3]).unwrap();
    clock.advance(Duration::from_secs(2));

    let report = cache.check().unwrap();
    assert_eq!(report, CheckReport { scanned: 6, valid: 3, expired: 1, quarantined: 2, errors: 0 });
    assert!(!flip.exists() && !cut.exists(), "bad files left the data folder");
    assert_eq!(quarantine_reasons(dir.path()), ["bad-checksum", "bad-length"]);
    // A second audit finds nothing new.
    assert_eq!(cache.check().unwrap(), CheckReport { scanned: 4, valid: 3, expired: 1, ..Default::default() });
}

#[test]
fn sizes_parse_the_same_way_for_every_binding() {
    for (text, bytes) in [
        ("4096", 4096),
        ("64KiB", 64 << 10),
        ("64k", 64 << 10),
        ("512 MiB", 512 << 20),
        ("1GB", 1_000_000_000),
        ("1.5GiB", 3 << 29),
        (" 2gib ", 2 << 30),
        ("0", 0),
    ] {
        assert_eq!(parse_size(text).unwrap(), bytes, "{text}");
    }
    for bad in ["", "MiB", "-1", "12 parsecs", "1e3", "99999999999999999999TiB", "1..2k"] {
        match parse_size(bad) {
            Err(Error::InvalidConfig(msg)) => assert!(msg.contains("not a size"), "{bad}: {msg}"),
            other => panic!("{bad:?} gave {other:?}"),
        }
    }
}
