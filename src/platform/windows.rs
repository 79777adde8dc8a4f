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

/// Credential Manager through keyring-core.
///
/// Each record piece is one generic credential, target
/// `<user>@git-credential-bitbucket:<host>`, persisted "local machine"
/// (never Enterprise, which roams with the profile to other machines),
/// holding the piece's UTF-8 bytes. Credential Manager can be enumerated
/// only through the store crate's `search` feature, which pulls regex, so
/// each host keeps the list of its users in one more credential, target
/// `git-credential-bitbucket:<host>`: written before a new user's
/// credential, updated after a delete, under a lock file beside the store,
/// so concurrent writers of different accounts never lose each other. A
/// name left in the list by a crash reads as "no record".
pub mod keyring {
    use crate::store::keyring::{KeyringError, Slots};
    use keyring_core::{CredentialStore, Entry, Error};
    use std::collections::HashMap;
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::time::Duration;

    /// What the messages call the store.
    pub const NAME: &str = "Windows Credential Manager";
    /// What "locked" means here, and what to do.
    pub const UNLOCK_HINT: &str = "Credential Manager cannot be used in this logon session \
         (for example an SSH session signed in with a key, or a service account). Sign in to \
         Windows with your password (or over SSH with a password), or keep tokens in a private \
         file with `git config --global credential.<url>.bitbucketStore file`";
    /// What to check when it fails.
    pub const CHECK_HINT: &str =
        "Check the Bitbucket entries in Control Panel > Credential Manager > Windows Credentials";

    const PERSIST: (&str, &str) = ("persistence", "Local");

    /// Credential Manager.
    pub struct Native {
        store: Arc<CredentialStore>,
        dir: PathBuf,
    }

    fn map(e: Error) -> KeyringError {
        match e {
            Error::NoStorageAccess(p) => KeyringError::Locked(p.to_string()),
            other => KeyringError::Failed(other.to_string()),
        }
    }

    impl Native {
        /// Opens Credential Manager (it is always there; a logon session
        /// without access shows at the first call).
        pub fn connect() -> Result<Native, KeyringError> {
            let store: Arc<CredentialStore> =
                windows_native_keyring_store::Store::new_with_configuration(&HashMap::from([(
                    "divider", "@",
                )]))
                .map_err(map)?;
            let dir = crate::store::data_dir().map_err(|e| KeyringError::Failed(e.to_string()))?;
            Ok(Native { store, dir })
        }

        fn entry(&self, service: &str, user: &str) -> Result<Entry, KeyringError> {
            Entry::new_in_store_with_modifiers(
                &self.store,
                service,
                user,
                &HashMap::from([PERSIST]),
            )
            .map_err(map)
        }

        fn list_entry(&self, service: &str) -> Result<Entry, KeyringError> {
            Entry::new_in_store_with_modifiers(
                &self.store,
                service,
                "users",
                &HashMap::from([PERSIST, ("target", service)]),
            )
            .map_err(map)
        }

        fn read_bytes(entry: &Entry) -> Result<Option<String>, KeyringError> {
            match entry.get_secret() {
                Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| {
                    KeyringError::Failed("a Credential Manager item is not UTF-8".into())
                }),
                Err(Error::NoEntry) => Ok(None),
                Err(e) => Err(map(e)),
            }
        }

        fn list(&self, service: &str) -> Result<Vec<String>, KeyringError> {
            Ok(Self::read_bytes(&self.list_entry(service)?)?
                .map(|s| s.lines().map(str::to_owned).collect())
                .unwrap_or_default())
        }

        /// Read-modify-write of `service`'s user list under its lock.
        fn change_list(
            &self,
            service: &str,
            change: impl FnOnce(&mut Vec<String>),
        ) -> Result<(), KeyringError> {
            let path = crate::store::lock::lock_path(&self.dir, &format!("users of {service}"));
            let _guard = crate::store::lock::acquire(&path, Duration::from_secs(30))
                .map_err(|e| KeyringError::Failed(e.to_string()))?;
            let mut users = self.list(service)?;
            let before = users.clone();
            change(&mut users);
            if users == before {
                return Ok(());
            }
            let entry = self.list_entry(service)?;
            if users.is_empty() {
                return match entry.delete_credential() {
                    Ok(()) | Err(Error::NoEntry) => Ok(()),
                    Err(e) => Err(map(e)),
                };
            }
            let text = users.join("\n");
            if text.len() > super::super::CREDENTIAL_MANAGER_MAX_BYTES {
                return Err(KeyringError::Failed(format!(
                    "too many accounts for {service} to list in one Credential Manager item; \
                     remove some with `git credential-bitbucket logout`"
                )));
            }
            entry.set_secret(text.as_bytes()).map_err(map)
        }
    }

    impl Slots for Native {
        fn get(&self, service: &str, user: &str) -> Result<Option<String>, KeyringError> {
            Self::read_bytes(&self.entry(service, user)?)
        }

        fn set(
            &self,
            service: &str,
            user: &str,
            _label: &str,
            value: &str,
        ) -> Result<(), KeyringError> {
            if !self.list(service)?.iter().any(|u| u == user) {
                self.change_list(service, |users| {
                    if !users.iter().any(|u| u == user) {
                        users.push(user.to_owned());
                    }
                })?;
            }
            self.entry(service, user)?
                .set_secret(value.as_bytes())
                .map_err(map)
        }

        fn delete(&self, service: &str, user: &str) -> Result<(), KeyringError> {
            match self.entry(service, user)?.delete_credential() {
                Ok(()) | Err(Error::NoEntry) => {}
                Err(e) => return Err(map(e)),
            }
            if self.list(service)?.iter().any(|u| u == user) {
                self.change_list(service, |users| users.retain(|u| u != user))?;
            }
            Ok(())
        }

        fn users(&self, service: &str) -> Result<Vec<String>, KeyringError> {
            self.list(service)
        }

        fn max_len(&self) -> Option<usize> {
            Some(super::super::CREDENTIAL_MANAGER_MAX_BYTES)
        }
    }
}
