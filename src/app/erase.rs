//! `erase`: git reports a credential refused; drop it if it is ours.

use super::host::open_store;
use super::ladder::lock_for;
use crate::bitbucket::facts::{app_password_message, is_app_password};
use crate::config::HostConfig;
use crate::error::Error;
use crate::protocol::Request;
use crate::secret::Secret;
use crate::store::{Record, TokenKind};

/// What to say when Bitbucket refused a stored token we then removed: by
/// what the token is (its prefix, then its kind), since the cure differs
/// (docs/bitbucket-facts.md, 2026 changes).
fn refused_token(kind: TokenKind, token: &Secret, url: &str) -> String {
    let again = format!("`git credential-bitbucket configure {url} --api-token`");
    if is_app_password(token) {
        return format!(
            "Bitbucket refused the stored token for {url}, so it was removed. {}",
            app_password_message("it", url)
        );
    }
    let (what, cure) = match kind {
        TokenKind::ApiToken => (
            "API token",
            "Create a new API token with the repository read and write scopes on your \
             Atlassian account's security page",
        ),
        TokenKind::AccessToken => (
            "access token",
            "Create a new repository, project or workspace access token in Bitbucket",
        ),
        TokenKind::PersonalToken | TokenKind::ProjectToken => (
            "HTTP access token",
            "Create a new HTTP access token in Bitbucket",
        ),
        // Renewable kinds are never removed here; named for completeness.
        TokenKind::Oauth | TokenKind::ClientCredentials => ("token", "Sign in again"),
    };
    format!(
        "Bitbucket refused the stored {what} for {url}, so it was removed; it has expired, \
         was revoked or lacks a scope. {cure} and store it with {again}, or sign in with \
         OAuth: `git credential-bitbucket configure {url}`."
    )
}

/// git got 401 with a credential: if it is our access token, drop it and
/// keep the refresh token, so the next `get` refreshes without a browser.
pub(crate) fn erase(cfg: &HostConfig, req: &Request) -> Result<(), Error> {
    let presented = match req.authtype.as_deref() {
        Some(t) if t.eq_ignore_ascii_case("bearer") => req.credential.as_ref(),
        _ => req.password.as_ref(),
    };
    let Some(presented) = presented else {
        return Ok(());
    };
    let store = open_store(cfg)?;
    let host = cfg.remote.store_key();
    let holder = store
        .records(&host)?
        .into_iter()
        .find(|r| r.access_token.as_ref() == Some(presented));
    let Some(holder) = holder else {
        crate::trace!("erase: not our token, nothing to do");
        return Ok(());
    };
    if holder.kind.is_stored_token() {
        // A token we were given and Bitbucket now refuses: nothing can
        // renew it. Drop it and say what to do (contract.md §4).
        store.remove(&host, &holder.account.username)?;
        let url = cfg.remote.base_url();
        crate::say!("{}", refused_token(holder.kind, presented, &url));
        return Ok(());
    }
    // Under the account lock, so a refresh in flight is not overwritten.
    let _lock = lock_for(&host, Some(&holder.account.username), cfg.login_timeout)?;
    let current = store
        .records(&host)?
        .into_iter()
        .find(|r| r.same_slot(&holder));
    if let Some(rec) = current.filter(|r| r.access_token.as_ref() == Some(presented)) {
        crate::trace!(
            "erase: dropping the rejected access token of {:?}",
            rec.account.username
        );
        store.put(&Record {
            access_token: None,
            ..rec
        })?;
    }
    Ok(())
}
