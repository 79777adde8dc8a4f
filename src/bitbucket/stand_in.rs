//! A loopback fake standing in for bitbucket.org, in test builds only (the
//! `test-hooks` feature): the built-in consumer counts for bitbucket.org
//! alone (contract.md §4), so its end-to-end test needs the fake to *be*
//! bitbucket.org. A build without the feature (every release) has no
//! variable to read and no way to send bitbucket.org's traffic elsewhere.

/// The variable a `test-hooks` build reads: the fake's
/// `http://127.0.0.1:PORT`, which then counts as bitbucket.org, and
/// bitbucket.org's endpoints move onto it.
#[cfg(feature = "test-hooks")]
const VARIABLE: &str = "GCB_TEST_STAND_IN_FOR_BITBUCKET_ORG";

/// The stand-in's `http://host:port`, when a test set one; only a
/// loopback `http` URL counts.
#[cfg(feature = "test-hooks")]
fn base() -> Option<String> {
    let v = std::env::var(VARIABLE).ok()?;
    let u = crate::url::HttpUrl::parse(&v)?;
    (u.scheme == crate::url::Scheme::Http && u.is_loopback() && u.port.is_some() && u.path == "/")
        .then(|| v.trim_end_matches('/').to_owned())
}

#[cfg(not(feature = "test-hooks"))]
fn base() -> Option<String> {
    None
}

/// Whether `host` (`host[:port]` as git sends it) is the stand-in.
pub(super) fn is_stand_in(host: &str) -> bool {
    base().is_some_and(|b| b.strip_prefix("http://") == Some(&host.to_ascii_lowercase()))
}

/// `url`, one of bitbucket.org's own (`https://bitbucket.org/…`,
/// `https://api.bitbucket.org/…`), moved onto the stand-in when there is
/// one.
pub(super) fn moved(url: &str) -> String {
    let Some(base) = base() else {
        return url.to_owned();
    };
    ["https://api.bitbucket.org", "https://bitbucket.org"]
        .iter()
        .find_map(|real| url.strip_prefix(real))
        .map_or_else(|| url.to_owned(), |rest| format!("{base}{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(not(feature = "test-hooks"))]
    fn a_build_without_test_hooks_has_no_stand_in() {
        assert!(!is_stand_in("127.0.0.1:1"));
        assert_eq!(
            moved("https://bitbucket.org/site/oauth2/authorize"),
            "https://bitbucket.org/site/oauth2/authorize"
        );
    }

    #[test]
    #[cfg(feature = "test-hooks")]
    fn a_test_hooks_build_moves_bitbucket_org_onto_a_loopback_stand_in_only() {
        // Port 9 (discard): no other test names this host.
        std::env::set_var(VARIABLE, "http://127.0.0.1:9");
        assert!(is_stand_in("127.0.0.1:9"));
        assert!(!is_stand_in("127.0.0.1:10"));
        assert_eq!(
            moved("https://api.bitbucket.org/2.0"),
            "http://127.0.0.1:9/2.0"
        );
        assert_eq!(
            moved("https://bitbucket.org/site/oauth2/access_token"),
            "http://127.0.0.1:9/site/oauth2/access_token"
        );
        assert_eq!(moved("https://bb.example/x"), "https://bb.example/x");
        // Anything but a loopback http base is ignored.
        std::env::set_var(VARIABLE, "https://evil.example:9");
        assert!(!is_stand_in("evil.example:9"));
        std::env::remove_var(VARIABLE);
    }
}
