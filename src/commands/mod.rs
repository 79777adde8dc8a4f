//! The user commands: `login`, `logout`, `status`, `switch`, `token` and
//! `doctor` (docs/configuration.md describes what each prints), and what
//! they share: reading a host's store without deciding anything new and
//! the hosts that are set up for this helper.

pub mod doctor;
pub mod login;
pub mod logout;
pub mod status;
pub mod switch;
pub mod token;

use crate::bitbucket::facts::CLOUD_HOST;
use crate::config::{Entry, GitConfig, Key, Remote};
use crate::platform::keyring::Native;
use crate::store::choice::StoreChoice;
use crate::store::file::FileStore;
use crate::store::keyring::KeyringStore;
use crate::store::{choice, Store, StoreError, StoreKey};
use std::path::Path;

/// Whether `key` (as git lists it) makes a URL ours, as `config::resolve`
/// decides.
fn marks_ours(key: &str) -> bool {
    Key::from_name(key).is_some_and(Key::marks_ours)
}

/// The store that holds `host`'s records, opened without probing or
/// remembering anything: a command that only looks must not decide where
/// future tokens go, nor print the first-use notice.
pub fn existing_store(
    dir: &Path,
    store: StoreChoice,
    host: &StoreKey,
) -> Result<Box<dyn Store>, StoreError> {
    match store {
        StoreChoice::Keyring => keyring(dir),
        StoreChoice::Auto if choice::keyring_hosts(dir)?.iter().any(|h| h == host) => keyring(dir),
        _ => Ok(Box::new(FileStore::new(dir))),
    }
}

fn keyring(dir: &Path) -> Result<Box<dyn Store>, StoreError> {
    Ok(Box::new(KeyringStore::with_slots(
        Native::connect()?,
        choice::keyring_hosts(dir)?,
    )))
}

/// Base URLs (`protocol://host[:port]`, as `configure` writes them) of the
/// hosts set up for this helper, in config order.
pub fn configured_hosts(git: &GitConfig) -> Vec<String> {
    let mut hosts: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut add = |base: String| {
        if seen.insert(base.clone()) {
            hosts.push(base);
        }
    };
    for Entry { url, key, .. } in git.entries() {
        match url {
            Some(u) if marks_ours(key) => {
                if let Some(r) = Remote::from_url(u) {
                    add(r.base_url());
                }
            }
            // A key without a URL counts for bitbucket.org only.
            None if marks_ours(key) => add(format!("https://{CLOUD_HOST}")),
            _ => {}
        }
    }
    if crate::config::BUILTIN_CLIENT_ID.is_some() {
        add(format!("https://{CLOUD_HOST}"));
    }
    hosts
}

/// `--version`'s second line: whose OAuth consumer bitbucket.org uses
/// (contract.md §1): "yours (KEY)" when one is configured (it always
/// wins), "built in" when this build has one, else how to set one up. A
/// configuration that cannot be read says only what is built in.
pub fn cloud_consumer_line(env: &dyn crate::env::Env) -> String {
    let used = Remote::from_url(&format!("https://{CLOUD_HOST}")).and_then(|remote| {
        let git = GitConfig::load().ok()?;
        crate::config::resolve(&git, env, &remote).ok().flatten()
    });
    let what = match (used, crate::config::BUILTIN_CLIENT_ID) {
        (Some(cfg), _) => cfg.consumer_label(),
        (None, Some(_)) => "built in".into(),
        (None, None) => "none: this build has none built in, and `git credential-bitbucket \
                         configure` sets yours up"
            .into(),
    };
    format!("{CLOUD_HOST} consumer: {what}")
}
