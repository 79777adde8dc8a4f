//! `status [URL] [--json]`: the hosts set up for this helper (signed in or
//! not), their saved accounts, and for a URL which account git will be
//! given and from which store. On stdout, the text or the JSON; never a
//! secret. A host whose configuration cannot be used is reported and makes
//! the command fail, so a mistake shows before git runs.

use super::{configured_hosts, duration, existing_store};
use crate::app;
use crate::commands::rfc3339;
use crate::config::{self, Env, Flow, GitConfig, HostConfig, Remote};
use crate::error::Error;
use crate::store::{self, choice, now, Record, StoreKey, TokenKind};
use crate::text::NAME;
use std::io::Write;

/// One host as `status` shows it.
struct Host {
    base: String,
    /// `Ok(None)`: records are saved but the host is not set up (any more).
    cfg: Result<Option<HostConfig>, String>,
    records: Vec<(&'static str, Record)>,
}

impl Host {
    /// The account `get` uses when git names none: the records the host's
    /// flow and consumer may use, the most recently signed in first.
    fn default_account(&self) -> Option<&Record> {
        self.records
            .iter()
            .map(|(_, r)| r)
            .filter(|r| match &self.cfg {
                Ok(Some(cfg)) if cfg.flow == Flow::Token => r.kind.is_stored_token(),
                Ok(Some(cfg)) => !r.kind.is_stored_token() && r.client_id == cfg.client_id,
                _ => true,
            })
            .max_by_key(|r| r.signed_in_at)
    }
}

/// Which account git gets for the URL, and from where.
struct Selected {
    url: String,
    account: Option<String>,
    store: Option<&'static str>,
    note: String,
}

impl Selected {
    /// No account for `url`, and why.
    fn none(url: String, store: Option<&'static str>, note: String) -> Selected {
        Selected {
            url,
            account: None,
            store,
            note,
        }
    }
}

pub fn run(
    url: Option<&str>,
    json: bool,
    out: &mut impl Write,
    env: &dyn Env,
) -> Result<(), Error> {
    let git = GitConfig::load()?;
    let dir = store::data_dir()?;
    let filter = match url {
        Some(u) => Some(app::keyed_remote(&git, Some(u))?),
        None => None,
    };
    let records = saved_records(&dir);
    let hosts = host_bases(&git, filter.as_ref(), &records)?
        .into_iter()
        .map(|base| host(&git, env, filter.as_ref(), &records, base))
        .collect::<Vec<_>>();

    let selected = match (&filter, hosts.first()) {
        (Some(remote), Some(host)) => Some(select(remote, host, &dir)),
        _ => None,
    };
    if json {
        print_json(out, &hosts, selected.as_ref())?;
    } else {
        print_text(out, &hosts, selected.as_ref()).map_err(|e| Error::Write(e.into()))?;
    }
    unusable(&hosts)
}

/// (store name, record) from every store that may hold records, by host
/// and account; a store that cannot be read is a warning.
fn saved_records(dir: &std::path::Path) -> Vec<(&'static str, Record)> {
    let mut records: Vec<(&'static str, Record)> = Vec::new();
    for s in choice::all_stores(dir) {
        match s.and_then(|s| {
            Ok(s.all_records()?
                .into_iter()
                .map(|r| (s.name(), r))
                .collect::<Vec<_>>())
        }) {
            Ok(found) => records.extend(found),
            Err(e) => crate::say!("warning: {e}"),
        }
    }
    records.sort_by(|(_, a), (_, b)| {
        (&a.host, &a.account.username).cmp(&(&b.host, &b.account.username))
    });
    records
}

/// The hosts to show: the one `filter` names; else the configured ones in
/// config order, then any other host with saved records.
fn host_bases(
    git: &GitConfig,
    filter: Option<&Remote>,
    records: &[(&'static str, Record)],
) -> Result<Vec<String>, Error> {
    if let Some(r) = filter {
        return Ok(vec![r.store_key().to_string()]);
    }
    let mut bases: Vec<String> = Vec::new();
    for base in configured_hosts(git) {
        let keyed = app::keyed_remote(git, Some(&base))?.store_key().to_string();
        if !bases.contains(&keyed) {
            bases.push(keyed);
        }
    }
    for (_, r) in records {
        if !bases.contains(&r.host) {
            bases.push(r.host.clone());
        }
    }
    Ok(bases)
}

/// The host `base`: its configuration (as `filter` names it, if given)
/// and its saved records.
fn host(
    git: &GitConfig,
    env: &dyn Env,
    filter: Option<&Remote>,
    records: &[(&'static str, Record)],
    base: String,
) -> Host {
    let remote = match filter {
        Some(r) => Some(r.clone()),
        None => Remote::from_url(&base),
    };
    let cfg = match remote {
        Some(r) => config::resolve(git, env, &r).map_err(|e| e.to_string()),
        None => Ok(None),
    };
    Host {
        records: records
            .iter()
            .filter(|(_, r)| r.host == base)
            .cloned()
            .collect(),
        base,
        cfg,
    }
}

/// The command fails when a host's configuration cannot be used.
fn unusable(hosts: &[Host]) -> Result<(), Error> {
    let broken: Vec<&Host> = hosts.iter().filter(|h| h.cfg.is_err()).collect();
    match broken.len() {
        0 => Ok(()),
        _ => Err(Error::Failed(format!(
            "the configuration of {} cannot be used; fix it (`git credential-bitbucket doctor` \
             checks it)",
            broken
                .iter()
                .map(|h| h.base.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Which account git gets for `remote` on `host`, as `get` would choose.
fn select(remote: &Remote, host: &Host, dir: &std::path::Path) -> Selected {
    let url = remote.url();
    let cfg = match &host.cfg {
        Ok(Some(cfg)) => cfg,
        Ok(None) => {
            let note = format!(
                "not set up for {NAME}: git does not ask this helper (run `git \
                 credential-bitbucket configure {}`)",
                remote.base_url()
            );
            return Selected::none(url, None, note);
        }
        Err(e) => {
            let note = format!("the configuration cannot be used: {e}");
            return Selected::none(url, None, note);
        }
    };
    let asked = match cfg.flow {
        Flow::ClientCredentials => None,
        _ => app::asked_account(remote.username.as_deref()),
    };
    // `base` is the store key the host's records are under.
    let key = StoreKey::new(host.base.as_str());
    let store = match existing_store(dir, cfg.store, &key) {
        Ok(s) => s,
        Err(e) => {
            return Selected::none(url, None, format!("the store cannot be read: {e}"));
        }
    };
    match find_selected(store.as_ref(), &key, asked, cfg) {
        Ok(Some(r)) => Selected {
            url,
            account: Some(r.account.username.clone()),
            store: Some(store.name()),
            note: match asked {
                Some(_) => "the account named in the URL".into(),
                None => "the host's default account".into(),
            },
        },
        Ok(None) => {
            let note = nobody_note(cfg, asked, remote);
            Selected::none(url, Some(store.name()), note)
        }
        Err(e) => Selected::none(url, None, format!("the store cannot be read: {e}")),
    }
}

/// The record `get` would use for `asked` on `base`, by the host's flow:
/// client_credentials has its own user; a stored token named by the URL
/// may also be the host's generic-user one.
fn find_selected(
    store: &dyn store::Store,
    base: &StoreKey,
    asked: Option<&str>,
    cfg: &HostConfig,
) -> Result<Option<Record>, Error> {
    match cfg.flow {
        Flow::ClientCredentials => {
            let user = format!("consumer:{}", cfg.client_id);
            app::find(store, base, Some(&user), cfg)
        }
        Flow::Token => app::find(store, base, asked, cfg).and_then(|r| match r {
            None if asked.is_some() => Ok(app::find(store, base, None, cfg)?
                .filter(|r| app::GENERIC_USERS.contains(&r.account.username.as_str()))),
            r => Ok(r),
        }),
        Flow::Browser => app::find(store, base, asked, cfg),
    }
}

/// What to do when no saved record answers: depends on the flow.
fn nobody_note(cfg: &HostConfig, asked: Option<&str>, remote: &Remote) -> String {
    let base = cfg.remote.base_url();
    match (cfg.flow, asked) {
        (Flow::Token, _) => format!(
            "no stored token: `git credential-bitbucket configure {base} --api-token` \
             stores one"
        ),
        (Flow::ClientCredentials, _) => {
            "no token yet: the next git command gets one (client_credentials)".into()
        }
        (Flow::Browser, Some(user)) => format!(
            "{user} is not signed in: the next git command signs in, or run `git \
             credential-bitbucket login {}`",
            remote.url()
        ),
        (Flow::Browser, None) => format!(
            "nobody is signed in: the next git command signs in, or run `git \
             credential-bitbucket login {base}`"
        ),
    }
}

fn access_text(r: &Record, t: u64) -> String {
    match &r.access_token {
        Some(_) if r.kind.is_stored_token() => "stored token, no expiry known".into(),
        Some(_) if r.expires_at > t => format!(
            "valid for {} (until {})",
            duration(r.expires_at - t),
            rfc3339(r.expires_at)
        ),
        Some(_) => format!(
            "expired {} ago (renewed on next use)",
            duration(t - r.expires_at)
        ),
        None => "none (renewed on next use)".into(),
    }
}

fn refresh_text(r: &Record, t: u64) -> String {
    match (&r.refresh_token, r.kind) {
        (Some(_), _) => format!(
            "issued {} ago",
            duration(t.saturating_sub(r.refresh_issued_at))
        ),
        (None, TokenKind::Oauth) => "none (the next use signs in again)".into(),
        (None, TokenKind::ClientCredentials) => "none (a new grant when needed)".into(),
        (None, _) => "none (a stored token is used as is)".into(),
    }
}

fn print_text(
    out: &mut impl Write,
    hosts: &[Host],
    selected: Option<&Selected>,
) -> std::io::Result<()> {
    let t = now();
    if hosts.is_empty() {
        writeln!(
            out,
            "No Bitbucket host is set up for {NAME} and nothing is saved. \
             `git credential-bitbucket configure [URL]` sets one up."
        )?;
    }
    for h in hosts {
        match &h.cfg {
            Ok(Some(cfg)) => writeln!(
                out,
                "{}: {}, {} flow, {} store",
                crate::text::plain(&h.base),
                cfg.kind.as_str(),
                cfg.flow.as_str(),
                cfg.store.as_str()
            )?,
            Ok(None) => writeln!(
                out,
                "{}: not set up for {NAME} (saved sign-ins only)",
                h.base
            )?,
            Err(e) => writeln!(out, "{}: configuration error: {e}", h.base)?,
        }
        let default = h.default_account().map(|r| r.account.username.clone());
        if h.records.is_empty() {
            writeln!(
                out,
                "  no sign-in yet: the next git command signs in, or `git credential-bitbucket \
                 login {}`",
                h.base
            )?;
        }
        for (store, r) in &h.records {
            let mark = if default.as_deref() == Some(r.account.username.as_str()) {
                " (default)"
            } else {
                ""
            };
            writeln!(
                out,
                "  {}{mark}\n    store: {store}\n    access token: {}\n    refresh token: {}\n    scopes: {}",
                crate::text::plain(&r.account.username),
                access_text(r, t),
                refresh_text(r, t),
                if r.scopes.is_empty() { "-".to_owned() } else { crate::text::plain(&r.scopes) }
            )?;
        }
    }
    if let Some(s) = selected {
        match (&s.account, s.store) {
            (Some(a), Some(store)) => writeln!(
                out,
                "For {} git gets {a}, from the {store} store ({}).",
                s.url, s.note
            )?,
            _ => writeln!(out, "For {}: {}.", s.url, s.note)?,
        }
    }
    Ok(())
}

fn print_json(
    out: &mut impl Write,
    hosts: &[Host],
    selected: Option<&Selected>,
) -> Result<(), Error> {
    let t = now();
    let mut accounts = Vec::new();
    let mut host_docs = Vec::new();
    for h in hosts {
        let default = h.default_account().map(|r| r.account.username.clone());
        for (store, r) in &h.records {
            let stored = r.kind.is_stored_token();
            let valid = r.access_token.is_some() && (stored || r.expires_at > t);
            accounts.push(serde_json::json!({
                "host": r.host,
                "account": r.account.username,
                "display_name": r.account.display_name,
                "uuid": r.account.uuid,
                "default": default.as_deref() == Some(r.account.username.as_str()),
                "store": store,
                "kind": r.kind,
                "access_token_expires_at": (valid && !stored).then(|| rfc3339(r.expires_at)),
                "access_token_expires_in_seconds": (valid && !stored).then(|| r.expires_at - t),
                "access_token_valid": valid,
                "refresh_token": r.refresh_token.is_some(),
                "refresh_token_age_seconds": r.refresh_token.as_ref().map(|_| t.saturating_sub(r.refresh_issued_at)),
                "scopes": r.scopes.split_whitespace().collect::<Vec<_>>(),
                "signed_in_at": rfc3339(r.signed_in_at),
            }));
        }
        let (configured, kind, flow, store, error) = match &h.cfg {
            Ok(Some(c)) => (
                true,
                Some(c.kind.as_str()),
                Some(c.flow.as_str()),
                Some(c.store.as_str()),
                None,
            ),
            Ok(None) => (false, None, None, None, None),
            Err(e) => (true, None, None, None, Some(e.clone())),
        };
        host_docs.push(serde_json::json!({
            "host": h.base,
            "configured": configured,
            "kind": kind,
            "flow": flow,
            "store": store,
            "error": error,
            "default_account": default,
            "accounts": h.records.iter().map(|(_, r)| r.account.username.clone()).collect::<Vec<_>>(),
        }));
    }
    let mut doc = serde_json::json!({ "version": 1, "hosts": host_docs, "accounts": accounts });
    if let Some(s) = selected {
        doc["selected"] = serde_json::json!({
            "url": s.url,
            "account": s.account,
            "store": s.store,
            "note": s.note,
        });
    }
    let text = serde_json::to_string_pretty(&doc).expect("BUG: a JSON value always serializes");
    // Names and scopes come from the server: escaped, not raw.
    writeln!(out, "{}", crate::text::json(&text)).map_err(|e| Error::Write(e.into()))
}
