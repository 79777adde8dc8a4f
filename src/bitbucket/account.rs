//! An account on Bitbucket, as its user lookup names it, and how to name
//! it to people.

use serde::{Deserialize, Serialize};

/// An account on Bitbucket: the one a token belongs to, and a record with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Account {
    /// The username: the key of the record within its host.
    pub username: String,
    /// Cloud's `{uuid}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Cloud's nickname, kept only for an account whose user object had no
    /// `username`: `username` then holds its uuid (or account_id), and the
    /// nickname is what people see and what git's `user@` matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
}

impl Account {
    /// An account known only by its username.
    pub fn named(username: &str) -> Account {
        Account {
            username: username.to_owned(),
            ..Account::default()
        }
    }
}

/// How to name an account to people: its username, or for an account
/// Bitbucket gave no username, its nickname or display name.
pub fn account_label(account: &Account) -> String {
    // Shown to people, so made safe whatever the store holds (a record
    // saved before a character class was cleaned at the door).
    crate::text::plain(match (&account.nickname, &account.display_name) {
        (Some(nick), _) => nick,
        (None, Some(name)) if account.uuid.as_deref() == Some(&account.username) => name,
        _ => &account.username,
    })
}
