//! Where tokens live (contract.md §5): one record per (host + context path,
//! account), behind one trait so the `get` ladder does not care which
//! backend holds them.

pub mod choice;
pub mod file;
pub mod journal;
pub mod keyring;
pub mod lock;
pub mod private;
pub mod secrets;
pub mod signals;

use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use crate::bitbucket::Account;

/// Which host's records: `protocol://host[:port][/context]`, as
/// [`crate::config::Remote::store_key`] makes it from a remote. Records
/// keep it as text ([`Record::host`]); everything that reads or writes a
/// store takes this type, so a base URL or a bare host name cannot be
/// passed by mistake.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StoreKey(String);

impl StoreKey {
    /// A key from its text: one made by `Remote::store_key`, or read back
    /// from a record or `stores.json`.
    pub fn new(key: impl Into<String>) -> StoreKey {
        StoreKey(key.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for StoreKey {
    fn from(key: String) -> StoreKey {
        StoreKey(key)
    }
}

impl PartialEq<str> for StoreKey {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for StoreKey {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<StoreKey> for String {
    fn eq(&self, other: &StoreKey) -> bool {
        *self == other.0
    }
}

/// Version of the record layout, stored with each record.
pub const SCHEMA_VERSION: u32 = 1;

/// How the token was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// Authorization code in the browser, with a refresh token.
    Oauth,
    /// `client_credentials` grant.
    ClientCredentials,
    /// A Cloud API token (username: the Bitbucket username or
    /// `x-bitbucket-api-token-auth`).
    ApiToken,
    /// A Cloud repository, project or workspace access token
    /// (`x-token-auth`).
    AccessToken,
    /// A Data Center personal HTTP access token (username).
    PersonalToken,
    /// A Data Center project or repository token (Bearer only).
    ProjectToken,
}

impl TokenKind {
    /// Bitbucket takes this token only as Bearer: Data Center project and
    /// repository tokens (bitbucket-facts.md B.8).
    pub fn bearer_only(self) -> bool {
        self == TokenKind::ProjectToken
    }

    /// Bitbucket never takes this token as Bearer: Cloud API tokens
    /// (bitbucket-facts.md A.9).
    pub fn never_bearer(self) -> bool {
        self == TokenKind::ApiToken
    }

    /// A token the user gave us (token flow): it never expires on our
    /// side and cannot be renewed.
    pub fn is_stored_token(self) -> bool {
        self.given().is_some()
    }

    /// How `configure --token-kind` names it; `None` for the kinds a
    /// sign-in obtains.
    pub const fn given(self) -> Option<GivenToken> {
        match self {
            TokenKind::ApiToken => Some(GivenToken::ApiToken),
            TokenKind::AccessToken => Some(GivenToken::AccessToken),
            TokenKind::PersonalToken => Some(GivenToken::Personal),
            TokenKind::ProjectToken => Some(GivenToken::Project),
            TokenKind::Oauth | TokenKind::ClientCredentials => None,
        }
    }
}

crate::spelled::value_enum! {
    /// The tokens a user gives `configure --api-token`, spelled as
    /// `--token-kind` takes them, in the order help lists them.
    pub enum GivenToken {
        ApiToken => "api-token",
        AccessToken => "access-token",
        Personal => "personal",
        Project => "project",
    }
}

impl GivenToken {
    /// The record's kind for a token given as `self`.
    pub const fn kind(self) -> TokenKind {
        match self {
            GivenToken::ApiToken => TokenKind::ApiToken,
            GivenToken::AccessToken => TokenKind::AccessToken,
            GivenToken::Personal => TokenKind::PersonalToken,
            GivenToken::Project => TokenKind::ProjectToken,
        }
    }
}

/// One account's tokens on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Layout version.
    pub version: u32,
    /// `protocol://host[:port][/context]` (see `Remote::store_key`).
    pub host: String,
    pub account: Account,
    /// The access token; `None` after git reported it rejected (`erase`).
    pub access_token: Option<Secret>,
    /// When the access token expires, Unix seconds.
    pub expires_at: u64,
    /// The refresh token: rotated on every use, so always the latest.
    pub refresh_token: Option<Secret>,
    /// When the current refresh token was issued, Unix seconds.
    pub refresh_issued_at: u64,
    /// Granted scopes, space separated.
    pub scopes: String,
    pub kind: TokenKind,
    /// The consumer that obtained it: a record of another consumer is
    /// never refreshed with ours (contract.md §5).
    pub client_id: String,
    /// When the access token was obtained, Unix seconds.
    pub obtained_at: u64,
    /// When the user last signed in to this account (default account).
    pub signed_in_at: u64,
}

impl Record {
    /// A new sign-in of `account` on `host` (a `Remote::store_key`), made
    /// at `now` by consumer `client_id` (empty for a stored token): no
    /// token yet. Callers set the tokens with struct update syntax; the
    /// version and the times are set here, once.
    pub fn new(
        host: &StoreKey,
        account: Account,
        kind: TokenKind,
        client_id: &str,
        now: u64,
    ) -> Record {
        Record {
            version: SCHEMA_VERSION,
            host: host.as_str().to_owned(),
            account,
            access_token: None,
            expires_at: 0,
            refresh_token: None,
            refresh_issued_at: now,
            scopes: String::new(),
            kind,
            client_id: client_id.to_owned(),
            obtained_at: now,
            signed_in_at: now,
        }
    }

    /// Whether `other` takes this record's place when stored: the same
    /// host and account and, for tokens a consumer obtained, the same
    /// consumer. Another consumer's record is kept beside ours (it is
    /// treated as absent, never replaced: docs/security.md).
    pub fn same_slot(&self, other: &Record) -> bool {
        self.host == other.host
            && self.account.username == other.account.username
            && (self.kind.is_stored_token()
                || other.kind.is_stored_token()
                || self.client_id == other.client_id)
    }

    /// The access token if it is still fresh for `margin` seconds more.
    /// The margin is capped at a quarter of the token's lifetime (contract.md §3).
    pub fn fresh_access_token(&self, now: u64, margin: u64) -> Option<&Secret> {
        let lifetime = self.expires_at.saturating_sub(self.obtained_at);
        let margin = margin.min(lifetime / 4);
        self.access_token
            .as_ref()
            .filter(|_| self.expires_at > now.saturating_add(margin))
    }

    /// The access token if it has not expired at all (the network-failure
    /// fallback of contract.md §4 step 6).
    pub fn unexpired_access_token(&self, now: u64) -> Option<&Secret> {
        self.access_token.as_ref().filter(|_| self.expires_at > now)
    }
}

/// What a store backend can fail with. Nothing here ever deletes data.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file-system problem, with the path and what to do.
    #[error(
        "token store {path}: {what}: {source}. Check that the directory is yours, writable, and \
         that the disk is not full"
    )]
    Io {
        path: PathBuf,
        /// What we were doing.
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A store directory or file that others could tamper with: refused
    /// before anything is read from or written to it.
    #[error(
        "token store {path} {why}, so it is not used: every directory and file of the store \
         must be yours alone (no symbolic link, owned by you, writable only by you). Remove it \
         or fix its owner and mode (chmod 700 for a directory), or set XDG_DATA_HOME to a \
         private place"
    )]
    Unsafe {
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    #[error(transparent)]
    Keyring(crate::platform::keyring::KeyringError),
    /// No place for our data: no home directory.
    #[error("cannot find a data directory for the token store: set HOME or XDG_DATA_HOME")]
    NoDataDir,
    /// A lock could not be taken in time.
    #[error(
        "timed out after {seconds} s waiting for another git-credential-bitbucket process \
         (lock {path}); if none is running, try again"
    )]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        seconds: u64,
    },
}

/// The operations the `get` ladder needs from any backend.
pub trait Store {
    /// A short name for messages and `status` (`file`, `keyring`).
    fn name(&self) -> &'static str;
    /// All records for `host` (a store key).
    fn records(&self, host: &StoreKey) -> Result<Vec<Record>, StoreError>;
    /// All records on every host (for `status`).
    fn all_records(&self) -> Result<Vec<Record>, StoreError>;
    /// Inserts the record, replacing the one in the same slot
    /// ([`Record::same_slot`]).
    fn put(&self, record: &Record) -> Result<(), StoreError>;
    /// Removes the account's records (of every consumer); `Ok(false)` when
    /// there was none.
    fn remove(&self, host: &StoreKey, username: &str) -> Result<bool, StoreError>;
    /// Checks that a record could be saved now (lock, create, write,
    /// fsync), before a refresh token is spent on a new one.
    fn check_writable(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Before a refresh that spends `spent`: a journal the refresh's
    /// result is written to first thing (see `journal`), where the
    /// backend keeps one (the file store).
    fn begin_refresh(&self, spent: &crate::secret::Secret) -> Option<journal::Journal> {
        let _ = spent;
        None
    }
}

/// The directory for the store file and lock files:
/// `$XDG_DATA_HOME/git-credential-bitbucket` on Linux; on Windows the
/// local application data directory ([`crate::platform::data_dir`]).
///
/// Found once per process, which runs one command: a `get` needs it for
/// the store, the locks and the kept consumer secret, and what it is made
/// from (the environment, the user's home) does not change meanwhile.
pub fn data_dir() -> Result<PathBuf, StoreError> {
    static DIR: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        directories::ProjectDirs::from("", "", "git-credential-bitbucket")
            .map(|d| crate::platform::data_dir(&d))
    })
    .clone()
    .ok_or(StoreError::NoDataDir)
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A record for unit tests: `user`'s OAuth tokens on bitbucket.org.
#[cfg(test)]
pub fn sample_record(user: &str, access: &str, refresh: &str) -> Record {
    Record {
        access_token: Some(Secret::new(access)),
        expires_at: 7200,
        refresh_token: Some(Secret::new(refresh)),
        scopes: "repository:write".into(),
        ..Record::new(
            &StoreKey::new("https://bitbucket.org"),
            Account::named(user),
            TokenKind::Oauth,
            "id",
            1,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(obtained: u64, expires: u64) -> Record {
        Record {
            expires_at: expires,
            refresh_issued_at: obtained,
            obtained_at: obtained,
            signed_in_at: obtained,
            ..sample_record("alice", "at", "rt")
        }
    }

    #[test]
    fn freshness_uses_the_margin_capped_at_a_quarter_of_the_lifetime() {
        // Two-hour token, 600 s margin.
        let r = record(0, 7200);
        assert!(r.fresh_access_token(6599, 600).is_some());
        assert!(r.fresh_access_token(6600, 600).is_none());
        // Eight-second token: margin capped at 2 s.
        let r = record(100, 108);
        assert!(r.fresh_access_token(105, 600).is_some());
        assert!(r.fresh_access_token(106, 600).is_none());
        assert!(r.unexpired_access_token(107).is_some());
        assert!(r.unexpired_access_token(108).is_none());
    }

    #[test]
    fn debug_of_a_record_shows_no_token() {
        let text = format!("{:?}", record(0, 1));
        assert!(
            !text.contains("\"at\"") && !text.contains("\"rt\""),
            "{text}"
        );
    }
}
