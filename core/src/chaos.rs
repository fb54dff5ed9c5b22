//! The chaos API: lets users test their own application against a failing
//! cache disk, by injecting faults through the cache's file-system seam.
//!
//! Every cache wraps its file system in a [`FaultyFs`] without crash tracking;
//! with no fault armed that costs one relaxed atomic load per disk call.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::fs::{Fault, FaultRule, FaultyFs, FsOp, RuleId, Trigger};
use crate::name::{UnknownName, parse_name};

/// Which disk operations a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChaosOp {
    /// Reads, listings and metadata look-ups.
    Read,
    /// Creating and writing files (and folders).
    Write,
    /// fsync of files and folders.
    Fsync,
    /// Renames and hard links (how entries are published).
    Rename,
    /// Deletes.
    Delete,
    /// Every disk operation.
    All,
}

/// What an injected fault does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ChaosError {
    /// `EIO`: a failing device.
    Eio,
    /// `ENOSPC`: a full disk.
    Enospc,
    /// `EROFS`: a read-only file system.
    Erofs,
    /// `EACCES`: permission denied.
    Eacces,
    /// Reads return data with one bit flipped (only with `Read` or `All`).
    Corruption,
    /// Each call stalls this long, then proceeds (a slow or hung disk).
    Delay(Duration),
}

impl ChaosOp {
    /// Every op, in declaration order.
    pub const ALL: [ChaosOp; 6] =
        [ChaosOp::Read, ChaosOp::Write, ChaosOp::Fsync, ChaosOp::Rename, ChaosOp::Delete, ChaosOp::All];

    /// `"read"`, `"write"`, `"fsync"`, `"rename"`, `"delete"` or `"all"`: the
    /// name every binding uses for this op.
    pub fn name(self) -> &'static str {
        match self {
            ChaosOp::Read => "read",
            ChaosOp::Write => "write",
            ChaosOp::Fsync => "fsync",
            ChaosOp::Rename => "rename",
            ChaosOp::Delete => "delete",
            ChaosOp::All => "all",
        }
    }

    fn fs_ops(self) -> Vec<FsOp> {
        match self {
            ChaosOp::Read => vec![FsOp::Read, FsOp::ReadDir, FsOp::Metadata],
            ChaosOp::Write => vec![FsOp::Write, FsOp::CreateDir, FsOp::SetTimes],
            ChaosOp::Fsync => vec![FsOp::Sync, FsOp::SyncDir],
            ChaosOp::Rename => vec![FsOp::Rename, FsOp::Link],
            ChaosOp::Delete => vec![FsOp::Remove],
            ChaosOp::All => Vec::new(),
        }
    }
}

impl FromStr for ChaosOp {
    type Err = UnknownName;

    /// Parses a [`ChaosOp::name`].
    fn from_str(s: &str) -> std::result::Result<Self, UnknownName> {
        parse_name("fault op", s, ChaosOp::ALL, ChaosOp::name)
    }
}

/// A cache's fault injector (see [`Cache::faults`](crate::Cache::faults)).
#[derive(Debug, Clone)]
pub struct Faults {
    fs: Arc<FaultyFs>,
}

impl Faults {
    pub(crate) fn new(fs: Arc<FaultyFs>) -> Self {
        Faults { fs }
    }

    /// Arms a fault; returns its id for [`Faults::remove`]. Corruption applies
    /// to reads only, so it needs `ChaosOp::Read` or `ChaosOp::All`.
    pub fn inject(&self, op: ChaosOp, error: ChaosError, trigger: Trigger) -> Result<RuleId> {
        if let Trigger::Probability(p) = trigger
            && !(0.0..=1.0).contains(&p)
        {
            return Err(Error::InvalidConfig(format!("fault probability must be in 0..=1, got {p}")));
        }
        let errno = |e| Fault::Errno(e);
        let (ops, fault) = match error {
            ChaosError::Eio => (op.fs_ops(), errno(libc::EIO)),
            ChaosError::Enospc => (op.fs_ops(), errno(libc::ENOSPC)),
            ChaosError::Erofs => (op.fs_ops(), errno(libc::EROFS)),
            ChaosError::Eacces => (op.fs_ops(), errno(libc::EACCES)),
            ChaosError::Delay(d) => (op.fs_ops(), Fault::Delay(d)),
            ChaosError::Corruption => match op {
                ChaosOp::Read | ChaosOp::All => (vec![FsOp::Read], Fault::BitFlip { offset: None }),
                _ => return Err(Error::InvalidConfig("corruption faults apply to reads: use ChaosOp::Read".into())),
            },
        };
        Ok(self.fs.inject(FaultRule { ops, fault, trigger, path_contains: None }))
    }

    /// Disarms one fault; false if it was not armed.
    pub fn remove(&self, id: RuleId) -> bool {
        self.fs.remove(id)
    }

    /// Disarms every fault.
    pub fn clear(&self) {
        self.fs.clear()
    }

    /// Faults still armed.
    pub fn active(&self) -> usize {
        self.fs.armed()
    }

    /// Faults injected so far.
    pub fn injected(&self) -> u64 {
        self.fs.fired()
    }
}
