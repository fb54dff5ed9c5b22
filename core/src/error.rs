//! Typed errors: every failure a caller can see, classified so that callers
//! (and the resilience layer) can tell corruption, I/O faults and bad input apart.

use std::io;
use std::path::PathBuf;

/// What kind of disk failure an I/O error was, by its errno.
///
/// Not-found is deliberately absent: a missing file is a cache miss, never a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DiskErrorKind {
    /// The device or quota is full (`ENOSPC`, `EDQUOT`).
    NoSpace,
    /// The file system is read-only (`EROFS`).
    ReadOnly,
    /// Permission denied (`EACCES`, `EPERM`).
    PermissionDenied,
    /// A low-level I/O error (`EIO`).
    Io,
    /// The operation did not finish in time (`ETIMEDOUT`, or an injected delay).
    TimedOut,
    /// Any other error.
    Other,
}

impl DiskErrorKind {
    /// Every kind, in a stable order (used for per-kind counters).
    pub const ALL: [DiskErrorKind; 6] = [
        DiskErrorKind::NoSpace,
        DiskErrorKind::ReadOnly,
        DiskErrorKind::PermissionDenied,
        DiskErrorKind::Io,
        DiskErrorKind::TimedOut,
        DiskErrorKind::Other,
    ];

    /// Classifies an I/O error by its OS error code, falling back to its `ErrorKind`.
    pub fn of(err: &io::Error) -> Self {
        match err.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => Self::NoSpace,
            Some(libc::EROFS) => Self::ReadOnly,
            Some(libc::EACCES) | Some(libc::EPERM) => Self::PermissionDenied,
            Some(libc::EIO) => Self::Io,
            Some(libc::ETIMEDOUT) => Self::TimedOut,
            Some(_) => Self::Other,
            None => match err.kind() {
                io::ErrorKind::StorageFull => Self::NoSpace,
                io::ErrorKind::ReadOnlyFilesystem => Self::ReadOnly,
                io::ErrorKind::PermissionDenied => Self::PermissionDenied,
                io::ErrorKind::TimedOut => Self::TimedOut,
                _ => Self::Other,
            },
        }
    }

    /// A short lower-case name, stable for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoSpace => "no_space",
            Self::ReadOnly => "read_only",
            Self::PermissionDenied => "permission_denied",
            Self::Io => "io",
            Self::TimedOut => "timed_out",
            Self::Other => "other",
        }
    }

    pub(crate) fn index(self) -> usize {
        Self::ALL.iter().position(|k| *k == self).unwrap_or(Self::ALL.len() - 1)
    }
}

impl std::fmt::Display for DiskErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a stored entry was judged corrupt.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Corruption {
    /// The file does not start with the entry magic.
    BadMagic,
    /// The file is shorter than its header says it should be, or longer.
    BadLength,
    /// The checksum over the file does not match.
    BadChecksum,
    /// The compressed value does not decompress to its recorded length.
    BadCompression,
    /// A header field holds a value this version never writes.
    BadHeader,
    /// The cache has a secret key and the entry's MAC is missing or wrong.
    BadMac,
}

impl Corruption {
    /// A short kebab-case name, used in quarantine file names and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::BadMagic => "bad-magic",
            Self::BadLength => "bad-length",
            Self::BadChecksum => "bad-checksum",
            Self::BadCompression => "bad-compression",
            Self::BadHeader => "bad-header",
            Self::BadMac => "bad-mac",
        }
    }
}

impl std::fmt::Display for Corruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every error the cache returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key is longer than `max_key_size`.
    #[error("key is {len} bytes; the limit (max_key_size) is {max} bytes")]
    KeyTooLarge {
        /// The key's length.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// A key is empty.
    #[error("key is empty; keys must be 1 to max_key_size bytes")]
    EmptyKey,
    /// A value is longer than `max_value_size`.
    #[error("value is {len} bytes; the limit (max_value_size) is {max} bytes")]
    ValueTooLarge {
        /// The value's length.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// A tag is longer than the format allows.
    #[error("tag is {len} bytes; the limit is {max} bytes")]
    TagTooLarge {
        /// The tag's length.
        len: usize,
        /// The format's limit.
        max: usize,
    },
    /// A setting is out of range or inconsistent with another.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The cache path exists but is not a directory.
    #[error("cache path {0} exists and is not a directory")]
    NotADirectory(PathBuf),
    /// The directory was written by a newer sturdycache whose format this one cannot read.
    #[error("cache directory {path} uses format version {found}; this build reads up to {supported}")]
    NewerFormat {
        /// The directory.
        path: PathBuf,
        /// The version found on disk.
        found: u32,
        /// The newest version this build understands.
        supported: u32,
    },
    /// A disk operation failed.
    #[error("disk {op} failed ({kind}) on {path}: {source}")]
    Disk {
        /// The classified failure.
        kind: DiskErrorKind,
        /// The operation that failed, e.g. `"write"`.
        op: &'static str,
        /// The path it failed on.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// The disk error kind, if this is a disk failure.
    pub fn disk_kind(&self) -> Option<DiskErrorKind> {
        match self {
            Error::Disk { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// True for errors caused by the caller's input or settings (never by the disk).
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            Error::KeyTooLarge { .. }
                | Error::EmptyKey
                | Error::ValueTooLarge { .. }
                | Error::TagTooLarge { .. }
                | Error::InvalidConfig(_)
        )
    }

    pub(crate) fn disk(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Disk { kind: DiskErrorKind::of(&source), op, path: path.into(), source }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
