//! The ladder's renewals (contract.md §4 steps 4–5): a refresh, a new
//! `client_credentials` grant, a browser sign-in; each saves its record
//! before the token is used.

use super::deps::Deps;
use super::notice::Notice;
use super::record::app_account;
use crate::bitbucket::{ApiError, TokenSet};
use crate::config::HostConfig;
use crate::error::Error;
use crate::signin::{SignInError, SignedIn};
use crate::store::StoreKey;
use crate::store::{self, Record, Store, TokenKind};

/// Step 4. `Ok(None)` means the refresh token is dead and was dropped:
/// sign in again.
pub fn refresh(
    cfg: &HostConfig,
    store: &dyn Store,
    rec: Record,
    deps: &Deps,
) -> Result<Option<Record>, Error> {
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
        return keep_current(Some(rec), why, deps).map(Some);
    }
    crate::trace!("get: refreshing for {:?}", rec.account.username);
    // Made now, so that writing the answer into it is the first thing
    // done once it comes (docs/security.md).
    let mut journal = store.begin_refresh(&refresh_token);
    let endpoint = &*deps.endpoint;
    let answer = match endpoint.refresh(cfg, &refresh_token) {
        // The request may have reached Bitbucket and rotated the token,
        // the answer lost on the way. Cloud keeps a used refresh token
        // valid for some minutes (docs/security.md, "Refresh tokens"), so
        // one more try with the same token gets the new one. Not after a
        // timeout: that would double a wait of 30 s, and the kept token
        // is tried again by the next command anyway.
        Err(e) if e.answer_may_be_lost() => {
            crate::trace!("get: the refresh answer was lost ({e}); trying once more");
            endpoint.refresh(cfg, &refresh_token)
        }
        other => other,
    };
    match answer {
        Ok(tokens) => {
            let renewed = refreshed(rec, tokens, (deps.now)());
            if let Some(j) = journal.as_mut() {
                j.write(&renewed);
            }
            let saved = save_refreshed(store, renewed, &refresh_token, deps);
            drop(journal);
            Ok(Some(saved))
        }
        Err(e) if e.is_dead_refresh_token() => {
            deps.notify(Notice::SignInExpired {
                username: rec.account.username.clone(),
                host: rec.host.clone(),
                why: e.to_string(),
            });
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
            let why = failed_or_refused(e, Error::RefreshFailed, Error::RefreshRefused);
            keep_current(Some(rec), why, deps).map(Some)
        }
    }
}

/// Saves a refresh's result, then hands it out even when saving failed:
/// the new token works for this command; the warning says plainly what
/// the next one will need.
fn save_refreshed(
    store: &dyn Store,
    renewed: Record,
    spent: &crate::secret::Secret,
    deps: &Deps,
) -> Record {
    // From here until the rotated token is durable, a Ctrl-C or SIGTERM
    // waits (a few milliseconds).
    let _hold = store::signals::hold();
    if let Err(e) = store.put(&renewed) {
        deps.notify(Notice::NotSaved {
            why: e.to_string(),
            sign_in_lost: renewed.refresh_token.as_ref() != Some(spent),
        });
    }
    renewed
}

/// A renewal that failed for a reason other than a dead refresh token:
/// Bitbucket unreachable or talking nonsense is `failed` (try again
/// later), an answer that refuses is `refused` (a consumer problem), both
/// keeping every token (contract.md §4 step 6).
fn failed_or_refused(
    e: ApiError,
    failed: fn(ApiError) -> Error,
    refused: fn(ApiError) -> Error,
) -> Error {
    if e.is_transient() {
        failed(e)
    } else {
        refused(e)
    }
}

/// When a token with lifetime `expires_in` expires. The lifetime is the
/// server's word: clamped to a year so no answer can overflow the sum.
pub fn expiry(now: u64, expires_in: u64) -> u64 {
    now.saturating_add(expires_in.min(365 * 86_400))
}

/// A new `client_credentials` grant, saved before it is used. While the
/// current token is valid, a failed grant falls back to it.
pub fn grant(
    cfg: &HostConfig,
    store: &dyn Store,
    host: &StoreKey,
    old: Option<Record>,
    deps: &Deps,
) -> Result<Record, Error> {
    crate::trace!("get: client_credentials grant");
    match deps.endpoint.client_credentials(cfg) {
        Ok(tokens) => {
            let t = (deps.now)();
            let account = crate::bitbucket::Account {
                display_name: Some("client_credentials of the OAuth consumer".into()),
                ..crate::bitbucket::Account::named(&app_account(cfg))
            };
            // Cloud no longer issues a refresh token for this grant; never
            // keep one.
            let record = Record {
                access_token: Some(tokens.access_token),
                expires_at: expiry(t, tokens.expires_in),
                scopes: tokens.scopes,
                ..Record::new(
                    host,
                    account,
                    TokenKind::ClientCredentials,
                    &cfg.client_id,
                    t,
                )
            };
            store.put(&record)?;
            Ok(record)
        }
        Err(e) => {
            let why = failed_or_refused(e, Error::GrantFailed, Error::GrantRefused);
            keep_current(old, why, deps)
        }
    }
}

/// The record after a refresh: new access token, the rotated refresh token
/// (or the old one when the server did not rotate it).
pub fn refreshed(rec: Record, tokens: TokenSet, t: u64) -> Record {
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
pub fn sign_in_and_store(
    cfg: &HostConfig,
    store: &dyn Store,
    host: &StoreKey,
    asked: Option<&str>,
    deps: &Deps,
    meanwhile: &dyn Fn() -> Option<Record>,
) -> Result<Record, Error> {
    // `_port` is held until the record is saved.
    let (tokens, account, _port) = match deps.sign_in.sign_in(cfg, asked, meanwhile)? {
        SignedIn::New(tokens, account, port) => (tokens, account, port),
        SignedIn::Found(record) => return Ok(record),
    };
    // signin/exchange.rs checks this too; here it guards the store itself, whatever
    // signed in: a token of another account is never kept under `asked`.
    if let Some(asked) = asked.filter(|a| !cfg.kind.same_user(&account, a)) {
        return Err(SignInError::AccountMismatch {
            asked: crate::text::printable(asked),
            got: crate::text::printable(&crate::bitbucket::account_label(&account)),
        }
        .into());
    }
    let t = (deps.now)();
    let record = Record {
        access_token: Some(tokens.access_token),
        expires_at: expiry(t, tokens.expires_in),
        refresh_token: tokens.refresh_token,
        scopes: tokens.scopes,
        ..Record::new(host, account, TokenKind::Oauth, &cfg.client_id, t)
    };
    store.put(&record)?;
    deps.notify(Notice::SignedIn {
        url: cfg.remote.base_url(),
        account: crate::bitbucket::account_label(&record.account),
        store: store.name(),
    });
    Ok(record)
}

/// A renewal failed without killing anything: hand out the current access
/// token, with a warning, while it is still valid (contract.md §4 step 6); else
/// the failure.
pub fn keep_current(current: Option<Record>, why: Error, deps: &Deps) -> Result<Record, Error> {
    match current.filter(|r| r.unexpired_access_token((deps.now)()).is_some()) {
        Some(rec) => {
            deps.notify(Notice::UsingCurrent {
                why: why.to_string(),
                until: rec.expires_at,
            });
            Ok(rec)
        }
        None => Err(why),
    }
}
