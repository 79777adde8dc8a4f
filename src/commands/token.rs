//! `token [URL] [--account NAME]`: a fresh access token on stdout for
//! scripts (`curl -H "Authorization: Bearer $(git credential-bitbucket
//! token)"`). It walks the same ladder as `get`, so a token near expiry is
//! refreshed once, under the account's lock, and the rotated refresh token
//! is saved. stdout carries the token and a newline, nothing else.

use crate::app;
use crate::config::{self, Flow, GitConfig};
use crate::env::Env;
use crate::error::Error;
use std::io::Write;

pub fn run(
    url: Option<&str>,
    account: Option<&str>,
    out: &mut impl Write,
    env: &dyn Env,
) -> Result<(), Error> {
    let git = GitConfig::load()?;
    let remote = app::keyed_remote(&git, url)?;
    let base = remote.base_url();
    let cfg = config::resolve(&git, env, &remote)?.ok_or_else(|| {
        Error::Failed(format!(
            "{base} is not set up for git-credential-bitbucket: run `git credential-bitbucket \
             configure {base}`"
        ))
    })?;
    let store = app::open_store(&cfg)?;
    let host = cfg.remote.store_key();
    let named = account.or(remote.username.as_deref());
    // The record `get` would hand to git (app/record.rs), refused the same
    // way: an app password is not printed either.
    let token = match cfg.flow {
        Flow::Token => app::stored_token(store.as_ref(), &host, named, &cfg)?.1,
        _ => {
            let deps = app::Deps::real(env, app::BrowserSignIn::Detect(env))?;
            let asked = app::asked_account(named);
            app::obtain(&cfg, store.as_ref(), &host, asked, &deps)?
                .access_token
                .ok_or_else(|| Error::Failed(format!("no access token could be had for {base}")))?
        }
    };
    writeln!(out, "{}", token.expose())
        .and_then(|_| out.flush())
        .map_err(|e| Error::Write(e.into()))
}
