//! The file-system seam: every disk operation of the cache goes through
//! [`FileSystem`], so tests (and users, through the chaos API) can replace
//! the disk with one that fails on purpose.
//!
//! The trait is deliberately small and whole-file: the cache only ever creates a
//! file in one go, renames or links it into place, reads it whole and deletes it.

use std::fs::{self, File, FileTimes, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod faulty;
pub use faulty::{CrashReport, Fault, FaultRule, FaultyFs, FsOp, RuleId, Trigger};

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's file name (not the full path).
    pub name: String,
    /// Whether the entry is a directory.
    pub is_dir: bool,
}

/// The parts of a file's metadata the cache uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMeta {
    /// Size in bytes.
    pub len: u64,
    /// Last modification, milliseconds since the epoch.
    pub modified_ms: u64,
    /// Last access as recorded by the file system, milliseconds since the epoch.
    pub accessed_ms: u64,
    /// Whether it is a directory.
    pub is_dir: bool,
}

/// Every disk operation the cache performs.
///
/// Implementations must be thread-safe; errors are plain [`io::Error`]s carrying
/// the OS error code where there is one, so the cache can classify them.
pub trait FileSystem: Send + Sync + std::fmt::Debug {
    /// Creates a directory and its parents; succeeds if it exists.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Reads a whole file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Reads at most `max_len` bytes from the start of a file (headers, in scans).
    fn read_head(&self, path: &Path, max_len: usize) -> io::Result<Vec<u8>>;
    /// Creates `path` (which must not exist), writes `data`, and with `sync`
    /// flushes the data to stable storage before returning.
    fn write_new(&self, path: &Path, data: &[u8], sync: bool) -> io::Result<()>;
    /// Atomically renames `from` to `to`, replacing `to` if it exists.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Atomically renames `from` to `to` only if `to` does not exist:
    /// `Ok(true)` when renamed, `Ok(false)`, changing nothing, when `to`
    /// exists. A file system that cannot decide that atomically fails with
    /// [`io::ErrorKind::Unsupported`] (the default), and the cache looks
    /// first and then [`rename`](Self::rename)s, as it would without this.
    fn rename_new(&self, from: &Path, to: &Path) -> io::Result<bool> {
        let _ = (from, to);
        Err(io::ErrorKind::Unsupported.into())
    }
    /// Creates a hard link `to` for `from`; fails with `AlreadyExists` if `to` exists.
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Deletes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Flushes a directory's entries (names created, renamed or deleted) to stable storage.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Lists a directory.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>>;
    /// Reads a file's metadata without following the file's contents.
    fn metadata(&self, path: &Path) -> io::Result<FileMeta>;
    /// Sets a file's access time (the disk tier's cross-process recency mark).
    fn set_accessed(&self, path: &Path, at_ms: u64) -> io::Result<()>;
    /// Maps `path` (created and sized to `len` bytes if needed) into memory, shared
    /// with every other process that maps it.
    fn map_shared(&self, path: &Path, len: u64) -> io::Result<memmap2::MmapMut>;
}

/// The real file system, through `std::fs`.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFs;

/// The first buffer of [`StdFs::read`]: most entry files fit.
const READ_CAPACITY: usize = 16 << 10;

fn to_ms(t: io::Result<SystemTime>) -> u64 {
    t.ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_millis() as u64)
}

impl FileSystem for StdFs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::create_dir_all(path)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        // Not `fs::read`: it asks for the file's size first (one `statx` per
        // read, about a fifth of a warm get's syscalls). Entry files are small;
        // a buffer that grows as needed reads them with open, read, read (EOF), close.
        let mut out = Vec::with_capacity(READ_CAPACITY);
        File::open(path)?.take(u64::MAX).read_to_end(&mut out)?;
        Ok(out)
    }

    fn read_head(&self, path: &Path, max_len: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(max_len);
        File::open(path)?.take(max_len as u64).read_to_end(&mut out)?;
        Ok(out)
    }

    fn write_new(&self, path: &Path, data: &[u8], sync: bool) -> io::Result<()> {
        let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
        file.write_all(data)?;
        if sync {
            file.sync_data()?;
        }
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    #[cfg(target_os = "linux")]
    fn rename_new(&self, from: &Path, to: &Path) -> io::Result<bool> {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let c_path =
            |p: &Path| CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput));
        let (from, to) = (c_path(from)?, c_path(to)?);
        // SAFETY: a plain syscall on two NUL-terminated paths that outlive it.
        let rc = unsafe {
            libc::renameat2(libc::AT_FDCWD, from.as_ptr(), libc::AT_FDCWD, to.as_ptr(), libc::RENAME_NOREPLACE)
        };
        if rc == 0 {
            return Ok(true);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EEXIST) => Ok(false),
            // An old kernel or a file system without the flag (some network
            // and FUSE file systems).
            Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP) => Err(io::ErrorKind::Unsupported.into()),
            _ => Err(err),
        }
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::hard_link(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(path)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else { continue };
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            out.push(DirEntry { name, is_dir });
        }
        Ok(out)
    }

    fn metadata(&self, path: &Path) -> io::Result<FileMeta> {
        let m = fs::symlink_metadata(path)?;
        Ok(FileMeta {
            len: m.len(),
            modified_ms: to_ms(m.modified()),
            accessed_ms: to_ms(m.accessed()),
            is_dir: m.is_dir(),
        })
    }

    fn set_accessed(&self, path: &Path, at_ms: u64) -> io::Result<()> {
        let file = File::open(path)?;
        let at = UNIX_EPOCH + Duration::from_millis(at_ms);
        file.set_times(FileTimes::new().set_accessed(at))
    }

    fn map_shared(&self, path: &Path, len: u64) -> io::Result<memmap2::MmapMut> {
        use std::os::fd::AsRawFd;
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        // Allocate real blocks, not a sparse file: a store into a hole of a
        // shared mapping on a full disk raises SIGBUS and kills the process.
        // fallocate never overwrites bytes, so racing openers are harmless.
        let size = libc::off_t::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
        // SAFETY: a plain syscall on a descriptor this function owns.
        if unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, size) } != 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EOPNOTSUPP) {
                return Err(err);
            }
            log::warn!("{} cannot preallocate ({err}); mapping a sparse file", path.display());
            if file.metadata()?.len() < len {
                file.set_len(len)?;
            }
        }
        // SAFETY: the mapping is only ever accessed through atomics (see
        // `coherence`), so concurrent writers in other processes cannot cause
        // torn reads, and the file is never truncated while mapped.
        let map = unsafe { memmap2::MmapOptions::new().len(len as usize).map_mut(&file)? };
        // Best effort: keep the pages resident, so a dying disk cannot fault them in.
        let _ = map.lock();
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn rename_new_renames_onto_a_free_name_and_leaves_a_taken_one_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
        fs::write(&a, b"new").unwrap();
        fs::write(&b, b"old").unwrap();
        assert!(!StdFs.rename_new(&a, &b).unwrap(), "b is taken");
        assert_eq!((fs::read(&a).unwrap(), fs::read(&b).unwrap()), (b"new".to_vec(), b"old".to_vec()));
        assert!(StdFs.rename_new(&a, &c).unwrap());
        assert!(!a.exists());
        assert_eq!(fs::read(&c).unwrap(), b"new");
        let missing = StdFs.rename_new(&a, &dir.path().join("d")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }
}
