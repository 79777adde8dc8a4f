//! macOS: the login Keychain.

/// The login Keychain through keyring-core: one generic password per
/// record piece, service `git-credential-bitbucket:<host>`, account = the
/// user. Keychain items have no practical size cap, so records are never
/// split here.
pub mod keyring {
    use crate::platform::keyring::{deleted, found, KeyringError, Slots};
    use keyring_core::{CredentialStore, Entry, Error};
    use std::collections::HashMap;
    use std::sync::Arc;

    /// What the messages call the store.
    pub const NAME: &str = "the macOS login Keychain";
    pub const UNLOCK_HINT: &str = "unlock it (log in to the Mac, or open Keychain Access and \
         unlock \"login\"; over SSH: `security unlock-keychain ~/Library/Keychains/login.keychain-db`) \
         and allow git-credential-bitbucket to use it when macOS asks";
    /// What to check when it fails.
    pub const CHECK_HINT: &str =
        "Check the git-credential-bitbucket items of the login keychain in Keychain Access";

    /// OSStatus codes that mean "locked, or the user said no":
    /// errSecInteractionNotAllowed (no UI to ask, e.g. over SSH),
    /// errSecAuthFailed, and userCanceledErr (the unlock prompt dismissed).
    const LOCKED: [i32; 3] = [-25308, -25293, -128];

    /// The login Keychain.
    pub struct Native {
        store: Arc<CredentialStore>,
    }

    fn map(e: Error) -> KeyringError {
        match e {
            Error::NoStorageAccess(p) => KeyringError::Locked(p.to_string()),
            Error::PlatformFailure(p) => {
                let code = p
                    .downcast_ref::<security_framework::base::Error>()
                    .map(|e| e.code());
                match code {
                    Some(c) if LOCKED.contains(&c) => KeyringError::Locked(p.to_string()),
                    _ => KeyringError::Failed(p.to_string()),
                }
            }
            other => KeyringError::Failed(other.to_string()),
        }
    }

    impl Native {
        /// Opens the user's login Keychain (always there; a locked one
        /// shows at the first call).
        pub fn connect() -> Result<Native, KeyringError> {
            let store: Arc<CredentialStore> =
                apple_native_keyring_store::keychain::Store::new().map_err(map)?;
            Ok(Native { store })
        }

        fn entry(&self, service: &str, user: &str) -> Result<Entry, KeyringError> {
            Entry::new_in_store(&self.store, service, user).map_err(map)
        }
    }

    impl Slots for Native {
        fn get(&self, service: &str, user: &str) -> Result<Option<String>, KeyringError> {
            found(self.entry(service, user)?.get_password(), map)
        }

        fn set(
            &self,
            service: &str,
            user: &str,
            _label: &str,
            value: &str,
        ) -> Result<(), KeyringError> {
            self.entry(service, user)?.set_password(value).map_err(map)
        }

        fn delete(&self, service: &str, user: &str) -> Result<(), KeyringError> {
            deleted(self.entry(service, user)?.delete_credential(), map)
        }

        fn users(&self, service: &str) -> Result<Vec<String>, KeyringError> {
            let found = Entry::search_in_store(&self.store, &HashMap::from([("service", service)]))
                .map_err(map)?;
            Ok(found
                .iter()
                .filter_map(|e| e.get_specifiers())
                .filter(|(s, _)| s == service)
                .map(|(_, account)| account)
                .collect())
        }

        fn max_len(&self) -> Option<usize> {
            None
        }
    }
}
