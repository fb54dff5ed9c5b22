//! Every setting of a cache, with defaults and validation.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::breaker::BreakerConfig;
use crate::clock::{Clock, SystemClock};
use crate::error::{DiskErrorKind, Error, Result};
use crate::fs::{FileSystem, StdFs};

/// How hard a set works to make its entry survive a power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Write and rename; the OS flushes when it likes. Survives a killed process,
    /// not a power cut. The fast default, as for most caches.
    #[default]
    None,
    /// fsync the file before the rename and the folder after it: a set that
    /// returned survives a power loss.
    Fsync,
}

/// When a set returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// After the entry is on disk (per `durability`).
    #[default]
    WriteThrough,
    /// After the memory insert: the value is queued and a background writer
    /// persists it (`Cache::flush` waits for that). Such a set makes no disk
    /// call; it can wait only while the background writer is writing that same
    /// key (the key's lock). When the queue is full on a healthy disk, the
    /// writer is behind a burst: the set writes through itself and returns
    /// `Stored::Disk` (backpressure: no accepted write is dropped). While the
    /// cache is degraded, a full queue drops its oldest writes (lost entries,
    /// counted, never wrong values). Other processes see the value once it is
    /// written.
    WriteBehind,
}

/// The settings of a [`Cache`](crate::Cache).
///
/// Build one with [`Config::new`] and change fields directly; [`Cache::open`](crate::Cache::open)
/// validates it.
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// The cache directory; created if missing.
    pub directory: PathBuf,
    /// Byte budget of the hot (memory) tier, counting keys, values, tags and a
    /// fixed per-entry overhead. Default 64 MiB. 0 disables the hot tier.
    pub memory_limit: u64,
    /// Byte budget of the warm (disk) tier, counting whole entry files. Default 1 GiB.
    pub disk_limit: u64,
    /// Expiry for entries set without an explicit TTL. Default: none.
    pub default_ttl: Option<Duration>,
    /// Whether sets wait for fsync. Default [`Durability::None`].
    pub durability: Durability,
    /// Longest accepted key. Default 64 KiB; at most 1 GiB.
    pub max_key_size: usize,
    /// Longest accepted value. Default 128 MiB.
    pub max_value_size: usize,
    /// Values at least this long are zstd-compressed when that saves space. Default 4 KiB.
    pub compression_threshold: usize,
    /// zstd level (1–22). Default 3.
    pub compression_level: i32,
    /// How long quarantined files are kept for forensics. Default 7 days.
    pub quarantine_retention: Duration,
    /// Cap on the quarantine folder's size; the oldest files go first. Default 64 MiB.
    pub quarantine_max_bytes: u64,
    /// How often the background sweep removes expired entries, enforces the disk
    /// budget and cleans the quarantine. Default 60 s; `None` runs no periodic sweep
    /// (call [`Cache::sweep`](crate::Cache::sweep) yourself).
    pub sweep_interval: Option<Duration>,
    /// Number of hot-tier shards (a power of two). Default 16.
    pub hot_shards: usize,
    /// Settings of the two circuit breakers guarding the disk's read and write paths.
    pub breaker: BreakerConfig,
    /// Which disk error kinds count as breaker failures. Default: all of them.
    pub breaker_failure_kinds: Vec<DiskErrorKind>,
    /// How much the hot budget grows while the cache is degraded (read-only or
    /// memory-only), so memory can stand in for the disk. Default 2.0; 1.0 to 16.0.
    pub degraded_memory_factor: f64,
    /// Most writes kept for replay while the disk cannot take them. Default 10 000.
    pub max_replay_entries: usize,
    /// Most bytes kept for replay. Default 64 MiB.
    pub max_replay_bytes: u64,
    /// Writes replayed per batch after recovery. Default 100.
    pub drain_batch_size: usize,
    /// How often a healthy disk is probed (write, fsync, read back, delete a
    /// small file) to catch a failing disk before a user call does. Default 60 s;
    /// `None` disables the periodic probe (recovery probes still run).
    pub health_interval: Option<Duration>,
    /// A disk call still running after this long trips its path's breaker (the
    /// stalled-disk watchdog): later calls are answered from memory instead of
    /// queueing behind a hung disk. Default 5 s; `None` disables the watchdog.
    pub io_timeout: Option<Duration>,
    /// When a set returns: after the disk write ([`WriteMode::WriteThrough`],
    /// the default) or after the memory insert ([`WriteMode::WriteBehind`]).
    pub write_mode: WriteMode,
    /// Surface disk errors to callers as `Err` instead of degrading (no
    /// breakers, no replay): for tests of the engine itself. Default false.
    pub fail_on_disk_error: bool,
    /// A secret that authenticates every entry (a keyed BLAKE3 MAC): entries
    /// written carry a MAC, and an entry read without a valid one is quarantined
    /// and reported as a miss, so bytes someone else wrote never reach a
    /// deserializer. Every process sharing the directory must use the same
    /// secret. Default none.
    pub secret_key: Option<Vec<u8>>,
    /// The file-system seam. Default: the real file system.
    pub fs: Arc<dyn FileSystem>,
    /// The clock seam. Default: the system clock.
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("directory", &self.directory)
            .field("memory_limit", &self.memory_limit)
            .field("disk_limit", &self.disk_limit)
            .field("default_ttl", &self.default_ttl)
            .field("durability", &self.durability)
            .field("max_key_size", &self.max_key_size)
            .field("max_value_size", &self.max_value_size)
            .field("compression_threshold", &self.compression_threshold)
            .field("compression_level", &self.compression_level)
            .field("quarantine_retention", &self.quarantine_retention)
            .field("quarantine_max_bytes", &self.quarantine_max_bytes)
            .field("sweep_interval", &self.sweep_interval)
            .field("hot_shards", &self.hot_shards)
            .field("breaker", &self.breaker)
            .field("breaker_failure_kinds", &self.breaker_failure_kinds)
            .field("degraded_memory_factor", &self.degraded_memory_factor)
            .field("max_replay_entries", &self.max_replay_entries)
            .field("max_replay_bytes", &self.max_replay_bytes)
            .field("drain_batch_size", &self.drain_batch_size)
            .field("health_interval", &self.health_interval)
            .field("io_timeout", &self.io_timeout)
            .field("write_mode", &self.write_mode)
            .field("fail_on_disk_error", &self.fail_on_disk_error)
            .field("secret_key", &self.secret_key.as_ref().map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

/// Parses a size such as `"512MiB"`, `"1 GB"`, `"64k"` or `"4096"` into bytes,
/// so that every binding reads size settings the same way.
///
/// Units are case-insensitive: `B`; decimal `kB`, `MB`, `GB`, `TB` (powers of
/// 1000); binary `KiB`, `MiB`, `GiB`, `TiB` and the short `K`, `M`, `G`, `T`
/// (powers of 1024, as in most caches' settings). A fraction is allowed
/// (`"1.5GiB"`); the result is rounded down to whole bytes.
pub fn parse_size(text: &str) -> Result<u64> {
    let bad =
        || Error::InvalidConfig(format!("{text:?} is not a size (examples: 4096, \"64KiB\", \"512MiB\", \"1GB\")"));
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        _ => return Err(bad()),
    };
    if number.is_empty() {
        return Err(bad());
    }
    if let Ok(whole) = number.parse::<u64>() {
        return whole.checked_mul(multiplier).ok_or_else(bad);
    }
    let fraction: f64 = number.parse().map_err(|_| bad())?;
    let bytes = fraction * multiplier as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// Default hot budget.
pub const DEFAULT_MEMORY_LIMIT: u64 = 64 << 20;
/// Default disk budget.
pub const DEFAULT_DISK_LIMIT: u64 = 1 << 30;
/// Default key limit.
pub const DEFAULT_MAX_KEY_SIZE: usize = 64 << 10;
/// Default value limit.
pub const DEFAULT_MAX_VALUE_SIZE: usize = 128 << 20;

impl Config {
    /// Default settings for a cache in `directory`.
    pub fn new(directory: impl Into<PathBuf>) -> Self {
        Config {
            directory: directory.into(),
            memory_limit: DEFAULT_MEMORY_LIMIT,
            disk_limit: DEFAULT_DISK_LIMIT,
            default_ttl: None,
            durability: Durability::None,
            max_key_size: DEFAULT_MAX_KEY_SIZE,
            max_value_size: DEFAULT_MAX_VALUE_SIZE,
            compression_threshold: 4 << 10,
            compression_level: 3,
            quarantine_retention: Duration::from_secs(7 * 24 * 3600),
            quarantine_max_bytes: 64 << 20,
            sweep_interval: Some(Duration::from_secs(60)),
            hot_shards: 16,
            breaker: BreakerConfig::default(),
            breaker_failure_kinds: DiskErrorKind::ALL.to_vec(),
            degraded_memory_factor: 2.0,
            max_replay_entries: 10_000,
            max_replay_bytes: 64 << 20,
            drain_batch_size: 100,
            health_interval: Some(Duration::from_secs(60)),
            io_timeout: Some(Duration::from_secs(5)),
            write_mode: WriteMode::WriteThrough,
            fail_on_disk_error: false,
            secret_key: None,
            fs: Arc::new(StdFs),
            clock: Arc::new(SystemClock),
        }
    }

    /// Checks every setting, naming the first one out of range.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::InvalidConfig(msg));
        if self.directory.as_os_str().is_empty() {
            return bad("directory must not be empty".into());
        }
        if self.max_key_size == 0 || self.max_key_size > (1 << 30) {
            return bad(format!("max_key_size must be 1..=1 GiB, got {}", self.max_key_size));
        }
        if self.max_value_size == 0 || self.max_value_size as u64 > (1 << 40) {
            return bad(format!("max_value_size must be 1..=1 TiB, got {}", self.max_value_size));
        }
        if self.disk_limit == 0 {
            return bad("disk_limit must be greater than 0".into());
        }
        if !(1..=22).contains(&self.compression_level) {
            return bad(format!("compression_level must be 1..=22, got {}", self.compression_level));
        }
        if !self.hot_shards.is_power_of_two() || self.hot_shards > 1024 {
            return bad(format!("hot_shards must be a power of two up to 1024, got {}", self.hot_shards));
        }
        if self.default_ttl == Some(Duration::ZERO) {
            return bad("default_ttl must be greater than zero (or unset)".into());
        }
        if self.sweep_interval == Some(Duration::ZERO) {
            return bad("sweep_interval must be greater than zero (or unset)".into());
        }
        if self.io_timeout == Some(Duration::ZERO) {
            return bad("io_timeout must be greater than zero (or unset)".into());
        }
        if self.health_interval == Some(Duration::ZERO) {
            return bad("health_interval must be greater than zero (or unset)".into());
        }
        if !(1.0..=16.0).contains(&self.degraded_memory_factor) {
            return bad(format!("degraded_memory_factor must be 1.0..=16.0, got {}", self.degraded_memory_factor));
        }
        if self.max_replay_entries == 0 || self.drain_batch_size == 0 {
            return bad("max_replay_entries and drain_batch_size must be greater than zero".into());
        }
        if self.secret_key.as_ref().is_some_and(|k| k.is_empty()) {
            return bad("secret_key must not be empty (or unset)".into());
        }
        self.breaker.validate().map_err(|e| Error::InvalidConfig(format!("breaker: {e}")))?;
        Ok(())
    }
}
