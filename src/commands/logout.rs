//! `logout [URL] [--account NAME | --all]`: forget saved sign-ins, and on
//! Data Center revoke their tokens on the server.

use crate::app::{keyed_remote, lock_for};
use crate::bitbucket::facts::Kind;
use crate::bitbucket::Client;
use crate::config::{self, GitConfig, HostConfig};
use crate::env::Env;
use crate::error::Error;
use crate::store::{self, Record, Store, StoreKey};
use std::time::Duration;

/// `logout [URL] [--account NAME | --all]`.
pub fn run(
    url: Option<&str>,
    account: Option<&str>,
    all: bool,
    env: &dyn Env,
) -> Result<(), Error> {
    let git = GitConfig::load()?;
    let remote = keyed_remote(&git, url)?;
    let cfg = config::resolve(&git, env, &remote).ok().flatten();
    let host = remote.store_key();
    let choice = cfg
        .as_ref()
        .map(|c| c.store)
        .unwrap_or(crate::store::choice::StoreChoice::Auto);
    // Only look where records can be: deciding a store here would write
    // stores.json and print the first-use notice for a host never used.
    let store = crate::commands::existing_store(&store::data_dir()?, choice, &host)?;
    let records = store.records(&host)?;
    let named = account.or(remote.username.as_deref());
    let wait = cfg
        .as_ref()
        .map(|c| c.login_timeout)
        .unwrap_or(Duration::from_secs(300));
    let doomed = doomed(&records, named, all, &host)?;
    if doomed.is_empty() {
        return remove_unlisted(store.as_ref(), &host, named, wait);
    }
    for rec in doomed {
        // Under the account lock, so a refresh in flight cannot write the
        // record back.
        let _lock = lock_for(&host, Some(&rec.account.username), wait)?;
        if let Some(cfg) = cfg.as_ref().filter(|c| c.kind == Kind::DataCenter) {
            match config::with_client_secret(cfg, env) {
                Ok(cfg) => revoke(&cfg, rec),
                Err(e) => crate::say!("warning: not revoked on the server: {e}"),
            }
        }
        store.remove(&host, &rec.account.username)?;
        crate::say!(
            "signed out {} from {host}",
            crate::text::plain(&rec.account.username)
        );
    }
    Ok(())
}

/// The records `logout` removes: all with `--all`, the named account's, or
/// the only one; several without a name is an error that deletes nothing.
fn doomed<'a>(
    records: &'a [Record],
    named: Option<&str>,
    all: bool,
    host: &StoreKey,
) -> Result<Vec<&'a Record>, Error> {
    Ok(match (named, all) {
        (_, true) => records.iter().collect(),
        (Some(user), false) => records
            .iter()
            .filter(|r| r.account.username == user)
            .collect(),
        (None, false) if records.len() <= 1 => records.iter().collect(),
        (None, false) => {
            let names: Vec<String> = records
                .iter()
                .map(|r| crate::text::plain(&r.account.username))
                .collect();
            return Err(Error::Failed(format!(
                "{host} has several saved accounts ({}); say which with --account NAME, or use --all. \
                 Nothing was deleted.",
                names.join(", ")
            )));
        }
    })
}

/// An item that cannot be read (torn, or from a newer version) is not
/// listed, but can still be removed by its name.
fn remove_unlisted(
    store: &dyn Store,
    host: &StoreKey,
    named: Option<&str>,
    wait: Duration,
) -> Result<(), Error> {
    if let Some(user) = named {
        let _lock = lock_for(host, Some(user), wait)?;
        if store.remove(host, user)? {
            crate::say!("signed out {user} from {host}");
            return Ok(());
        }
    }
    Err(Error::Failed(match named {
        Some(user) => format!("no saved sign-in for {user} on {host}"),
        None => format!("no saved sign-in for {host}"),
    }))
}

/// Revokes a record's tokens where the server offers it; a failure is
/// reported and the local sign-out goes on.
fn revoke(cfg: &HostConfig, rec: &Record) {
    if rec.kind.is_stored_token() {
        return;
    }
    let client = Client::for_remote(cfg.endpoints(), &cfg.remote);
    for (token, hint) in [
        (&rec.refresh_token, "refresh_token"),
        (&rec.access_token, "access_token"),
    ] {
        if let Some(t) = token {
            if let Err(e) = client.revoke(t, hint) {
                crate::say!("warning: could not revoke the {hint} on the server: {e}");
            }
        }
    }
}
