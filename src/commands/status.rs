//! `status [URL] [--json]`: the hosts set up for this helper (signed in or
//! not), their saved accounts, and for a URL which account git will be
//! given and from which store. On stdout, the text or the JSON; never a
//! secret. A host whose configuration cannot be used is reported and makes
//! the command fail, so a mistake shows before git runs.

use super::{configured_hosts, existing_store};
use crate::app;
use crate::config::{self, Flow, GitConfig, HostConfig, Remote};
use crate::env::Env;
use crate::error::Error;
use crate::human::{duration, rfc3339};
use crate::store::{self, choice, now, Record, StoreKey, TokenKind};
use crate::text::NAME;
use std::collections::{HashMap, HashSet};
use std::io::Write;

/// One host as `status` shows it.
struct Host {
    base: String,
    /// `Ok(None)`: records are saved but the host is not set up (any more).
    cfg: Result<Option<HostConfig>, String>,
    records: Vec<(&'static str, Record)>,
    /// Why the store that holds this host's records cannot be read, if it
    /// cannot: its sign-ins are unknown, not absent.
    unreadable: Option<String>,
}

impl Host {
    /// The account `get` uses when git names none (app/record.rs's rule);
    /// without a usable configuration, the most recently signed in.
    fn default_account(&self) -> Option<&Record> {
        let records = self.records.iter().map(|(_, r)| r);
        match &self.cfg {
            Ok(Some(cfg)) => app::choose(records, None, cfg),
            _ => records.max_by_key(|r| r.signed_in_at),
        }
    }

    /// What the host's line says when no saved record is shown.
    fn nobody(&self) -> String {
        let base = &self.base;
        let login = format!("`git credential-bitbucket login {base}`");
        match &self.cfg {
            Ok(Some(cfg)) => match cfg.flow {
                Flow::Token => format!(
                    "no token stored yet: git gets nothing until `git credential-bitbucket \
                     configure {base} --api-token` stores one"
                ),
                Flow::ClientCredentials => {
                    "no token yet: the next git command gets one (client_credentials)".into()
                }
                Flow::Browser => {
                    format!("no sign-in yet: the next git command signs in, or {login}")
                }
            },
            _ => format!("no sign-in yet ({login} signs in once it is set up)"),
        }
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
    let saved = saved_records(&dir);
    let hosts = hosts(&git, env, filter.as_ref(), saved)?;

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

/// What the stores hold: (store name, record) by host and account, and
/// why a store could not be read.
struct Saved {
    records: Vec<(&'static str, Record)>,
    /// The file store's error, if it could not be read.
    file: Option<String>,
    /// The keyring's error, and the hosts whose records it holds.
    keyring: Option<String>,
    keyring_hosts: HashSet<String>,
}

impl Saved {
    /// Why the store holding `base`'s records cannot be read, if it cannot.
    fn unreadable(&self, base: &str) -> Option<String> {
        match self.keyring_hosts.contains(base) {
            true => self.keyring.clone(),
            false => self.file.clone(),
        }
    }
}

/// Every store that may hold records (choice::all_stores: the file store,
/// then the keyring when a host uses it); a store that cannot be read is
/// a warning here and an error on each host it holds.
fn saved_records(dir: &std::path::Path) -> Saved {
    let mut saved = Saved {
        records: Vec::new(),
        file: None,
        keyring: None,
        // An unreadable stores.json is reported by all_stores below.
        keyring_hosts: choice::keyring_hosts(dir)
            .unwrap_or_default()
            .into_iter()
            .collect(),
    };
    for (i, s) in choice::all_stores(dir).into_iter().enumerate() {
        match s.and_then(|s| {
            Ok(s.all_records()?
                .into_iter()
                .map(|r| (s.name(), r))
                .collect::<Vec<_>>())
        }) {
            Ok(found) => saved.records.extend(found),
            Err(e) => {
                crate::say!("warning: {e}");
                match i {
                    0 => saved.file = Some(e.to_string()),
                    _ => saved.keyring = Some(e.to_string()),
                }
            }
        }
    }
    saved.records.sort_by(|(_, a), (_, b)| {
        (&a.host, &a.account.username).cmp(&(&b.host, &b.account.username))
    });
    saved
}

/// The hosts to show, each with its configuration and records: the one
/// `filter` names; else the configured ones in config order, then any
/// other host with saved records. Each host's keys are looked up by
/// host (GitConfig's index), so this is linear in the sections.
fn hosts(
    git: &GitConfig,
    env: &dyn Env,
    filter: Option<&Remote>,
    saved: Saved,
) -> Result<Vec<Host>, Error> {
    let mut bases: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut add = |base: String| {
        if seen.insert(base.clone()) {
            bases.push(base);
        }
    };
    match filter {
        Some(r) => add(r.store_key().to_string()),
        None => {
            for base in configured_hosts(git) {
                add(app::keyed_remote(git, Some(&base))?.store_key().to_string());
            }
            for (_, r) in &saved.records {
                add(r.host.clone());
            }
        }
    }
    let mut by_host: HashMap<String, Vec<(&'static str, Record)>> = HashMap::new();
    for (store, r) in &saved.records {
        by_host
            .entry(r.host.clone())
            .or_default()
            .push((*store, r.clone()));
    }
    Ok(bases
        .into_iter()
        .map(|base| {
            let remote = match filter {
                Some(r) => Some(r.clone()),
                None => Remote::from_url(&base),
            };
            let cfg = match remote {
                Some(r) => config::resolve(git, env, &r).map_err(|e| e.to_string()),
                None => Ok(None),
            };
            Host {
                records: by_host.remove(&base).unwrap_or_default(),
                unreadable: saved.unreadable(&base),
                base,
                cfg,
            }
        })
        .collect())
}

/// The command fails when a host's configuration cannot be used, or the
/// store holding its sign-ins cannot be read.
fn unusable(hosts: &[Host]) -> Result<(), Error> {
    let locked: Vec<&str> = hosts
        .iter()
        .filter(|h| h.unreadable.is_some())
        .map(|h| h.base.as_str())
        .collect();
    if !locked.is_empty() {
        return Err(Error::Failed(format!(
            "the sign-ins of {} cannot be read (see above)",
            locked.join(", ")
        )));
    }
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
    // Only to say why this account: the record is app/record.rs's choice.
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
    match app::which(store.as_ref(), &key, remote.username.as_deref(), cfg) {
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

/// What to do when no saved record answers: depends on the flow.
fn nobody_note(cfg: &HostConfig, asked: Option<&str>, remote: &Remote) -> String {
    let base = cfg.remote.base_url();
    match (cfg.flow, asked) {
        (Flow::Token, _) => format!(
            "no stored token, so git gets nothing: `git credential-bitbucket configure {base} \
             --api-token` stores one"
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
        match &h.unreadable {
            Some(e) => writeln!(
                out,
                "  sign-ins unknown: the store cannot be read ({})",
                crate::text::plain(e)
            )?,
            None if h.records.is_empty() => writeln!(out, "  {}", h.nobody())?,
            None => {}
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
                record_name(r),
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
            "store_error": h.unreadable,
            "default_account": default,
            "network": h.cfg.as_ref().ok().and_then(Option::as_ref).map(|c| crate::network::Settings::for_remote(&c.remote).to_json()),
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

/// How a record is named: a stored token by its kind and the username git
/// sends with it (that username names no account, bitbucket-facts.md A.9),
/// a sign-in by its account.
fn record_name(r: &Record) -> String {
    let user = crate::text::plain(&r.account.username);
    match r.kind {
        TokenKind::ApiToken => format!("API token, sent as {user}"),
        TokenKind::AccessToken => format!("access token, sent as {user}"),
        TokenKind::PersonalToken => format!("personal token, sent as {user}"),
        TokenKind::ProjectToken => "project or repository token, sent as Bearer".into(),
        TokenKind::Oauth | TokenKind::ClientCredentials => user,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::no_env;

    #[test]
    fn each_host_is_looked_up_without_reading_every_other_section() {
        let n = 2000;
        let mut pairs: Vec<(String, String)> = Vec::new();
        for i in 0..n {
            let base = format!("https://h{i}.example.com");
            for (k, v) in [
                ("helper", ""),
                ("helper", "/usr/bin/git-credential-bitbucket"),
                ("bitbucketkind", "datacenter"),
                ("bitbucketclientid", "id"),
                ("bitbucketstore", "file"),
            ] {
                pairs.push((format!("credential.{base}.{k}"), v.into()));
            }
        }
        let git = GitConfig::from_pairs(pairs);
        let saved = Saved {
            records: Vec::new(),
            file: None,
            keyring: None,
            keyring_hosts: HashSet::new(),
        };
        let before = config::entries_read();
        let hosts = hosts(&git, &no_env(), None, saved).expect("hosts");
        let read = config::entries_read() - before;
        assert_eq!(hosts.len(), n);
        assert!(hosts.iter().all(|h| matches!(h.cfg, Ok(Some(_)))));
        // A few dozen keys per host, each read from its own section: a
        // lookup that scanned every section would read millions.
        assert!(read < 50 * n, "{read} entries read for {n} hosts");
    }

    #[test]
    fn a_host_without_a_record_says_what_its_flow_does_next() {
        let git = GitConfig::from_pairs([
            (
                "credential.https://bitbucket.org.bitbucketflow".to_owned(),
                "token".to_owned(),
            ),
            (
                "credential.https://git.example.com.bitbucketclientid".to_owned(),
                "id".to_owned(),
            ),
        ]);
        let host = |url: &str| {
            let remote = Remote::from_url(url).expect("URL");
            Host {
                base: url.into(),
                cfg: config::resolve(&git, &no_env(), &remote).map_err(|e| e.to_string()),
                records: Vec::new(),
                unreadable: None,
            }
        };
        let token = host("https://bitbucket.org").nobody();
        assert!(
            token.contains("--api-token") && !token.contains("signs in"),
            "{token}"
        );
        let browser = host("https://git.example.com").nobody();
        assert!(
            browser.contains("the next git command signs in"),
            "{browser}"
        );
    }
}
