//! The refresh journal of the file store: the rotated refresh token on
//! disk before anything else happens after Bitbucket's answer
//! (docs/security.md, "A process killed during a refresh").
//!
//! Without a grace window, a refresh token is dead once Bitbucket has
//! answered, so every moment between the answer and the durable save is a
//! moment a SIGKILL costs the sign-in. The save itself takes the document
//! lock, re-reads and re-writes the whole document, which is slow next to
//! one `write`. So before the request a journal file is made and locked
//! (`tokens.json.next-<pid>-<random>`, created exclusively, 0600); the
//! moment the answer is parsed, the new record goes into it in one write;
//! then the ordinary save runs, and the journal is removed.
//!
//! A process that finds a journal nobody holds (its writer died) applies
//! it under the document lock: the journal's record replaces the stored
//! one of the same slot only if that one still holds the refresh token the
//! journal's refresh spent (nobody saved a newer one since). A kill after
//! the page cache has the bytes keeps them (only a crash of the machine
//! would not, and then the disk is what it is).

use super::{Record, StoreError};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The prefix of journal files beside `tokens.json`.
pub(super) const PREFIX: &str = "tokens.json.next-";

/// What a journal holds.
#[derive(Serialize, Deserialize)]
struct Entry {
    /// The refresh token the refresh spent.
    spent: Secret,
    /// The record it produced.
    record: Record,
}

/// A journal made before a refresh; removed when dropped.
pub struct Journal {
    path: PathBuf,
    /// Locked while we live: a journal whose lock is free is a dead
    /// writer's. (An `Option` so that `drop` closes it before removing
    /// the file, which Windows requires.)
    file: Option<File>,
    spent: Secret,
}

impl Journal {
    /// Makes and locks a fresh journal in `dir` for a refresh spending
    /// `spent`.
    pub(super) fn begin(dir: &Path, spent: &Secret) -> Result<Journal, StoreError> {
        let mut random = [0u8; 8];
        let _ = getrandom::fill(&mut random);
        let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let path = dir.join(format!("{PREFIX}{}-{suffix}", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        crate::platform::private_file(&mut options);
        let io = |what, source| StoreError::Io {
            path: path.clone(),
            what,
            source,
        };
        let file = super::private::open_no_follow(&mut options, &path)
            .map_err(|e| io("cannot create", e))?;
        if let Err(e) = file.try_lock() {
            let _ = std::fs::remove_file(&path);
            return Err(io("cannot lock", std::io::Error::other(e.to_string())));
        }
        Ok(Journal {
            path,
            file: Some(file),
            spent: spent.clone(),
        })
    }

    /// Writes `record` (the refresh's result), in one write.
    pub fn write(&mut self, record: &Record) {
        let entry = Entry {
            spent: self.spent.clone(),
            record: record.clone(),
        };
        let bytes = serde_json::to_vec(&entry).expect("BUG: a record always serializes");
        if let Some(Err(e)) = self.file.as_mut().map(|f| f.write_all(&bytes)) {
            crate::trace!("store: could not write the refresh journal: {e}");
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        drop(self.file.take());
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Applies the journals in `dir` that a dead writer left to `records`
/// (under the document lock); returns whether any record changed. Every
/// journal nobody holds is removed; a live writer's is left alone.
pub(super) fn replay(dir: &Path, records: &mut [Record]) -> (bool, Vec<PathBuf>) {
    let mut changed = false;
    let mut done = Vec::new();
    for path in journals(dir) {
        let Ok(mut file) =
            super::private::open_no_follow(std::fs::OpenOptions::new().read(true), &path)
        else {
            continue;
        };
        if super::private::check_file(&file, &path).is_err() || file.try_lock().is_err() {
            // Not ours to touch, or its writer is alive.
            continue;
        }
        let mut bytes = Vec::new();
        let entry = std::io::Read::read_to_end(&mut file, &mut bytes)
            .ok()
            .and_then(|_| serde_json::from_slice::<Entry>(&bytes).ok());
        drop(file);
        if let Some(Entry { spent, record }) = entry {
            if let Some(r) = records.iter_mut().find(|r| {
                r.same_slot(&record) && r.refresh_token.as_ref().is_some_and(|t| t == &spent)
            }) {
                crate::trace!("store: finished the refresh of a killed writer");
                *r = record;
                changed = true;
            }
        }
        done.push(path);
    }
    (changed, done)
}

/// The journal files in `dir`.
pub(super) fn journals(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(PREFIX))
        .map(|e| e.path())
        .collect()
}
