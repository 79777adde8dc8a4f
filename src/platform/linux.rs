//! Linux: the Secret Service (e.g. gnome-keyring) over libdbus.

/// The Secret Service through keyring-core.
pub mod keyring {
    use crate::platform::keyring::{deleted, found, KeyringError, Slots};
    use keyring_core::{CredentialStore, Entry, Error};
    use std::collections::HashMap;
    use std::sync::Arc;

    /// What the messages call the store.
    pub const NAME: &str = "the OS keyring";
    pub const UNLOCK_HINT: &str = "unlock it (log in to the desktop session, or unlock the \
         \"login\" keyring in Seahorse; on a headless machine: \
         `printf '%s' \"$PASSWORD\" | gnome-keyring-daemon --unlock`)";
    /// What to check when it fails.
    pub const CHECK_HINT: &str = "Check that the Secret Service (e.g. gnome-keyring) is running";

    /// Secret Service on the session bus.
    pub struct Native {
        store: Arc<CredentialStore>,
    }

    /// A platform failure after connecting is a failure, not "no keyring":
    /// only `connect` and the first probe may conclude that (contract.md §5).
    fn map(e: Error) -> KeyringError {
        match e {
            Error::PlatformFailure(p) => KeyringError::Failed(p.to_string()),
            Error::NoStorageAccess(p) => KeyringError::Locked(p.to_string()),
            other => KeyringError::Failed(other.to_string()),
        }
    }

    impl Native {
        /// Connects to the Secret Service. Fails fast (milliseconds) when
        /// there is no session bus.
        pub fn connect() -> Result<Native, KeyringError> {
            if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none()
                && !std::env::var_os("XDG_RUNTIME_DIR")
                    .map(|d| std::path::Path::new(&d).join("bus").exists())
                    .unwrap_or(false)
            {
                return Err(KeyringError::Unavailable("no D-Bus session bus".into()));
            }
            let store: Arc<CredentialStore> = dbus_secret_service_keyring_store::Store::new()
                .map_err(|e| KeyringError::Unavailable(e.to_string()))?;
            Ok(Native { store })
        }

        fn entry(
            &self,
            service: &str,
            user: &str,
            label: Option<&str>,
        ) -> Result<Entry, KeyringError> {
            match label {
                Some(l) => Entry::new_in_store_with_modifiers(
                    &self.store,
                    service,
                    user,
                    &HashMap::from([("label", l)]),
                ),
                None => Entry::new_in_store(&self.store, service, user),
            }
            .map_err(map)
        }
    }

    impl Slots for Native {
        fn get(&self, service: &str, user: &str) -> Result<Option<String>, KeyringError> {
            found(self.entry(service, user, None)?.get_password(), map)
        }

        fn set(
            &self,
            service: &str,
            user: &str,
            label: &str,
            value: &str,
        ) -> Result<(), KeyringError> {
            self.entry(service, user, Some(label))?
                .set_password(value)
                .map_err(map)
        }

        fn delete(&self, service: &str, user: &str) -> Result<(), KeyringError> {
            deleted(self.entry(service, user, None)?.delete_credential(), map)
        }

        fn users(&self, service: &str) -> Result<Vec<String>, KeyringError> {
            let found = Entry::search_in_store(&self.store, &HashMap::from([("service", service)]))
                .map_err(map)?;
            let mut users = Vec::new();
            for e in found {
                let attrs = e.get_attributes().map_err(map)?;
                if let Some(u) = attrs.get("username") {
                    users.push(u.clone());
                }
            }
            Ok(users)
        }

        fn max_len(&self) -> Option<usize> {
            None
        }
    }
}
