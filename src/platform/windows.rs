//! Windows: Credential Manager, the console (`CONIN$`/`CONOUT$`), Git for
//! Windows' config files, and ownership by the user's profile.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// Whether this process has a console to read from.
pub fn terminal_available() -> bool {
    open_terminal().is_ok()
}

/// The console: `CONIN$` to read (git's own prompts use it too, whatever
/// stdin is), `CONOUT$` for prompts.
pub fn open_terminal() -> std::io::Result<(File, File)> {
    let input = OpenOptions::new().read(true).write(true).open("CONIN$")?;
    let out = OpenOptions::new().read(true).write(true).open("CONOUT$")?;
    Ok((input, out))
}

/// Shows `prompt` and reads one line from the console with echo off
/// (rpassword, on `CONIN$`/`CONOUT$`). The console echoes a key only when
/// a program reads it, so what arrives before echo goes off is not shown
/// either. `input` and `out` are the console already; rpassword opens its
/// own handles to it.
pub fn prompt_hidden(
    _input: &mut dyn BufRead,
    out: &mut dyn Write,
    prompt: &str,
) -> std::io::Result<String> {
    let _ = out.flush();
    rpassword::prompt_password(prompt)
}

/// Whether a discovered repository counts as ours. Telling a directory's
/// owner on Windows needs the security API (no safe binding is in our
/// tree), so we use what protects it instead: a directory inside the
/// user's profile (`%USERPROFILE%`), whose ACL admits only the user,
/// SYSTEM and administrators. Anything elsewhere (`C:\.git`, a shared
/// drive) is "not known to be ours", and the caller asks git, which runs
/// Git for Windows' own `safe.directory` check.
pub fn owned_by_me(dir: &Path) -> bool {
    let Some(profile) = std::env::var_os("USERPROFILE").filter(|p| !p.is_empty()) else {
        return false;
    };
    match (std::fs::canonicalize(dir), std::fs::canonicalize(profile)) {
        (Ok(d), Ok(p)) => super::inside_profile(&d, &p),
        _ => false,
    }
}

/// Git for Windows' system config (`<install>\etc\gitconfig`), found from
/// the `GIT_EXEC_PATH` git gives its helpers. When it cannot be placed, or
/// when `%PROGRAMDATA%\Git\config` (read by Git for Windows before 2.24)
/// says anything about credentials, `None`: ask git.
pub fn git_system_files(var: &dyn Fn(&str) -> Option<String>) -> Option<Vec<PathBuf>> {
    if let Some(pd) = var("PROGRAMDATA").filter(|p| !p.is_empty()) {
        if let Ok(t) = std::fs::read_to_string(Path::new(&pd).join("Git").join("config")) {
            let t = t.to_ascii_lowercase();
            if t.contains("credential") || t.contains("[include") {
                return None;
            }
        }
    }
    let system = super::windows_system_gitconfig(&var("GIT_EXEC_PATH")?)?;
    Some(vec![PathBuf::from(system)])
}

/// The directory Git for Windows calls HOME.
pub fn git_home(var: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    super::windows_git_home(var, &|p| p.is_dir())
}

/// The user's `Path` (`HKCU\Environment`), which `install` and `uninstall`
/// change: per user, so no administrator rights, and the system `Path`
/// is never touched. Through `windows-registry`, Microsoft's safe wrapper
/// (docs/platforms.md says why not `reg.exe`).
pub mod user_path {
    use windows_registry::{Type, CURRENT_USER};

    const KEY: &str = "Environment";
    const NAME: &str = "Path";
    /// `HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND)`: no such value.
    const NOT_FOUND: u32 = 0x8007_0002;

    /// The value, and whether it is `REG_EXPAND_SZ` (it usually is: entries
    /// like `%USERPROFILE%\...` expand when a process starts), kept as it
    /// was when written back.
    #[derive(Debug, Clone)]
    pub struct UserPath {
        pub value: String,
        pub expand: bool,
    }

    /// The user's `Path`; empty (to be written as `REG_EXPAND_SZ`) when
    /// there is none.
    pub fn read() -> Result<UserPath, String> {
        let key = CURRENT_USER.create(KEY).map_err(|e| e.to_string())?;
        match key.get_value(NAME) {
            Ok(v) => {
                let expand = match v.ty() {
                    Type::ExpandString => true,
                    Type::String => false,
                    other => return Err(format!("it is not text but {other:?}; fix it by hand")),
                };
                let value = String::try_from(v).map_err(|e| e.to_string())?;
                Ok(UserPath { value, expand })
            }
            Err(e) if e.code().0 as u32 == NOT_FOUND => Ok(UserPath {
                value: String::new(),
                expand: true,
            }),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Writes `path` back with its type; an empty one is removed, so an
    /// install then an uninstall on a machine without a user `Path` leaves
    /// none.
    pub fn write(path: &UserPath) -> Result<(), String> {
        let key = CURRENT_USER.create(KEY).map_err(|e| e.to_string())?;
        let done = match (path.value.is_empty(), path.expand) {
            (true, _) => match key.remove_value(NAME) {
                Err(e) if e.code().0 as u32 == NOT_FOUND => Ok(()),
                other => other,
            },
            (false, true) => key.set_expand_string(NAME, &path.value),
            (false, false) => key.set_string(NAME, &path.value),
        };
        done.map_err(|e| e.to_string())
    }

    /// Tells running programs (Explorer, so the terminals it starts) that
    /// the environment changed. The message (`WM_SETTINGCHANGE`) needs a
    /// Win32 call we could make only with unsafe code of our own, so we
    /// let `setx` send it: it sets a variable of our own, broadcasts, and
    /// we delete that variable again. Best effort: without it, new
    /// terminals see the `Path` after the next sign-in.
    pub fn announce() {
        const MARK: &str = "GIT_CREDENTIAL_BITBUCKET_PATH_CHANGED";
        let setx = std::env::var("SystemRoot")
            .map(|r| format!("{}\\System32\\setx.exe", r.trim_end_matches('\\')))
            .unwrap_or_else(|_| "setx.exe".into());
        let _ = std::process::Command::new(setx)
            .args([MARK, "1"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        if let Ok(key) = CURRENT_USER.create(KEY) {
            let _ = key.remove_value(MARK);
        }
    }
}

/// Credential Manager through keyring-core.
///
/// Each record piece is one generic credential, target
/// `<user>@git-credential-bitbucket:<host>`, persisted "local machine"
/// (never Enterprise, which roams with the profile to other machines),
/// holding the piece's UTF-8 bytes. Credential Manager can be enumerated
/// only through the store crate's `search` feature, which pulls regex, so
/// the host's users are listed in one more credential
/// (`@git-credential-bitbucket:<host>`, see `platform::listed`).
pub mod keyring {
    use crate::platform::keyring::{deleted, found, KeyringError};
    use crate::platform::listed::{Listed, Unlisted};
    use keyring_core::{CredentialStore, Entry, Error};
    use std::collections::HashMap;
    use std::sync::Arc;

    /// What the messages call the store.
    pub const NAME: &str = "Windows Credential Manager";
    /// What "locked" means here, and what to do.
    pub const UNLOCK_HINT: &str = "Credential Manager cannot be used in this logon session \
         (for example an SSH session signed in with a key, or a service account); to unlock \
         it, sign in to Windows with your password (or over SSH with a password), or keep tokens in a private \
         file with `git config --global credential.<url>.bitbucketStore file`";
    /// What to check when it fails.
    pub const CHECK_HINT: &str =
        "Check the Bitbucket entries in Control Panel > Credential Manager > Windows Credentials";

    /// Credential Manager, with its users listed; `connect()` is in
    /// src/store/keyring.rs, which owns the lock files the lists need.
    pub type Native = Listed<CredMan>;

    /// Credential Manager's generic credentials.
    pub struct CredMan {
        store: Arc<CredentialStore>,
    }

    fn map(e: Error) -> KeyringError {
        match e {
            Error::NoStorageAccess(p) => KeyringError::Locked(p.to_string()),
            other => KeyringError::Failed(other.to_string()),
        }
    }

    impl CredMan {
        /// Opens Credential Manager (it is always there; a logon session
        /// without access shows at the first call). The store wraps it in
        /// [`Listed`], with its own lock files for the lists of users
        /// (`Native::connect`, in src/store/keyring.rs).
        pub fn open() -> Result<CredMan, KeyringError> {
            let store: Arc<CredentialStore> =
                windows_native_keyring_store::Store::new_with_configuration(&HashMap::from([(
                    "divider", "@",
                )]))
                .map_err(map)?;
            Ok(CredMan { store })
        }

        fn entry(&self, service: &str, user: &str) -> Result<Entry, KeyringError> {
            Entry::new_in_store_with_modifiers(
                &self.store,
                service,
                user,
                &HashMap::from([("persistence", "Local")]),
            )
            .map_err(map)
        }
    }

    impl Unlisted for CredMan {
        fn get(&self, service: &str, user: &str) -> Result<Option<Vec<u8>>, KeyringError> {
            found(self.entry(service, user)?.get_secret(), map)
        }

        fn set(&self, service: &str, user: &str, value: &[u8]) -> Result<(), KeyringError> {
            self.entry(service, user)?.set_secret(value).map_err(map)
        }

        fn delete(&self, service: &str, user: &str) -> Result<(), KeyringError> {
            deleted(self.entry(service, user)?.delete_credential(), map)
        }
    }
}

/// Against the real Credential Manager (under Wine in CI), only when
/// `GCB_REAL_CREDENTIAL_MANAGER=1`: a developer's own store is not touched
/// by a plain `cargo test`.
#[cfg(test)]
mod tests {
    use crate::platform::keyring::Slots;
    use crate::store::keyring::KeyringStore;
    use crate::store::{sample_record, Store};

    /// %TEMP% is inside the profile (Windows and Wine alike); the drive's
    /// root, where a planted `C:\.git` would be, is not.
    #[test]
    fn a_repository_counts_as_ours_only_inside_the_profile() {
        let dir = std::env::temp_dir().join(format!("gcb-own-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        assert!(super::owned_by_me(&dir), "{}", dir.display());
        let _ = std::fs::remove_dir_all(&dir);
        let drive = std::env::var("SystemDrive").unwrap_or_else(|_| "C:".into());
        let root = std::path::PathBuf::from(format!("{drive}\\"));
        assert!(!super::owned_by_me(&root), "{}", root.display());
    }

    #[test]
    fn a_6_kb_record_round_trips_through_credential_manager() {
        if std::env::var_os("GCB_REAL_CREDENTIAL_MANAGER").is_none() {
            return;
        }
        let host = format!("https://gcb-unit-test-{}.invalid", std::process::id());
        let native = super::keyring::Native::connect().expect("Credential Manager");
        assert_eq!(
            native.max_len(),
            Some(crate::platform::CREDENTIAL_MANAGER_MAX_BYTES)
        );
        let store = KeyringStore::with_slots(native, vec![host.clone()]);
        let mut big = sample_record("alice", &"a".repeat(2600), &"r".repeat(2600));
        big.host = host.clone();
        big.account.display_name = Some("Ünïcødé".into());
        store.put(&big).expect("put");
        let mut bob = sample_record("bob", "at", "rt");
        bob.host = host.clone();
        store.put(&bob).expect("put bob");
        let key = crate::store::StoreKey::new(host.as_str());
        let back = store.records(&key).expect("read");
        assert_eq!(back.len(), 2, "{back:?}");
        assert!(back.contains(&big));
        assert!(store.remove(&key, "alice").expect("rm"));
        assert!(store.remove(&key, "bob").expect("rm"));
        assert!(store.records(&key).expect("read").is_empty());
    }
}
