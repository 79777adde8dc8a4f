//! The token endpoint and the account lookup as the ladder and the
//! sign-in use them: a trait, real over [`Client`], faked in their
//! tests, so every rung and the code exchange run in-process.

use crate::bitbucket::Account;
use crate::bitbucket::{ApiError, Client, TokenSet};
use crate::config::HostConfig;
use crate::secret::Secret;

/// The calls to Bitbucket a renewal or a sign-in makes (contract.md §6).
pub trait TokenEndpoint {
    /// `grant_type=refresh_token`.
    fn refresh(&self, cfg: &HostConfig, refresh_token: &Secret) -> Result<TokenSet, ApiError>;
    /// `grant_type=client_credentials`.
    fn client_credentials(&self, cfg: &HostConfig) -> Result<TokenSet, ApiError>;
    /// `grant_type=authorization_code`, repeating the redirect URI the code
    /// was sent to and the PKCE verifier.
    fn exchange_code(
        &self,
        cfg: &HostConfig,
        code: &Secret,
        redirect_uri: &str,
        verifier: &Secret,
    ) -> Result<TokenSet, ApiError>;
    /// Whose token `access_token` is.
    fn current_user(&self, cfg: &HostConfig, access_token: &Secret) -> Result<Account, ApiError>;
}

/// The real endpoint, over [`Client`].
pub struct Bitbucket;

impl TokenEndpoint for Bitbucket {
    fn refresh(&self, cfg: &HostConfig, refresh_token: &Secret) -> Result<TokenSet, ApiError> {
        Client::for_remote(cfg.endpoints(), &cfg.remote).refresh(refresh_token)
    }

    fn client_credentials(&self, cfg: &HostConfig) -> Result<TokenSet, ApiError> {
        Client::for_remote(cfg.endpoints(), &cfg.remote).client_credentials()
    }

    fn exchange_code(
        &self,
        cfg: &HostConfig,
        code: &Secret,
        redirect_uri: &str,
        verifier: &Secret,
    ) -> Result<TokenSet, ApiError> {
        Client::for_remote(cfg.endpoints(), &cfg.remote).exchange_code(code, redirect_uri, verifier)
    }

    fn current_user(&self, cfg: &HostConfig, access_token: &Secret) -> Result<Account, ApiError> {
        Client::for_remote(cfg.endpoints(), &cfg.remote).current_user(access_token)
    }
}
