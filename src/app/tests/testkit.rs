//! Fakes for the ladder's in-process tests: a store in memory, a token
//! endpoint and a sign-in that answer from a script, and one log of what
//! they were asked, in order.

use crate::app::deps::{Deps, SignInRunner};
use crate::bitbucket::Account;
use crate::bitbucket::{ApiError, NetCause, TokenSet};
use crate::config::HostConfig;
use crate::endpoint::TokenEndpoint;
use crate::env::Env;
use crate::secret::Secret;
use crate::signin::{SignInError, SignedIn};
use crate::store::{Record, Store, StoreError, StoreKey, TokenKind};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::rc::Rc;

/// What the fakes were asked, in order: `refresh R1`,
/// `client_credentials`, `sign_in alice`, `put alice A2 R2`.
pub type Log = Rc<RefCell<Vec<String>>>;

/// A token of a record as the log and the expectations write it.
fn shown(token: &Option<Secret>) -> String {
    token
        .as_ref()
        .map_or_else(|| "-".to_owned(), |t| t.expose().to_owned())
}

/// One record as `user access refresh`.
pub fn summary(r: &Record) -> String {
    format!(
        "{} {} {}",
        r.account.username,
        shown(&r.access_token),
        shown(&r.refresh_token)
    )
}

/// A store in memory. `meanwhile` plays another process: its record is
/// written just before the read it names (1 is the first), so the
/// ladder's re-read under the lock sees what its first read did not.
pub struct MemStore {
    pub records: RefCell<Vec<Record>>,
    pub meanwhile: RefCell<Option<(usize, Record)>>,
    /// `check_writable` fails (a read-only or full disk).
    pub read_only: Cell<bool>,
    reads: Cell<usize>,
    log: Log,
}

impl MemStore {
    pub fn new(records: Vec<Record>, meanwhile: Option<(usize, Record)>, log: Log) -> MemStore {
        MemStore {
            records: RefCell::new(records),
            meanwhile: RefCell::new(meanwhile),
            read_only: Cell::new(false),
            reads: Cell::new(0),
            log,
        }
    }

    /// Every record as `user access refresh`, sorted.
    pub fn summaries(&self) -> Vec<String> {
        let mut all: Vec<String> = self.records.borrow().iter().map(summary).collect();
        all.sort();
        all
    }

    fn insert(&self, record: &Record) {
        let mut records = self.records.borrow_mut();
        records.retain(|r| !r.same_slot(record));
        records.push(record.clone());
    }
}

impl Store for MemStore {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn records(&self, host: &StoreKey) -> Result<Vec<Record>, StoreError> {
        self.reads.set(self.reads.get() + 1);
        let due = matches!(&*self.meanwhile.borrow(), Some((n, _)) if *n == self.reads.get());
        if due {
            if let Some((_, r)) = self.meanwhile.borrow_mut().take() {
                self.insert(&r);
            }
        }
        Ok(self
            .records
            .borrow()
            .iter()
            .filter(|r| r.host == *host)
            .cloned()
            .collect())
    }

    fn all_records(&self) -> Result<Vec<Record>, StoreError> {
        Ok(self.records.borrow().clone())
    }

    fn put(&self, record: &Record) -> Result<(), StoreError> {
        self.log
            .borrow_mut()
            .push(format!("put {}", summary(record)));
        self.insert(record);
        Ok(())
    }

    fn remove(&self, host: &StoreKey, username: &str) -> Result<bool, StoreError> {
        self.log.borrow_mut().push(format!("remove {username}"));
        let mut records = self.records.borrow_mut();
        let before = records.len();
        records.retain(|r| !(r.host == *host && r.account.username == username));
        Ok(records.len() != before)
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        if !self.read_only.get() {
            return Ok(());
        }
        Err(StoreError::Io {
            path: "memory".into(),
            what: "cannot write",
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        })
    }
}

/// What the fake token endpoint (or sign-in) answers to one call.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    /// New tokens: access, refresh (if any), lifetime in seconds.
    Tokens(&'static str, Option<&'static str>, u64),
    /// `invalid_grant`: the refresh token is dead.
    Dead,
    /// Another OAuth error (`invalid_client`): a consumer problem.
    Refused(&'static str),
    /// A network failure of this cause.
    Network(NetCause),
}

impl Answer {
    fn result(self) -> Result<TokenSet, ApiError> {
        match self {
            Answer::Tokens(access, refresh, expires_in) => Ok(TokenSet {
                access_token: Secret::new(access),
                refresh_token: refresh.map(Secret::new),
                expires_in,
                scopes: String::new(),
            }),
            Answer::Dead => Err(ApiError::OAuth {
                url: "https://bitbucket.org/site/oauth2/access_token".into(),
                status: 400,
                error: "invalid_grant".into(),
                description: None,
            }),
            Answer::Refused(error) => Err(ApiError::OAuth {
                url: "https://bitbucket.org/site/oauth2/access_token".into(),
                status: 401,
                error: error.into(),
                description: None,
            }),
            Answer::Network(cause) => Err(ApiError::Network {
                url: "https://bitbucket.org/site/oauth2/access_token".into(),
                // Words the ladder must not read: only the cause decides.
                reason: format!("{cause:?} (as the fake says it)"),
                cause,
            }),
        }
    }
}

/// A token endpoint that answers from a script, one answer per call; a
/// call beyond the script is answered as unreachable.
pub struct FakeEndpoint {
    pub answers: RefCell<VecDeque<Answer>>,
    pub log: Log,
}

impl FakeEndpoint {
    fn next(&self) -> Result<TokenSet, ApiError> {
        self.answers
            .borrow_mut()
            .pop_front()
            .unwrap_or(Answer::Network(NetCause::Refused))
            .result()
    }
}

impl TokenEndpoint for FakeEndpoint {
    fn refresh(&self, _cfg: &HostConfig, refresh_token: &Secret) -> Result<TokenSet, ApiError> {
        self.log
            .borrow_mut()
            .push(format!("refresh {}", refresh_token.expose()));
        self.next()
    }

    fn client_credentials(&self, _cfg: &HostConfig) -> Result<TokenSet, ApiError> {
        self.log.borrow_mut().push("client_credentials".into());
        self.next()
    }

    /// The ladder's sign-in is [`FakeSignIn`]: it never exchanges a code.
    fn exchange_code(
        &self,
        _cfg: &HostConfig,
        code: &Secret,
        _redirect_uri: &str,
        _verifier: &Secret,
    ) -> Result<TokenSet, ApiError> {
        self.log
            .borrow_mut()
            .push(format!("exchange_code {}", code.expose()));
        self.next()
    }

    fn current_user(&self, _cfg: &HostConfig, _token: &Secret) -> Result<Account, ApiError> {
        self.log.borrow_mut().push("current_user".into());
        Err(ApiError::Network {
            url: "https://api.bitbucket.org/2.0/user".into(),
            reason: "not in the script".into(),
            cause: NetCause::Other,
        })
    }
}

/// A sign-in that, like the real one, first asks `meanwhile`, then signs
/// in as `account` with `tokens`; `None` is a sign-in that times out.
pub struct FakeSignIn {
    pub outcome: Option<(&'static str, Answer)>,
    pub log: Log,
}

impl SignInRunner for FakeSignIn {
    fn sign_in(
        &self,
        _cfg: &HostConfig,
        asked: Option<&str>,
        meanwhile: &dyn Fn() -> Option<Record>,
    ) -> Result<SignedIn<Record>, SignInError> {
        self.log
            .borrow_mut()
            .push(format!("sign_in {}", asked.unwrap_or("-")));
        if let Some(found) = meanwhile() {
            return Ok(SignedIn::Found(found));
        }
        let timeout = SignInError::Timeout {
            seconds: 1,
            url: "https://bitbucket.org".into(),
            redirect_uri: "http://127.0.0.1/".into(),
        };
        let Some((account, answer)) = self.outcome else {
            return Err(timeout);
        };
        let tokens = answer.result().map_err(SignInError::Exchange)?;
        Ok(SignedIn::New(tokens, Account::named(account), None))
    }
}

/// An environment with no variables and no kept consumer secret.
pub struct NoEnv;

impl Env for NoEnv {
    fn var(&self, _name: &str) -> Option<String> {
        None
    }
}

/// A lock directory of its own for one test, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("gcb-ladder-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory for the locks");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The fakes wired together as the ladder's [`Deps`], with the clock
/// stopped at `now`; the notices' lines, as stderr shows them after our
/// name, go to `stderr`.
pub fn deps<'a>(
    now: u64,
    lock_dir: &TempDir,
    endpoint: FakeEndpoint,
    sign_in: FakeSignIn,
    stderr: Log,
) -> Deps<'a> {
    Deps {
        env: &NoEnv,
        now: Box::new(move || now),
        lock_dir: lock_dir.0.clone(),
        endpoint: Box::new(endpoint),
        sign_in: Box::new(sign_in),
        notices: Box::new(move |n| stderr.borrow_mut().extend(n.lines())),
    }
}

/// A record of `kind` for `user` on `host`, issued `age` seconds before
/// `now` and expiring `left` seconds after it (negative: expired).
pub fn record(
    host: &StoreKey,
    user: &str,
    kind: TokenKind,
    (access, refresh): (&str, Option<&str>),
    now: u64,
    (age, left): (u64, i64),
) -> Record {
    let client_id = if kind.is_stored_token() { "" } else { "id" };
    Record {
        access_token: Some(Secret::new(access)),
        refresh_token: refresh.map(Secret::new),
        expires_at: now.saturating_add_signed(left),
        ..Record::new(host, Account::named(user), kind, client_id, now - age)
    }
}

/// The memory store lent to an action that opens "its" store: the
/// records stay with the test, which reads them afterwards.
impl Store for &MemStore {
    fn name(&self) -> &'static str {
        (**self).name()
    }

    fn records(&self, host: &StoreKey) -> Result<Vec<Record>, StoreError> {
        (**self).records(host)
    }

    fn all_records(&self) -> Result<Vec<Record>, StoreError> {
        (**self).all_records()
    }

    fn put(&self, record: &Record) -> Result<(), StoreError> {
        (**self).put(record)
    }

    fn remove(&self, host: &StoreKey, username: &str) -> Result<bool, StoreError> {
        (**self).remove(host, username)
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        (**self).check_writable()
    }
}
