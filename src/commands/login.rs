//! `login [URL] [--no-browser]`: sign in now (or get a
//! `client_credentials` token), and say when the default account changes.

use crate::app::{
    app_account, asked_account, find, grant, keyed_remote, lock_for, open_store, sign_in_and_store,
    BrowserSignIn, Deps,
};
use crate::config::{self, Flow, GitConfig, HostConfig, Remote};
use crate::env::Env;
use crate::error::Error;
use crate::signin;
use crate::store::{Record, Store, StoreKey};
use crate::text::NAME;

/// `login [URL] [--no-browser]`: sign in now, replacing any saved sign-in
/// of that account.
pub fn run(url: Option<&str>, no_browser: bool, env: &dyn Env) -> Result<(), Error> {
    let git = GitConfig::load()?;
    let remote = keyed_remote(&git, url)?;
    let cfg = config::resolve(&git, env, &remote)?.ok_or_else(|| not_configured(&remote))?;
    let cfg = config::with_client_secret(&cfg, env)?.into_owned();
    let store = open_store(&cfg)?;
    let host = cfg.remote.store_key();
    let asked = asked_account(remote.username.as_deref());
    match cfg.flow {
        Flow::Browser => {
            let how = signin::detect(&cfg, env, signin::Asker::Login { no_browser });
            let deps = Deps::real(env, BrowserSignIn::Detected(how))?;
            let before = find(store.as_ref(), &host, None, &cfg)?.map(|r| r.account.username);
            let _lock = lock_for(&host, asked, cfg.login_timeout)?;
            let record = sign_in_and_store(&cfg, store.as_ref(), &host, asked, &deps, &|| None)?;
            say_if_default_changed(&cfg, store.as_ref(), &host, before, record)?;
        }
        Flow::ClientCredentials => {
            let app_user = app_account(&cfg);
            let _lock = lock_for(&host, Some(&app_user), cfg.login_timeout)?;
            let deps = Deps::real(env, BrowserSignIn::Detect(env))?;
            grant(&cfg, store.as_ref(), &host, None, &deps)?;
            crate::say!(
                "got a client_credentials token for {}",
                cfg.remote.base_url()
            );
        }
        Flow::Token => {
            let url = cfg.remote.base_url();
            return Err(Error::Failed(format!(
                "{url} uses a stored token (bitbucketFlow=token), not a sign-in; store a new one \
                 with `git credential-bitbucket configure {url} --api-token`"
            )));
        }
    }
    Ok(())
}

/// A sign-in makes its account the host's default: when that changes
/// which account git gets, say so, and how to go back. The new record is
/// ranked above every other one, whatever their times.
fn say_if_default_changed(
    cfg: &HostConfig,
    store: &dyn Store,
    host: &StoreKey,
    before: Option<String>,
    record: Record,
) -> Result<(), Error> {
    let user = record.account.username.clone();
    let latest_other = store
        .records(host)?
        .iter()
        .filter(|r| r.account.username != user)
        .map(|r| r.signed_in_at)
        .max();
    if let Some(latest) = latest_other.filter(|l| *l >= record.signed_in_at) {
        store.put(&Record {
            signed_in_at: latest.saturating_add(1),
            ..record
        })?;
    }
    match before {
        Some(old) if old != user => {
            let url = cfg.remote.base_url();
            crate::say!(
                "{user} is now the default for {url}; {old} is still saved; \
                 `git credential-bitbucket switch {url} {old}` goes back"
            );
        }
        _ => {}
    }
    Ok(())
}

fn not_configured(remote: &Remote) -> Error {
    let url = remote.base_url();
    Error::Failed(format!(
        "{url} is not set up for {NAME}: run `git credential-bitbucket configure {url}` \
         (or set credential.{url}.bitbucketClientId); see docs/bitbucket-consumer.md"
    ))
}
