//! The environment: the `Env` lookup (injectable for tests), the process's
//! own, and the consumer secret `configure` kept in our store.

use super::{ConfigError, Flow, HostConfig, StoreChoice};
use crate::secret::Secret;

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

/// `cfg` with its consumer secret, for a command about to talk to the
/// token endpoint: the one from gitconfig or the environment, else the one
/// `configure` kept in our store (looked up now, not on every `get`). Both
/// Cloud and Data Center (by default) require it; the token flow needs none.
pub fn with_client_secret<'a>(
    cfg: &'a HostConfig,
    env: &dyn Env,
) -> Result<std::borrow::Cow<'a, HostConfig>, ConfigError> {
    if cfg.flow == Flow::Token || cfg.client_secret.is_some() {
        return Ok(std::borrow::Cow::Borrowed(cfg));
    }
    let url = cfg.remote.base_url();
    match env.stored_client_secret(&url, &cfg.client_id, cfg.store) {
        Some(secret) => Ok(std::borrow::Cow::Owned(HostConfig {
            client_secret: Some(secret),
            ..cfg.clone()
        })),
        None => Err(ConfigError::MissingClientSecret { url }),
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
