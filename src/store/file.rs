//! The file backend (SPEC §5): one JSON document, mode 0600 in a 0700
//! directory, rewritten whole through a temp file that is fsynced and
//! renamed, so a crash leaves the old document or the new one, never a torn
//! one. Writers hold a document-wide lock around read-modify-write, so two
//! accounts refreshing at once never lose each other's tokens. Readers need
//! no lock: rename is atomic.

use super::lock::{self, lock_path};
use super::{Record, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

const FILE_NAME: &str = "tokens.json";
/// Writers wait at most this long for each other; a write takes
/// milliseconds, so this only trips on a wedged file system.
const WRITE_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Default, Serialize, Deserialize)]
struct Document {
    version: u32,
    records: Vec<Record>,
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

    /// The document's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    fn io(&self, what: &'static str) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
        move |source| StoreError::Io {
            path: self.path(),
            what,
            source,
        }
    }

    /// Reads the document; `Err(Corrupt)` is mapped by the callers.
    fn read(&self) -> Result<Result<Document, serde_json::Error>, StoreError> {
        match fs::read(self.path()) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Ok(Document::default())),
            Err(e) => Err(self.io("cannot read")(e)),
        }
    }

    /// Reads for a lookup. A corrupt file is moved aside (under the write
    /// lock) and reported; the lookup then sees an empty store.
    fn load(&self) -> Result<Document, StoreError> {
        match self.read()? {
            Ok(doc) => Ok(doc),
            Err(_) => {
                let _guard = lock::acquire(&lock_path(&self.dir, "store"), WRITE_LOCK_TIMEOUT)?;
                self.load_locked()
            }
        }
    }

    /// Reads while holding the write lock, setting a corrupt file aside.
    fn load_locked(&self) -> Result<Document, StoreError> {
        match self.read()? {
            Ok(doc) => Ok(doc),
            Err(parse_error) => {
                let aside = self.dir.join(format!(
                    "{FILE_NAME}.corrupt-{}-{}",
                    super::now(),
                    std::process::id()
                ));
                fs::rename(self.path(), &aside)
                    .map_err(self.io("cannot set the corrupt file aside"))?;
                eprintln!(
                    "git-credential-bitbucket: warning: the token store {} was unreadable ({}); \
                     it was kept as {} and a new one is started, so you may be asked to sign in again",
                    self.path().display(),
                    parse_error,
                    aside.display()
                );
                Ok(Document::default())
            }
        }
    }

    /// Read-modify-write under the document lock.
    fn update<T>(&self, change: impl FnOnce(&mut Vec<Record>) -> T) -> Result<T, StoreError> {
        create_private_dir(&self.dir)?;
        let _guard = lock::acquire(&lock_path(&self.dir, "store"), WRITE_LOCK_TIMEOUT)?;
        self.sweep_stale_temp_files();
        let mut doc = self.load_locked()?;
        let result = change(&mut doc.records);
        doc.version = super::SCHEMA_VERSION;
        let bytes = serde_json::to_vec_pretty(&doc).expect("BUG: a Document always serializes");
        write_atomically(&self.path(), &bytes)?;
        Ok(result)
    }
}

impl FileStore {
    /// Removes temp files left by writers that died before their rename
    /// (they hold tokens; the store file itself is whole). Runs under the
    /// write lock, so no live writer's file is touched: a live writer
    /// holds the lock.
    fn sweep_stale_temp_files(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        let prefix = format!("{FILE_NAME}.tmp-");
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with(&prefix) {
                crate::trace!("store: removing a temp file left by a killed writer");
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

impl Store for FileStore {
    fn name(&self) -> &'static str {
        "file"
    }

    fn records(&self, host: &str) -> Result<Vec<Record>, StoreError> {
        Ok(self
            .load()?
            .records
            .into_iter()
            .filter(|r| r.host == host)
            .collect())
    }

    fn all_records(&self) -> Result<Vec<Record>, StoreError> {
        Ok(self.load()?.records)
    }

    fn put(&self, record: &Record) -> Result<(), StoreError> {
        self.update(|records| {
            records.retain(|r| {
                !(r.host == record.host && r.account.username == record.account.username)
            });
            records.push(record.clone());
        })
    }

    fn remove(&self, host: &str, username: &str) -> Result<bool, StoreError> {
        self.update(|records| {
            let before = records.len();
            records.retain(|r| !(r.host == host && r.account.username == username));
            records.len() != before
        })
    }
}

/// Creates `dir` (and parents) with mode 0700 for the parts we create.
pub fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    crate::platform::private_dir(&mut builder);
    builder.create(dir).map_err(|source| StoreError::Io {
        path: dir.to_path_buf(),
        what: "cannot create the directory",
        source,
    })
}

/// Writes `bytes` to `path` through `path.tmp-<pid>`: write, fsync, rename,
/// fsync the directory. The temp file is 0600 from its creation.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = path.with_extension(format!("json.tmp-{}", std::process::id()));
    let io = |what, source| StoreError::Io {
        path: tmp.clone(),
        what,
        source,
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    crate::platform::private_file(&mut options);
    let mut file = options.open(&tmp).map_err(|e| io("cannot create", e))?;
    file.write_all(bytes).map_err(|e| io("cannot write", e))?;
    file.sync_all().map_err(|e| io("cannot flush to disk", e))?;
    drop(file);
    test_pause_before_rename();
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(io("cannot move into place", e));
    }
    if let Some(parent) = path.parent() {
        if let Ok(d) = fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Test-only fault point (SPEC §9): with
/// `GIT_CREDENTIAL_BITBUCKET_TEST_PAUSE_BEFORE_RENAME_MS` set, a write
/// stops between the fsynced temp file and the rename, so a test can kill
/// the process exactly mid-write. Costs one environment lookup per write.
fn test_pause_before_rename() {
    if let Some(ms) = std::env::var("GIT_CREDENTIAL_BITBUCKET_TEST_PAUSE_BEFORE_RENAME_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        crate::trace!("test fault point: pausing {ms} ms before the rename");
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
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
        let recs = store.records("https://bitbucket.org").expect("read");
        assert_eq!(recs.len(), 2);
        let alice = recs
            .iter()
            .find(|r| r.account.username == "alice")
            .expect("alice");
        assert_eq!(alice.access_token.as_ref().map(Secret::expose), Some("a2"));
        assert!(store.remove("https://bitbucket.org", "bob").expect("rm"));
        assert!(!store.remove("https://bitbucket.org", "bob").expect("rm"));
        let _ = fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn files_are_private() {
        use std::os::unix::fs::PermissionsExt;
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
        create_private_dir(&dir).expect("dir");
        fs::write(dir.join(FILE_NAME), b"{not json").expect("write");
        let store = FileStore::new(&dir);
        assert!(store
            .records("https://bitbucket.org")
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
}
