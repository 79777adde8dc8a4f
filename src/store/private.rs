//! Making sure the store's directories and files are ours alone
//! (docs/security.md, "Other local users").
//!
//! The store directory and its `locks/` directory must be real directories
//! (not symbolic links), owned by us, and writable by nobody else: another
//! local user who can write there could swap `tokens.json` for a link, or
//! hold our lock files. One that is ours with a loose mode is tightened to
//! 0700; anything else is refused with a message, before anything is read
//! or written. Files are created exclusively and never through a link.
//!
//! Off Unix these checks are no-ops: the directories live in the user's
//! profile, whose ACLs the OS already keeps private.

use super::StoreError;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Creates `dir` (and parents) with mode 0700 for the parts we create, then
/// checks it as [`check_dir`] does.
pub fn ensure_dir(dir: &Path) -> Result<(), StoreError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    crate::platform::private_dir(&mut builder);
    builder.create(dir).map_err(|source| StoreError::Io {
        path: dir.to_path_buf(),
        what: "cannot create the directory",
        source,
    })?;
    check_dir(dir)
}

/// Checks an existing `dir` (a missing one is fine: it is created 0700
/// when first written). Refuses a link, a non-directory, or one owned by
/// another user; tightens ours to 0700 when others may enter it.
pub fn check_dir(dir: &Path) -> Result<(), StoreError> {
    let meta = match fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(StoreError::Io {
                path: dir.to_path_buf(),
                what: "cannot inspect the directory",
                source,
            })
        }
    };
    if meta.file_type().is_symlink() {
        return Err(unsafe_path(dir, "is a symbolic link".into()));
    }
    if !meta.is_dir() {
        return Err(unsafe_path(dir, "is not a directory".into()));
    }
    unix::check_dir_meta(dir, &meta)
}

/// Opens `path` with `options`, never following a symbolic link at its
/// last component (`O_NOFOLLOW` on Unix), and never waiting in `open`
/// (`O_NONBLOCK`: a FIFO planted under one of our names would otherwise
/// hang every command; it has no effect on a regular file). Check the
/// file with [`check_file`] before reading it.
pub fn open_no_follow(options: &mut OpenOptions, path: &Path) -> std::io::Result<File> {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        options,
        (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32,
    );
    options.open(path)
}

/// Reads a whole file of the store (`None` when there is none), refusing
/// a link, anything but a regular file (a FIFO would block the read
/// forever) and another user's file, with a message naming the path to
/// remove. Every store file is read this way: `tokens.json`,
/// `secrets.json`, `stores.json`, temp files, failure notes.
pub fn read_private(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    use std::io::Read;
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        what: "cannot read",
        source,
    };
    let mut file = match open_no_follow(OpenOptions::new().read(true), path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if is_link_refusal(&e) => {
            return Err(unsafe_path(path, "is a symbolic link".into()))
        }
        Err(e) => return Err(io(e)),
    };
    check_file(&file, path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io)?;
    Ok(Some(bytes))
}

/// What `open` with `O_NOFOLLOW` says for a link: `ELOOP` on Linux and
/// macOS (the BSDs say `EMLINK`).
pub fn is_link_refusal(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        let code = e.raw_os_error();
        code == Some(rustix::io::Errno::LOOP.raw_os_error())
            || code == Some(rustix::io::Errno::MLINK.raw_os_error())
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// Refuses an open file that is not a regular file of ours (a lock file or
/// the store that another user planted).
pub fn check_file(file: &File, path: &Path) -> Result<(), StoreError> {
    let meta = file.metadata().map_err(|source| StoreError::Io {
        path: path.to_path_buf(),
        what: "cannot inspect the file",
        source,
    })?;
    if !meta.is_file() {
        return Err(unsafe_path(path, format!("is {}", kind_of(&meta))));
    }
    unix::check_owner(path, &meta)
}

/// What a non-regular file is, for the message.
fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO (named pipe), not a regular file";
        }
        if t.is_socket() {
            return "a socket, not a regular file";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device, not a regular file";
        }
    }
    if meta.is_dir() {
        return "a directory, not a regular file";
    }
    "not a regular file"
}

fn unsafe_path(path: &Path, why: String) -> StoreError {
    StoreError::Unsafe {
        path: path.to_path_buf(),
        why,
    }
}

/// How long a rename waits for readers to close the file it replaces
/// (see `rename_over`); a read takes milliseconds.
const RENAME_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Writes `bytes` to `path` through a new temp file beside it
/// (`<name>.tmp-<pid>-<random>`, created exclusively, never through a
/// link, 0600 from its creation): write, fsync, rename, fsync the
/// directory. The name is unpredictable so nobody can plant it first.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let (tmp, mut file) = create_temp(path)?;
    let io = |what, source| StoreError::Io {
        path: tmp.clone(),
        what,
        source,
    };
    let written = test_fail_write()
        .and_then(|()| file.write_all(bytes))
        .map_err(|e| io("cannot write", e))
        .and_then(|()| file.sync_all().map_err(|e| io("cannot flush to disk", e)));
    drop(file);
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    test_pause(Pause::BeforeRename);
    if let Err(e) = rename_over(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(io("cannot move into place", e));
    }
    if let Some(parent) = path.parent() {
        if let Ok(d) = fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Renames `from` to `to`, replacing `to`. Readers take no lock (see
/// store/file.rs), so another process may have `to` open for the
/// moment of its read: Unix replaces the file all the same, but Windows
/// (and Wine) refuse to replace or move a file that is open, with
/// "access denied" or a sharing violation. That is tried again until the
/// readers are done; failing instead would lose a renewed sign-in, and the
/// next process would spend the rotated refresh token again.
pub fn rename_over(from: &Path, to: &Path) -> std::io::Result<()> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match fs::rename(from, to) {
            Err(e) if is_busy(&e) && start.elapsed() < RENAME_BUSY_TIMEOUT => {
                if pause == Duration::from_millis(1) {
                    crate::trace!(
                        "store: {} is open elsewhere; waiting to replace it",
                        to.display()
                    );
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// Whether a rename failed only because another process has the file
/// open: Windows' ERROR_ACCESS_DENIED, ERROR_SHARING_VIOLATION or
/// ERROR_LOCK_VIOLATION. Never on Unix, where these do not happen.
fn is_busy(e: &std::io::Error) -> bool {
    cfg!(windows) && matches!(e.raw_os_error(), Some(5 | 32 | 33))
}

/// The temp-file prefix for `path`: `<file name>.tmp-`.
pub fn temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{name}.tmp-")
}

/// Creates a fresh temp file beside `path`, exclusively.
pub fn create_temp(path: &Path) -> Result<(PathBuf, fs::File), StoreError> {
    let mut last = None;
    for _ in 0..4 {
        let mut random = [0u8; 6];
        // Without randomness the pid alone still makes a fresh name;
        // `create_new` refuses any name already taken.
        let _ = getrandom::fill(&mut random);
        let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let tmp = path.with_file_name(format!(
            "{}{}-{suffix}",
            temp_prefix(path),
            std::process::id()
        ));
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        crate::platform::private_file(&mut options);
        match super::private::open_no_follow(&mut options, &tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some((tmp, e)),
            Err(source) => {
                return Err(StoreError::Io {
                    path: tmp,
                    what: "cannot create",
                    source,
                })
            }
        }
    }
    let (path, source) = last.expect("BUG: the loop ran");
    Err(StoreError::Io {
        path,
        what: "cannot create a fresh temp file",
        source,
    })
}

/// Test-only fault point: with `GIT_CREDENTIAL_BITBUCKET_TEST_FAIL_WRITE`
/// set, every store write fails as on a full disk (tests run as root, for
/// whom a read-only directory is no obstacle). Only in builds with the
/// `test-hooks` feature: anyone who can set git's environment could
/// otherwise make a release binary fail its writes.
#[cfg(feature = "test-hooks")]
pub fn test_fail_write() -> std::io::Result<()> {
    if std::env::var_os("GIT_CREDENTIAL_BITBUCKET_TEST_FAIL_WRITE").is_some() {
        crate::trace!("test fault point: failing a store write");
        return Err(std::io::Error::other(
            "test fault point: no space left on device",
        ));
    }
    Ok(())
}

#[cfg(not(feature = "test-hooks"))]
pub fn test_fail_write() -> std::io::Result<()> {
    Ok(())
}

/// Test-only fault points (contract.md §9), so a test can kill the
/// process at an exact moment: with
/// `GIT_CREDENTIAL_BITBUCKET_TEST_PAUSE_BEFORE_RENAME_MS` set, a write
/// stops between the fsynced temp file and the rename; with
/// `…_PAUSE_BEFORE_LOCK_MS`, before it takes the document lock (as when
/// another writer holds it). Only with the `test-hooks` feature.
#[derive(Clone, Copy)]
pub enum Pause {
    BeforeLock,
    BeforeRename,
}

#[cfg(feature = "test-hooks")]
pub fn test_pause(at: Pause) {
    // The names only in builds with the hooks (a release binary holds none).
    let (var, before) = match at {
        Pause::BeforeLock => (
            "GIT_CREDENTIAL_BITBUCKET_TEST_PAUSE_BEFORE_LOCK_MS",
            "the document lock",
        ),
        Pause::BeforeRename => (
            "GIT_CREDENTIAL_BITBUCKET_TEST_PAUSE_BEFORE_RENAME_MS",
            "the rename",
        ),
    };
    if let Some(ms) = std::env::var(var).ok().and_then(|v| v.parse::<u64>().ok()) {
        crate::trace!("test fault point: pausing {ms} ms before {before}");
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

#[cfg(not(feature = "test-hooks"))]
pub fn test_pause(_: Pause) {}

#[cfg(unix)]
mod unix {
    use super::unsafe_path;
    use crate::store::StoreError;
    use std::fs::{self, Metadata};
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::Path;

    pub fn check_owner(path: &Path, meta: &Metadata) -> Result<(), StoreError> {
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me {
            return Err(unsafe_path(
                path,
                format!("belongs to another user (uid {}, you are {me})", meta.uid()),
            ));
        }
        Ok(())
    }

    pub fn check_dir_meta(dir: &Path, meta: &Metadata) -> Result<(), StoreError> {
        check_owner(dir, meta)?;
        let mode = meta.mode() & 0o7777;
        if mode & 0o077 != 0 {
            if mode & 0o022 != 0 {
                // Others could have planted files meanwhile: say so, once,
                // as the mode is fixed now.
                crate::say!(
                    "warning: {} was writable by other users (mode {mode:o}); \
                     it was set to 0700. If you did not do this, sign out and in again \
                     (`git credential-bitbucket logout --all`, then any git command)",
                    dir.display()
                );
            }
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|source| {
                StoreError::Io {
                    path: dir.to_path_buf(),
                    what: "cannot make the directory private (mode 0700)",
                    source,
                }
            })?;
        }
        Ok(())
    }
}

#[cfg(not(unix))]
mod unix {
    use crate::store::StoreError;
    use std::fs::Metadata;
    use std::path::Path;

    pub fn check_owner(_: &Path, _: &Metadata) -> Result<(), StoreError> {
        Ok(())
    }

    pub fn check_dir_meta(_: &Path, _: &Metadata) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn temp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("gcb-private-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        let _ = fs::remove_file(&d);
        d
    }

    #[test]
    fn a_loose_directory_of_ours_is_tightened() {
        let d = temp("loose");
        fs::create_dir_all(&d).expect("mkdir");
        fs::set_permissions(&d, fs::Permissions::from_mode(0o777)).expect("chmod");
        ensure_dir(&d).expect("ours");
        let mode = fs::metadata(&d).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_link_is_refused() {
        let target = temp("target");
        fs::create_dir_all(&target).expect("mkdir");
        let link = temp("link");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let err = ensure_dir(&link).expect_err("a link");
        assert!(err.to_string().contains("symbolic link"), "{err}");
        let _ = fs::remove_file(&link);
        let _ = fs::remove_dir_all(&target);
    }
}
