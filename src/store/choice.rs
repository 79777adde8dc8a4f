//! Which backend holds a host's records (contract.md §5, `bitbucketStore`).
//!
//! `auto` decides once per host and remembers the decision in
//! `stores.json` beside the lock files (no secret in it), so records never
//! split across two stores: the keyring when a Secret Service answers, the
//! file when there is none at all, with a one-time notice. A keyring that
//! is there but locked is an error with unlock instructions, never a
//! reason to fall back. An explicit `keyring` never falls back.

use super::file::FileStore;
use super::keyring::{KeyringStore, SERVICE_PREFIX};
use super::lock::{self, lock_path};
use super::private::write_atomically;
use super::{Store, StoreError};
use crate::platform::keyring::{KeyringError, Native, Slots};
use crate::store::StoreKey;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

crate::spelled::value_enum! {
    /// Where tokens are kept (contract.md §5).
    pub enum StoreChoice {
        /// The OS keyring when there is one, else the file.
        Auto => "auto",
        /// The OS keyring only.
        Keyring => "keyring",
        /// The private file only.
        File => "file",
    }
}

const FILE_NAME: &str = "stores.json";

/// A backend remembered for a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// The OS keyring.
    Keyring,
    /// The private file.
    File,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Remembered {
    #[serde(default)]
    hosts: BTreeMap<String, Backend>,
}

fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// The remembered choices. A file that is not JSON counts as none (it is
/// rewritten at the next decision); one that is not a regular file of
/// ours (a link, a FIFO, another user's) is refused, as `tokens.json` is.
fn read(dir: &Path) -> Result<Remembered, StoreError> {
    Ok(super::private::read_private(&path(dir))?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default())
}

/// Records `backend` for `host`, unless it is already recorded.
/// Records `backend` for `host` (read again under the lock: another
/// process may have added hosts meanwhile).
fn remember(dir: &Path, host: &str, backend: Backend) -> Result<(), StoreError> {
    super::private::ensure_dir(dir)?;
    let _guard = lock::acquire(&lock_path(dir, "stores"), Duration::from_secs(30))?;
    let mut r = read(dir)?;
    r.hosts.insert(host.to_owned(), backend);
    let bytes = serde_json::to_vec_pretty(&r).expect("BUG: a map of strings always serializes");
    write_atomically(&path(dir), &bytes)
}

/// Opens the store for `host` as configured.
pub fn open(
    dir: &Path,
    choice: StoreChoice,
    host: &StoreKey,
) -> Result<Box<dyn Store>, StoreError> {
    // Before anything is read from it (`stores.json` too).
    super::private::check_dir(dir)?;
    let file = || -> Box<dyn Store> { Box::new(FileStore::new(dir)) };
    if choice == StoreChoice::File {
        return Ok(file());
    }
    // Read once: this is on the path of every `get`.
    let known = read(dir)?;
    let keyring = |ss: Native| -> Result<Box<dyn Store>, StoreError> {
        let mut hosts = using_keyring(&known);
        if !hosts.iter().any(|h| h == host) {
            remember(dir, host.as_str(), Backend::Keyring)?;
            hosts.push(host.to_string());
        }
        Ok(Box::new(KeyringStore::with_slots(ss, hosts)))
    };
    match choice {
        StoreChoice::File => unreachable!("BUG: answered above"),
        StoreChoice::Keyring => keyring(Native::connect()?),
        StoreChoice::Auto => match known.hosts.get(host.as_str()) {
            Some(Backend::File) => Ok(file()),
            // Remembered: no fallback now, or records would split.
            Some(Backend::Keyring) => keyring(Native::connect()?),
            None => match probe() {
                Ok(ss) => {
                    crate::trace!("store: Secret Service answered; {host} uses the keyring");
                    keyring(ss)
                }
                Err(KeyringError::Unavailable(why)) => {
                    remember(dir, host.as_str(), Backend::File)?;
                    crate::say!(
                        "no OS keyring is reachable ({why}); tokens for {host} are \
                         kept in {} (readable only by you). This choice is remembered; set \
                         credential.{host}.bitbucketStore=keyring or =file to choose.",
                        FileStore::new(dir).path().display()
                    );
                    Ok(file())
                }
                Err(e) => Err(e.into()),
            },
        },
    }
}

/// Connects and makes one real call, so "no provider on the bus" shows up
/// here rather than halfway through a sign-in.
fn probe() -> Result<Native, KeyringError> {
    let ss = Native::connect()?;
    match ss.users(&format!("{SERVICE_PREFIX}probe")) {
        Ok(_) => Ok(ss),
        // A bus with no Secret Service provider at all.
        Err(KeyringError::Failed(m))
            if ["ServiceUnknown", "not provided by any", "NameHasNoOwner"]
                .iter()
                .any(|s| m.contains(s)) =>
        {
            Err(KeyringError::Unavailable(m))
        }
        Err(e) => Err(e),
    }
}

/// Hosts whose records are in the keyring.
pub fn keyring_hosts(dir: &Path) -> Result<Vec<String>, StoreError> {
    Ok(using_keyring(&read(dir)?))
}

fn using_keyring(known: &Remembered) -> Vec<String> {
    known
        .hosts
        .iter()
        .filter(|(_, b)| **b == Backend::Keyring)
        .map(|(h, _)| h.clone())
        .collect()
}

/// Every store that may hold records, for `status`: the file, and the
/// keyring when any host uses it (an unreachable keyring is reported).
pub fn all_stores(dir: &Path) -> Vec<Result<Box<dyn Store>, StoreError>> {
    let mut stores: Vec<Result<Box<dyn Store>, StoreError>> =
        vec![Ok(Box::new(FileStore::new(dir)))];
    let hosts = match keyring_hosts(dir) {
        Ok(hosts) => hosts,
        Err(e) => {
            stores.push(Err(e));
            return stores;
        }
    };
    if !hosts.is_empty() {
        stores.push(
            Native::connect()
                .map(|ss| Box::new(KeyringStore::with_slots(ss, hosts)) as Box<dyn Store>)
                .map_err(StoreError::from),
        );
    }
    stores
}
