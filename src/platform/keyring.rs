//! What a native credential store offers (Secret Service on Linux,
//! Credential Manager on Windows, the login Keychain on macOS): secrets
//! addressed by (service, user), behind [`Slots`], failing with a
//! [`KeyringError`]. Each platform's type is named `Native`, has
//! `connect()`, and implements [`Slots`]; the store's records are built
//! on top of it (src/store/keyring.rs). Windows' `connect()` is the
//! store's: it hands in the lock files that guard the lists of users
//! ([`super::listed`]).

#[cfg(target_os = "linux")]
pub use super::linux::keyring::*;
#[cfg(target_os = "macos")]
pub use super::macos::keyring::*;
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
pub use super::none::*;
#[cfg(windows)]
pub use super::windows::keyring::*;

/// keyring-core's answer for one slot, in our terms: the value, or `None`
/// where the native store has no entry; any other failure through the
/// platform's `map`. The three native stores share it.
#[cfg(any(target_os = "linux", target_os = "macos", windows))]
pub(in crate::platform) fn found<T>(
    answer: Result<T, keyring_core::Error>,
    map: fn(keyring_core::Error) -> KeyringError,
) -> Result<Option<T>, KeyringError> {
    match answer {
        Ok(v) => Ok(Some(v)),
        Err(keyring_core::Error::NoEntry) => Ok(None),
        Err(e) => Err(map(e)),
    }
}

/// A deletion in our terms: a slot that was empty already is deleted.
#[cfg(any(target_os = "linux", target_os = "macos", windows))]
pub(in crate::platform) fn deleted(
    answer: Result<(), keyring_core::Error>,
    map: fn(keyring_core::Error) -> KeyringError,
) -> Result<(), KeyringError> {
    found(answer, map).map(|_| ())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    /// No Secret Service at all (no session bus, no provider): `auto`
    /// falls back to the file store.
    #[error("no OS keyring is reachable ({0})")]
    Unavailable(String),
    /// There but locked.
    #[error(
        "{name} is locked ({0}); {hint}, then run the git command again. Nothing was deleted",
        name = NAME,
        hint = UNLOCK_HINT
    )]
    Locked(String),
    /// Anything else the platform reported.
    #[error(
        "{name} failed: {0}. {hint}, or keep tokens in a private file with \
         `git config --global credential.<url>.bitbucketStore file`",
        name = NAME,
        hint = CHECK_HINT
    )]
    Failed(String),
    /// A stored item that is not one of our records.
    #[error("keyring item for {0} is not a git-credential-bitbucket record; remove it with `git credential-bitbucket logout`")]
    Corrupt(String),
}

/// The few operations we need from a keyring, so the record logic above it
/// can be tested without one.
pub trait Slots {
    /// The secret at (service, user), if any.
    fn get(&self, service: &str, user: &str) -> Result<Option<String>, KeyringError>;
    /// Creates or replaces it.
    fn set(&self, service: &str, user: &str, label: &str, value: &str) -> Result<(), KeyringError>;
    /// Deletes it; a missing item is fine.
    fn delete(&self, service: &str, user: &str) -> Result<(), KeyringError>;
    /// The users that have an item under `service`.
    fn users(&self, service: &str) -> Result<Vec<String>, KeyringError>;
    /// Largest secret the platform takes, in bytes.
    fn max_len(&self) -> Option<usize>;
}
