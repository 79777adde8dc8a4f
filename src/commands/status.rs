//! `status [URL] [--json]`: the hosts set up for this helper (signed in or
//! not), their saved accounts, and for a URL which account git will be
//! given and from which store. On stdout, the text or the JSON; never a
//! secret. A host whose configuration cannot be used is reported and makes
//! the command fail, so a mistake shows before git runs.

use super::{configured_hosts, duration, existing_store};
use crate::app::{self, rfc3339, NAME};
use crate::config::{self, Env, Flow, GitConfig, HostConfig, Remote};
use crate::error::Error;
use crate::store::{self, choice, now, Record, TokenKind};
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

/// Runs `status`.
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

    // (store name, record) from every store that may hold records.
    let mut records: Vec<(&'static str, Record)> = Vec::new();
    for s in choice::all_stores(&dir) {
        match s.and_then(|s| {
            Ok(s.all_records()?
                .into_iter()
                .map(|r| (s.name(), r))
                .collect::<Vec<_>>())
        }) {
            Ok(found) => records.extend(found),
            Err(e) => eprintln!("{NAME}: warning: {e}"),
        }
    }
    records.sort_by(|(_, a), (_, b)| {
        (&a.host, &a.account.username).cmp(&(&b.host, &b.account.username))
    });

    // Hosts: the configured ones in config order, then any other host
    // with saved records.
    let mut bases: Vec<String> = Vec::new();
    match &filter {
        Some(r) => bases.push(r.store_key()),
        None => {
            for base in configured_hosts(&git) {
                let keyed = app::keyed_remote(&git, Some(&base))?.store_key();
                if !bases.contains(&keyed) {
                    bases.push(keyed);
                }
            }
            for (_, r) in &records {
                if !bases.contains(&r.host) {
                    bases.push(r.host.clone());
                }
            }
        }
    }
    let hosts: Vec<Host> = bases
        .into_iter()
        .map(|base| {
            let remote = match &filter {
                Some(r) => Some(r.clone()),
                None => Remote::from_url(&base),
            };
            let cfg = match remote {
                Some(r) => config::resolve(&git, env, &r).map_err(|e| e.to_string()),
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
        })
        .collect();

    let selected = match (&filter, hosts.first()) {
        (Some(remote), Some(host)) => Some(select(remote, host, &dir)),
        _ => None,
    };
    let broken: Vec<&Host> = hosts.iter().filter(|h| h.cfg.is_err()).collect();

    if json {
        print_json(out, &hosts, selected.as_ref())?;
    } else {
        print_text(out, &hosts, selected.as_ref()).map_err(|e| Error::Write(e.into()))?;
    }
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

fn select(remote: &Remote, host: &Host, dir: &std::path::Path) -> Selected {
    let url = remote.url();
    let cfg = match &host.cfg {
        Ok(Some(cfg)) => cfg,
        Ok(None) => {
            return Selected {
                url,
                account: None,
                store: None,
                note: format!(
                    "not set up for {NAME}: git does not ask this helper (run `git \
                     credential-bitbucket configure {}`)",
                    remote.base_url()
                ),
            }
        }
        Err(e) => {
            return Selected {
                url,
                account: None,
                store: None,
                note: format!("the configuration cannot be used: {e}"),
            }
        }
    };
    let asked = match cfg.flow {
        Flow::ClientCredentials => None,
        _ => app::asked_account(remote.username.as_deref()),
    };
    let store = match existing_store(dir, cfg.store, &host.base) {
        Ok(s) => s,
        Err(e) => {
            return Selected {
                url,
                account: None,
                store: None,
                note: format!("the store cannot be read: {e}"),
            }
        }
    };
    let found = match cfg.flow {
        Flow::ClientCredentials => {
            let user = format!("consumer:{}", cfg.client_id);
            app::find(store.as_ref(), &host.base, Some(&user), cfg)
        }
        Flow::Token => app::find(store.as_ref(), &host.base, asked, cfg).and_then(|r| match r {
            None if asked.is_some() => Ok(app::find(store.as_ref(), &host.base, None, cfg)?
                .filter(|r| app::GENERIC_USERS.contains(&r.account.username.as_str()))),
            r => Ok(r),
        }),
        Flow::Browser => app::find(store.as_ref(), &host.base, asked, cfg),
    };
    let base = cfg.remote.base_url();
    match found {
        Ok(Some(r)) => Selected {
            url,
            account: Some(r.account.username.clone()),
            store: Some(store.name()),
            note: match asked {
                Some(_) => "the account named in the URL".into(),
                None => "the host's default account".into(),
            },
        },
        Ok(None) => Selected {
            url,
            account: None,
            store: Some(store.name()),
            note: match (cfg.flow, asked) {
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
            },
        },
        Err(e) => Selected {
            url,
            account: None,
            store: None,
            note: format!("the store cannot be read: {e}"),
        },
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
    writeln!(out, "{text}").map_err(|e| Error::Write(e.into()))
}
