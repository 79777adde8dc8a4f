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
use std::path::Path;

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
