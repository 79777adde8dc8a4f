//! The environment: the `Env` lookup (injectable for tests) and the
//! process's own, whose consumer-secret hook reads our store.

use crate::secret::Secret;
use crate::store::choice::StoreChoice;

/// Lookup of the environment, injectable for tests.
pub trait Env {
    /// A variable's value, if set and valid UTF-8.
    fn var(&self, name: &str) -> Option<String>;
    /// The consumer secret `configure` kept in our store for (`host`,
    /// `client_id`), read only when gitconfig and the environment have none.
    fn stored_client_secret(
        &self,
        _host: &str,
        _client_id: &str,
        _store: StoreChoice,
    ) -> Option<Secret> {
        None
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
    ) -> Option<Secret> {
        let dir = crate::store::data_dir().ok()?;
        match crate::store::secrets::load(&dir, store, host, client_id) {
            Ok(found) => found,
            Err(e) => {
                eprintln!("git-credential-bitbucket: warning: could not read the stored consumer secret: {e}");
                None
            }
        }
    }
}
