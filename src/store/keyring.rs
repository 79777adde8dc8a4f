//! The keyring backend (contract.md §5): each record is one secret in the OS
//! keyring (Secret Service on Linux, through `keyring-core` and the
//! libdbus-based store, built vendored so no -dev package is needed).
//!
//! Items are named for a person browsing the keyring (e.g. Seahorse):
//! service `git-credential-bitbucket:<host>`, user = the Bitbucket account,
//! label `Bitbucket <account> on <host> (git-credential-bitbucket)`.
//!
//! Where a platform caps a secret's size (Windows: 2,560 bytes), a record
//! that does not fit is split into numbered pieces and still read and
//! written as one: pieces first, then the head, which names the piece count
//! and a digest of the whole, so a reader never mixes two versions.
//! The splitting is tested against a size-limited in-memory keyring.
//!
//! Nothing here ever deletes because of an error: a locked keyring is an
//! error that says how to unlock it.

use super::{Record, Store, StoreError};
use crate::store::StoreKey;
// What a native credential store offers lives below the store, in
// src/platform/keyring.rs.
use crate::platform::keyring::{KeyringError, Slots};
use sha2::{Digest, Sha256};

/// Prefix of every item's service name.
pub const SERVICE_PREFIX: &str = "git-credential-bitbucket:";
/// Marks the extra pieces of a split record: `alice#2`, `alice#3`, ...
const PIECE_MARK: char = '#';
/// Names the item of an account's record obtained by a second consumer,
/// when the plain item (`alice`) holds another consumer's: `alice|<client
/// id>`. Records name their own account and consumer, so reading needs no
/// rule; existing items keep their plain names.
const CONSUMER_MARK: char = '|';

impl From<KeyringError> for StoreError {
    fn from(e: KeyringError) -> StoreError {
        StoreError::Keyring(e)
    }
}

pub struct KeyringStore<S: Slots> {
    slots: S,
    hosts: Vec<String>,
}

impl<S: Slots> KeyringStore<S> {
    /// A store over `slots`; `hosts` are the hosts `all_records` lists (a
    /// keyring cannot be searched by prefix).
    pub fn with_slots(slots: S, hosts: Vec<String>) -> Self {
        KeyringStore { slots, hosts }
    }

    fn service(host: &str) -> String {
        format!("{SERVICE_PREFIX}{host}")
    }

    fn read(&self, host: &str, user: &str) -> Result<Option<Record>, KeyringError> {
        let service = Self::service(host);
        let Some(head) = self.slots.get(&service, user)? else {
            return Ok(None);
        };
        let whole = match head.strip_prefix("pieces:") {
            None => head,
            Some(rest) => {
                // pieces:<count>:<sha256 hex>[:<tag>]\n<first piece>; with a
                // tag, piece i is `<user>#<tag>-<i>`, else `<user>#<i>`.
                let (meta, first) = rest.split_once('\n').ok_or_else(|| corrupt(host, user))?;
                let (count, rest) = meta.split_once(':').ok_or_else(|| corrupt(host, user))?;
                let (digest, tag) = match rest.split_once(':') {
                    Some((d, t)) => (d, Some(t)),
                    None => (rest, None),
                };
                let count: usize = count.parse().map_err(|_| corrupt(host, user))?;
                let mut whole = first.to_owned();
                for i in 2..=count {
                    let name = match tag {
                        Some(t) => format!("{user}{PIECE_MARK}{t}-{i}"),
                        None => format!("{user}{PIECE_MARK}{i}"),
                    };
                    let piece = self
                        .slots
                        .get(&service, &name)?
                        .ok_or_else(|| corrupt(host, user))?;
                    whole.push_str(&piece);
                }
                if hex_digest(&whole) != digest {
                    return Err(corrupt(host, user));
                }
                whole
            }
        };
        serde_json::from_str(&whole)
            .map(Some)
            .map_err(|_| corrupt(host, user))
    }

    /// The item that holds `record`'s slot: the consumer's own item if
    /// there is one, else the plain item unless another consumer's record
    /// (or one we cannot read) is there.
    fn item_for(&self, record: &Record) -> Result<String, KeyringError> {
        let plain = &record.account.username;
        let own = format!("{plain}{CONSUMER_MARK}{}", record.client_id);
        if !record.kind.is_stored_token() {
            if let Ok(Some(r)) = self.read(&record.host, &own) {
                if r.same_slot(record) {
                    return Ok(own);
                }
            }
        }
        match self.read(&record.host, plain) {
            Ok(None) => Ok(plain.clone()),
            Ok(Some(r)) if r.same_slot(record) => Ok(plain.clone()),
            Ok(Some(_)) | Err(KeyringError::Corrupt(_)) => Ok(own),
            Err(e) => Err(e),
        }
    }

    fn write(&self, record: &Record) -> Result<(), KeyringError> {
        let service = Self::service(&record.host);
        let user = &self.item_for(record)?;
        let label = format!(
            "Bitbucket {} on {} (git-credential-bitbucket)",
            record.account.username, record.host
        );
        let json = serde_json::to_string(record).expect("BUG: a Record always serializes");
        let old_pieces = self.pieces(&service, user)?;
        // Pieces are named after the content they make up, so the old
        // head and its pieces stay whole until the new head replaces it:
        // a process killed halfway leaves the old record readable.
        let keep = match self.slots.max_len() {
            Some(max) if json.len() > max => {
                // Room for the header in the head item.
                let size = max.saturating_sub(96).max(64);
                let parts = split_utf8(&json, size);
                let digest = hex_digest(&json);
                let tag = &digest[..8];
                for (i, part) in parts.iter().enumerate().skip(1) {
                    let piece_label = format!("{label} part {}", i + 1);
                    self.slots.set(
                        &service,
                        &format!("{user}{PIECE_MARK}{tag}-{}", i + 1),
                        &piece_label,
                        part,
                    )?;
                }
                let head = format!("pieces:{}:{digest}:{tag}\n{}", parts.len(), parts[0]);
                self.slots.set(&service, user, &label, &head)?;
                Some(format!("{user}{PIECE_MARK}{tag}-"))
            }
            _ => {
                self.slots.set(&service, user, &label, &json)?;
                None
            }
        };
        for piece in old_pieces {
            if !keep.as_ref().is_some_and(|k| piece.starts_with(k.as_str())) {
                self.slots.delete(&service, &piece)?;
            }
        }
        Ok(())
    }

    /// The names of the extra pieces stored for `user`, old-style
    /// (`alice#2`) and tagged (`alice#<tag>-2`).
    fn pieces(&self, service: &str, user: &str) -> Result<Vec<String>, KeyringError> {
        let prefix = format!("{user}{PIECE_MARK}");
        Ok(self
            .slots
            .users(service)?
            .into_iter()
            .filter(|u| {
                u.strip_prefix(&prefix).is_some_and(|rest| {
                    let number = rest.rsplit('-').next().unwrap_or(rest);
                    !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit())
                })
            })
            .collect())
    }
}

fn corrupt(host: &str, user: &str) -> KeyringError {
    KeyringError::Corrupt(format!("{user} on {host}"))
}

fn hex_digest(s: &str) -> String {
    Sha256::digest(s.as_bytes())[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Splits at most `size` bytes a piece, on character boundaries.
fn split_utf8(s: &str, size: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let mut end = size.min(rest.len());
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (a, b) = rest.split_at(end);
        parts.push(a);
        rest = b;
    }
    parts
}

impl<S: Slots> Store for KeyringStore<S> {
    fn name(&self) -> &'static str {
        "keyring"
    }

    fn records(&self, host: &StoreKey) -> Result<Vec<Record>, StoreError> {
        let service = Self::service(host.as_str());
        let mut out = Vec::new();
        for user in self.slots.users(&service)? {
            if user.contains(PIECE_MARK) {
                continue;
            }
            match self.read(host.as_str(), &user) {
                Ok(Some(r)) => out.push(r),
                Ok(None) => {}
                // One unreadable item must not block the host's other
                // accounts; `logout --account` removes it by name.
                Err(e @ KeyringError::Corrupt(_)) => {
                    crate::say!("warning: {e}");
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }

    fn all_records(&self) -> Result<Vec<Record>, StoreError> {
        let mut out = Vec::new();
        for host in &self.hosts {
            out.extend(self.records(&StoreKey::new(host.as_str()))?);
        }
        Ok(out)
    }

    fn put(&self, record: &Record) -> Result<(), StoreError> {
        Ok(self.write(record)?)
    }

    fn remove(&self, host: &StoreKey, username: &str) -> Result<bool, StoreError> {
        let service = Self::service(host.as_str());
        // The plain item, and other consumers' items of this account (an
        // item that only looks like one, of an account whose name has a
        // `|`, is left alone).
        let prefix = format!("{username}{CONSUMER_MARK}");
        let mut items = vec![username.to_owned()];
        for user in self.slots.users(&service)? {
            if user.starts_with(&prefix) && !user.contains(PIECE_MARK) {
                if let Ok(Some(r)) = self.read(host.as_str(), &user) {
                    if r.account.username == username {
                        items.push(user);
                    }
                }
            }
        }
        let mut existed = false;
        for item in items {
            let pieces = self.pieces(&service, &item)?;
            existed |= self.slots.get(&service, &item)?.is_some();
            // Head first: a reader then sees no record rather than a torn
            // one.
            self.slots.delete(&service, &item)?;
            for piece in pieces {
                self.slots.delete(&service, &piece)?;
            }
        }
        Ok(existed)
    }
}

/// The lock [`Listed`](crate::platform::listed::Listed) holds while it
/// changes a host's list of users: the store's lock file for that name
/// under `dir`, waited for up to 30 seconds.
#[cfg(any(windows, test))]
pub fn list_lock(dir: std::path::PathBuf) -> crate::platform::listed::ListLock {
    Box::new(move |name| {
        let path = super::lock::lock_path(&dir, name);
        super::lock::acquire(&path, std::time::Duration::from_secs(30))
            .map(|held| Box::new(held) as Box<dyn std::any::Any>)
            .map_err(|e| KeyringError::Failed(e.to_string()))
    })
}

/// Windows' native store: Credential Manager, whose users are listed in
/// one more item under the store's lock files, so it is put together
/// here, where those are known; the platform stays below the store.
#[cfg(windows)]
impl crate::platform::keyring::Native {
    pub fn connect() -> Result<Self, KeyringError> {
        let manager = crate::platform::keyring::CredMan::open()?;
        let dir = super::data_dir().map_err(|e| KeyringError::Failed(e.to_string()))?;
        Ok(Self::new(
            manager,
            list_lock(dir),
            crate::platform::CREDENTIAL_MANAGER_MAX_BYTES,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sample_record;
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    /// An in-memory keyring that refuses secrets over `max` bytes, like
    /// Windows' Credential Manager, and can be told to fail.
    #[derive(Default)]
    struct Memory {
        items: RefCell<BTreeMap<(String, String), String>>,
        max: Option<usize>,
        fail: RefCell<Option<KeyringError>>,
        /// When set, `set` fails once this many more have worked (a
        /// process killed halfway through a write).
        sets_left: RefCell<Option<usize>>,
    }

    impl Memory {
        fn check(&self) -> Result<(), KeyringError> {
            match self.fail.borrow().clone() {
                Some(e) => Err(e),
                None => Ok(()),
            }
        }
    }

    impl Slots for &Memory {
        fn get(&self, s: &str, u: &str) -> Result<Option<String>, KeyringError> {
            self.check()?;
            Ok(self.items.borrow().get(&(s.into(), u.into())).cloned())
        }
        fn set(&self, s: &str, u: &str, _: &str, v: &str) -> Result<(), KeyringError> {
            self.check()?;
            if let Some(left) = self.sets_left.borrow_mut().as_mut() {
                if *left == 0 {
                    return Err(KeyringError::Failed("killed".into()));
                }
                *left -= 1;
            }
            if self.max.is_some_and(|m| v.len() > m) {
                return Err(KeyringError::Failed(format!(
                    "secret of {} bytes is too long",
                    v.len()
                )));
            }
            self.items
                .borrow_mut()
                .insert((s.into(), u.into()), v.into());
            Ok(())
        }
        fn delete(&self, s: &str, u: &str) -> Result<(), KeyringError> {
            self.check()?;
            self.items.borrow_mut().remove(&(s.into(), u.into()));
            Ok(())
        }
        fn users(&self, s: &str) -> Result<Vec<String>, KeyringError> {
            self.check()?;
            Ok(self
                .items
                .borrow()
                .keys()
                .filter(|(svc, _)| svc == s)
                .map(|(_, u)| u.clone())
                .collect())
        }
        fn max_len(&self) -> Option<usize> {
            self.max
        }
    }

    fn record(user: &str, token_len: usize) -> Record {
        let mut r = sample_record(user, &"a".repeat(token_len), &"r".repeat(token_len));
        r.account.display_name = Some("Ünïcødé Name".into());
        r
    }

    #[test]
    fn large_records_are_split_under_a_size_cap_and_read_back_whole() {
        let mem = Memory {
            max: Some(2560),
            ..Memory::default()
        };
        let store = KeyringStore::with_slots(&mem, vec![]);
        let big = record("alice", 3000);
        store.put(&big).expect("split write");
        assert!(mem.items.borrow().len() >= 3, "stored in pieces");
        assert!(mem.items.borrow().values().all(|v| v.len() <= 2560));
        let back = store
            .records(&crate::store::StoreKey::new("https://bitbucket.org"))
            .expect("read");
        assert_eq!(back, vec![big]);

        // Shrinking it removes the extra pieces.
        let small = record("alice", 10);
        store.put(&small).expect("write");
        assert_eq!(mem.items.borrow().len(), 1);
        assert_eq!(
            store
                .records(&crate::store::StoreKey::new("https://bitbucket.org"))
                .expect("read"),
            vec![small]
        );
    }

    /// 2026 records reach 6 KB; Windows' Credential Manager holds 2,560
    /// bytes a credential.
    #[test]
    fn a_6_kb_record_round_trips_under_the_windows_cap() {
        let cap = crate::platform::CREDENTIAL_MANAGER_MAX_BYTES;
        let mem = Memory {
            max: Some(cap),
            ..Memory::default()
        };
        let store = KeyringStore::with_slots(&mem, vec![]);
        let big = record("alice", 3000);
        assert!(serde_json::to_string(&big).expect("json").len() > 6000);
        store.put(&big).expect("split write");
        assert!(mem.items.borrow().len() >= 3, "stored in pieces");
        assert!(mem.items.borrow().values().all(|v| v.len() <= cap));
        assert_eq!(
            store
                .records(&crate::store::StoreKey::new("https://bitbucket.org"))
                .expect("read"),
            vec![big]
        );
    }

    #[test]
    fn a_missing_piece_is_reported_not_misread_and_does_not_block_others() {
        let mem = Memory {
            max: Some(1000),
            ..Memory::default()
        };
        let store = KeyringStore::with_slots(&mem, vec![]);
        store.put(&record("alice", 3000)).expect("write");
        store.put(&record("bob", 10)).expect("write");
        mem.items
            .borrow_mut()
            .retain(|(_, u), _| !(u.starts_with("alice#") && u.ends_with("-2")));
        let err = store
            .read("https://bitbucket.org", "alice")
            .expect_err("torn");
        assert!(
            matches!(err, KeyringError::Corrupt(ref who) if who.contains("alice")),
            "{err}"
        );
        // bob is still served; alice's torn record is skipped, not misread.
        let left = store
            .records(&crate::store::StoreKey::new("https://bitbucket.org"))
            .expect("read");
        assert_eq!(
            left.iter()
                .map(|r| r.account.username.as_str())
                .collect::<Vec<_>>(),
            ["bob"]
        );
        // And it can be removed by name.
        assert!(store
            .remove(
                &crate::store::StoreKey::new("https://bitbucket.org"),
                "alice"
            )
            .expect("rm"));
        assert!(mem.items.borrow().keys().all(|(_, u)| u == "bob"));
    }

    #[test]
    fn accounts_live_side_by_side_and_remove_takes_one() {
        let mem = Memory::default();
        let store = KeyringStore::with_slots(&mem, vec!["https://bitbucket.org".into()]);
        store.put(&record("alice", 10)).expect("put");
        store.put(&record("bob", 10)).expect("put");
        assert_eq!(store.all_records().expect("all").len(), 2);
        assert!(store
            .remove(&crate::store::StoreKey::new("https://bitbucket.org"), "bob")
            .expect("rm"));
        let left = store
            .records(&crate::store::StoreKey::new("https://bitbucket.org"))
            .expect("read");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].account.username, "alice");
    }

    #[test]
    fn a_locked_keyring_is_an_error_that_says_how_to_unlock_and_deletes_nothing() {
        let mem = Memory::default();
        let store = KeyringStore::with_slots(&mem, vec![]);
        store.put(&record("alice", 10)).expect("put");
        *mem.fail.borrow_mut() = Some(KeyringError::Locked("collection is locked".into()));
        let err = store
            .records(&crate::store::StoreKey::new("https://bitbucket.org"))
            .expect_err("locked");
        assert!(err.to_string().contains("unlock"), "{err}");
        assert!(store
            .remove(
                &crate::store::StoreKey::new("https://bitbucket.org"),
                "alice"
            )
            .is_err());
        *mem.fail.borrow_mut() = None;
        assert_eq!(
            store
                .records(&crate::store::StoreKey::new("https://bitbucket.org"))
                .expect("read")
                .len(),
            1
        );
    }

    #[test]
    fn another_consumers_record_is_kept_beside_ours_and_old_items_still_read() {
        let mem = Memory::default();
        let store = KeyringStore::with_slots(&mem, vec![]);
        let host = "https://bitbucket.org";
        // An item written before consumers had their own names.
        let first = record("alice", 10);
        store.put(&first).expect("put");
        let mut second = record("alice", 12);
        second.client_id = "other".into();
        store.put(&second).expect("put");
        let mut both = store
            .records(&crate::store::StoreKey::new(host))
            .expect("read");
        both.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        assert_eq!(both, vec![first.clone(), second.clone()]);
        // Each consumer replaces only its own.
        let mut second2 = second.clone();
        second2.access_token = Some(crate::secret::Secret::new("new"));
        store.put(&second2).expect("put");
        let mut both = store
            .records(&crate::store::StoreKey::new(host))
            .expect("read");
        both.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        assert_eq!(both, vec![first, second2]);
        assert_eq!(mem.items.borrow().len(), 2);
        // Signing the account out removes both.
        assert!(store
            .remove(&crate::store::StoreKey::new(host), "alice")
            .expect("rm"));
        assert!(mem.items.borrow().is_empty());
    }

    #[test]
    fn a_split_write_cut_short_leaves_the_old_record_whole() {
        let mem = Memory {
            max: Some(1000),
            ..Memory::default()
        };
        let store = KeyringStore::with_slots(&mem, vec![]);
        let old = record("alice", 3000);
        store.put(&old).expect("write");
        // The new record's pieces are written, then the process dies
        // before its head.
        let new = record("alice", 3100);
        for cut in 0..8 {
            *mem.sets_left.borrow_mut() = Some(cut);
            if store.put(&new).is_ok() {
                break;
            }
            *mem.sets_left.borrow_mut() = None;
            assert_eq!(
                store
                    .records(&crate::store::StoreKey::new("https://bitbucket.org"))
                    .expect("read"),
                vec![old.clone()],
                "cut after {cut} writes"
            );
        }
        *mem.sets_left.borrow_mut() = None;
        store.put(&new).expect("write");
        assert_eq!(
            store
                .records(&crate::store::StoreKey::new("https://bitbucket.org"))
                .expect("read"),
            vec![new]
        );
        // Only the new record's pieces are left.
        let items = mem.items.borrow();
        let head = items
            .iter()
            .find(|((_, u), _)| u == "alice")
            .map(|(_, v)| v.clone())
            .expect("the head");
        let count: usize = head
            .strip_prefix("pieces:")
            .and_then(|r| r.split(':').next())
            .and_then(|c| c.parse().ok())
            .expect("a split head");
        assert_eq!(items.len(), count, "{:?}", items.keys().collect::<Vec<_>>());
    }

    #[test]
    fn a_split_record_of_the_old_layout_is_read_and_replaced_cleanly() {
        let mem = Memory {
            max: Some(1000),
            ..Memory::default()
        };
        let store = KeyringStore::with_slots(&mem, vec![]);
        let old = record("alice", 600);
        let json = serde_json::to_string(&old).expect("json");
        let (a, b) = json.split_at(json.len() / 2);
        let service = format!("{SERVICE_PREFIX}https://bitbucket.org");
        let head = format!("pieces:2:{}\n{a}", hex_digest(&json));
        mem.items
            .borrow_mut()
            .insert((service.clone(), "alice".into()), head);
        mem.items
            .borrow_mut()
            .insert((service.clone(), "alice#2".into()), b.into());
        assert_eq!(
            store
                .records(&crate::store::StoreKey::new("https://bitbucket.org"))
                .expect("read"),
            vec![old]
        );
        let small = record("alice", 10);
        store.put(&small).expect("write");
        assert_eq!(mem.items.borrow().len(), 1, "the old piece is gone");
    }
}
