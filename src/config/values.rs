//! The values keys take: Cloud or Data Center, the flow, the store and the
//! auth type toward git, each spelled in one list (git's booleans are
//! `gitconfig::parse_bool`).

use crate::store::Account;

use crate::spelled::value_enum;
pub use crate::spelled::NotAccepted;
pub use crate::store::choice::StoreChoice;

value_enum! {
    /// Cloud or Data Center.
    pub enum Kind {
        /// bitbucket.org.
        Cloud => "cloud",
        /// A self-hosted Bitbucket Data Center.
        DataCenter => "datacenter",
    }
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

value_enum! {
    /// How tokens are obtained.
    pub enum Flow {
        /// Authorization code in the browser.
        Browser => "browser",
        /// `client_credentials`, Cloud only.
        ClientCredentials => "client_credentials",
        /// A stored API token or access token.
        Token => "token",
    }
}

value_enum! {
    /// How git sends the token (contract.md §4).
    pub enum AuthType {
        /// `Authorization: Basic` with a username.
        Basic => "basic",
        /// `Authorization: Bearer`, when git sent `capability[]=authtype`.
        Bearer => "bearer",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_reads_back_from_its_spelling() {
        fn round_trip<T>(all: &[T], accepted: &[&str], as_str: fn(&T) -> &'static str)
        where
            T: std::str::FromStr<Err = NotAccepted> + PartialEq + std::fmt::Debug,
        {
            let spelled: Vec<&str> = all.iter().map(as_str).collect();
            assert_eq!(spelled, accepted);
            for (v, s) in all.iter().zip(accepted) {
                assert_eq!(s.parse::<T>().as_ref(), Ok(v));
            }
            let err = "Vault".parse::<T>().expect_err("not a value");
            assert_eq!(err.list(), accepted.join(", "));
        }
        round_trip(Kind::ALL, Kind::ACCEPTED, |v| v.as_str());
        round_trip(StoreChoice::ALL, StoreChoice::ACCEPTED, |v| v.as_str());
        round_trip(Flow::ALL, Flow::ACCEPTED, |v| v.as_str());
        round_trip(AuthType::ALL, AuthType::ACCEPTED, |v| v.as_str());
        assert_eq!(StoreChoice::ACCEPTED.join(", "), "auto, keyring, file");
        assert_eq!("Cloud".parse::<Kind>(), Err(NotAccepted(Kind::ACCEPTED)));
    }

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
