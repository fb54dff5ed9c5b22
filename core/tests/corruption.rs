//! Corruption of real entry files, exhaustively: every byte of a file written by
//! the cache is bit-flipped in turn (three masks), and the file is truncated at
//! every length. Each damaged file is put in place out of band (through
//! `std::fs`), then read: the read must be a miss (never a value, never an
//! error, never a panic), the file must have moved to `<dir>/quarantine/` under
//! a name holding the reason the format gives for that damage, with its bytes
//! intact, and the corruption and quarantine counters must each grow by one.
//!
//! Two look-alikes of corruption are checked not to be treated as such: another
//! key's valid entry under this key's file name (a hash collision) and a valid
//! entry of a newer format version (its checksum holds). Both are misses left
//! in place; a version field damaged into a higher number fails the checksum.
//!
//! One cache with the hot tier off (`memory_limit = 0`) serves every case, so
//! each read goes to the file.

use std::path::PathBuf;
use std::sync::Arc;

use sturdycache::clock::ManualClock;
use sturdycache::format::{self, CHECKSUM_LEN, HEADER_LEN};
use sturdycache::{Cache, Config, MetricsSnapshot, Ttl};
use xxhash_rust::xxh3::xxh3_64;

const START_MS: u64 = 1_700_000_000_000;
const PLAIN_KEY: &[u8] = b"plain-key";
const ZSTD_KEY: &[u8] = b"compressed-key";

struct Rig {
    _dir: tempfile::TempDir,
    root: PathBuf,
    cache: Cache,
}

/// What reading a damaged file must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Quarantined, with this reason in the quarantine file's name.
    Quarantined(&'static str),
    /// Not corruption (a newer writer's entry, another key's entry): a miss,
    /// the file left in place and not counted.
    LeftInPlace,
}

impl Rig {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cache");
        let mut config = Config::new(&root);
        config.memory_limit = 0;
        config.sweep_interval = None;
        config.fail_on_disk_error = true; // engine verification, not the read breaker: every read must reach the file
        config.clock = Arc::new(ManualClock::new(START_MS));
        let cache = Cache::open(config).unwrap();
        cache.wait_ready();
        Rig { _dir: dir, root, cache }
    }

    /// `data/<first hash byte, 2 hex>/<hash, 32 hex>` (docs/FORMAT.md).
    fn entry_path(&self, key: &[u8]) -> PathBuf {
        let hash = format::key_hash(key);
        self.root.join("data").join(format!("{:02x}", (hash >> 120) as u8)).join(format!("{hash:032x}"))
    }

    fn quarantined(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.root.join("quarantine")) {
            Ok(list) => list.map(|e| e.unwrap().path()).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("listing the quarantine: {e}"),
        }
    }

    /// Stores `value` under `key` and returns the entry file the cache wrote.
    fn write_entry(&self, key: &[u8], value: &[u8]) -> Vec<u8> {
        self.cache.set(key, value).unwrap();
        std::fs::read(self.entry_path(key)).expect("the entry file is where the layout says")
    }

    /// Puts `bytes` in place of `key`'s entry file, reads `key` and checks the outcome.
    fn check(&self, key: &[u8], bytes: &[u8], expect: Expect, what: &dyn Fn() -> String) {
        let path = self.entry_path(key);
        std::fs::write(&path, bytes).unwrap();
        let before = self.cache.metrics();
        match self.cache.get(key) {
            Ok(None) => {}
            other => panic!("{}: expected a miss, got {other:?}", what()),
        }
        let after = self.cache.metrics();
        let quarantined = self.quarantined();
        match expect {
            Expect::Quarantined(reason) => {
                assert!(!path.exists(), "{}: the corrupt file was left in place", what());
                assert_eq!(quarantined.len(), 1, "{}: quarantine holds {quarantined:?}", what());
                let q = &quarantined[0];
                let name = q.file_name().unwrap().to_string_lossy();
                let hash = format!("{:032x}", format::key_hash(key));
                assert!(
                    name.contains(&format!("-{reason}-")) && name.contains(&hash),
                    "{}: quarantined as {name}, expected reason {reason} and hash {hash}",
                    what()
                );
                assert!(std::fs::read(q).unwrap() == bytes, "{}: the quarantined bytes changed", what());
                std::fs::remove_file(q).unwrap();
                assert_eq!(counts(&after), (counts(&before).0 + 1, counts(&before).1 + 1), "{}", what());
            }
            Expect::LeftInPlace => {
                assert!(quarantined.is_empty(), "{}: quarantined {quarantined:?}", what());
                assert!(std::fs::read(&path).unwrap() == bytes, "{}: the file was changed or removed", what());
                assert_eq!(counts(&after), counts(&before), "{}: counted as corruption", what());
            }
        }
    }
}

/// (corruptions, quarantined)
fn counts(m: &MetricsSnapshot) -> (u64, u64) {
    (m.corruptions, m.quarantined)
}

/// Deterministic pseudo-random words: compressible, but not to almost nothing.
fn wordy(len: usize, seed: u64) -> Vec<u8> {
    const WORDS: [&[u8]; 12] = [
        b"sturdy ",
        b"cache ",
        b"entry ",
        b"file ",
        b"torn ",
        b"flip ",
        b"byte ",
        b"disk ",
        b"warm ",
        b"hot ",
        b"quarantine ",
        b"checksum ",
    ];
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        out.extend_from_slice(WORDS[rng.usize(..WORDS.len())]);
        if rng.u8(..) < 40 {
            out.extend_from_slice(rng.u32(..).to_string().as_bytes());
        }
    }
    out.truncate(len);
    out
}

/// What the format says a read of `original` with `mask` applied at `offset`
/// must conclude (the order of checks is the one docs/FORMAT.md gives: magic,
/// version, lengths and header fields, checksum, decompression).
fn expected_flip(original: &[u8], offset: usize, mask: u8) -> Expect {
    let compressed = original[8] == 1;
    let q = Expect::Quarantined;
    match offset {
        0..4 => q("bad-magic"),
        4 | 5 => {
            let mut v = [original[4], original[5]];
            v[offset - 4] ^= mask;
            // Version 0 is never written; a higher version is a newer writer's
            // only if the checksum (which covers the version) still holds.
            if u16::from_le_bytes(v) == 0 { q("bad-header") } else { q("bad-checksum") }
        }
        // Flag bit 0 alone claims a MAC the file has no room for; any other bit is reserved.
        6 if mask == 0x01 => q("bad-length"),
        6 | 7 => q("bad-header"),
        8 => match original[8] ^ mask {
            // Plain -> zstd passes the header checks and fails the checksum;
            // zstd -> plain breaks stored length == value length.
            1 => q("bad-checksum"),
            _ => q("bad-header"),
        },
        9 => q("bad-checksum"),    // value type
        10..16 => q("bad-length"), // tag and key lengths
        16..24 if compressed => q("bad-length"),
        24..32 if compressed => q("bad-checksum"),
        16..32 => q("bad-header"), // plain: stored length must equal value length
        _ => q("bad-checksum"),    // times, key, value, checksum
    }
}

/// Every byte flipped with 0x01, 0x80 and a seeded random non-zero mask, then
/// every truncation; finally the original again, which must still read.
fn every_flip_and_truncation(rig: &Rig, key: &[u8], value: &[u8], original: &[u8]) {
    let mut rng = fastrand::Rng::with_seed(0x5eed ^ original.len() as u64);
    let mut bytes = original.to_vec();
    for offset in 0..original.len() {
        for mask in [0x01, 0x80, rng.u8(1..)] {
            bytes[offset] ^= mask;
            let expect = expected_flip(original, offset, mask);
            rig.check(key, &bytes, expect, &|| format!("flip {mask:#04x} at {offset} of {}", original.len()));
            bytes[offset] ^= mask;
        }
    }
    for len in 0..original.len() {
        let expect = Expect::Quarantined(if len < 6 { "bad-magic" } else { "bad-length" });
        rig.check(key, &original[..len], expect, &|| format!("truncated to {len} of {}", original.len()));
    }
    std::fs::write(rig.entry_path(key), original).unwrap();
    assert_eq!(rig.cache.get(key).unwrap().as_deref(), Some(value), "the undamaged file reads again");
}

#[test]
fn every_flipped_byte_and_truncation_of_a_plain_entry_is_quarantined() {
    let rig = Rig::new();
    let value = wordy(200, 1);
    let original = rig.write_entry(PLAIN_KEY, &value);
    assert_eq!(original[8], 0, "a value under the threshold is stored plain");
    assert_eq!(original.len(), HEADER_LEN + PLAIN_KEY.len() + value.len() + CHECKSUM_LEN);
    every_flip_and_truncation(&rig, PLAIN_KEY, &value, &original);
    let m = rig.cache.metrics();
    assert_eq!(m.quarantined, m.corruptions, "every corruption was quarantined");
    assert!(m.quarantined >= 4 * original.len() as u64 - 10, "{} quarantined", m.quarantined);
}

#[test]
fn every_flipped_byte_and_truncation_of_a_compressed_entry_is_quarantined() {
    let rig = Rig::new();
    let value = wordy(6000, 2);
    assert!(value.len() > rig.cache.config().compression_threshold);
    let original = rig.write_entry(ZSTD_KEY, &value);
    assert_eq!(original[8], 1, "a compressible value over the threshold is stored compressed");
    assert!((1000..value.len()).contains(&original.len()), "compressed file of {} bytes", original.len());
    eprintln!("compressed entry file: {} bytes for a {}-byte value", original.len(), value.len());
    every_flip_and_truncation(&rig, ZSTD_KEY, &value, &original);
    let m = rig.cache.metrics();
    assert_eq!(m.quarantined, m.corruptions, "every corruption was quarantined");
}

/// Rewrites the trailing checksum so only the deeper checks can object.
fn reseal(bytes: &mut [u8]) {
    let body = bytes.len() - CHECKSUM_LEN;
    let sum = xxh3_64(&bytes[..body]);
    bytes[body..].copy_from_slice(&sum.to_le_bytes());
}

#[test]
fn a_checksummed_entry_that_does_not_decompress_is_quarantined() {
    let rig = Rig::new();
    let value = wordy(6000, 3);
    let original = rig.write_entry(ZSTD_KEY, &value);
    assert_eq!(original[8], 1);
    // A value length the frame does not decompress to.
    let mut longer = original.clone();
    longer[24..32].copy_from_slice(&(value.len() as u64 + 1).to_le_bytes());
    reseal(&mut longer);
    rig.check(ZSTD_KEY, &longer, Expect::Quarantined("bad-compression"), &|| "value length + 1".into());
    // A payload that is not a zstd frame at all.
    let mut garbage = original.clone();
    let payload = HEADER_LEN + ZSTD_KEY.len();
    garbage[payload..payload + 4].copy_from_slice(b"junk");
    reseal(&mut garbage);
    rig.check(ZSTD_KEY, &garbage, Expect::Quarantined("bad-compression"), &|| "not a zstd frame".into());
}

#[test]
fn another_keys_entry_under_this_name_is_a_miss_not_corruption() {
    let rig = Rig::new();
    let (a, b) = (&b"collide-a"[..], &b"collide-b"[..]);
    let b_file = rig.write_entry(b, b"b's value");
    // b's valid entry where a's file would be: what a hash collision looks like.
    let a_path = rig.entry_path(a);
    std::fs::create_dir_all(a_path.parent().unwrap()).unwrap();
    rig.check(a, &b_file, Expect::LeftInPlace, &|| "b's entry under a's name".into());
    assert!(!rig.cache.contains(a).unwrap());
    assert!(!rig.cache.touch(a, Ttl::Never).unwrap(), "touch of a collision");
    assert_eq!(rig.cache.pop(a).unwrap(), None, "pop of a collision");
    assert!(std::fs::read(&a_path).unwrap() == b_file, "pop put the other key's entry back");
    let keys: Vec<Vec<u8>> = rig.cache.keys().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(keys, vec![b.to_vec()], "keys lists b once, under its own name only");
    let report = rig.cache.sweep().unwrap();
    assert_eq!((report.scanned, report.quarantined), (2, 0));
    assert!(a_path.exists() && rig.quarantined().is_empty());
    assert_eq!(rig.cache.get(b).unwrap().as_deref(), Some(&b"b's value"[..]));
    assert_eq!(counts(&rig.cache.metrics()), (0, 0));
}

#[test]
fn a_newer_format_version_is_a_miss_not_corruption() {
    let rig = Rig::new();
    let key = &b"from-the-future"[..];
    let original = rig.write_entry(key, b"v2 bytes");
    let mut newer = original.clone();
    newer[4..6].copy_from_slice(&2u16.to_le_bytes());
    rig.check(key, &newer, Expect::Quarantined("bad-checksum"), &|| "version 2, old checksum".into());
    reseal(&mut newer);
    rig.check(key, &newer, Expect::LeftInPlace, &|| "version 2, valid checksum".into());
    assert!(!rig.cache.contains(key).unwrap());
    assert!(!rig.cache.touch(key, Ttl::Never).unwrap());
    assert_eq!(rig.cache.sweep().unwrap().quarantined, 0);
    assert!(std::fs::read(rig.entry_path(key)).unwrap() == newer, "the newer entry was left alone");
    assert_eq!(counts(&rig.cache.metrics()), (1, 1), "only the damaged version-2 file counted");
}
