//! The sign-in's unit tests: the surroundings, the code exchange through a
//! fake `TokenEndpoint` and its errors, the account check, the early exits.

use super::*;
use crate::config::test_support::{cfg as git_config, no_env, remote};
use crate::platform::Browser;
use std::cell::RefCell;

/// A token endpoint playing Bitbucket from a script (the exchange's
/// access token or error, then the lookup's answer), logging each call
/// with what it was sent.
struct FakeBitbucket {
    exchange: RefCell<Option<Result<&'static str, ApiError>>>,
    user: RefCell<Option<Result<Account, ApiError>>>,
    calls: RefCell<Vec<String>>,
}

impl FakeBitbucket {
    fn new(exchange: Result<&'static str, ApiError>, user: Result<Account, ApiError>) -> Self {
        FakeBitbucket {
            exchange: RefCell::new(Some(exchange)),
            user: RefCell::new(Some(user)),
            calls: RefCell::default(),
        }
    }
}

fn network(reason: &str) -> ApiError {
    ApiError::Network {
        url: "https://bitbucket.org/site/oauth2/access_token".into(),
        reason: reason.into(),
        cause: crate::bitbucket::NetCause::Other,
    }
}

impl TokenEndpoint for FakeBitbucket {
    fn refresh(&self, _: &HostConfig, _: &Secret) -> Result<TokenSet, ApiError> {
        self.calls.borrow_mut().push("refresh".into());
        Err(network("a sign-in never refreshes"))
    }

    fn client_credentials(&self, _: &HostConfig) -> Result<TokenSet, ApiError> {
        self.calls.borrow_mut().push("client_credentials".into());
        Err(network("a sign-in never asks for client_credentials"))
    }

    fn exchange_code(
        &self,
        _: &HostConfig,
        code: &Secret,
        redirect_uri: &str,
        verifier: &Secret,
    ) -> Result<TokenSet, ApiError> {
        self.calls.borrow_mut().push(format!(
            "exchange {} {redirect_uri} {}",
            code.expose(),
            verifier.expose()
        ));
        let answer = self.exchange.borrow_mut().take();
        let access = answer.unwrap_or_else(|| Err(network("called twice")))?;
        Ok(TokenSet {
            access_token: Secret::new(access),
            refresh_token: Some(Secret::new("R1")),
            expires_in: 7200,
            scopes: String::new(),
        })
    }

    fn current_user(&self, _: &HostConfig, token: &Secret) -> Result<Account, ApiError> {
        self.calls
            .borrow_mut()
            .push(format!("current_user {}", token.expose()));
        let answer = self.user.borrow_mut().take();
        answer.unwrap_or_else(|| Err(network("called twice")))
    }
}

/// The host configuration for bitbucket.org, or for a Data Center host.
fn host(dc: bool) -> HostConfig {
    let (url, lines): (&str, &[(&str, &str)]) = if dc {
        (
            "git.example.com",
            &[
                (
                    "credential.https://git.example.com.bitbucketkind",
                    "datacenter",
                ),
                ("credential.https://git.example.com.bitbucketclientid", "id"),
                (
                    "credential.https://git.example.com.bitbucketclientsecret",
                    "s",
                ),
            ],
        )
    } else {
        (
            "bitbucket.org",
            &[
                ("credential.bitbucketclientid", "id"),
                ("credential.bitbucketclientsecret", "s"),
                // The system's port: no callback-port lock to take.
                ("credential.bitbucketredirecturi", "http://127.0.0.1/"),
            ],
        )
    };
    crate::config::resolve(&git_config(lines), &no_env(), &remote("https", url))
        .expect("valid")
        .expect("ours")
}

fn granted() -> Granted {
    Granted {
        code: Secret::new("C1"),
        redirect_uri: "http://127.0.0.1:8123/callback".into(),
        pkce: Pkce {
            verifier: Secret::new("V1"),
            challenge: String::new(),
        },
    }
}

fn account(username: &str) -> Account {
    Account::named(username)
}

#[test]
fn the_exchange_repeats_the_redirect_and_verifier_then_learns_the_account() {
    let fake = FakeBitbucket::new(Ok("A1"), Ok(account("alice")));
    let (tokens, who) = exchange(&host(false), &fake, &granted(), Some("alice")).expect("ok");
    assert_eq!(tokens.access_token.expose(), "A1");
    assert_eq!(who.username, "alice");
    assert_eq!(
        *fake.calls.borrow(),
        [
            "exchange C1 http://127.0.0.1:8123/callback V1",
            "current_user A1"
        ]
    );
}

#[test]
fn without_an_asked_account_whoever_signed_in_is_taken() {
    let fake = FakeBitbucket::new(Ok("A1"), Ok(account("bob")));
    let (_, who) = exchange(&host(false), &fake, &granted(), None).expect("ok");
    assert_eq!(who.username, "bob");
}

#[test]
fn a_refused_exchange_says_to_check_the_consumer_and_looks_nobody_up() {
    let refused = ApiError::OAuth {
        url: "https://bitbucket.org/site/oauth2/access_token".into(),
        status: 400,
        error: "invalid_grant".into(),
        description: None,
    };
    let fake = FakeBitbucket::new(Err(refused), Ok(account("alice")));
    let err = exchange(&host(false), &fake, &granted(), Some("alice")).expect_err("refused");
    assert!(matches!(err, SignInError::Exchange(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("invalid_grant"), "{msg}");
    assert!(msg.contains("bitbucketClientId"), "{msg}");
    assert_eq!(fake.calls.borrow().len(), 1, "{:?}", fake.calls.borrow());
}

#[test]
fn a_failed_account_lookup_is_its_own_error() {
    let fake = FakeBitbucket::new(Ok("A1"), Err(network("connection reset")));
    let err = exchange(&host(false), &fake, &granted(), None).expect_err("failed");
    assert!(matches!(err, SignInError::User { .. }), "{err:?}");
    assert!(err
        .to_string()
        .contains("could not learn which Bitbucket account"));
}

#[test]
fn another_account_than_asked_is_refused_naming_both_printably() {
    let fake = FakeBitbucket::new(Ok("A1"), Ok(account("bob\x1b[31m")));
    let err = exchange(&host(false), &fake, &granted(), Some("alice")).expect_err("mismatch");
    let msg = err.to_string();
    assert!(
        matches!(err, SignInError::AccountMismatch { .. }),
        "{err:?}"
    );
    assert!(
        msg.contains("as bob [31m, but alice was asked for"),
        "{msg}"
    );
    assert!(!msg.contains('\x1b'), "{msg:?}");
}

#[test]
fn data_center_names_match_without_case_and_cloud_names_with_it() {
    let fake = FakeBitbucket::new(Ok("A1"), Ok(account("alice")));
    assert!(exchange(&host(true), &fake, &granted(), Some("Alice")).is_ok());
    let fake = FakeBitbucket::new(Ok("A1"), Ok(account("alice")));
    let err = exchange(&host(false), &fake, &granted(), Some("Alice"));
    assert!(matches!(err, Err(SignInError::AccountMismatch { .. })));
}

#[test]
fn a_sign_in_found_meanwhile_calls_nobody() {
    let fake = FakeBitbucket::new(Ok("A1"), Ok(account("alice")));
    let how = Surroundings {
        browser: Some(Browser::Shell("true".into())),
        terminal: false,
        paste: false,
        asker: Asker::Git,
    };
    let cfg = host(false);
    let found = sign_in(&cfg, &fake, &how, Some("alice"), &|| Some("kept"));
    assert!(matches!(found, Ok(SignedIn::Found("kept"))), "{found:?}");
    assert!(fake.calls.borrow().is_empty());
}

#[test]
fn with_neither_browser_nor_terminal_git_is_told_at_once() {
    let fake = FakeBitbucket::new(Ok("A1"), Ok(account("alice")));
    let how = Surroundings {
        browser: None,
        terminal: false,
        paste: false,
        asker: Asker::Git,
    };
    let asked = std::cell::Cell::new(false);
    let meanwhile = || {
        asked.set(true);
        None::<()>
    };
    let err = sign_in(&host(false), &fake, &how, None, &meanwhile).expect_err("nobody");
    assert!(matches!(err, SignInError::NoWayToSignIn { .. }), "{err:?}");
    assert!(err
        .to_string()
        .contains("git credential-bitbucket login https://bitbucket.org"));
    assert!(!asked.get() && fake.calls.borrow().is_empty());
}
