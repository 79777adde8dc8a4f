//! Cross-process advisory locks (contract.md §5). They are OS file locks, so a
//! holder that crashes releases its lock when the kernel closes the file:
//! no stale lock can block anyone. Lock files live beside the store, not
//! under `XDG_RUNTIME_DIR`, which is often unset.

use super::StoreError;
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A held lock; released on drop.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// The lock file for `name` (e.g. host and account) under `dir/locks/`:
/// hashed, so any host or account name makes a safe file name.
pub fn lock_path(dir: &Path, name: &str) -> PathBuf {
    let digest = Sha256::digest(name.as_bytes());
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    dir.join("locks").join(format!("{hex}.lock"))
}

/// Takes the lock at `path` if it is free now; `Ok(None)` when another
/// process holds it.
pub fn try_acquire(path: &Path) -> Result<Option<Lock>, StoreError> {
    match acquire_saying(path, Duration::ZERO, None) {
        Ok(lock) => Ok(Some(lock)),
        Err(StoreError::LockTimeout { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A failed renewal, noted beside its lock so that the processes that
/// queued behind it do not each repeat it (no secret in it: the message
/// names the endpoint and what went wrong).
#[derive(serde::Serialize, serde::Deserialize)]
struct Failure {
    at: u64,
    why: String,
}

fn failure_path(lock: &Path) -> PathBuf {
    lock.with_extension("failed")
}

/// Notes that the renewal guarded by `lock` failed now with `why`.
pub fn note_failure(lock: &Path, why: &str) {
    let note = Failure {
        at: super::now(),
        why: why.to_owned(),
    };
    let bytes = serde_json::to_vec(&note).expect("BUG: a number and a string serialize");
    if let Err(e) = super::private::write_atomically(&failure_path(lock), &bytes) {
        crate::trace!("could not note the failed renewal: {e}");
    }
}

/// Forgets a noted failure (the renewal worked).
pub fn clear_failure(lock: &Path) {
    let _ = std::fs::remove_file(failure_path(lock));
}

/// The failure noted at `since` or later, if any.
pub fn failure_since(lock: &Path, since: u64) -> Option<String> {
    let bytes = super::private::read_private(&failure_path(lock)).ok()??;
    let note: Failure = serde_json::from_slice(&bytes).ok()?;
    (note.at >= since).then_some(note.why)
}

/// Takes the exclusive lock at `path`, waiting up to `timeout`.
pub fn acquire(path: &Path, timeout: Duration) -> Result<Lock, StoreError> {
    acquire_saying(path, timeout, None)
}

/// The same; after two seconds of waiting, says `notice` once on stderr,
/// so a long wait (another process's sign-in) is not a silent hang.
pub fn acquire_saying(
    path: &Path,
    timeout: Duration,
    notice: Option<&str>,
) -> Result<Lock, StoreError> {
    if let Some(parent) = path.parent() {
        super::private::ensure_dir(parent)?;
    }
    let io = |what, source| StoreError::Io {
        path: path.to_path_buf(),
        what,
        source,
    };
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    crate::platform::private_file(&mut options);
    // Never through a link, and never a file someone else made: another
    // user holding it would make us wait for minutes.
    let file = super::private::open_no_follow(&mut options, path).map_err(|e| {
        if super::private::is_link_refusal(&e) {
            StoreError::Unsafe {
                path: path.to_path_buf(),
                why: "is a symbolic link".into(),
            }
        } else {
            io("cannot open lock file", e)
        }
    })?;
    super::private::check_file(&file, path)?;
    let start = Instant::now();
    let mut pause = Duration::from_millis(2);
    let mut said = false;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Lock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(io("cannot lock", e)),
        }
        if start.elapsed() >= timeout {
            return Err(StoreError::LockTimeout {
                path: path.to_path_buf(),
                seconds: timeout.as_secs(),
            });
        }
        if let Some(n) = notice.filter(|_| !said && start.elapsed() >= Duration::from_secs(2)) {
            crate::say!("{n}");
            said = true;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(25));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_and_times_out() {
        let dir = std::env::temp_dir().join(format!("gcb-lock-{}", std::process::id()));
        let path = lock_path(&dir, "https://bitbucket.org alice");
        let held = acquire(&path, Duration::from_secs(1)).expect("first lock");
        let err = acquire(&path, Duration::from_millis(50)).expect_err("held");
        assert!(matches!(err, StoreError::LockTimeout { .. }));
        drop(held);
        acquire(&path, Duration::from_millis(50)).expect("released on drop");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
