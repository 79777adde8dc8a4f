//! `doctor`'s sign-in check: the record git gets (app/record.rs's rule)
//! and how long it lasts; without one, whether the next git command can
//! get one: a stored token cannot appear by itself, and a browser sign-in
//! needs a browser or a terminal.

use super::{check, Check, Level};
use crate::app;
use crate::config::{Flow, HostConfig};
use crate::env::Env;
use crate::human::{duration, rfc3339};
use crate::signin::{detect, Asker};
use crate::store::{now, Store};

/// The sign-in git would use, or whether one can be had.
pub(super) fn state(cfg: &HostConfig, store: &dyn Store, env: &dyn Env) -> Check {
    let base = cfg.remote.base_url();
    let host = cfg.remote.store_key();
    let named = cfg.remote.username.as_deref();
    let at = |level, message: String| check(Some(&base), "sign-in", level, message);
    if cfg.flow == Flow::Token {
        return match app::stored_token(store, &host, named, cfg) {
            Ok((r, _)) => at(
                Level::Ok,
                format!(
                    "a token is stored for {}; no expiry known",
                    crate::text::plain(&r.account.username)
                ),
            ),
            Err(e) => at(Level::Fail, e.to_string()).fix(format!(
                "git credential-bitbucket configure {base} --api-token"
            )),
        };
    }
    let found = match app::which(store, &host, named, cfg) {
        Ok(found) => found,
        Err(e) => return at(Level::Fail, e.to_string()),
    };
    let t = now();
    if let Some(r) = &found {
        let who = crate::text::plain(&r.account.username);
        let valid = r.access_token.is_some() && r.expires_at > t;
        let renewable = r.refresh_token.is_some() || cfg.flow == Flow::ClientCredentials;
        if valid || renewable {
            let expiry = match valid {
                true => format!(
                    "the access token is valid for {} (until {})",
                    duration(r.expires_at - t),
                    rfc3339(r.expires_at)
                ),
                false => "the access token has expired and is renewed on next use".into(),
            };
            return at(Level::Ok, format!("{who} is signed in; {expiry}"));
        }
    }
    let nobody = match &found {
        Some(r) => format!(
            "{}'s access token has expired and there is no refresh token",
            crate::text::plain(&r.account.username)
        ),
        None => "nobody is signed in yet".into(),
    };
    if cfg.flow == Flow::ClientCredentials {
        return at(
            Level::Ok,
            "no client_credentials token yet: the next git command gets one".into(),
        );
    }
    // The browser flow signs in on the next git command, if it can.
    let how = detect(cfg, env, Asker::Git);
    if how.browser.is_none() && !how.terminal {
        return at(
            Level::Fail,
            format!(
                "{nobody}, and git cannot sign in here: there is no browser (bitbucketBrowser, \
                 $BROWSER or a desktop) and no terminal{}",
                match cfg.interactive {
                    true => "",
                    false => " (credential.interactive is false)",
                }
            ),
        )
        .fix(format!(
            "sign in once with `git credential-bitbucket login --no-browser {base}` (it prints \
             a URL to open elsewhere), or set credential.{base}.bitbucketBrowser"
        ));
    }
    at(
        Level::Warn,
        format!("{nobody}: the next git command signs in"),
    )
    .fix(format!("or now: git credential-bitbucket login {base}"))
}
