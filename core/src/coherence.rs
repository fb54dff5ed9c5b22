//! Cross-process coherence of the hot tiers.
//!
//! A small file, `<dir>/coherence.map`, is mapped into every process that opens
//! the directory. It holds one 32-bit generation number per key bucket and a
//! shared count of the disk tier's bytes. A writer bumps the bucket of every
//! key whose file it changed *before* its call returns; a hot hit compares the
//! generation it stored with the bucket's current one and goes to disk when
//! they differ. So once a set or delete has returned in one process, no other
//! process serves the old value from memory. Unrelated keys that share a bucket
//! cost an extra disk read, never a wrong value.
//!
//! When the map cannot be created (read-only directory, injected fault) the
//! cache falls back to a process-local table and logs it: single-process use
//! stays correct, cross-process hot coherence is lost.

use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::fs::FileSystem;

/// Number of generation buckets; part of the on-disk contract.
pub const BUCKETS: usize = 1 << 16;
const MAGIC: u32 = u32::from_le_bytes(*b"SCGT");
const VERSION: u32 = 1;
const HEADER_LEN: usize = 64;
const OFF_MAGIC: usize = 0;
const OFF_VERSION: usize = 4;
const OFF_BUCKETS: usize = 8;
const OFF_DISK_BYTES: usize = 16;
const OFF_CHANGES_STARTED: usize = 24;
const OFF_CHANGES_FINISHED: usize = 32;
/// Total size of the map file.
///
/// Header: magic (u32 @0), version (u32 @4), bucket count (u32 @8), disk bytes
/// (u64 @16), changes started (u64 @24), changes finished (u64 @32).
pub const MAP_LEN: usize = HEADER_LEN + BUCKETS * 4;

enum Backing {
    Shared(memmap2::MmapMut),
    Local { header: Box<[AtomicU64]>, buckets: Box<[AtomicU32]> },
}

/// The generation table and shared disk-byte counter.
pub struct Coherence {
    backing: Backing,
}

impl std::fmt::Debug for Coherence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coherence").field("shared", &self.is_shared()).finish()
    }
}

impl Coherence {
    /// Maps the shared table at `path`, or falls back to a local one.
    pub fn open(fs: &dyn FileSystem, path: &Path) -> Self {
        match fs.map_shared(path, MAP_LEN as u64) {
            Ok(map) if map.len() >= MAP_LEN => {
                let magic = Self::map_u32(&map, OFF_MAGIC);
                match magic.compare_exchange(0, MAGIC, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => {
                        Self::map_u32(&map, OFF_VERSION).store(VERSION, Ordering::Release);
                        Self::map_u32(&map, OFF_BUCKETS).store(BUCKETS as u32, Ordering::Release);
                    }
                    // The creator may not have stored the bucket count yet (or died
                    // before it): store the same value for it rather than give up.
                    Err(MAGIC) if Self::publish(&map, OFF_BUCKETS, BUCKETS as u32) == BUCKETS as u32 => {
                        Self::publish(&map, OFF_VERSION, VERSION);
                    }
                    Err(_) => {
                        log::warn!(
                            "coherence map {} has an unknown layout; hot tiers of other processes will not see this one's writes",
                            path.display()
                        );
                        return Self::local();
                    }
                }
                Coherence { backing: Backing::Shared(map) }
            }
            Ok(_) => Self::local(),
            Err(e) => {
                log::warn!(
                    "cannot map {} ({e}); hot tiers of other processes will not see this one's writes",
                    path.display()
                );
                Self::local()
            }
        }
    }

    /// A process-local table (no cross-process coherence).
    pub fn local() -> Self {
        Coherence {
            backing: Backing::Local {
                header: (0..HEADER_LEN / 8).map(|_| AtomicU64::new(0)).collect(),
                buckets: (0..BUCKETS).map(|_| AtomicU32::new(0)).collect(),
            },
        }
    }

    /// Whether the table is shared with other processes.
    pub fn is_shared(&self) -> bool {
        matches!(self.backing, Backing::Shared(_))
    }

    /// Stores `value` at `off` if it is still zero; returns what is there now.
    fn publish(map: &memmap2::MmapMut, off: usize, value: u32) -> u32 {
        match Self::map_u32(map, off).compare_exchange(0, value, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => value,
            Err(found) => found,
        }
    }

    /// A 4-aligned u32 of the shared map (header fields and buckets alike).
    fn map_u32(map: &memmap2::MmapMut, off: usize) -> &AtomicU32 {
        assert!(off.is_multiple_of(4) && off + 4 <= map.len(), "offset inside the map");
        // SAFETY: the map is page-aligned and at least MAP_LEN long, `off` is
        // 4-aligned and in bounds (checked above), and every access to the shared
        // bytes, in this and in other processes, is atomic.
        unsafe { &*(map.as_ptr().add(off) as *const AtomicU32) }
    }

    fn gen_cell(&self, bucket: usize) -> &AtomicU32 {
        match &self.backing {
            Backing::Shared(map) => Self::map_u32(map, HEADER_LEN + bucket * 4),
            Backing::Local { buckets, .. } => &buckets[bucket],
        }
    }

    fn header_u64(&self, off: usize) -> &AtomicU64 {
        match &self.backing {
            Backing::Shared(map) => {
                assert!(off.is_multiple_of(8) && off + 8 <= HEADER_LEN, "offset inside the header");
                // SAFETY: as in `map_u32`; `off` is 8-aligned and inside the header.
                unsafe { &*(map.as_ptr().add(off) as *const AtomicU64) }
            }
            Backing::Local { header, .. } => &header[off / 8],
        }
    }

    fn disk_bytes_cell(&self) -> &AtomicU64 {
        self.header_u64(OFF_DISK_BYTES)
    }

    fn bucket(hash: u128) -> usize {
        ((hash >> 64) as usize) & (BUCKETS - 1)
    }

    /// The current generation of `hash`'s bucket.
    #[inline]
    pub fn generation(&self, hash: u128) -> u32 {
        self.gen_cell(Self::bucket(hash)).load(Ordering::Acquire)
    }

    /// Bumps `hash`'s bucket and returns the new generation.
    pub fn bump(&self, hash: u128) -> u32 {
        self.gen_cell(Self::bucket(hash)).fetch_add(1, Ordering::AcqRel).wrapping_add(1)
    }

    /// Bumps every bucket (after `clear`).
    pub fn bump_all(&self) {
        for b in 0..BUCKETS {
            self.gen_cell(b).fetch_add(1, Ordering::AcqRel);
        }
    }

    /// The disk tier's bytes as counted by every process.
    pub fn disk_bytes(&self) -> u64 {
        self.disk_bytes_cell().load(Ordering::Acquire)
    }

    /// Adds (or with a negative delta subtracts, saturating at zero) disk bytes.
    pub fn add_disk_bytes(&self, delta: i64) {
        let cell = self.disk_bytes_cell();
        if delta >= 0 {
            cell.fetch_add(delta as u64, Ordering::AcqRel);
        } else {
            let sub = delta.unsigned_abs();
            let _ = cell.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| Some(v.saturating_sub(sub)));
        }
    }

    /// Marks the start of a change to the data folder (a file created, replaced
    /// or removed, and its bytes counted). Hold the guard until the count is updated.
    pub fn begin_change(&self) -> Change<'_> {
        self.header_u64(OFF_CHANGES_STARTED).fetch_add(1, Ordering::AcqRel);
        Change { coherence: self }
    }

    /// Notes the state before a scan of the data folder.
    pub fn scan_ticket(&self) -> ScanTicket {
        ScanTicket {
            started: self.header_u64(OFF_CHANGES_STARTED).load(Ordering::Acquire),
            finished: self.header_u64(OFF_CHANGES_FINISHED).load(Ordering::Acquire),
            bytes: self.disk_bytes(),
        }
    }

    /// Replaces the byte count with a scan's `measured` total, but only if no
    /// change began or ended during the scan and none was under way when it
    /// began (a scan cannot tell whether it saw such a change's file). A change
    /// left unfinished by a killed process would block this for ever, so
    /// `stuck_ok` lets the caller override it once it has seen the same
    /// unfinished state across two sweeps. Returns whether it replaced.
    pub fn reconcile(&self, ticket: ScanTicket, measured: u64, stuck_ok: bool) -> bool {
        let now = self.scan_ticket();
        if (now.started, now.finished) != (ticket.started, ticket.finished) {
            return false;
        }
        if ticket.started != ticket.finished && !stuck_ok {
            return false;
        }
        self.disk_bytes_cell().compare_exchange(ticket.bytes, measured, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }
}

/// A change to the data folder in progress (see [`Coherence::begin_change`]).
#[must_use = "the change ends when the guard drops"]
pub struct Change<'a> {
    coherence: &'a Coherence,
}

impl Drop for Change<'_> {
    fn drop(&mut self) {
        self.coherence.header_u64(OFF_CHANGES_FINISHED).fetch_add(1, Ordering::AcqRel);
    }
}

/// What [`Coherence::reconcile`] compares against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanTicket {
    started: u64,
    finished: u64,
    bytes: u64,
}

impl ScanTicket {
    /// Whether a change was under way when the ticket was taken.
    pub fn change_in_flight(&self) -> bool {
        self.started != self.finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::StdFs;

    #[test]
    fn two_mappings_share_generations_and_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("coherence.map");
        let a = Coherence::open(&StdFs, &path);
        let b = Coherence::open(&StdFs, &path);
        assert!(a.is_shared() && b.is_shared());
        let h = 0xdead_beef_u128 << 64;
        let before = b.generation(h);
        assert_eq!(a.bump(h), before.wrapping_add(1));
        assert_eq!(b.generation(h), before.wrapping_add(1));
        a.add_disk_bytes(100);
        b.add_disk_bytes(-30);
        assert_eq!(a.disk_bytes(), 70);
        b.add_disk_bytes(-1000);
        assert_eq!(a.disk_bytes(), 0, "saturates at zero");
    }

    #[test]
    fn reconcile_only_after_a_quiet_scan() {
        let c = Coherence::local();
        c.add_disk_bytes(10);
        let ticket = c.scan_ticket();
        drop(c.begin_change());
        assert!(!c.reconcile(ticket, 99, false), "a change during the scan blocks it");
        let in_flight = c.begin_change();
        let ticket = c.scan_ticket();
        assert!(ticket.change_in_flight());
        assert!(!c.reconcile(ticket, 99, false), "a change under way at the start blocks it");
        assert!(c.reconcile(ticket, 99, true), "unless the caller knows it is stuck");
        assert_eq!(c.disk_bytes(), 99);
        drop(in_flight);
        let ticket = c.scan_ticket();
        c.add_disk_bytes(1);
        assert!(!c.reconcile(ticket, 5, false), "a count moved without a change guard still blocks it");
    }

    #[test]
    fn local_fallback_still_tracks_generations() {
        let c = Coherence::local();
        assert!(!c.is_shared());
        let g = c.generation(5 << 64);
        c.bump_all();
        assert_eq!(c.generation(5 << 64), g + 1);
    }
}
