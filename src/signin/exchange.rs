//! The code exchange and the account check: the code for tokens, the
//! tokens for an account, and that account against the one git asked for.

use super::{Granted, SignInError};
use crate::bitbucket::Account;
use crate::bitbucket::TokenSet;
use crate::config::HostConfig;
use crate::endpoint::TokenEndpoint;

/// Exchanges the code for tokens and learns whose they are; refuses an
/// account other than the one `asked` for (nothing is saved then).
pub(super) fn exchange(
    cfg: &HostConfig,
    endpoint: &dyn TokenEndpoint,
    granted: &Granted,
    asked: Option<&str>,
) -> Result<(TokenSet, Account), SignInError> {
    crate::trace!("sign-in: exchanging the authorization code");
    let tokens = endpoint
        .exchange_code(
            cfg,
            &granted.code,
            &granted.redirect_uri,
            &granted.pkce.verifier,
        )
        .map_err(SignInError::Exchange)?;
    let account = endpoint
        .current_user(cfg, &tokens.access_token)
        .map_err(|source| SignInError::User {
            source: Box::new(source),
            url: cfg.remote.base_url(),
            api: crate::text::plain(&cfg.api_url),
        })?;
    if let Some(asked) = asked {
        if !cfg.kind.same_user(&account, asked) {
            return Err(SignInError::AccountMismatch {
                asked: crate::text::printable(asked),
                got: crate::text::printable(&crate::bitbucket::account_label(&account)),
            });
        }
    }
    Ok((tokens, account))
}
