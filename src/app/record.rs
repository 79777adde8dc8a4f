//! Which stored record answers a request, in one place: the rule `get`,
//! `token`, `status` and `doctor` all follow (contract.md §4 step 1, §5).
//!
//! - `client_credentials` has one identity, the consumer's own app user
//!   `consumer:<id>`, whatever name git sent;
//! - the token flow takes the stored token of the account git asked for,
//!   else one stored under a generic username (bitbucket-facts.md A.9:
//!   either name works for git);
//! - the browser flow takes the account git asked for, else the host's
//!   default account (its most recently signed-in one).
//!
//! A stored token serves the token flow only, and an OAuth record only
//! the consumer that obtained it; an app password (`ATBB…`) answers
//! nobody, since Bitbucket stopped taking them.

use super::host::asked_account;
use crate::bitbucket::facts::{self, GENERIC_USERS};
use crate::config::{Flow, HostConfig};
use crate::error::Error;
use crate::secret::Secret;
use crate::store::{Record, Store, StoreKey};

/// Whether `r` may answer for the host's flow and consumer at all.
fn serves(cfg: &HostConfig, r: &Record) -> bool {
    match cfg.flow {
        Flow::Token => r.kind.is_stored_token(),
        _ => !r.kind.is_stored_token() && r.client_id == cfg.client_id,
    }
}

/// The name the record is looked up by: the consumer's app user for
/// `client_credentials`, else the account git (or `--account`) named,
/// unless that is the generic `x-token-auth`.
fn asked_name(cfg: &HostConfig, named: Option<&str>) -> Option<String> {
    match cfg.flow {
        Flow::ClientCredentials => Some(app_account(cfg)),
        _ => asked_account(named).map(str::to_owned),
    }
}

/// The app user a `client_credentials` token is stored under.
pub fn app_account(cfg: &HostConfig) -> String {
    format!("consumer:{}", cfg.client_id)
}

/// Among one host's records, the one for `asked` exactly (as the kind
/// compares names), else with no name the default account.
fn exact<'r>(
    records: impl Iterator<Item = &'r Record>,
    asked: Option<&str>,
    cfg: &HostConfig,
) -> Option<&'r Record> {
    let mut records = records.filter(|r| serves(cfg, r));
    match asked {
        Some(user) => records.find(|r| cfg.kind.same_user(&r.account, user)),
        None => records.max_by_key(|r| r.signed_in_at),
    }
}

/// The record git gets for `named` (the URL's user or `--account`) among
/// one host's `records`, by the host's flow.
pub fn choose<'r, I>(records: I, named: Option<&str>, cfg: &HostConfig) -> Option<&'r Record>
where
    I: IntoIterator<Item = &'r Record>,
    I::IntoIter: Clone,
{
    let records = records.into_iter();
    let asked = asked_name(cfg, named);
    let found = exact(records.clone(), asked.as_deref(), cfg);
    match (found, cfg.flow, &asked) {
        (None, Flow::Token, Some(_)) => exact(records, None, cfg)
            .filter(|r| GENERIC_USERS.contains(&r.account.username.as_str())),
        (found, _, _) => found,
    }
}

/// [`choose`] over the host's records in `store`.
pub fn which(
    store: &dyn Store,
    host: &StoreKey,
    named: Option<&str>,
    cfg: &HostConfig,
) -> Result<Option<Record>, Error> {
    let records = store.records(host)?;
    Ok(choose(&records, named, cfg).cloned())
}

/// The token flow's token for `named`: the stored token, unless there is
/// none, git reported it refused, or it is an app password.
pub fn stored_token(
    store: &dyn Store,
    host: &StoreKey,
    named: Option<&str>,
    cfg: &HostConfig,
) -> Result<(Record, Secret), Error> {
    let url = cfg.remote.base_url();
    let record = which(store, host, named, cfg)?.ok_or_else(|| {
        Error::Failed(format!(
            "no API token or access token is stored for {url}; store one with \
             `git credential-bitbucket configure {url} --api-token` (it reads the token from stdin)"
        ))
    })?;
    let token = record.access_token.clone().ok_or_else(|| {
        Error::Failed(format!(
            "the stored token for {url} was refused by Bitbucket and dropped; store a new one with \
             `git credential-bitbucket configure {url} --api-token`"
        ))
    })?;
    if facts::is_app_password(&token) {
        return Err(Error::Failed(facts::app_password_message(
            &format!("the token stored for {url}"),
            &url,
        )));
    }
    Ok((record, token))
}

/// The record named `asked` exactly, else the host's default account: its
/// only one, or the most recently signed-in one. Records the flow or
/// consumer may not use are treated as absent (contract.md §5). This is
/// the re-read of a record already chosen; which record a request gets is
/// [`which`].
pub fn find(
    store: &dyn Store,
    host: &StoreKey,
    asked: Option<&str>,
    cfg: &HostConfig,
) -> Result<Option<Record>, Error> {
    let records = store.records(host)?.into_iter().filter(|r| serves(cfg, r));
    Ok(match asked {
        Some(user) => records
            .into_iter()
            .find(|r| cfg.kind.same_user(&r.account, user)),
        None => records.max_by_key(|r| r.signed_in_at),
    })
}
