//! The warm tier: one verified entry file per key under `<dir>/data/`.
//!
//! Layout (see `docs/FORMAT.md`):
//! - `data/<2 hex>/<32 hex>`: an entry, named by the xxh3-128 hash of its key
//!   (a user key never becomes a path); the first byte of the hash picks one
//!   of 256 folders.
//! - `data/<2 hex>/.tmp-<pid>-<n>`: a file being written; renamed into place.
//! - `data/<2 hex>/.del-<pid>-<n>`: an entry claimed for removal (pop, expiry),
//!   checked, then deleted or linked back.
//! - `quarantine/<ms>-<reason>-<32 hex>-<pid>-<n>`: a corrupt entry kept for forensics.
//!
//! This module moves bytes and classifies errors; what the bytes mean is the
//! cache's business.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::config::Durability;
use crate::error::{Corruption, Error, Result};
use crate::format;
use crate::fs::FileSystem;
use crate::metrics::Counters;

const TEMP_PREFIX: &str = ".tmp-";
const CLAIM_PREFIX: &str = ".del-";

/// Numbers scratch and quarantine names. Process-wide, not per cache: two caches
/// opened on one directory in one process share the pid, so per-instance
/// counters would hand both the same temp or claim name.
static SEQ: AtomicU64 = AtomicU64::new(0);

/// A file found by a scan.
#[derive(Debug)]
pub enum Found {
    /// An entry file with its length, recency mark and header (or why the header is bad).
    Entry {
        /// Key hash from the name.
        hash: u128,
        /// File length.
        len: u64,
        /// max(atime, mtime), ms.
        last_use: u64,
        /// The decoded header.
        header: std::result::Result<format::Header, format::DecodeError>,
    },
    /// A temp or claim file, with its writer's pid and modification time.
    Leftover {
        /// Full path.
        path: PathBuf,
        /// The writer's pid, if the name holds one.
        pid: Option<u32>,
        /// Modification time, ms.
        modified: u64,
    },
}

/// The warm tier's file operations.
#[derive(Debug)]
pub struct DiskTier {
    fs: Arc<dyn FileSystem>,
    data: PathBuf,
    quarantine: PathBuf,
    durability: Durability,
    pid: u32,
    counters: Arc<Counters>,
    /// The key every entry must be authenticated with (`Config::secret_key`).
    mac_key: Option<format::MacKey>,
    /// Set once the file system turns out not to offer
    /// [`FileSystem::rename_new`], so later publishes stop asking.
    no_rename_new: AtomicBool,
}

fn hex_hash(hash: u128) -> String {
    format!("{hash:032x}")
}

fn is_not_found(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}

impl DiskTier {
    /// The tier rooted at `dir`.
    pub fn new(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        durability: Durability,
        counters: Arc<Counters>,
        mac_key: Option<format::MacKey>,
    ) -> Self {
        DiskTier {
            mac_key,
            fs,
            data: dir.join("data"),
            quarantine: dir.join("quarantine"),
            durability,
            pid: std::process::id(),
            counters,
            no_rename_new: AtomicBool::new(false),
        }
    }

    /// The file system seam.
    pub fn fs(&self) -> &dyn FileSystem {
        &*self.fs
    }

    /// The data folder.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    fn subdir(&self, hash: u128) -> PathBuf {
        self.data.join(format!("{:02x}", (hash >> 120) as u8))
    }

    /// Where `hash`'s entry lives.
    pub fn entry_path(&self, hash: u128) -> PathBuf {
        self.subdir(hash).join(hex_hash(hash))
    }

    fn scratch_path(&self, hash: u128, prefix: &str) -> PathBuf {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        self.subdir(hash).join(format!("{prefix}{}-{n}", self.pid))
    }

    /// Classifies and counts a failed disk call.
    pub fn fail(&self, op: &'static str, path: &Path, e: io::Error) -> Error {
        let err = Error::disk(op, path, e);
        if let Some(kind) = err.disk_kind() {
            self.counters.disk_error(kind);
        }
        err
    }

    fn sync(&self) -> bool {
        self.durability == Durability::Fsync
    }

    /// The entry folders (`data/<2 hex>`), in no particular order.
    pub fn entry_folders(&self) -> Result<Vec<PathBuf>> {
        match self.fs.read_dir(&self.data) {
            Ok(list) => {
                Ok(list.into_iter().filter(|d| d.is_dir && d.name.len() == 2).map(|d| self.data.join(d.name)).collect())
            }
            Err(e) if is_not_found(&e) => Ok(Vec::new()),
            Err(e) => Err(self.fail("list", &self.data, e)),
        }
    }

    /// The entry files (32-hex names) in one entry folder.
    pub fn entry_files(&self, folder: &Path) -> Result<Vec<PathBuf>> {
        match self.fs.read_dir(folder) {
            Ok(list) => Ok(list
                .into_iter()
                .filter(|d| !d.is_dir && d.name.len() == 32 && !d.name.starts_with('.'))
                .map(|d| folder.join(d.name))
                .collect()),
            Err(e) if is_not_found(&e) => Ok(Vec::new()),
            Err(e) => Err(self.fail("list", folder, e)),
        }
    }

    /// Reads `hash`'s entry file; `None` if there is none.
    pub fn read(&self, hash: u128) -> Result<Option<Vec<u8>>> {
        self.read_path(&self.entry_path(hash))
    }

    /// Decodes and verifies entry bytes: format checks, and the MAC when the
    /// cache has a secret key. Every read of an entry's contents goes through here.
    pub fn decode<'b>(&self, bytes: &'b [u8]) -> std::result::Result<format::Decoded<'b>, format::DecodeError> {
        format::decode_with(bytes, self.mac_key.as_ref())
    }

    /// The key new entries are authenticated with, if any.
    pub fn mac_key(&self) -> Option<&format::MacKey> {
        self.mac_key.as_ref()
    }

    /// Reads any file; `None` if missing.
    pub fn read_path(&self, path: &Path) -> Result<Option<Vec<u8>>> {
        match self.fs.read(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.fail("read", path, e)),
        }
    }

    /// Writes `bytes` to a new temp file next to `hash`'s entry, creating the
    /// folder on first use. On failure nothing is left behind.
    fn write_temp(&self, hash: u128, bytes: &[u8]) -> Result<PathBuf> {
        let tmp = self.scratch_path(hash, TEMP_PREFIX);
        let mut result = self.fs.write_new(&tmp, bytes, self.sync());
        if matches!(&result, Err(e) if is_not_found(e)) {
            if let Err(e) = self.fs.create_dir_all(&self.subdir(hash)) {
                return Err(self.fail("create folder", &self.subdir(hash), e));
            }
            result = self.fs.write_new(&tmp, bytes, self.sync());
        }
        match result {
            Ok(()) => Ok(tmp),
            Err(e) => {
                let _ = self.fs.remove_file(&tmp);
                Err(self.fail("write", &tmp, e))
            }
        }
    }

    /// With fsync durability, makes the entry folder's names durable.
    pub fn sync_folder(&self, hash: u128) -> Result<()> {
        if !self.sync() {
            return Ok(());
        }
        let dir = self.subdir(hash);
        self.fs.sync_dir(&dir).map_err(|e| self.fail("fsync folder", &dir, e))
    }

    /// Writing an entry, first half: `bytes` in a new temp file next to
    /// `hash`'s entry (fsynced with fsync durability). The slow half, and it
    /// needs no key lock; hand the path to [`publish`](Self::publish) or
    /// [`discard`](Self::discard).
    pub fn stage(&self, hash: u128, bytes: &[u8]) -> Result<PathBuf> {
        self.write_temp(hash, bytes)
    }

    /// Writing an entry, second half: atomically renames a staged file over
    /// `hash`'s entry (then, with fsync durability, syncs the folder) and
    /// returns the length of the entry file it replaced (0 for none):
    /// `old_len` when the caller knows it, else as found on disk. The staged
    /// file is removed if the rename fails; a failure after the rename still
    /// leaves a complete file in place, just not a durable one.
    pub fn publish(&self, hash: u128, staged: &Path, old_len: Option<u64>) -> Result<u64> {
        let target = self.entry_path(hash);
        let renamed = match old_len {
            Some(len) => self.fs.rename(staged, &target).map(|()| len).map_err(|e| self.fail("rename", &target, e)),
            None => self.rename_over_unknown(hash, staged, &target),
        };
        match renamed {
            Ok(replaced) => self.sync_folder(hash).map(|()| replaced),
            Err(e) => {
                let _ = self.fs.remove_file(staged);
                Err(e)
            }
        }
    }

    /// Renames `staged` over `target`, whose length the caller does not know,
    /// and returns that length (0 for none). Most such sets store a new key:
    /// a rename that refuses to replace settles that in one call, where
    /// asking for the old file's size first costs one more (a tenth of a
    /// set). Only when a file is there, or the file system cannot refuse,
    /// does it look and then replace.
    fn rename_over_unknown(&self, hash: u128, staged: &Path, target: &Path) -> Result<u64> {
        if !self.no_rename_new.load(Ordering::Relaxed) {
            match self.fs.rename_new(staged, target) {
                Ok(true) => return Ok(0),
                Ok(false) => {}
                Err(e) if e.kind() == io::ErrorKind::Unsupported => {
                    self.no_rename_new.store(true, Ordering::Relaxed);
                }
                Err(e) => return Err(self.fail("rename", target, e)),
            }
        }
        let old_len = self.len_of(hash)?.unwrap_or(0);
        self.fs.rename(staged, target).map_err(|e| self.fail("rename", target, e))?;
        Ok(old_len)
    }

    /// Creates `hash`'s entry only if none exists, atomically across processes
    /// (a hard link fails if the name is taken). Returns whether it was created.
    pub fn create(&self, hash: u128, bytes: &[u8]) -> Result<bool> {
        let tmp = self.write_temp(hash, bytes)?;
        let target = self.entry_path(hash);
        let linked = self.fs.hard_link(&tmp, &target);
        let _ = self.fs.remove_file(&tmp);
        match linked {
            Ok(()) => self.sync_folder(hash).map(|()| true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(self.fail("link", &target, e)),
        }
    }

    /// Deletes `hash`'s entry; false if there was none.
    pub fn remove(&self, hash: u128) -> Result<bool> {
        let path = self.entry_path(hash);
        match self.fs.remove_file(&path) {
            Ok(()) => self.sync_folder(hash).map(|()| true),
            Err(e) if is_not_found(&e) => {
                // With fsync durability "gone" must be durable too: the unlink of
                // a delete whose folder fsync failed (now replayed or repeated)
                // would be undone by a crash, bringing the old value back.
                if self.sync() {
                    let dir = self.subdir(hash);
                    if let Err(e) = self.fs.sync_dir(&dir).or_else(|e| if is_not_found(&e) { Ok(()) } else { Err(e) }) {
                        return Err(self.fail("fsync folder", &dir, e));
                    }
                }
                Ok(false)
            }
            Err(e) => Err(self.fail("delete", &path, e)),
        }
    }

    /// Takes `hash`'s entry out of the way atomically (only one process can
    /// claim a given file) and returns where it went.
    pub fn claim(&self, hash: u128) -> Result<Option<PathBuf>> {
        let path = self.entry_path(hash);
        let claim = self.scratch_path(hash, CLAIM_PREFIX);
        match self.fs.rename(&path, &claim) {
            Ok(()) => Ok(Some(claim)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.fail("rename", &path, e)),
        }
    }

    /// Puts a claimed file back unless a newer entry took its place.
    pub fn unclaim(&self, hash: u128, claim: &Path) {
        let target = self.entry_path(hash);
        match self.fs.hard_link(claim, &target) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                let err = self.fail("link", &target, e);
                log::warn!("could not put back entry {}: {err}", target.display());
            }
        }
        self.discard(claim);
    }

    /// Deletes a claimed or temp file, ignoring failure (a sweep retries).
    pub fn discard(&self, path: &Path) {
        if let Err(e) = self.fs.remove_file(path)
            && !is_not_found(&e)
        {
            log::debug!("could not delete {}: {e}", path.display());
        }
    }

    /// The entry file's length, if it exists.
    pub fn len_of(&self, hash: u128) -> Result<Option<u64>> {
        let path = self.entry_path(hash);
        match self.fs.metadata(&path) {
            Ok(m) => Ok(Some(m.len)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.fail("stat", &path, e)),
        }
    }

    /// Refreshes the entry's on-disk recency mark (best effort).
    pub fn mark_used(&self, hash: u128, now_ms: u64) {
        let path = self.entry_path(hash);
        if let Err(e) = self.fs.set_accessed(&path, now_ms)
            && !is_not_found(&e)
        {
            log::debug!("could not mark {} used: {e}", path.display());
        }
    }

    /// Moves a corrupt file into quarantine, named with the time and reason.
    /// If the moved file turns out to be sound (another writer replaced the
    /// corrupt one in between), it is put back. Never fails: a failure to
    /// quarantine is logged, and the caller reports a miss either way.
    /// Returns the quarantine path when the file was moved and kept there.
    pub fn quarantine(
        &self,
        source: &Path,
        hash: u128,
        reason: &Corruption,
        now_ms: u64,
        incident: u64,
    ) -> Option<PathBuf> {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let name = format!("{now_ms}-{}-{}-{}-{n}", reason.as_str(), hex_hash(hash), self.pid);
        let dest = self.quarantine.join(name);
        let mut moved = self.fs.rename(source, &dest);
        if matches!(&moved, Err(e) if is_not_found(e)) && self.fs.create_dir_all(&self.quarantine).is_ok() {
            moved = self.fs.rename(source, &dest);
        }
        match moved {
            Ok(()) => {}
            Err(e) if is_not_found(&e) => return None, // someone else dealt with it
            Err(e) => {
                let err = self.fail("quarantine", source, e);
                // The file stays, so every read of it lands here: one line per 10 s.
                static LAST_LOGGED_MS: AtomicU64 = AtomicU64::new(0);
                let last = LAST_LOGGED_MS.load(Ordering::Relaxed);
                if (last == 0 || now_ms.saturating_sub(last) >= 10_000)
                    && LAST_LOGGED_MS
                        .compare_exchange(last, now_ms.max(1), Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    log::warn!(
                        "[incident {incident}] corrupt entry {} ({reason}) could not be quarantined (read as a miss): {err}",
                        source.display()
                    );
                }
                return None;
            }
        }
        // Only a file taken from the entry's name goes back there: a claimed
        // one (pop, touch) is one its claimer is removing or replacing.
        if source != self.entry_path(hash).as_path() {
            log::warn!("[incident {incident}] quarantined entry {} ({reason}) as {}", source.display(), dest.display());
            return Some(dest);
        }
        if let Ok(Some(bytes)) = self.read_path(&dest)
            && self.decode(&bytes).is_ok()
        {
            self.unclaim(hash, &dest);
            return None;
        }
        log::warn!(
            "[incident {incident}] quarantined corrupt entry {} ({reason}) as {}",
            source.display(),
            dest.display()
        );
        Some(dest)
    }

    /// Lists the data folder: entries (with their headers) and leftovers.
    pub fn scan(&self, mut found: impl FnMut(Found)) -> Result<()> {
        let subdirs = match self.fs.read_dir(&self.data) {
            Ok(s) => s,
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => return Err(self.fail("list", &self.data, e)),
        };
        for sub in subdirs.into_iter().filter(|d| d.is_dir && d.name.len() == 2) {
            let dir = self.data.join(&sub.name);
            let names = match self.fs.read_dir(&dir) {
                Ok(n) => n,
                Err(e) if is_not_found(&e) => continue,
                Err(e) => return Err(self.fail("list", &dir, e)),
            };
            for entry in names.into_iter().filter(|d| !d.is_dir) {
                let path = dir.join(&entry.name);
                let meta = match self.fs.metadata(&path) {
                    Ok(m) => m,
                    Err(e) if is_not_found(&e) => continue,
                    Err(e) => return Err(self.fail("stat", &path, e)),
                };
                if let Some(rest) =
                    entry.name.strip_prefix(TEMP_PREFIX).or_else(|| entry.name.strip_prefix(CLAIM_PREFIX))
                {
                    let pid = rest.split('-').next().and_then(|p| p.parse().ok());
                    found(Found::Leftover { path, pid, modified: meta.modified_ms });
                    continue;
                }
                let Some(hash) = (entry.name.len() == 32).then(|| u128::from_str_radix(&entry.name, 16).ok()).flatten()
                else {
                    continue; // not ours
                };
                let header = match self.fs.read_head(&path, format::HEADER_LEN + format::CHECKSUM_LEN) {
                    Ok(head) => format::decode_header(&head),
                    Err(e) if is_not_found(&e) => continue,
                    Err(e) => return Err(self.fail("read", &path, e)),
                };
                let last_use = meta.modified_ms.max(meta.accessed_ms);
                found(Found::Entry { hash, len: meta.len, last_use, header });
            }
        }
        Ok(())
    }

    /// Whether a leftover temp or claim file is abandoned: its writer is gone
    /// (and it is a minute old, in case the pid belongs to another namespace),
    /// or it is an hour old whoever wrote it (no write takes that long).
    pub fn is_stale_leftover(&self, pid: Option<u32>, modified: u64, now_ms: u64) -> bool {
        let age = now_ms.saturating_sub(modified);
        match pid {
            Some(p) if p != self.pid && !process_alive(p) => age >= 60_000,
            _ => age >= 3_600_000,
        }
    }

    /// Deletes quarantined files older than `retention_ms`, then the oldest
    /// until the folder is within `max_bytes`. Returns how many were deleted.
    pub fn clean_quarantine(&self, now_ms: u64, retention_ms: u64, max_bytes: u64) -> Result<u64> {
        let names = match self.fs.read_dir(&self.quarantine) {
            Ok(n) => n,
            Err(e) if is_not_found(&e) => return Ok(0),
            Err(e) => return Err(self.fail("list", &self.quarantine, e)),
        };
        let mut files: Vec<(u64, u64, PathBuf)> = Vec::new();
        for entry in names.into_iter().filter(|d| !d.is_dir) {
            let path = self.quarantine.join(&entry.name);
            let Ok(meta) = self.fs.metadata(&path) else { continue };
            let stamp = entry.name.split('-').next().and_then(|s| s.parse().ok()).unwrap_or(meta.modified_ms);
            files.push((stamp, meta.len, path));
        }
        files.sort();
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        let mut removed = 0;
        for (stamp, len, path) in files {
            if now_ms.saturating_sub(stamp) < retention_ms && total <= max_bytes {
                break;
            }
            match self.fs.remove_file(&path) {
                Ok(()) => {
                    removed += 1;
                    total -= len;
                    log::info!("deleted quarantined file {} (retention or size cap)", path.display());
                }
                Err(e) if is_not_found(&e) => total -= len,
                Err(e) => return Err(self.fail("delete", &path, e)),
            }
        }
        Ok(removed)
    }
}

fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: kill with signal 0 only checks whether the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}
