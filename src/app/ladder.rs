//! The ladder of contract.md §4 for the OAuth flows: find the account's
//! record, answer from it while fresh, else take the account's lock and
//! renew (refresh, new grant, or sign-in).

use super::deps::Deps;
use super::record::{app_account, find, which};
use super::renew::{grant, keep_current, refresh, sign_in_and_store};
use crate::config::{self, Flow, HostConfig};
use crate::error::Error;
use crate::store::lock::{self, lock_path, Lock};
use crate::store::{self, Record, Store, StoreKey};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The ladder of contract.md §4 steps 1–5 for the OAuth flows: a record with a
/// fresh access token, renewed under the account's lock if need be.
pub fn obtain(
    cfg: &HostConfig,
    store: &dyn Store,
    host: &StoreKey,
    asked: Option<&str>,
    deps: &Deps,
) -> Result<Record, Error> {
    let app_user = app_account(cfg);
    let asked = match cfg.flow {
        Flow::ClientCredentials => Some(app_user.as_str()),
        _ => asked,
    };

    // 1–2. The account's record (record.rs's rule); a fresh token answers
    // with no network.
    let found = which(store, host, asked, cfg)?;
    if let Some(r) = fresh(cfg, &found, (deps.now)()) {
        crate::trace!("get: fresh token for {:?}, no network", r.account.username);
        return Ok(r);
    }

    // From here on a request may be needed, so the consumer secret must be
    // known (read from our store only now).
    let cfg = &*config::with_client_secret(cfg, deps.env)?;

    // The record's own name first: a Data Center `Alice` and `alice` (or a
    // Cloud account asked for by its nickname) are one record, so they
    // must take one lock.
    let who: Option<String> = found
        .as_ref()
        .map(|r| r.account.username.clone())
        .or_else(|| asked.map(str::to_owned));
    let lock_file = lock_file_in(&deps.lock_dir, host, who.as_deref());
    let (_lock, found) =
        match lock_and_reread(cfg, store, host, who.as_deref(), found, &lock_file, deps)? {
            Locked::Answered(r) => return Ok(r),
            Locked::Renew(lock, found) => (lock, found),
        };
    let renewal = Renewal {
        cfg,
        store,
        host,
        asked,
        who: who.as_deref(),
        lock_file: &lock_file,
        deps,
    };
    renewal.run(found)
}

/// The record if its access token is fresh at `now` for the configured
/// margin.
fn fresh(cfg: &HostConfig, r: &Option<Record>, now: u64) -> Option<Record> {
    let margin = cfg.refresh_margin.as_secs();
    r.as_ref()
        .filter(|r| r.fresh_access_token(now, margin).is_some())
        .cloned()
}

/// What [`lock_and_reread`] found.
enum Locked {
    /// No renewal needed (or none possible): this answers.
    Answered(Record),
    /// The lock is ours and the record (re-read under it) needs renewing.
    Renew(Lock, Option<Record>),
}

/// Step 3. Stale or missing. One process does the work while the others
/// wait on the lock, then re-read: they find its result. A waiter whose
/// access token is still valid does not queue behind a slow renewal: it
/// answers with that token at once.
fn lock_and_reread(
    cfg: &HostConfig,
    store: &dyn Store,
    host: &StoreKey,
    who: Option<&str>,
    found: Option<Record>,
    lock_file: &Path,
    deps: &Deps,
) -> Result<Locked, Error> {
    let now = &*deps.now;
    let waited_since = now();
    let (lock, waited) = match lock::try_acquire(lock_file) {
        Ok(Some(l)) => (l, false),
        Ok(None) => {
            if let Some(r) = found.filter(|r| r.unexpired_access_token(now()).is_some()) {
                crate::trace!("get: a renewal is in progress; the current token is still valid");
                return Ok(Locked::Answered(r));
            }
            (wait_for_lock(lock_file, cfg.login_timeout)?, true)
        }
        // No lock (a read-only or refused store): nothing can be renewed
        // or saved, but a valid access token still answers.
        Err(e) => return keep_current(found, e.into(), deps).map(Locked::Answered),
    };
    // Re-read the account we locked, not whoever is the default now: only
    // the lock holder may refresh an account's token.
    let found = find(store, host, who, cfg)?;
    if let Some(r) = fresh(cfg, &found, now()) {
        crate::trace!("get: another process renewed the token meanwhile");
        return Ok(Locked::Answered(r));
    }
    // The holder we queued behind failed: do not repeat its failure.
    if let Some(why) = lock::failure_since(lock_file, waited_since).filter(|_| waited) {
        return keep_current(found, Error::Failed(why), deps).map(Locked::Answered);
    }
    Ok(Locked::Renew(lock, found))
}

/// Steps 4–5 under the account's lock.
struct Renewal<'a> {
    cfg: &'a HostConfig,
    store: &'a dyn Store,
    host: &'a StoreKey,
    asked: Option<&'a str>,
    who: Option<&'a str>,
    lock_file: &'a Path,
    deps: &'a Deps<'a>,
}

impl Renewal<'_> {
    /// A new grant, else a refresh, else a sign-in.
    fn run(&self, found: Option<Record>) -> Result<Record, Error> {
        let (cfg, store, host, deps) = (self.cfg, self.store, self.host, self.deps);
        // client_credentials: no refresh token, a new grant instead.
        if cfg.flow == Flow::ClientCredentials {
            return grant(cfg, store, host, found, deps);
        }

        // 4. Refresh: one request; the rotated refresh token is persisted
        //    before the new access token is handed out.
        if let Some(rec) = found.filter(|r| r.refresh_token.is_some()) {
            match refresh(cfg, store, rec, deps) {
                Ok(Some(renewed)) => {
                    lock::clear_failure(self.lock_file);
                    return Ok(renewed);
                }
                Ok(None) => {}
                Err(e) => {
                    lock::note_failure(self.lock_file, &e.to_string());
                    return Err(e);
                }
            }
        }

        // 5. Sign in. Waiting for the callback port, another process may
        //    sign this account in: re-read once the port is ours.
        let meanwhile = || {
            let found = find(store, host, self.who, cfg).ok().flatten();
            fresh(cfg, &found, (deps.now)())
        };
        sign_in_and_store(cfg, store, host, self.asked, deps, &meanwhile)
    }
}

/// The per-(host, account) lock, or the per-host sign-in lock while the
/// account is not known yet (contract.md §5). A waiter may have to sit out
/// another process's whole browser sign-in.
pub fn lock_for(
    host: &StoreKey,
    account: Option<&str>,
    login_timeout: Duration,
) -> Result<Lock, Error> {
    let file = lock_file_in(&store::data_dir()?, host, account);
    wait_for_lock(&file, login_timeout)
}

/// The lock file of [`lock_for`], in the lock directory under `dir`.
pub fn lock_file_in(dir: &Path, host: &StoreKey, account: Option<&str>) -> PathBuf {
    let name = match account {
        Some(a) => format!("account {host} {a}"),
        None => format!("sign-in {host}"),
    };
    lock_path(dir, &name)
}

pub fn wait_for_lock(path: &Path, login_timeout: Duration) -> Result<Lock, Error> {
    let wait = login_timeout.saturating_add(Duration::from_secs(60));
    Ok(lock::acquire_saying(
        path,
        wait,
        Some("waiting for another git-credential-bitbucket process (a sign-in or refresh is in progress)"),
    )?)
}
