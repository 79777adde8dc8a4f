//! The values keys take: Cloud or Data Center, the flow, the store and the
//! auth type toward git, each spelled in one list (git's booleans are
//! `gitconfig::parse_bool`).

use crate::spelled::value_enum;

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
    use crate::bitbucket::facts::Kind;
    use crate::spelled::NotAccepted;
    use crate::store::choice::StoreChoice;

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
}
