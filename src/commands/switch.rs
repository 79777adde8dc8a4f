//! `switch [URL] ACCOUNT`: make a saved account the host's default, the
//! one `get` uses when git names none. The default is the record signed in
//! most recently, so switching moves the chosen record's `signed_in_at`
//! past every other one: the `get` ladder needs no new rule.

use super::existing_store;
use crate::app;
use crate::config::{self, Env, GitConfig};
use crate::error::Error;
use crate::store::{self, lock, now, Store, StoreKey};
use std::time::Duration;

pub fn run(url: Option<&str>, account: &str, env: &dyn Env) -> Result<(), Error> {
    let git = GitConfig::load()?;
    let remote = app::keyed_remote(&git, url)?;
    let host = remote.store_key();
    let cfg = config::resolve(&git, env, &remote)?;
    let choice = cfg
        .as_ref()
        .map(|c| c.store)
        .unwrap_or(config::StoreChoice::Auto);
    let dir = store::data_dir()?;
    let store = existing_store(&dir, choice, &host)?;
    let usable = |r: &store::Record| match &cfg {
        Some(c) => app::find(store.as_ref(), &host, Some(&r.account.username), c)
            .ok()
            .flatten()
            .is_some(),
        None => true,
    };
    let before = default_of(store.as_ref(), &host, &usable)?;
    let records = store.records(&host)?;
    let Some(target) = records.iter().find(|r| r.account.username == account) else {
        return Err(not_saved(&host, account, &records));
    };
    if before.as_deref() == Some(account) {
        crate::say!("{account} is already the default for {host}; nothing changed");
        return Ok(());
    }
    if !usable(target) {
        return Err(Error::Failed(format!(
            "the saved sign-in of {account} on {host} was made with another OAuth consumer or \
             flow than the one configured now, so git would not use it; sign in again with `git \
             credential-bitbucket login {}`",
            with_user(host.as_str(), account)
        )));
    }
    make_latest(store.as_ref(), &dir, &host, account)?;
    match before {
        Some(old) => crate::say!(
            "{account} is now the default for {host} (it was {old}; `git \
             credential-bitbucket switch {host} {old}` goes back)"
        ),
        None => crate::say!("{account} is now the default for {host}"),
    }
    Ok(())
}

/// The error for an `account` with no record among `records` of `host`,
/// naming the saved ones.
fn not_saved(host: &StoreKey, account: &str, records: &[store::Record]) -> Error {
    let mut names: Vec<&str> = records
        .iter()
        .map(|r| r.account.username.as_str())
        .collect();
    names.sort_unstable();
    Error::Failed(match names.is_empty() {
        true => {
            format!("no saved sign-in on {host}; `git credential-bitbucket login {host}` signs in")
        }
        false => format!(
            "{account} has no saved sign-in on {host} (saved: {}); sign in with `git \
             credential-bitbucket login {}`",
            names.join(", "),
            with_user(host.as_str(), account)
        ),
    })
}

/// Makes `account`'s record the most recent sign-in of `host`. Under the
/// account's lock, so a refresh in flight cannot write the old ranking
/// back.
fn make_latest(
    store: &dyn Store,
    dir: &std::path::Path,
    host: &StoreKey,
    account: &str,
) -> Result<(), Error> {
    let _lock = lock::acquire(
        &lock::lock_path(dir, &format!("account {host} {account}")),
        Duration::from_secs(360),
    )?;
    let records = store.records(host)?;
    let latest = records.iter().map(|r| r.signed_in_at).max().unwrap_or(0);
    let Some(current) = records.into_iter().find(|r| r.account.username == account) else {
        return Err(Error::Failed(format!(
            "{account} was signed out meanwhile; nothing changed"
        )));
    };
    store.put(&store::Record {
        signed_in_at: now().max(latest.saturating_add(1)),
        ..current
    })?;
    Ok(())
}

/// The default account among the records `usable` accepts.
fn default_of(
    store: &dyn Store,
    host: &StoreKey,
    usable: &dyn Fn(&store::Record) -> bool,
) -> Result<Option<String>, Error> {
    Ok(store
        .records(host)?
        .into_iter()
        .filter(|r| usable(r))
        .max_by_key(|r| r.signed_in_at)
        .map(|r| r.account.username))
}

/// `http://alice@host`, for the command to suggest.
fn with_user(host: &str, user: &str) -> String {
    match host.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}@{rest}", crate::url::encode(user)),
        None => host.to_owned(),
    }
}
