//! `switch [URL] [ACCOUNT]`: make a saved account the host's default, the
//! one `get` uses when git names none. The default is the record signed in
//! most recently, so switching moves the chosen record's `signed_in_at`
//! past every other one: the `get` ladder needs no new rule.
//!
//! Which host: the URL given; else the one host set up, when only one is;
//! else the one host where ACCOUNT has a saved sign-in; else bitbucket.org
//! when nothing is set up. Bare `switch` lists the saved accounts; `switch
//! URL` with exactly two usable accounts toggles between them (as `gh auth
//! switch` does), and otherwise lists them.

use super::{configured_hosts, existing_store};
use crate::app;
use crate::config::{self, GitConfig, HostConfig};
use crate::env::Env;
use crate::error::Error;
use crate::store::{self, lock, now, Store, StoreKey};
use crate::text::plain;
use std::time::Duration;

/// What `switch` was asked, after the host is known.
enum Ask<'a> {
    /// `switch [URL] ACCOUNT`.
    Make(&'a str),
    /// `switch URL`: the other of two accounts.
    Toggle,
}

pub fn run(url: Option<&str>, account: Option<&str>, env: &dyn Env) -> Result<(), Error> {
    let git = GitConfig::load()?;
    let url = match url {
        Some(u) => Some(u.to_owned()),
        None => {
            let hosts = configured_hosts(&git);
            match account {
                None => return list(&git, env, &hosts),
                Some(a) => host_of(&git, env, &hosts, a)?,
            }
        }
    };
    let ask = match account {
        Some(a) => Ask::Make(a),
        None => Ask::Toggle,
    };
    switch(&git, env, url.as_deref(), ask)
}

/// One host's saved accounts, as `get` would weigh them.
struct Saved {
    host: StoreKey,
    dir: std::path::PathBuf,
    store: Box<dyn Store>,
    cfg: Option<HostConfig>,
    records: Vec<store::Record>,
}

impl Saved {
    fn open(git: &GitConfig, env: &dyn Env, url: Option<&str>) -> Result<Saved, Error> {
        let remote = app::keyed_remote(git, url)?;
        let host = remote.store_key();
        let cfg = config::resolve(git, env, &remote)?;
        let choice = cfg
            .as_ref()
            .map(|c| c.store)
            .unwrap_or(crate::store::choice::StoreChoice::Auto);
        let dir = store::data_dir()?;
        let store = existing_store(&dir, choice, &host)?;
        let records = store.records(&host)?;
        Ok(Saved {
            host,
            dir,
            store,
            cfg,
            records,
        })
    }

    /// Whether git would use `r` (same consumer and flow as configured).
    fn usable(&self, r: &store::Record) -> bool {
        match &self.cfg {
            Some(c) => app::find(
                self.store.as_ref(),
                &self.host,
                Some(&r.account.username),
                c,
            )
            .ok()
            .flatten()
            .is_some(),
            None => true,
        }
    }

    /// The default account among the usable records.
    fn default(&self) -> Option<&str> {
        self.records
            .iter()
            .filter(|r| self.usable(r))
            .max_by_key(|r| r.signed_in_at)
            .map(|r| r.account.username.as_str())
    }

    /// `alice (default), bob`, sorted, made printable.
    fn names(&self) -> String {
        let default = self.default();
        let mut names: Vec<String> = self
            .records
            .iter()
            .map(|r| {
                let name = plain(&r.account.username);
                match default == Some(r.account.username.as_str()) {
                    true => format!("{name} (default)"),
                    false => name,
                }
            })
            .collect();
        names.sort_unstable();
        names.join(", ")
    }
}

/// Bare `switch`: the saved accounts of each host set up (bitbucket.org
/// when none is), and how to pick one.
fn list(git: &GitConfig, env: &dyn Env, hosts: &[String]) -> Result<(), Error> {
    let hosts = match hosts.is_empty() {
        true => vec![format!("https://{}", crate::bitbucket::facts::CLOUD_HOST)],
        false => hosts.to_vec(),
    };
    let mut any = false;
    for url in &hosts {
        let saved = Saved::open(git, env, Some(url))?;
        if !saved.records.is_empty() {
            any = true;
            crate::say!("saved accounts on {}: {}", saved.host, saved.names());
        }
    }
    let url = match hosts.as_slice() {
        [one] => one.as_str(),
        _ => "URL",
    };
    if !any {
        return Err(Error::Failed(format!(
            "no saved sign-in on {}; `git credential-bitbucket login {url}` signs in",
            hosts.join(", ")
        )));
    }
    crate::say!("make another the default with `git credential-bitbucket switch {url} ACCOUNT`");
    Ok(())
}

/// The host `switch ACCOUNT` means: the one set up, else the one where
/// the account has a saved sign-in; `None` (bitbucket.org) when nothing is
/// set up.
fn host_of(
    git: &GitConfig,
    env: &dyn Env,
    hosts: &[String],
    account: &str,
) -> Result<Option<String>, Error> {
    match hosts {
        [] => return Ok(None),
        [one] => return Ok(Some(one.clone())),
        _ => {}
    }
    let mut holding = Vec::new();
    for url in hosts {
        let saved = Saved::open(git, env, Some(url))?;
        if saved.records.iter().any(|r| r.account.username == account) {
            holding.push(url.clone());
        }
    }
    match holding.as_slice() {
        [one] => Ok(Some(one.clone())),
        _ => Err(Error::Usage(format!(
            "several hosts are set up ({}){}; name the host: `git credential-bitbucket switch URL \
             {}`",
            hosts.join(", "),
            match holding.is_empty() {
                true => format!(", and none has a saved sign-in of {}", plain(account)),
                false => format!(
                    ", and {} has a saved sign-in on {}",
                    plain(account),
                    holding.join(" and ")
                ),
            },
            plain(account)
        ))),
    }
}

fn switch(git: &GitConfig, env: &dyn Env, url: Option<&str>, ask: Ask<'_>) -> Result<(), Error> {
    let saved = Saved::open(git, env, url)?;
    let host = &saved.host;
    let before = saved.default().map(str::to_owned);
    let account = match ask {
        Ask::Make(a) => a.to_owned(),
        Ask::Toggle => toggled(&saved, before.as_deref())?,
    };
    let shown = plain(&account);
    let Some(target) = saved.records.iter().find(|r| r.account.username == account) else {
        return Err(not_saved(host, &account, &saved.records));
    };
    if before.as_deref() == Some(account.as_str()) {
        crate::say!("{shown} is already the default for {host}; nothing changed");
        return Ok(());
    }
    if !saved.usable(target) {
        return Err(Error::Failed(format!(
            "the saved sign-in of {shown} on {host} was made with another OAuth consumer or \
             flow than the one configured now, so git would not use it; sign in again with `git \
             credential-bitbucket login {}`",
            with_user(host.as_str(), &account)
        )));
    }
    make_latest(saved.store.as_ref(), &saved.dir, host, &account)?;
    match before {
        Some(old) => crate::say!(
            "{shown} is now the default for {host} (it was {0}; `git \
             credential-bitbucket switch {host} {0}` goes back)",
            plain(&old)
        ),
        None => crate::say!("{shown} is now the default for {host}"),
    }
    Ok(())
}

/// `switch URL`: with exactly two usable accounts, the one that is not
/// the default; otherwise an error listing them.
fn toggled(saved: &Saved, default: Option<&str>) -> Result<String, Error> {
    let host = &saved.host;
    let usable: Vec<&store::Record> = saved.records.iter().filter(|r| saved.usable(r)).collect();
    match (usable.as_slice(), default) {
        ([a, b], Some(d)) => Ok(match a.account.username == d {
            true => b.account.username.clone(),
            false => a.account.username.clone(),
        }),
        ([], _) if saved.records.is_empty() => Err(not_saved(host, "", &saved.records)),
        ([only], _) => Err(Error::Failed(format!(
            "{} is the only account git can use on {host}, so there is none to switch to; `git \
             credential-bitbucket login {host}` in a private browser window adds another",
            plain(&only.account.username)
        ))),
        _ => Err(Error::Usage(format!(
            "saved accounts on {host}: {}; name the one to make the default: `git \
             credential-bitbucket switch {host} ACCOUNT`",
            saved.names()
        ))),
    }
}

/// The error for an `account` with no record among `records` of `host`,
/// naming the saved ones.
fn not_saved(host: &StoreKey, account: &str, records: &[store::Record]) -> Error {
    let mut names: Vec<String> = records.iter().map(|r| plain(&r.account.username)).collect();
    names.sort_unstable();
    Error::Failed(match names.is_empty() {
        true => {
            format!("no saved sign-in on {host}; `git credential-bitbucket login {host}` signs in")
        }
        false => format!(
            "{} has no saved sign-in on {host} (saved: {}); sign in with `git \
             credential-bitbucket login {}`",
            plain(account),
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

/// `http://alice@host`, for the command to suggest.
fn with_user(host: &str, user: &str) -> String {
    match host.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}@{rest}", crate::url::encode(user)),
        None => host.to_owned(),
    }
}
