//! [`Cache::check`]: reads and verifies every entry file, quarantining the bad
//! ones, so an operator (or a binding's `check()`) can audit a directory.

use std::path::Path;

use super::Inner;
use crate::error::{Corruption, Result};
use crate::format::{self, DecodeError};

/// What [`Cache::check`](super::Cache::check) found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Entry files examined.
    pub scanned: u64,
    /// Entries that verified and are live.
    pub valid: u64,
    /// Entries that verified but are expired (left for the sweep).
    pub expired: u64,
    /// Corrupt entries moved to the quarantine folder.
    pub quarantined: u64,
    /// Files that could not be read (I/O errors); they were left in place.
    pub errors: u64,
}

/// The key hash an entry file's name claims.
fn name_hash(path: &Path) -> Option<u128> {
    path.file_name()?.to_str().and_then(|n| u128::from_str_radix(n, 16).ok())
}

impl Inner {
    pub(super) fn check(&self) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        for folder in self.disk.entry_folders()? {
            let files = match self.disk.entry_files(&folder) {
                Ok(files) => files,
                Err(e) => {
                    log::warn!("check: {e}");
                    report.errors += 1;
                    continue;
                }
            };
            for path in files {
                let Some(hash) = name_hash(&path) else { continue };
                let _guard = self.locks.lock(hash);
                let bytes = match self.disk.read_path(&path) {
                    Ok(Some(bytes)) => bytes,
                    Ok(None) => continue, // removed meanwhile
                    Err(e) => {
                        log::warn!("check: {e}");
                        report.scanned += 1;
                        report.errors += 1;
                        continue;
                    }
                };
                report.scanned += 1;
                let corruption = match self.disk.decode(&bytes) {
                    // A header whose key does not hash to the file's name is damage too.
                    Ok(d) if format::key_hash(d.key) != hash => Corruption::BadHeader,
                    Ok(d) if d.header.is_expired(self.now()) => {
                        report.expired += 1;
                        continue;
                    }
                    Ok(_) | Err(DecodeError::NewerVersion(_)) => {
                        report.valid += 1;
                        continue;
                    }
                    Err(DecodeError::Corrupt(reason)) => reason,
                };
                if self.quarantine(&path, hash, &corruption, bytes.len() as u64) {
                    report.quarantined += 1;
                }
            }
        }
        Ok(report)
    }
}
