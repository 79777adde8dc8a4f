//! `erase`: git reports a credential refused; drop it if it is ours.

use super::ladder::{lock_file_in, wait_for_lock};
use super::notice::Notice;
use super::World;
use crate::bitbucket::facts::is_app_password;
use crate::config::HostConfig;
use crate::error::Error;
use crate::protocol::Request;
use crate::store::Record;

/// git got 401 with a credential: if it is our access token, drop it and
/// keep the refresh token, so the next `get` refreshes without a browser.
pub fn erase(cfg: &HostConfig, req: &Request, world: &dyn World) -> Result<(), Error> {
    let presented = match req.authtype.as_deref() {
        Some(t) if t.eq_ignore_ascii_case("bearer") => req.credential.as_ref(),
        _ => req.password.as_ref(),
    };
    let Some(presented) = presented else {
        return Ok(());
    };
    let store = world.open_store(cfg)?;
    let deps = world.deps()?;
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
        deps.notify(Notice::StoredTokenRemoved {
            kind: holder.kind,
            app_password: is_app_password(presented),
            url: cfg.remote.base_url(),
        });
        return Ok(());
    }
    // Under the account lock, so a refresh in flight is not overwritten.
    let lock_file = lock_file_in(&deps.lock_dir, &host, Some(&holder.account.username));
    let _lock = wait_for_lock(&lock_file, cfg.login_timeout)?;
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
