//! The OAuth consumer secret, kept beside the tokens rather than in a
//! gitconfig file, which is usually readable by every user of the machine.
//!
//! One secret per (host, client id). In the keyring it is its own item
//! (service `git-credential-bitbucket-consumer:<host>`, user = client id),
//! so listing a host's token records never meets it; in the file store it
//! lives in `secrets.json` beside `tokens.json`, with the same care: 0600
//! from creation, written through an fsynced temp file and a rename, under
//! a lock. A secret still set in gitconfig wins, so nothing that works
//! today stops working.

use super::choice;
use super::choice::StoreChoice;
use super::lock::{self, lock_path};
use super::private::{ensure_dir, write_atomically};
use super::StoreError;
use crate::platform::keyring::{Native, Slots};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

const FILE_NAME: &str = "secrets.json";
const SERVICE_PREFIX: &str = "git-credential-bitbucket-consumer:";

#[derive(Debug, Default, Serialize, Deserialize)]
struct Document {
    #[serde(default)]
    consumers: Vec<Entry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    host: String,
    client_id: String,
    secret: Secret,
}

/// Where a consumer secret for `host` is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The OS keyring.
    Keyring,
    /// `secrets.json`.
    File,
}

impl Place {
    /// For messages: `keyring` or `file`, as the token stores are named.
    pub fn name(self) -> &'static str {
        match self {
            Place::Keyring => "keyring",
            Place::File => "file",
        }
    }
}

/// The path of the secrets file in `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

fn service(host: &str) -> String {
    format!("{SERVICE_PREFIX}{host}")
}

/// Where the host's tokens are, without deciding anything new (no probe,
/// no write): the secret goes where the tokens go.
fn expected(dir: &Path, store: StoreChoice, host: &str) -> Result<Place, StoreError> {
    Ok(match store {
        StoreChoice::File => Place::File,
        StoreChoice::Keyring => Place::Keyring,
        StoreChoice::Auto if choice::keyring_hosts(dir)?.iter().any(|h| h == host) => {
            Place::Keyring
        }
        StoreChoice::Auto => Place::File,
    })
}

fn read_file(dir: &Path) -> Result<Document, StoreError> {
    let p = path(dir);
    // Like tokens.json: never through a link, a regular file of ours only.
    match super::private::read_private(&p)? {
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Io {
            path: p,
            what: "is not a valid secrets file (move it aside and run `git credential-bitbucket configure` again)",
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        }),
        None => Ok(Document::default()),
    }
}

fn update_file<T>(dir: &Path, change: impl FnOnce(&mut Vec<Entry>) -> T) -> Result<T, StoreError> {
    ensure_dir(dir)?;
    let _guard = lock::acquire(&lock_path(dir, "secrets"), Duration::from_secs(30))?;
    let mut doc = read_file(dir)?;
    let result = change(&mut doc.consumers);
    let bytes = serde_json::to_vec_pretty(&doc).expect("BUG: strings always serialize");
    write_atomically(&path(dir), &bytes)?;
    Ok(result)
}

/// The stored secret of `client_id` for `host`, if any: where the host's
/// tokens are first, then the other place (a host whose store choice was
/// changed after `configure`).
pub fn load(
    dir: &Path,
    store: StoreChoice,
    host: &str,
    client_id: &str,
) -> Result<Option<Secret>, StoreError> {
    let from_file = || -> Result<Option<Secret>, StoreError> {
        Ok(read_file(dir)?
            .consumers
            .into_iter()
            .find(|e| e.host == host && e.client_id == client_id)
            .map(|e| e.secret))
    };
    match expected(dir, store, host)? {
        Place::Keyring => {
            let ss = Native::connect()?;
            match ss.get(&service(host), client_id)? {
                Some(v) => Ok(Some(Secret::new(v))),
                None => from_file(),
            }
        }
        Place::File => from_file(),
    }
}

/// Saves the secret where the host's tokens go (deciding `auto` now, as a
/// sign-in would) and says where.
pub fn save(
    dir: &Path,
    store: StoreChoice,
    host: &str,
    client_id: &str,
    secret: &Secret,
) -> Result<Place, StoreError> {
    let place = match choice::open(dir, store, &super::StoreKey::new(host))?.name() {
        "keyring" => Place::Keyring,
        _ => Place::File,
    };
    match place {
        Place::Keyring => {
            let label = format!(
                "Bitbucket OAuth consumer secret of {client_id} for {host} (git-credential-bitbucket)"
            );
            Native::connect()?.set(&service(host), client_id, &label, secret.expose())?;
        }
        Place::File => update_file(dir, |entries| {
            entries.retain(|e| !(e.host == host && e.client_id == client_id));
            entries.push(Entry {
                host: host.to_owned(),
                client_id: client_id.to_owned(),
                secret: secret.clone(),
            });
        })?,
    }
    Ok(place)
}

/// Removes the secrets of every consumer key of `host` (`client_id`, the
/// one configured now, and any earlier one `configure` kept), from
/// wherever they are; returns the keys whose secret was removed, sorted.
pub fn remove_host(
    dir: &Path,
    store: StoreChoice,
    host: &str,
    client_id: Option<&str>,
) -> Result<Vec<String>, StoreError> {
    let mut removed = Vec::new();
    if expected(dir, store, host)? == Place::Keyring {
        let ss = Native::connect()?;
        // A store that cannot list still gets the key we know of.
        let mut ids = ss.users(&service(host)).unwrap_or_default();
        ids.extend(client_id.map(str::to_owned));
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            if ss.get(&service(host), &id)?.is_some() {
                ss.delete(&service(host), &id)?;
                removed.push(id);
            }
        }
    }
    let in_file = read_file(dir)?.consumers.iter().any(|e| e.host == host);
    if in_file {
        let ids = update_file(dir, |entries| {
            let ids: Vec<String> = entries
                .iter()
                .filter(|e| e.host == host)
                .map(|e| e.client_id.clone())
                .collect();
            entries.retain(|e| e.host != host);
            ids
        })?;
        removed.extend(ids);
    }
    removed.sort_unstable();
    removed.dedup();
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("gcb-secrets-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_file_secret_is_private_and_found_by_host_and_client_id() {
        let dir = temp_dir("file");
        let host = "https://bitbucket.org";
        let place = save(&dir, StoreChoice::File, host, "key", &Secret::new("s3")).expect("save");
        assert_eq!(place, Place::File);
        save(&dir, StoreChoice::File, host, "other", &Secret::new("s4")).expect("save");
        // Saving again replaces, never duplicates.
        save(&dir, StoreChoice::File, host, "key", &Secret::new("s5")).expect("save");
        let got = load(&dir, StoreChoice::File, host, "key").expect("load");
        assert_eq!(got.as_ref().map(Secret::expose), Some("s5"));
        assert!(load(&dir, StoreChoice::File, "https://x.example", "key")
            .expect("load")
            .is_none());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path(&dir))
                .expect("stat")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn removing_a_host_removes_the_secrets_of_every_key_it_had_and_no_other_host() {
        let dir = temp_dir("host");
        let (host, other) = ("https://bb.example", "https://bitbucket.org");
        for (h, id) in [(host, "old"), (host, "new"), (other, "old")] {
            save(&dir, StoreChoice::File, h, id, &Secret::new("s")).expect("save");
        }
        let removed = remove_host(&dir, StoreChoice::File, host, Some("new")).expect("remove");
        assert_eq!(removed, ["new", "old"]);
        for id in ["old", "new"] {
            assert!(load(&dir, StoreChoice::File, host, id)
                .expect("load")
                .is_none());
        }
        assert!(load(&dir, StoreChoice::File, other, "old")
            .expect("load")
            .is_some());
        assert!(remove_host(&dir, StoreChoice::File, host, None)
            .expect("again")
            .is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
