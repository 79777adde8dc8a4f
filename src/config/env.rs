//! The consumer secret `configure` kept in our store, fetched for a
//! command about to need it (the `Env` lookup is in `crate::env`).

use super::{ConfigError, Env, Flow, HostConfig};

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
