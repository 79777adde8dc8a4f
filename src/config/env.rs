//! The consumer secret `configure` kept in our store, fetched for a
//! command about to need it (the `Env` lookup is in `crate::env`).

use super::{ConfigError, Flow, HostConfig};
use crate::env::Env;

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
        Ok(Some(secret)) => Ok(std::borrow::Cow::Owned(HostConfig {
            client_secret: Some(secret),
            ..cfg.clone()
        })),
        Ok(None) => Err(ConfigError::MissingClientSecret { url }),
        Err(source) => Err(ConfigError::SecretUnreadable { url, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::resolve;
    use crate::config::test_support::*;
    use crate::platform::keyring::KeyringError;
    use crate::secret::Secret;
    use crate::store::choice::StoreChoice;
    use crate::store::StoreError;

    /// A keyring that holds the secret but is locked.
    struct LockedKeyring;

    impl Env for LockedKeyring {
        fn var(&self, _name: &str) -> Option<String> {
            None
        }

        fn stored_client_secret(
            &self,
            _host: &str,
            _client_id: &str,
            _store: StoreChoice,
        ) -> Result<Option<Secret>, StoreError> {
            Err(StoreError::Keyring(KeyringError::Locked("test".into())))
        }
    }

    #[test]
    fn a_locked_keyring_is_the_whole_message_not_a_missing_secret() {
        let git = cfg(&[("credential.https://bitbucket.org.bitbucketclientid", "id")]);
        let host = resolve(&git, &no_env(), &remote("https", "bitbucket.org"))
            .expect("valid")
            .expect("ours");

        let msg = with_client_secret(&host, &LockedKeyring)
            .expect_err("locked")
            .to_string();

        assert!(msg.contains("is locked"), "{msg}");
        assert!(!msg.contains("no consumer secret"), "{msg}");
        assert!(!msg.contains("configure"), "{msg}");
    }

    #[test]
    fn no_stored_secret_names_configure_which_asks_and_stdin() {
        let git = cfg(&[("credential.https://bitbucket.org.bitbucketclientid", "id")]);
        let host = resolve(&git, &no_env(), &remote("https", "bitbucket.org"))
            .expect("valid")
            .expect("ours");

        let msg = with_client_secret(&host, &no_env())
            .expect_err("none")
            .to_string();

        assert!(
            msg.contains("`git credential-bitbucket configure https://bitbucket.org`, which asks"),
            "{msg}"
        );
        assert!(msg.contains("--client-secret-stdin"), "{msg}");
        assert!(
            !msg.contains("credential.https://bitbucket.org.bitbucketClientSecret"),
            "{msg}"
        );
    }
}
