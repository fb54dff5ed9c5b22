//! # sturdycache
//!
//! A resilient two-tier cache: a hot in-memory tier with a byte budget in front
//! of a warm disk tier of checksummed, atomically written entry files.
//! A torn, truncated, bit-flipped or deleted file is quarantined and reported
//! as a miss, never returned; any number of processes may share a directory.
//!
//! ```
//! use sturdycache::{Cache, Config, SetOptions};
//! use std::time::Duration;
//!
//! let dir = tempfile::tempdir()?;
//! let cache = Cache::open(Config::new(dir.path()))?;
//! cache.set(b"greeting", b"hello")?;
//! assert_eq!(cache.get(b"greeting")?.as_deref(), Some(&b"hello"[..]));
//! cache.set_with(b"session", b"abc", SetOptions::ttl(Duration::from_secs(60)).with_tag("users"))?;
//! assert_eq!(cache.evict_tag("users")?, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every disk call goes through the [`fs::FileSystem`] seam and every reading of
//! time through the [`clock::Clock`] seam, so tests can inject faults
//! ([`fs::FaultyFs`]) and move time ([`clock::ManualClock`]).

#![warn(missing_docs)]

pub mod breaker;
mod cache;
pub mod chaos;
pub mod clock;
mod coherence;
mod config;
mod disk;
mod error;
pub mod events;
mod flight;
pub mod format;
pub mod fs;
mod guard;
pub mod histogram;
mod hot;
mod index;
mod keylock;
mod metrics;
mod name;
pub mod prometheus;
mod replay;
mod value;
pub mod value_type;

pub use cache::{
    Cache, CheckReport, DIRECTORY_VERSION, Keys, LoadError, MemoryLookup, MemoryMiss, RecoveryReport, SetOptions,
    Stored, SweepReport, Ttl,
};
pub use config::{
    Config, DEFAULT_DISK_LIMIT, DEFAULT_MAX_KEY_SIZE, DEFAULT_MAX_VALUE_SIZE, DEFAULT_MEMORY_LIMIT, Durability,
    WriteMode, parse_size,
};
pub use error::{Corruption, DiskErrorKind, Error, Result};
pub use events::{BreakerName, DiskHealth, Event, ListenerId, Mode};
pub use guard::{DiskPath, GuardSnapshot, LastError};
pub use hot::ENTRY_OVERHEAD;
pub use metrics::{DiskErrorCounts, MetricsSnapshot};
pub use name::{UnknownName, parse_name};
pub use replay::ReplayStats;
pub use value::{Attachment, Value};

/// This library's version (the crate version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
