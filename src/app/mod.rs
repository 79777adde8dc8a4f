//! The commands. `get` is written as the ladder of contract.md §4: each rung is a
//! function, tried in order, and the first that yields a token answers.
//!
//! Policy, in one place:
//! - a host that is not ours: print nothing, touch nothing, exit 0, so git
//!   goes on to the next helper or its prompt;
//! - our host without a credential (denied, timed out, non-interactive,
//!   misconfigured): `quit=1` on stdout and the reason on stderr, so git
//!   stops instead of prompting for a password Bitbucket does not take;
//! - protocol actions exit 0 (git ignores the status) except for input
//!   that cannot be parsed (2); `store` never keeps anything; `erase` drops
//!   only an access token we issued and keeps the refresh token.

use crate::bitbucket::{Client, TokenSet};
use crate::config::{self, AuthType, Env, Flow, GitConfig, HostConfig, Kind, Remote};
use crate::error::Error;
use crate::protocol::{Action, Request, Response};
use crate::signin::{self, Surroundings};
use crate::store::choice;
use crate::store::lock::{self, lock_path, Lock};
use crate::store::{self, now, Record, Store, TokenKind, SCHEMA_VERSION};
use std::io::{BufRead, Write};
use std::time::Duration;

/// The program name that prefixes every message.
pub const NAME: &str = "git-credential-bitbucket";

/// The username that means "no particular account" on Cloud (bitbucket-facts.md A.7).
const TOKEN_AUTH_USER: &str = "x-token-auth";
/// Usernames of stored tokens that name no account (bitbucket-facts.md A.9).
pub(crate) const GENERIC_USERS: [&str; 2] = [TOKEN_AUTH_USER, "x-bitbucket-api-token-auth"];

/// Runs a protocol action.
pub fn protocol(
    action: Action,
    input: impl BufRead,
    output: &mut impl Write,
    env: &dyn Env,
) -> Result<(), Error> {
    if action == Action::Capability {
        output
            .write_all(b"version 0\ncapability authtype\n")
            .and_then(|_| output.flush())
            .map_err(|e| Error::Write(e.into()))?;
        return Ok(());
    }
    let req = Request::read_from(input)?;
    let Some(remote) = remote_of(&req) else {
        return Ok(());
    };
    let git = match GitConfig::load() {
        Ok(g) => g,
        Err(e) => {
            // We cannot tell whether the host is ours: say why, stay
            // silent on stdout (git itself will usually complain too).
            eprintln!("{NAME}: {e}");
            return Ok(());
        }
    };
    let cfg = match config::resolve(&git, env, &remote) {
        Ok(Some(cfg)) => cfg,
        Ok(None) => {
            crate::trace!("{} is not ours: silent", remote.base_url());
            return Ok(());
        }
        // Our host, but we cannot serve it: for `get`, stop git with the
        // reason rather than letting it prompt.
        Err(e) if action == Action::Get => return quit(output, &e.into()),
        Err(e) => return Err(e.into()),
    };
    match action {
        Action::Get => match get(&cfg, &req, env) {
            Ok(resp) => Ok(resp.write_to(output)?),
            Err(e) => quit(output, &e),
        },
        Action::Erase => erase(&cfg, &req),
        // contract.md §4: we never keep credentials we did not issue; ours are
        // already stored.
        Action::Store | Action::Capability => Ok(()),
    }
}

/// Prints the reason on stderr and `quit=1` on stdout.
fn quit(output: &mut impl Write, why: &Error) -> Result<(), Error> {
    eprintln!("{NAME}: {why}");
    Response::quit().write_to(output)?;
    Ok(())
}

/// The remote of a request; `None` for anything that is not http(s).
fn remote_of(req: &Request) -> Option<Remote> {
    let protocol = req.protocol.as_deref()?.to_ascii_lowercase();
    let host = req.host.as_deref().filter(|h| !h.is_empty())?;
    if protocol != "https" && protocol != "http" {
        return None;
    }
    crate::url::split_host_port(host)?;
    Some(Remote {
        protocol,
        host: host.to_ascii_lowercase(),
        path: req.path.clone().filter(|p| !p.is_empty()),
        username: req.username.clone().filter(|u| !u.is_empty()),
    })
}

/// The account git asked for: its username, unless it is the generic
/// `x-token-auth` (contract.md §4 step 1).
pub(crate) fn asked_account(username: Option<&str>) -> Option<&str> {
    username.filter(|u| !u.is_empty() && *u != TOKEN_AUTH_USER)
}

/// The store for a host (contract.md §5): as configured, `auto` decided once per
/// host and remembered.
pub(crate) fn open_store(cfg: &HostConfig) -> Result<Box<dyn Store>, Error> {
    Ok(choice::open(
        &store::data_dir()?,
        cfg.store,
        &cfg.remote.store_key(),
    )?)
}

/// The `get` ladder (contract.md §4).
fn get(cfg: &HostConfig, req: &Request, env: &dyn Env) -> Result<Response, Error> {
    let store = open_store(cfg)?;
    let host = cfg.remote.store_key();
    let asked = match cfg.flow {
        // One identity: the consumer's own app user (contract.md §6).
        Flow::ClientCredentials => None,
        _ => asked_account(req.username.as_deref()),
    };
    if cfg.flow == Flow::Token {
        return stored_token(cfg, store.as_ref(), &host, asked, req);
    }
    let record = obtain(cfg, store.as_ref(), &host, asked, env)?;
    let token = record
        .access_token
        .clone()
        .expect("BUG: obtain() returns a record with an access token");
    // Bearer only when configured and git can take it (git ≥ 2.46).
    if cfg.auth_type == AuthType::Bearer && req.has_capability("authtype") {
        return Ok(bearer(token, Some(record.expires_at)));
    }
    // Never pair one account's name with another's token: the name is the
    // one git sent, whose record this is; else Cloud's generic name, or
    // on Data Center (which ignores it) the account's own.
    let username = match (asked, cfg.kind) {
        (Some(user), _) => user.to_owned(),
        (None, Kind::Cloud) => TOKEN_AUTH_USER.to_owned(),
        (None, Kind::DataCenter) => record.account.username.clone(),
    };
    Ok(Response {
        username: Some(username),
        password: Some(token),
        password_expiry_utc: Some(record.expires_at),
        ..Response::default()
    })
}

/// `Authorization: Bearer` through git's `authtype` capability; ephemeral,
/// so git does not hand the token to other helpers to keep (contract.md §4).
fn bearer(token: crate::secret::Secret, expiry: Option<u64>) -> Response {
    Response {
        capability_authtype: true,
        authtype: Some("Bearer".into()),
        credential: Some(token),
        ephemeral: true,
        password_expiry_utc: expiry,
        ..Response::default()
    }
}

/// The token flow (contract.md §4): a stored API token or access token, handed out
/// with the username its kind needs (bitbucket-facts.md A.9, B.8).
fn stored_token(
    cfg: &HostConfig,
    store: &dyn Store,
    host: &str,
    asked: Option<&str>,
    req: &Request,
) -> Result<Response, Error> {
    let url = cfg.remote.base_url();
    // A clone URL with `alice@` still finds a token stored under a generic
    // name; it is then handed out with that generic name, never with
    // alice's (bitbucket-facts.md A.9: both work for git).
    let record = match find(store, host, asked, cfg)? {
        Some(r) => Some(r),
        None if asked.is_some() => find(store, host, None, cfg)?
            .filter(|r| GENERIC_USERS.contains(&r.account.username.as_str())),
        None => None,
    };
    let record = record.ok_or_else(|| {
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
    if crate::setup::is_app_password(&token) {
        return Err(Error::Failed(crate::setup::app_password_message(
            &format!("the token stored for {url}"),
            &url,
        )));
    }
    if record.kind == TokenKind::ProjectToken {
        // Data Center project and repository tokens work only as Bearer.
        if !req.has_capability("authtype") {
            return Err(Error::Failed(format!(
                "the token stored for {url} is a Data Center project or repository token, which \
                 Bitbucket accepts only as Bearer; that needs git 2.46 or later (this git did not \
                 offer it)"
            )));
        }
        return Ok(bearer(token, None));
    }
    // Cloud API tokens are not Bearer tokens (bitbucket-facts.md A.9).
    if cfg.auth_type == AuthType::Bearer
        && req.has_capability("authtype")
        && record.kind != TokenKind::ApiToken
    {
        return Ok(bearer(token, None));
    }
    Ok(Response {
        username: Some(record.account.username.clone()),
        password: Some(token),
        ..Response::default()
    })
}

/// The ladder of contract.md §4 steps 1–5 for the OAuth flows: a record with a
/// fresh access token, renewed under the account's lock if need be.
pub(crate) fn obtain(
    cfg: &HostConfig,
    store: &dyn Store,
    host: &str,
    asked: Option<&str>,
    env: &dyn Env,
) -> Result<Record, Error> {
    let app_user = app_account(cfg);
    let asked = match cfg.flow {
        Flow::ClientCredentials => Some(app_user.as_str()),
        _ => asked,
    };
    let margin = cfg.refresh_margin.as_secs();
    let fresh = |r: &Option<Record>| {
        r.as_ref()
            .filter(|r| r.fresh_access_token(now(), margin).is_some())
            .cloned()
    };

    // 1–2. The account's record; a fresh token answers with no network.
    let found = find(store, host, asked, cfg)?;
    if let Some(r) = fresh(&found) {
        crate::trace!("get: fresh token for {:?}, no network", r.account.username);
        return Ok(r);
    }

    // From here on a request may be needed, so the consumer secret must be
    // known (read from our store only now).
    let cfg = &*config::with_client_secret(cfg, env)?;

    // 3. Stale or missing. One process does the work while the others
    //    wait on the lock, then re-read: they find its result. A waiter
    //    whose access token is still valid does not queue behind a slow
    //    renewal: it answers with that token at once.
    // The record's own name first: a Data Center `Alice` and `alice` (or a
    // Cloud account asked for by its nickname) are one record, so they
    // must take one lock.
    let who: Option<String> = found
        .as_ref()
        .map(|r| r.account.username.clone())
        .or_else(|| asked.map(str::to_owned));
    let unexpired = |r: &Option<Record>| {
        r.as_ref()
            .filter(|r| r.unexpired_access_token(now()).is_some())
            .cloned()
    };
    let lock_file = lock_file_for(host, who.as_deref())?;
    let waited_since = now();
    let (_lock, waited) = match lock::try_acquire(&lock_file) {
        Ok(Some(l)) => (l, false),
        Ok(None) => {
            if let Some(r) = unexpired(&found) {
                crate::trace!("get: a renewal is in progress; the current token is still valid");
                return Ok(r);
            }
            (wait_for_lock(&lock_file, cfg.login_timeout)?, true)
        }
        // No lock (a read-only or refused store): nothing can be renewed
        // or saved, but a valid access token still answers.
        Err(e) => return keep_current(found, e.into()),
    };
    // Re-read the account we locked, not whoever is the default now: only
    // the lock holder may refresh an account's token.
    let found = find(store, host, who.as_deref(), cfg)?;
    if let Some(r) = fresh(&found) {
        crate::trace!("get: another process renewed the token meanwhile");
        return Ok(r);
    }
    // The holder we queued behind failed: do not repeat its failure.
    if let Some(why) = lock::failure_since(&lock_file, waited_since).filter(|_| waited) {
        return keep_current(found, Error::Failed(why));
    }

    // client_credentials: no refresh token, a new grant instead.
    if cfg.flow == Flow::ClientCredentials {
        return grant(cfg, store, host, found);
    }

    // 4. Refresh: one request; the rotated refresh token is persisted
    //    before the new access token is handed out.
    if let Some(rec) = found.filter(|r| r.refresh_token.is_some()) {
        match refresh(cfg, store, rec) {
            Ok(Some(renewed)) => {
                lock::clear_failure(&lock_file);
                return Ok(renewed);
            }
            Ok(None) => {}
            Err(e) => {
                lock::note_failure(&lock_file, &e.to_string());
                return Err(e);
            }
        }
    }

    // 5. Sign in. Waiting for the callback port, another process may
    //    sign this account in: re-read once the port is ours.
    let how = signin::detect(cfg, env, false, false);
    let meanwhile = || fresh(&find(store, host, who.as_deref(), cfg).ok().flatten());
    sign_in_and_store(cfg, store, host, asked, &how, &meanwhile)
}

/// The record for `asked`, else the host's default account: its only one,
/// or the most recently signed-in one. Records of another consumer are
/// treated as absent (contract.md §5).
pub(crate) fn find(
    store: &dyn Store,
    host: &str,
    asked: Option<&str>,
    cfg: &HostConfig,
) -> Result<Option<Record>, Error> {
    let records = store
        .records(host)?
        .into_iter()
        // A stored token serves the token flow only; an OAuth record only
        // the consumer that obtained it (contract.md §5).
        .filter(|r| match cfg.flow {
            Flow::Token => r.kind.is_stored_token(),
            _ => !r.kind.is_stored_token() && r.client_id == cfg.client_id,
        });
    Ok(match asked {
        Some(user) => records
            .into_iter()
            .find(|r| cfg.kind.same_user(&r.account, user)),
        None => records.max_by_key(|r| r.signed_in_at),
    })
}

/// The per-(host, account) lock, or the per-host sign-in lock while the
/// account is not known yet (contract.md §5). A waiter may have to sit out
/// another process's whole browser sign-in.
fn lock_for(host: &str, account: Option<&str>, login_timeout: Duration) -> Result<Lock, Error> {
    wait_for_lock(&lock_file_for(host, account)?, login_timeout)
}

/// The lock file of [`lock_for`].
fn lock_file_for(host: &str, account: Option<&str>) -> Result<std::path::PathBuf, Error> {
    let name = match account {
        Some(a) => format!("account {host} {a}"),
        None => format!("sign-in {host}"),
    };
    Ok(lock_path(&store::data_dir()?, &name))
}

fn wait_for_lock(path: &std::path::Path, login_timeout: Duration) -> Result<Lock, Error> {
    let wait = login_timeout.saturating_add(Duration::from_secs(60));
    Ok(lock::acquire_saying(
        path,
        wait,
        Some("waiting for another git-credential-bitbucket process (a sign-in or refresh is in progress)"),
    )?)
}

/// Step 4. `Ok(None)` means the refresh token is dead and was dropped:
/// sign in again.
fn refresh(cfg: &HostConfig, store: &dyn Store, rec: Record) -> Result<Option<Record>, Error> {
    let refresh_token = rec
        .refresh_token
        .clone()
        .expect("BUG: refresh() is only called with a refresh token");
    // The refresh token is spent by the request: first make sure its
    // successor can be kept.
    if let Err(e) = store.check_writable() {
        let why = Error::Failed(format!(
            "{e}. The sign-in was not renewed, so it is kept: fix the store, then run the git \
             command again"
        ));
        return keep_current(Some(rec), why).map(Some);
    }
    crate::trace!("get: refreshing for {:?}", rec.account.username);
    let client = Client::new(cfg);
    let answer = match client.refresh(&refresh_token) {
        // The request may have reached Bitbucket and rotated the token,
        // the answer lost on the way. Cloud keeps a used refresh token
        // valid for some minutes (docs/security.md, "Refresh tokens"), so
        // one more try with the same token gets the new one. Not after a
        // timeout: that would double a wait of 30 s, and the kept token
        // is tried again by the next command anyway.
        Err(e) if answer_lost(&e) => {
            crate::trace!("get: the refresh answer was lost ({e}); trying once more");
            client.refresh(&refresh_token)
        }
        other => other,
    };
    match answer {
        Ok(tokens) => {
            // From here until the rotated token is durable, a Ctrl-C or
            // SIGTERM waits (a few milliseconds).
            let _hold = store::signals::hold();
            let renewed = refreshed(rec, tokens);
            if let Err(e) = store.put(&renewed) {
                // The new token works for this command; say plainly what
                // the next one will need.
                if renewed.refresh_token.as_ref() == Some(&refresh_token) {
                    eprintln!(
                        "{NAME}: warning: could not save the renewed access token: {e}. \
                         The sign-in itself is kept"
                    );
                } else {
                    eprintln!(
                        "{NAME}: warning: could not save the renewed sign-in: {e}. This command \
                         goes on with the new token, but the sign-in is lost: the next git command \
                         will open the browser to sign in again"
                    );
                }
            }
            Ok(Some(renewed))
        }
        Err(e) if e.is_dead_refresh_token() => {
            eprintln!(
                "{NAME}: the saved sign-in of {} on {} has expired or was revoked ({e}); \
                 a new sign-in is needed",
                rec.account.username, rec.host
            );
            store.put(&Record {
                refresh_token: None,
                ..rec
            })?;
            Ok(None)
        }
        // Bitbucket unreachable, or refusing for a reason that is not a
        // dead refresh token (a consumer problem): keep everything, and
        // while the current access token is valid, use it (contract.md §4 step 6).
        Err(e) => {
            let why = if e.is_transient() {
                Error::RefreshFailed(e)
            } else {
                Error::RefreshRefused(e)
            };
            keep_current(Some(rec), why).map(Some)
        }
    }
}

/// The request went out but no answer came back: the connection dropped
/// (reset, closed early). Not a refused connection or an unknown host,
/// where nothing was sent, nor a timeout (see `refresh`).
fn answer_lost(e: &crate::bitbucket::ApiError) -> bool {
    match e {
        crate::bitbucket::ApiError::Network { reason, .. } => {
            !["timed out", "connection failed", "host not found"].contains(&reason.as_str())
        }
        _ => false,
    }
}

/// A renewal failed without killing anything: hand out the current access
/// token, with a warning, while it is still valid (contract.md §4 step 6); else
/// the failure.
fn keep_current(current: Option<Record>, why: Error) -> Result<Record, Error> {
    match current.filter(|r| r.unexpired_access_token(now()).is_some()) {
        Some(rec) => {
            eprintln!(
                "{NAME}: warning: {why}\n{NAME}: using the current access token meanwhile; \
                 it is valid until {}",
                rfc3339(rec.expires_at)
            );
            Ok(rec)
        }
        None => Err(why),
    }
}

/// When a token with lifetime `expires_in` expires. The lifetime is the
/// server's word: clamped to a year so no answer can overflow the sum.
fn expiry(now: u64, expires_in: u64) -> u64 {
    now.saturating_add(expires_in.min(365 * 86_400))
}

/// The record key of a `client_credentials` token: the consumer itself.
fn app_account(cfg: &HostConfig) -> String {
    format!("consumer:{}", cfg.client_id)
}

/// A new `client_credentials` grant, saved before it is used. While the
/// current token is valid, a failed grant falls back to it.
fn grant(
    cfg: &HostConfig,
    store: &dyn Store,
    host: &str,
    old: Option<Record>,
) -> Result<Record, Error> {
    crate::trace!("get: client_credentials grant");
    match Client::new(cfg).client_credentials() {
        Ok(tokens) => {
            let t = now();
            let record = Record {
                version: SCHEMA_VERSION,
                host: host.to_owned(),
                account: store::Account {
                    username: app_account(cfg),
                    uuid: None,
                    display_name: Some("client_credentials of the OAuth consumer".into()),
                    nickname: None,
                },
                access_token: Some(tokens.access_token),
                expires_at: expiry(t, tokens.expires_in),
                // Cloud no longer issues one for this grant; never keep one.
                refresh_token: None,
                refresh_issued_at: t,
                scopes: tokens.scopes,
                kind: TokenKind::ClientCredentials,
                client_id: cfg.client_id.clone(),
                obtained_at: t,
                signed_in_at: t,
            };
            store.put(&record)?;
            Ok(record)
        }
        Err(e) => {
            let why = if e.is_transient() {
                Error::GrantFailed(e)
            } else {
                Error::GrantRefused(e)
            };
            keep_current(old, why)
        }
    }
}

/// The record after a refresh: new access token, the rotated refresh token
/// (or the old one when the server did not rotate it).
fn refreshed(rec: Record, tokens: TokenSet) -> Record {
    let t = now();
    let rotated = tokens.refresh_token.is_some() && tokens.refresh_token != rec.refresh_token;
    Record {
        access_token: Some(tokens.access_token),
        expires_at: expiry(t, tokens.expires_in),
        refresh_issued_at: if rotated { t } else { rec.refresh_issued_at },
        refresh_token: tokens.refresh_token.or(rec.refresh_token),
        scopes: if tokens.scopes.is_empty() {
            rec.scopes
        } else {
            tokens.scopes
        },
        obtained_at: t,
        ..rec
    }
}

/// Step 5: the browser sign-in, then the record is saved.
fn sign_in_and_store(
    cfg: &HostConfig,
    store: &dyn Store,
    host: &str,
    asked: Option<&str>,
    how: &Surroundings,
    meanwhile: &dyn Fn() -> Option<Record>,
) -> Result<Record, Error> {
    let client = Client::new(cfg);
    // `_port` is held until the record is saved.
    let (tokens, account, _port) = match signin::sign_in(cfg, &client, how, asked, meanwhile)? {
        signin::SignedIn::New(tokens, account, port) => (tokens, account, port),
        signin::SignedIn::Found(record) => return Ok(record),
    };
    let t = now();
    let record = Record {
        version: SCHEMA_VERSION,
        host: host.to_owned(),
        account,
        access_token: Some(tokens.access_token),
        expires_at: expiry(t, tokens.expires_in),
        refresh_issued_at: t,
        refresh_token: tokens.refresh_token,
        scopes: tokens.scopes,
        kind: TokenKind::Oauth,
        client_id: cfg.client_id.clone(),
        obtained_at: t,
        signed_in_at: t,
    };
    store.put(&record)?;
    eprintln!(
        "{NAME}: signed in to {} as {} ({} store)",
        cfg.remote.base_url(),
        crate::bitbucket::account_label(&record.account),
        store.name()
    );
    Ok(record)
}

/// git got 401 with a credential: if it is our access token, drop it and
/// keep the refresh token, so the next `get` refreshes without a browser.
fn erase(cfg: &HostConfig, req: &Request) -> Result<(), Error> {
    let presented = match req.authtype.as_deref() {
        Some(t) if t.eq_ignore_ascii_case("bearer") => req.credential.as_ref(),
        _ => req.password.as_ref(),
    };
    let Some(presented) = presented else {
        return Ok(());
    };
    let store = open_store(cfg)?;
    let host = cfg.remote.store_key();
    let holder = store
        .records(&host)?
        .into_iter()
        .find(|r| r.access_token.as_ref() == Some(presented));
    let Some(holder) = holder else {
        crate::trace!("erase: not our token, nothing to do");
        return Ok(());
    };
    if holder.kind.is_stored_token() {
        // A token we were given and Bitbucket now refuses: nothing can
        // renew it. Drop it and say what to do (contract.md §4).
        store.remove(&host, &holder.account.username)?;
        let url = cfg.remote.base_url();
        eprintln!(
            "{NAME}: Bitbucket refused the stored token for {url}, so it was removed. If it was an \
             app password: app passwords stopped working on 2026-07-28. Sign in with OAuth instead \
             (`git credential-bitbucket configure {url}`), or create an API token with the \
             repository scopes and store it with `git credential-bitbucket configure {url} --api-token`."
        );
        return Ok(());
    }
    // Under the account lock, so a refresh in flight is not overwritten.
    let _lock = lock_for(&host, Some(&holder.account.username), cfg.login_timeout)?;
    let current = store
        .records(&host)?
        .into_iter()
        .find(|r| r.same_slot(&holder));
    if let Some(rec) = current.filter(|r| r.access_token.as_ref() == Some(presented)) {
        crate::trace!(
            "erase: dropping the rejected access token of {:?}",
            rec.account.username
        );
        store.put(&Record {
            access_token: None,
            ..rec
        })?;
    }
    Ok(())
}

/// The remote named on the command line, keyed exactly as `get` keys it:
/// git sends no path unless credential.useHttpPath is set (contract.md §6).
pub(crate) fn keyed_remote(git: &GitConfig, url: Option<&str>) -> Result<Remote, Error> {
    let mut remote = remote_arg(url)?;
    let use_path = git
        .get(&remote, "usehttppath")
        .and_then(config::parse_bool)
        .unwrap_or(false);
    if !use_path {
        remote.path = None;
    }
    Ok(remote)
}

/// Parses the URL argument of `login`/`logout`/`status`.
fn remote_arg(url: Option<&str>) -> Result<Remote, Error> {
    let url = url.unwrap_or("https://bitbucket.org");
    Remote::from_url(url)
        .ok_or_else(|| Error::Usage(format!("{url:?} is not an https:// or http:// URL")))
}

/// `login [URL] [--no-browser]`: sign in now, replacing any saved sign-in
/// of that account.
pub fn login(url: Option<&str>, no_browser: bool, env: &dyn Env) -> Result<(), Error> {
    let git = GitConfig::load()?;
    let remote = keyed_remote(&git, url)?;
    let cfg = config::resolve(&git, env, &remote)?.ok_or_else(|| not_configured(&remote))?;
    let cfg = config::with_client_secret(&cfg, env)?.into_owned();
    let store = open_store(&cfg)?;
    let host = cfg.remote.store_key();
    let asked = asked_account(remote.username.as_deref());
    match cfg.flow {
        Flow::Browser => {
            let how = signin::detect(&cfg, env, true, no_browser);
            let before = find(store.as_ref(), &host, None, &cfg)?.map(|r| r.account.username);
            let _lock = lock_for(&host, asked, cfg.login_timeout)?;
            let record = sign_in_and_store(&cfg, store.as_ref(), &host, asked, &how, &|| None)?;
            say_if_default_changed(&cfg, store.as_ref(), &host, before, record)?;
        }
        Flow::ClientCredentials => {
            let app_user = app_account(&cfg);
            let _lock = lock_for(&host, Some(&app_user), cfg.login_timeout)?;
            grant(&cfg, store.as_ref(), &host, None)?;
            eprintln!(
                "{NAME}: got a client_credentials token for {}",
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
    host: &str,
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
            eprintln!(
                "{NAME}: {user} is now the default for {url}; {old} is still saved; \
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

/// `logout [URL] [--account NAME | --all]`.
pub fn logout(
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
        .unwrap_or(config::StoreChoice::Auto);
    // Only look where records can be: deciding a store here would write
    // stores.json and print the first-use notice for a host never used.
    let store = crate::commands::existing_store(&store::data_dir()?, choice, &host)?;
    let records = store.records(&host)?;
    let named = account.or(remote.username.as_deref());
    let doomed: Vec<&Record> = match (named, all) {
        (_, true) => records.iter().collect(),
        (Some(user), false) => records
            .iter()
            .filter(|r| r.account.username == user)
            .collect(),
        (None, false) if records.len() <= 1 => records.iter().collect(),
        (None, false) => {
            let names: Vec<&str> = records
                .iter()
                .map(|r| r.account.username.as_str())
                .collect();
            return Err(Error::Failed(format!(
                "{host} has several saved accounts ({}); say which with --account NAME, or use --all. \
                 Nothing was deleted.",
                names.join(", ")
            )));
        }
    };
    if doomed.is_empty() {
        // An item that cannot be read (torn, or from a newer version) is
        // not listed, but can still be removed by its name.
        if let Some(user) = named {
            let wait = cfg
                .as_ref()
                .map(|c| c.login_timeout)
                .unwrap_or(Duration::from_secs(300));
            let _lock = lock_for(&host, Some(user), wait)?;
            if store.remove(&host, user)? {
                eprintln!("{NAME}: signed out {user} from {host}");
                return Ok(());
            }
        }
        return Err(Error::Failed(match named {
            Some(user) => format!("no saved sign-in for {user} on {host}"),
            None => format!("no saved sign-in for {host}"),
        }));
    }
    let wait = cfg
        .as_ref()
        .map(|c| c.login_timeout)
        .unwrap_or(Duration::from_secs(300));
    for rec in doomed {
        // Under the account lock, so a refresh in flight cannot write the
        // record back.
        let _lock = lock_for(&host, Some(&rec.account.username), wait)?;
        if let Some(cfg) = cfg.as_ref().filter(|c| c.kind == Kind::DataCenter) {
            match config::with_client_secret(cfg, env) {
                Ok(cfg) => revoke(&cfg, rec),
                Err(e) => eprintln!("{NAME}: warning: not revoked on the server: {e}"),
            }
        }
        store.remove(&host, &rec.account.username)?;
        eprintln!("{NAME}: signed out {} from {host}", rec.account.username);
    }
    Ok(())
}

/// Revokes a record's tokens where the server offers it; a failure is
/// reported and the local sign-out goes on.
fn revoke(cfg: &HostConfig, rec: &Record) {
    if rec.kind.is_stored_token() {
        return;
    }
    let client = Client::new(cfg);
    for (token, hint) in [
        (&rec.refresh_token, "refresh_token"),
        (&rec.access_token, "access_token"),
    ] {
        if let Some(t) = token {
            if let Err(e) = client.revoke(t, hint) {
                eprintln!("{NAME}: warning: could not revoke the {hint} on the server: {e}");
            }
        }
    }
}

/// `status [URL] [--json]`, now in `commands::status`.
pub fn status(url: Option<&str>, json: bool, out: &mut impl Write) -> Result<(), Error> {
    crate::commands::status::run(url, json, out, &config::ProcessEnv)
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_824_000 + 3661), "2026-11-28T01:01:01Z");
    }

    #[test]
    fn x_token_auth_means_no_particular_account() {
        assert_eq!(asked_account(Some("x-token-auth")), None);
        assert_eq!(asked_account(Some("")), None);
        assert_eq!(asked_account(Some("alice")), Some("alice"));
    }
}
