//! `doctor`'s store check: the store that holds the host's records can be
//! opened and read now, without deciding where future tokens go.

use super::{check, Check, Level};
use crate::commands::existing_store;
use crate::config::HostConfig;
use crate::store::choice::StoreChoice;
use crate::store::Store;
use std::path::Path;

/// Whether the host's store can be read, and the store when it can.
pub(super) fn readable(cfg: &HostConfig, dir: &Path) -> (Check, Option<Box<dyn Store>>) {
    let base = cfg.remote.base_url();
    let host = cfg.remote.store_key();
    let store = existing_store(dir, cfg.store, &host).and_then(|s| s.records(&host).map(|_| s));
    match store {
        Ok(s) => {
            // stores.json names the hosts whose `auto` is decided.
            let remembered = crate::store::choice::keyring_hosts(dir)
                .unwrap_or_default()
                .iter()
                .any(|h| h == host.as_str())
                || crate::store::private::read_private(&dir.join("stores.json"))
                    .ok()
                    .flatten()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                    .is_some_and(|v| v["hosts"].get(host.as_str()).is_some());
            let undecided = cfg.store == StoreChoice::Auto && !remembered;
            let message = match undecided {
                true => format!(
                    "the {} store can be read (bitbucketStore=auto: the first sign-in chooses \
                     the keyring if one answers, else the file)",
                    s.name()
                ),
                false => format!("the {} store can be read", s.name()),
            };
            (check(Some(&base), "store", Level::Ok, message), Some(s))
        }
        Err(e) => {
            let fix = match cfg.store {
                StoreChoice::File => "the message says how".to_owned(),
                _ => format!(
                    "the message says how; or keep tokens in a private file instead: \
                     `git config credential.{base}.bitbucketStore file`"
                ),
            };
            let fail = check(Some(&base), "store", Level::Fail, e.to_string()).fix(fix);
            (fail, None)
        }
    }
}
