//! The values keys take: Cloud or Data Center, the flow, the store, the
//! auth type toward git, and git's booleans.

use crate::store::Account;

/// Cloud or Data Center.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// bitbucket.org.
    Cloud,
    /// A self-hosted Bitbucket Data Center.
    DataCenter,
}

impl Kind {
    /// Whether `name`, a username git sent, names `account`, compared the
    /// way the server compares usernames: Data Center ignores case (its
    /// user `Alice` signs in as `alice`), Cloud does not. A Cloud account
    /// whose user object had no username answers to its nickname.
    pub fn same_user(self, account: &Account, name: &str) -> bool {
        match self {
            Kind::DataCenter => {
                account.username == name || account.username.to_lowercase() == name.to_lowercase()
            }
            Kind::Cloud => account.username == name || account.nickname.as_deref() == Some(name),
        }
    }
}

/// Where tokens are kept (contract.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreChoice {
    /// The OS keyring when there is one, else the file.
    Auto,
    /// The OS keyring only.
    Keyring,
    /// The private file only.
    File,
}

/// How tokens are obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Authorization code in the browser.
    Browser,
    /// `client_credentials`, Cloud only.
    ClientCredentials,
    /// A stored API token or access token.
    Token,
}

/// How git sends the token (contract.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    /// `Authorization: Basic` with a username.
    Basic,
    /// `Authorization: Bearer`, when git sent `capability[]=authtype`.
    Bearer,
}

/// git's boolean spellings.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" | "" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_center_usernames_ignore_case_cloud_ones_do_not() {
        let account = |name: &str| Account {
            username: name.into(),
            ..Account::default()
        };
        assert!(Kind::DataCenter.same_user(&account("alice"), "Alice"));
        assert!(Kind::DataCenter.same_user(&account("ärger"), "ÄRGER"));
        assert!(!Kind::DataCenter.same_user(&account("alice"), "alicia"));
        assert!(!Kind::Cloud.same_user(&account("alice"), "Alice"));
        assert!(Kind::Cloud.same_user(&account("alice"), "alice"));
        // An account Bitbucket gave no username answers to its nickname.
        let no_name = Account {
            username: "{u-1}".into(),
            uuid: Some("{u-1}".into()),
            nickname: Some("al".into()),
            ..Account::default()
        };
        assert!(Kind::Cloud.same_user(&no_name, "al"));
        assert!(Kind::Cloud.same_user(&no_name, "{u-1}"));
        assert!(!Kind::Cloud.same_user(&no_name, "bob"));
    }
}
