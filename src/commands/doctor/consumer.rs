//! `doctor`'s consumer check: the OAuth flows need the consumer secret at
//! the token endpoint, from gitconfig, the environment or where
//! `configure` kept it; without it (or with it behind a locked keyring)
//! the next sign-in or renewal fails.

use super::{check, Check, Level};
use crate::config::{Flow, HostConfig};
use crate::store::secrets;
use std::path::Path;

/// Whether the consumer secret can be had; `None` for the token flow,
/// which needs none.
pub(super) fn secret(cfg: &HostConfig, dir: &Path) -> Option<Check> {
    if cfg.flow == Flow::Token {
        return None;
    }
    let base = cfg.remote.base_url();
    let id = crate::text::plain(&cfg.client_id);
    let found = match &cfg.client_secret {
        Some(_) => Ok(Some(())),
        None => secrets::load(dir, cfg.store, &base, &cfg.client_id).map(|s| s.map(|_| ())),
    };
    let at = |level, message: String| check(Some(&base), "consumer", level, message);
    Some(match found {
        Ok(Some(())) => at(
            Level::Ok,
            format!(
                "the OAuth consumer: {}; its secret is set",
                cfg.consumer_label()
            ),
        ),
        Ok(None) => at(
            Level::Fail,
            format!(
                "no consumer secret is set for consumer {id}: Bitbucket's token endpoint needs \
                 it, so the next sign-in or renewal fails"
            ),
        )
        .fix(format!(
            "git credential-bitbucket configure {base} (it asks for the secret), or pipe it to \
             `git credential-bitbucket configure {base} --client-secret-stdin`"
        )),
        Err(e) => at(
            Level::Fail,
            format!("the consumer secret cannot be read: {e}"),
        )
        .fix("unlock the keyring (sign in to the desktop session), then run doctor again".into()),
    })
}
