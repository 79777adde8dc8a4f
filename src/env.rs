//! The environment: the `Env` lookup (injectable for tests) and the
//! process's own, whose consumer-secret hook reads our store.

use crate::secret::Secret;
use crate::store::choice::StoreChoice;
use crate::store::StoreError;

/// Lookup of the environment, injectable for tests.
pub trait Env {
    /// A variable's value, if set and valid UTF-8.
    fn var(&self, name: &str) -> Option<String>;
    /// The consumer secret `configure` kept in our store for (`host`,
    /// `client_id`), read only when gitconfig and the environment have none.
    /// An error (a locked keyring) is the whole story for the user: the
    /// caller says it instead of "no secret is set".
    fn stored_client_secret(
        &self,
        _host: &str,
        _client_id: &str,
        _store: StoreChoice,
    ) -> Result<Option<Secret>, StoreError> {
        Ok(None)
    }
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn stored_client_secret(
        &self,
        host: &str,
        client_id: &str,
        store: StoreChoice,
    ) -> Result<Option<Secret>, StoreError> {
        let Ok(dir) = crate::store::data_dir() else {
            return Ok(None);
        };
        crate::store::secrets::load(&dir, store, host, client_id)
    }
}
