//! `Slots` over a store that cannot list its items (Credential Manager
//! without the store crate's regex-based `search`): each service keeps the
//! names of its users in one more item, user `""` (a Bitbucket username is
//! never empty). Compiled everywhere, so the Linux run tests it.
//!
//! Order makes a crash harmless: a user's name is listed before its item is
//! written, and unlisted after its item is deleted, so an item is never
//! out of sight; a name without an item reads as "no record". The list is
//! changed read-modify-write under a cross-process lock, so writers of
//! different accounts of one host never lose each other's names. The
//! store hands that lock in ([`ListLock`]): its lock files are the
//! store's, beside its other files.

use crate::platform::keyring::{KeyringError, Slots};

/// Takes the cross-process lock named by its argument, held until the
/// value it returns is dropped.
pub type ListLock = Box<dyn Fn(&str) -> Result<Box<dyn std::any::Any>, KeyringError>>;

/// A store addressed by (service, user), holding bytes.
pub trait Unlisted {
    /// The item's bytes, if there is one.
    fn get(&self, service: &str, user: &str) -> Result<Option<Vec<u8>>, KeyringError>;
    /// Creates or replaces the item.
    fn set(&self, service: &str, user: &str, value: &[u8]) -> Result<(), KeyringError>;
    /// Deletes the item; a missing one is fine.
    fn delete(&self, service: &str, user: &str) -> Result<(), KeyringError>;
}

/// The user whose item lists a service's users.
const LIST: &str = "";

/// [`Slots`] over an [`Unlisted`] store.
pub struct Listed<U: Unlisted> {
    inner: U,
    lock: ListLock,
    max: usize,
}

impl<U: Unlisted> Listed<U> {
    /// Items of at most `max` bytes; each change to a list is made
    /// holding `lock("users of <service>")`.
    pub fn new(inner: U, lock: ListLock, max: usize) -> Self {
        Listed { inner, lock, max }
    }

    fn text(bytes: Option<Vec<u8>>) -> Result<Option<String>, KeyringError> {
        bytes
            .map(String::from_utf8)
            .transpose()
            .map_err(|_| KeyringError::Failed("a stored item is not UTF-8 text".into()))
    }

    fn list(&self, service: &str) -> Result<Vec<String>, KeyringError> {
        Ok(Self::text(self.inner.get(service, LIST)?)?
            .map(|s| s.lines().map(str::to_owned).collect())
            .unwrap_or_default())
    }

    /// Read-modify-write of `service`'s list under its lock.
    fn change_list(
        &self,
        service: &str,
        change: impl FnOnce(&mut Vec<String>),
    ) -> Result<(), KeyringError> {
        let _guard = (self.lock)(&format!("users of {service}"))?;
        let mut users = self.list(service)?;
        let before = users.clone();
        change(&mut users);
        if users == before {
            return Ok(());
        }
        if users.is_empty() {
            return self.inner.delete(service, LIST);
        }
        let text = users.join("\n");
        if text.len() > self.max {
            return Err(KeyringError::Failed(format!(
                "too many accounts for {service} to list in one item; remove some with \
                 `git credential-bitbucket logout`"
            )));
        }
        self.inner.set(service, LIST, text.as_bytes())
    }
}

impl<U: Unlisted> Slots for Listed<U> {
    fn get(&self, service: &str, user: &str) -> Result<Option<String>, KeyringError> {
        Self::text(self.inner.get(service, user)?)
    }

    fn set(
        &self,
        service: &str,
        user: &str,
        _label: &str,
        value: &str,
    ) -> Result<(), KeyringError> {
        if user.is_empty() || user.contains('\n') {
            return Err(KeyringError::Failed(format!(
                "{user:?} cannot be stored as an account name"
            )));
        }
        if !self.list(service)?.iter().any(|u| u == user) {
            self.change_list(service, |users| {
                if !users.iter().any(|u| u == user) {
                    users.push(user.to_owned());
                }
            })?;
        }
        self.inner.set(service, user, value.as_bytes())
    }

    fn delete(&self, service: &str, user: &str) -> Result<(), KeyringError> {
        if user.is_empty() {
            return Ok(());
        }
        self.inner.delete(service, user)?;
        if self.list(service)?.iter().any(|u| u == user) {
            self.change_list(service, |users| users.retain(|u| u != user))?;
        }
        Ok(())
    }

    fn users(&self, service: &str) -> Result<Vec<String>, KeyringError> {
        self.list(service)
    }

    fn max_len(&self) -> Option<usize> {
        Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::keyring::KeyringStore;
    use crate::store::{sample_record, Store};
    use std::collections::HashMap;
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex};

    type Items = HashMap<(String, String), Vec<u8>>;

    /// Items by (service, user), refusing those over the cap, and failing
    /// writes of one user on demand.
    #[derive(Clone, Default)]
    struct Memory {
        items: Arc<Mutex<Items>>,
        fail_user: Arc<Mutex<Option<String>>>,
    }

    impl Unlisted for Memory {
        fn get(&self, s: &str, u: &str) -> Result<Option<Vec<u8>>, KeyringError> {
            Ok(self
                .items
                .lock()
                .expect("no test thread panicked holding the lock")
                .get(&(s.into(), u.into()))
                .cloned())
        }
        fn set(&self, s: &str, u: &str, v: &[u8]) -> Result<(), KeyringError> {
            if self
                .fail_user
                .lock()
                .expect("no test thread panicked holding the lock")
                .as_deref()
                == Some(u)
            {
                return Err(KeyringError::Failed("write refused".into()));
            }
            if v.len() > crate::platform::CREDENTIAL_MANAGER_MAX_BYTES {
                return Err(KeyringError::Failed("too long".into()));
            }
            self.items
                .lock()
                .expect("no test thread panicked holding the lock")
                .insert((s.into(), u.into()), v.to_vec());
            Ok(())
        }
        fn delete(&self, s: &str, u: &str) -> Result<(), KeyringError> {
            self.items
                .lock()
                .expect("no test thread panicked holding the lock")
                .remove(&(s.into(), u.into()));
            Ok(())
        }
    }

    fn listed(mem: &Memory, name: &str) -> (Listed<Memory>, PathBuf) {
        let dir = std::env::temp_dir().join(format!("gcb-listed-{name}-{}", std::process::id()));
        let l = Listed::new(
            mem.clone(),
            crate::store::keyring::list_lock(dir.clone()),
            crate::platform::CREDENTIAL_MANAGER_MAX_BYTES,
        );
        (l, dir)
    }

    const HOST: &str = "https://bitbucket.org";

    #[test]
    fn records_of_several_accounts_and_their_pieces_are_found_without_enumeration() {
        let mem = Memory::default();
        let (slots, dir) = listed(&mem, "accounts");
        let store = KeyringStore::with_slots(slots, vec![HOST.into()]);
        let big = sample_record("alice", &"a".repeat(3000), &"r".repeat(3000));
        store.put(&big).expect("put alice");
        store
            .put(&sample_record("bob", "at", "rt"))
            .expect("put bob");
        let mut names: Vec<_> = store
            .records(&crate::store::StoreKey::new(HOST))
            .expect("read")
            .into_iter()
            .map(|r| r.account.username)
            .collect();
        names.sort();
        assert_eq!(names, ["alice", "bob"]);
        assert_eq!(
            store
                .records(&crate::store::StoreKey::new(HOST))
                .expect("read")[0],
            big
        );
        // Removing both leaves nothing behind, the list included.
        assert!(store
            .remove(&crate::store::StoreKey::new(HOST), "alice")
            .expect("rm"));
        assert!(store
            .remove(&crate::store::StoreKey::new(HOST), "bob")
            .expect("rm"));
        assert!(
            mem.items
                .lock()
                .expect("no test thread panicked holding the lock")
                .is_empty(),
            "{:?}",
            mem.items
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_failed_write_leaves_a_listed_name_that_reads_as_no_record() {
        let mem = Memory::default();
        let (slots, dir) = listed(&mem, "crash");
        *mem.fail_user
            .lock()
            .expect("no test thread panicked holding the lock") = Some("alice".into());
        let store = KeyringStore::with_slots(slots, vec![HOST.into()]);
        assert!(store.put(&sample_record("alice", "at", "rt")).is_err());
        // Listed first, so no item could ever have been out of sight.
        let slots = &listed(&mem, "crash").0;
        assert_eq!(
            slots
                .users("git-credential-bitbucket:https://bitbucket.org")
                .expect("the memory slots list their users"),
            ["alice"]
        );
        assert!(store
            .records(&crate::store::StoreKey::new(HOST))
            .expect("read")
            .is_empty());
        // The next write succeeds and is found.
        *mem.fail_user
            .lock()
            .expect("no test thread panicked holding the lock") = None;
        store.put(&sample_record("alice", "at", "rt")).expect("put");
        assert_eq!(
            store
                .records(&crate::store::StoreKey::new(HOST))
                .expect("read")
                .len(),
            1
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn parallel_writers_of_different_accounts_keep_every_name() {
        let mem = Memory::default();
        let (_, dir) = listed(&mem, "parallel");
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let mem = mem.clone();
                let dir = dir.clone();
                std::thread::spawn(move || {
                    let slots = Listed::new(
                        mem,
                        crate::store::keyring::list_lock(dir),
                        crate::platform::CREDENTIAL_MANAGER_MAX_BYTES,
                    );
                    slots.set("svc", &format!("user{i}"), "", "v").expect("set");
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        let (slots, _) = listed(&mem, "parallel");
        let mut users = slots.users("svc").expect("users");
        users.sort();
        assert_eq!(
            users,
            (0..8).map(|i| format!("user{i}")).collect::<Vec<_>>()
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
