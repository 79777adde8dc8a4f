//! The file backend (contract.md §5): one JSON document, mode 0600 in a 0700
//! directory, rewritten whole through a temp file that is fsynced and
//! renamed, so a crash leaves the old document or the new one, never a torn
//! one. Writers hold a document-wide lock around read-modify-write, so two
//! accounts refreshing at once never lose each other's tokens. Readers need
//! no lock: rename is atomic.

use super::lock::{self, lock_path};
use super::private::{
    create_temp, ensure_dir, read_private, rename_over, temp_prefix, test_fail_write, test_pause,
    write_atomically, Pause,
};
use super::{Record, Store, StoreError};
use crate::store::StoreKey;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

const FILE_NAME: &str = "tokens.json";
/// The probe written before a refresh (see `check_writable`).
const PROBE_NAME: &str = "probe";
/// Writers wait at most this long for each other; a write takes
/// milliseconds, so this only trips on a wedged file system.
const WRITE_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// The document as stored. Records are read one by one, so one that this
/// version cannot read costs only itself: it is kept, untouched, in
/// `set_aside`, and the others stay in use.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    version: u32,
    /// Counts the writes: a temp file left by a writer that died before its
    /// rename holds the next generation, and is adopted (see `recover`).
    #[serde(default)]
    generation: u64,
    records: Vec<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    set_aside: Vec<serde_json::Value>,
}

/// The document as used.
#[derive(Debug, Default)]
struct Document {
    generation: u64,
    records: Vec<Record>,
    /// Records this version cannot read, kept as they were.
    set_aside: Vec<serde_json::Value>,
    /// Of those, the ones not yet moved to `set_aside` in the file.
    newly_unreadable: usize,
}

impl Document {
    fn parse(bytes: &[u8]) -> Result<Document, serde_json::Error> {
        let stored: Stored = serde_json::from_slice(bytes)?;
        let mut doc = Document {
            generation: stored.generation,
            set_aside: stored.set_aside,
            ..Document::default()
        };
        for value in stored.records {
            match Record::deserialize(&value) {
                Ok(r) => doc.records.push(r),
                Err(e) => {
                    crate::trace!("store: a record this version cannot read: {e}");
                    doc.set_aside.push(value);
                    doc.newly_unreadable += 1;
                }
            }
        }
        Ok(doc)
    }

    fn to_bytes(&self) -> Vec<u8> {
        let stored = Stored {
            version: super::SCHEMA_VERSION,
            generation: self.generation,
            records: self
                .records
                .iter()
                .map(|r| serde_json::to_value(r).expect("BUG: a Record always serializes"))
                .collect(),
            set_aside: self.set_aside.clone(),
        };
        serde_json::to_vec_pretty(&stored).expect("BUG: a Document always serializes")
    }
}

/// Tokens in `<data dir>/tokens.json`.
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    /// A store in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> FileStore {
        FileStore { dir: dir.into() }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// Reads the document; `Err(Corrupt)` is mapped by the callers.
    fn read(&self) -> Result<Result<Document, serde_json::Error>, StoreError> {
        super::private::check_dir(&self.dir)?;
        Ok(match read_private(&self.path())? {
            Some(bytes) => Document::parse(&bytes),
            None => Ok(Document::default()),
        })
    }

    /// Reads for a lookup. A corrupt file is moved aside, and a temp file
    /// left by a killed writer adopted or removed, under the write lock;
    /// a corrupt file is reported and the lookup then sees an empty store.
    fn load(&self) -> Result<Document, StoreError> {
        match self.read()? {
            Ok(doc) if !self.has_temp_files() => Ok(doc),
            _ => {
                let _guard = lock::acquire(&lock_path(&self.dir, "store"), WRITE_LOCK_TIMEOUT)?;
                self.load_locked()
            }
        }
    }

    /// Reads while holding the write lock: sets a corrupt file aside, then
    /// finishes a write that a killed writer left undone.
    fn load_locked(&self) -> Result<Document, StoreError> {
        let doc = match self.read()? {
            Ok(doc) => doc,
            Err(parse_error) => {
                let aside = self.dir.join(format!(
                    "{FILE_NAME}.corrupt-{}-{}",
                    super::now(),
                    std::process::id()
                ));
                rename_over(&self.path(), &aside).map_err(|source| StoreError::Io {
                    path: self.path(),
                    what: "cannot set the corrupt file aside",
                    source,
                })?;
                crate::say!(
                    "warning: the token store {} was unreadable ({}); \
                     it was kept as {} and a new one is started, so you may be asked to sign in again",
                    self.path().display(),
                    parse_error,
                    aside.display()
                );
                Document::default()
            }
        };
        let mut doc = self.recover(doc.generation)?.unwrap_or(doc);
        // A refresh whose writer died before its save (see `journal`).
        let (changed, done) = super::journal::replay(&self.dir, &mut doc.records);
        if changed {
            doc.generation += 1;
            write_atomically(&self.path(), &doc.to_bytes())?;
        }
        for path in done {
            let _ = fs::remove_file(path);
        }
        Ok(doc)
    }

    /// Read-modify-write under the document lock.
    fn update<T>(&self, change: impl FnOnce(&mut Vec<Record>) -> T) -> Result<T, StoreError> {
        test_pause(Pause::BeforeLock);
        ensure_dir(&self.dir)?;
        let _guard = lock::acquire(&lock_path(&self.dir, "store"), WRITE_LOCK_TIMEOUT)?;
        let mut doc = self.load_locked()?;
        let result = change(&mut doc.records);
        doc.generation += 1;
        write_atomically(&self.path(), &doc.to_bytes())?;
        if doc.newly_unreadable > 0 {
            crate::say!(
                "warning: {} record(s) in {} could not be read by this \
                 version; they are kept unchanged (under \"set_aside\") and the other sign-ins stay \
                 in use. A newer version may read them; or sign in again",
                doc.newly_unreadable,
                self.path().display()
            );
        }
        Ok(result)
    }

    /// Whether a temp file of a writer is there (a live one, or one that
    /// died before its rename).
    fn has_temp_files(&self) -> bool {
        self.temp_files().next().is_some() || !super::journal::journals(&self.dir).is_empty()
    }

    fn temp_files(&self) -> impl Iterator<Item = fs::DirEntry> {
        let prefixes = [
            temp_prefix(&self.path()),
            temp_prefix(&self.dir.join(PROBE_NAME)),
        ];
        fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(move |e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                prefixes.iter().any(|p| name.starts_with(p.as_str()))
            })
    }

    /// Finishes or discards what writers that died left behind. Runs under
    /// the write lock, and every writer holds it from reading the document
    /// to its rename, so any temp file here is a dead writer's: one that
    /// parses whole and is the next generation of the document holds a
    /// complete update that never reached the rename. It is moved into
    /// place (a refresh that was killed keeps its new tokens); any other
    /// is removed. Returns the adopted document.
    fn recover(&self, generation: u64) -> Result<Option<Document>, StoreError> {
        let mut best: Option<(Document, PathBuf)> = None;
        let mut doomed = Vec::new();
        let document_prefix = temp_prefix(&self.path());
        for entry in self.temp_files() {
            let path = entry.path();
            let parsed = entry
                .file_name()
                .to_string_lossy()
                .starts_with(&document_prefix)
                .then(|| read_private(&path).ok().flatten())
                .flatten()
                .and_then(|bytes| Document::parse(&bytes).ok())
                .filter(|d| d.generation > generation);
            match parsed {
                Some(doc)
                    if best
                        .as_ref()
                        .is_none_or(|(b, _)| doc.generation > b.generation) =>
                {
                    if let Some((_, older)) = best.replace((doc, path)) {
                        doomed.push(older);
                    }
                }
                _ => doomed.push(path),
            }
        }
        for path in doomed {
            crate::trace!("store: removing a temp file left by a killed writer");
            let _ = fs::remove_file(path);
        }
        let Some((doc, path)) = best else {
            return Ok(None);
        };
        rename_over(&path, &self.path()).map_err(|source| StoreError::Io {
            path: path.clone(),
            what: "cannot move the interrupted write into place",
            source,
        })?;
        if let Ok(d) = fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        crate::trace!("store: finished the write of a killed writer");
        Ok(Some(doc))
    }
}

impl Store for FileStore {
    fn name(&self) -> &'static str {
        "file"
    }

    fn records(&self, host: &StoreKey) -> Result<Vec<Record>, StoreError> {
        Ok(self
            .load()?
            .records
            .into_iter()
            .filter(|r| r.host == *host)
            .collect())
    }

    fn all_records(&self) -> Result<Vec<Record>, StoreError> {
        Ok(self.load()?.records)
    }

    fn put(&self, record: &Record) -> Result<(), StoreError> {
        self.update(|records| {
            records.retain(|r| !r.same_slot(record));
            records.push(record.clone());
        })
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        ensure_dir(&self.dir)?;
        let _guard = lock::acquire(&lock_path(&self.dir, "store"), WRITE_LOCK_TIMEOUT)?;
        // A probe the size of the document as it will be (a record more),
        // so a nearly full disk shows up here and not after the refresh.
        let size = fs::metadata(self.path()).map(|m| m.len()).unwrap_or(0) + 16 * 1024;
        let probe = self.dir.join(PROBE_NAME);
        let (tmp, mut file) = create_temp(&probe)?;
        let io = |what, source| StoreError::Io {
            path: tmp.clone(),
            what,
            source,
        };
        let chunk = [b' '; 4096];
        let mut result = test_fail_write().map_err(|e| io("cannot write", e));
        let mut left = size as usize;
        while result.is_ok() && left > 0 {
            let n = left.min(chunk.len());
            result = file
                .write_all(&chunk[..n])
                .map_err(|e| io("cannot write", e));
            left -= n;
        }
        let result =
            result.and_then(|()| file.sync_all().map_err(|e| io("cannot flush to disk", e)));
        drop(file);
        let _ = fs::remove_file(&tmp);
        result
    }

    fn begin_refresh(&self, spent: &crate::secret::Secret) -> Option<super::journal::Journal> {
        super::journal::Journal::begin(&self.dir, spent)
            .map_err(|e| crate::trace!("store: no refresh journal: {e}"))
            .ok()
    }

    fn remove(&self, host: &StoreKey, username: &str) -> Result<bool, StoreError> {
        self.update(|records| {
            let before = records.len();
            records.retain(|r| !(r.host == *host && r.account.username == username));
            records.len() != before
        })
    }
}

/// The records of a `tokens.json` document, parsed as [`FileStore`] reads
/// it (records it cannot read are left out).
/// Public so the fuzz target `store_document` can reach it.
#[doc(hidden)]
pub fn parse_document(bytes: &[u8]) -> Result<Vec<Record>, serde_json::Error> {
    Document::parse(bytes).map(|doc| doc.records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use crate::store::sample_record;

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("gcb-file-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn record(user: &str, at: &str) -> Record {
        sample_record(user, at, &format!("rt-{at}"))
    }

    #[test]
    fn put_replaces_per_account_and_keeps_others() {
        let dir = temp_dir("put");
        let store = FileStore::new(&dir);
        store.put(&record("alice", "a1")).expect("put");
        store.put(&record("bob", "b1")).expect("put");
        store.put(&record("alice", "a2")).expect("put");
        let recs = store
            .records(&crate::store::StoreKey::new("https://bitbucket.org"))
            .expect("read");
        assert_eq!(recs.len(), 2);
        let alice = recs
            .iter()
            .find(|r| r.account.username == "alice")
            .expect("alice");
        assert_eq!(alice.access_token.as_ref().map(Secret::expose), Some("a2"));
        assert!(store
            .remove(&crate::store::StoreKey::new("https://bitbucket.org"), "bob")
            .expect("rm"));
        assert!(!store
            .remove(&crate::store::StoreKey::new("https://bitbucket.org"), "bob")
            .expect("rm"));
        let _ = fs::remove_dir_all(&dir);
    }

    /// A reader of the store has `tokens.json` open for the moment of its
    /// read while a writer renames the new document over it: on Windows
    /// that rename is refused (Wine says "access denied") where Unix
    /// replaces the file. The write must wait the read out, not fail:
    /// a renewed sign-in that is not saved makes the next process spend
    /// the rotated refresh token again.
    #[test]
    fn a_write_waits_out_a_reader_that_has_the_document_open() {
        let dir = temp_dir("reader");
        let store = FileStore::new(&dir);
        store.put(&record("alice", "a1")).expect("put");
        let (opened, wait_opened) = std::sync::mpsc::channel();
        let path = store.path();
        let reader = std::thread::spawn(move || {
            let file = fs::File::open(path).expect("open the document");
            opened.send(()).expect("main thread waits");
            std::thread::sleep(Duration::from_millis(300));
            drop(file);
        });
        wait_opened.recv().expect("the reader opened the document");
        store
            .put(&record("alice", "a2"))
            .expect("the write waits for the reader");
        reader.join().expect("reader");
        let recs = store
            .records(&crate::store::StoreKey::new("https://bitbucket.org"))
            .expect("read");
        assert_eq!(recs.len(), 1);
        assert_eq!(
            recs[0].access_token.as_ref().map(Secret::expose),
            Some("a2")
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        use std::path::Path;
        let dir = temp_dir("mode");
        let store = FileStore::new(&dir);
        store.put(&record("alice", "a1")).expect("put");
        let mode = |p: &Path| fs::metadata(p).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&store.path()), 0o600);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_corrupt_file_is_set_aside_not_lost() {
        let dir = temp_dir("corrupt");
        ensure_dir(&dir).expect("dir");
        fs::write(dir.join(FILE_NAME), b"{not json").expect("write");
        let store = FileStore::new(&dir);
        assert!(store
            .records(&crate::store::StoreKey::new("https://bitbucket.org"))
            .expect("read")
            .is_empty());
        let kept: Vec<_> = fs::read_dir(&dir)
            .expect("list")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".corrupt-"))
            .collect();
        assert_eq!(kept.len(), 1);
        assert_eq!(fs::read(kept[0].path()).expect("read"), b"{not json");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn one_unreadable_record_is_set_aside_and_the_others_stay_in_use() {
        let dir = temp_dir("one-bad");
        let store = FileStore::new(&dir);
        store.put(&record("alice", "a1")).expect("put");
        store.put(&record("bob", "b1")).expect("put");
        // A record of a newer layout: bob's kind is one this version lacks.
        let text = fs::read_to_string(store.path()).expect("read");
        let text = text.replacen("\"oauth\"", "\"from_the_future\"", 1);
        fs::write(store.path(), text).expect("write");
        let left = store
            .records(&crate::store::StoreKey::new("https://bitbucket.org"))
            .expect("read");
        assert_eq!(left.len(), 1, "{left:?}");
        let kept = left[0].account.username.clone();
        // A write keeps the unreadable record, aside, byte for byte.
        store.put(&record(&kept, "x2")).expect("put");
        let doc: serde_json::Value =
            serde_json::from_slice(&fs::read(store.path()).expect("read")).expect("json");
        assert_eq!(doc["records"].as_array().map(Vec::len), Some(1), "{doc:#}");
        assert_eq!(doc["set_aside"][0]["kind"], "from_the_future", "{doc:#}");
        assert!(!dir
            .read_dir()
            .expect("ls")
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains("corrupt")));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_whole_temp_file_of_the_next_generation_is_adopted_others_removed() {
        let dir = temp_dir("adopt");
        let store = FileStore::new(&dir);
        store.put(&record("alice", "a1")).expect("put");
        let current = Document::parse(&fs::read(store.path()).expect("read")).expect("parse");
        // What a writer killed before its rename leaves: the next
        // generation, complete.
        let mut next = Document::parse(&fs::read(store.path()).expect("read")).expect("parse");
        next.records[0] = record("alice", "a2");
        next.generation = current.generation + 1;
        fs::write(dir.join("tokens.json.tmp-1-aa"), next.to_bytes()).expect("write");
        // And two that must not be adopted: torn, and an old generation.
        fs::write(dir.join("tokens.json.tmp-2-bb"), b"{\"version\":1,").expect("write");
        fs::write(dir.join("tokens.json.tmp-3-cc"), current.to_bytes()).expect("write");
        let recs = store
            .records(&crate::store::StoreKey::new("https://bitbucket.org"))
            .expect("read");
        assert_eq!(
            recs[0].access_token.as_ref().map(Secret::expose),
            Some("a2")
        );
        let left: Vec<_> = fs::read_dir(&dir)
            .expect("ls")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn another_consumers_record_is_kept_beside_ours() {
        let dir = temp_dir("consumers");
        let store = FileStore::new(&dir);
        let first = record("alice", "a1");
        store.put(&first).expect("put");
        let mut second = record("alice", "a2");
        second.client_id = "other".into();
        store.put(&second).expect("put");
        let recs = store
            .records(&crate::store::StoreKey::new("https://bitbucket.org"))
            .expect("read");
        assert_eq!(recs, vec![first, second]);
        assert!(store
            .remove(
                &crate::store::StoreKey::new("https://bitbucket.org"),
                "alice"
            )
            .expect("rm"));
        assert!(store
            .records(&crate::store::StoreKey::new("https://bitbucket.org"))
            .expect("read")
            .is_empty());
        let _ = fs::remove_dir_all(&dir);
    }
}
