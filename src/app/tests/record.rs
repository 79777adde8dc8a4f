//! The rule for which stored record answers (app/record.rs), one table:
//! each case gives the host's flow, the records, the name git (or
//! `--account`) gave, and the record `get`, `token`, `status` and
//! `doctor` must all pick; then the token flow's refusals.

use super::testkit::{record, Log, MemStore};
use crate::app::record::{stored_token, which};
use crate::config::{self, GitConfig, HostConfig, Remote};
use crate::store::{Record, TokenKind};

const NOW: u64 = 1_800_000_000;

/// (user, kind, access token, seconds since sign-in, consumer).
type Start = (&'static str, TokenKind, &'static str, u64, &'static str);

struct Case {
    name: &'static str,
    flow: &'static str,
    records: &'static [Start],
    named: Option<&'static str>,
    /// The user of the record chosen, if any.
    expect: Option<&'static str>,
}

const OAUTH: TokenKind = TokenKind::Oauth;

const CASES: &[Case] = &[
    Case {
        name: "browser: the account git named",
        flow: "browser",
        records: &[
            ("alice", OAUTH, "A", 60, "id"),
            ("bob", OAUTH, "B", 10, "id"),
        ],
        named: Some("alice"),
        expect: Some("alice"),
    },
    Case {
        name: "browser: no name, the most recently signed in",
        flow: "browser",
        records: &[
            ("alice", OAUTH, "A", 60, "id"),
            ("bob", OAUTH, "B", 10, "id"),
        ],
        named: None,
        expect: Some("bob"),
    },
    Case {
        name: "browser: x-token-auth names nobody",
        flow: "browser",
        records: &[("alice", OAUTH, "A", 60, "id")],
        named: Some("x-token-auth"),
        expect: Some("alice"),
    },
    Case {
        name: "browser: a named account not saved is nobody, not the default",
        flow: "browser",
        records: &[("alice", OAUTH, "A", 60, "id")],
        named: Some("carol"),
        expect: None,
    },
    Case {
        name: "browser: another consumer's record answers nobody",
        flow: "browser",
        records: &[("alice", OAUTH, "A", 60, "other")],
        named: None,
        expect: None,
    },
    Case {
        name: "browser: a stored token answers nobody",
        flow: "browser",
        records: &[("alice", TokenKind::ApiToken, "ATATT1", 60, "")],
        named: Some("alice"),
        expect: None,
    },
    Case {
        name: "client_credentials: the consumer's own user, whatever git named",
        flow: "client_credentials",
        records: &[
            ("alice", OAUTH, "A", 10, "id"),
            ("consumer:id", TokenKind::ClientCredentials, "C", 60, "id"),
        ],
        named: Some("alice"),
        expect: Some("consumer:id"),
    },
    Case {
        name: "client_credentials: never a browser sign-in's record",
        flow: "client_credentials",
        records: &[("alice", OAUTH, "A", 10, "id")],
        named: None,
        expect: None,
    },
    Case {
        name: "token: the named account's token",
        flow: "token",
        records: &[
            ("alice", TokenKind::ApiToken, "ATATT1", 60, ""),
            ("x-token-auth", TokenKind::AccessToken, "T", 10, ""),
        ],
        named: Some("alice"),
        expect: Some("alice"),
    },
    Case {
        name: "token: a named account falls back to a generic user's token",
        flow: "token",
        records: &[("x-token-auth", TokenKind::AccessToken, "T", 10, "")],
        named: Some("alice"),
        expect: Some("x-token-auth"),
    },
    Case {
        name: "token: never another account's token",
        flow: "token",
        records: &[("bob", TokenKind::ApiToken, "ATATT1", 10, "")],
        named: Some("alice"),
        expect: None,
    },
    Case {
        name: "token: an OAuth record answers nobody",
        flow: "token",
        records: &[("alice", OAUTH, "A", 10, "id")],
        named: None,
        expect: None,
    },
];

/// The host's configuration for `flow` on Cloud, and its records.
fn setup(flow: &str, records: &[Start]) -> (HostConfig, MemStore) {
    let git = GitConfig::from_pairs([
        ("credential.bitbucketclientid".to_owned(), "id".to_owned()),
        ("credential.bitbucketflow".to_owned(), flow.to_owned()),
    ]);
    let remote = Remote::from_url("https://bitbucket.org").expect("URL");
    let cfg = config::resolve(&git, &super::testkit::NoEnv, &remote)
        .expect("valid")
        .expect("ours");
    let key = cfg.remote.store_key();
    let start = |(user, kind, access, age, consumer): &Start| Record {
        client_id: (*consumer).to_owned(),
        ..record(&key, user, *kind, (access, None), NOW, (*age, 3600))
    };
    let store = MemStore::new(records.iter().map(start).collect(), None, Log::default());
    (cfg, store)
}

#[test]
fn every_command_gets_the_record_the_rule_picks() {
    let wrong: Vec<String> = CASES
        .iter()
        .filter_map(|case| {
            let (cfg, store) = setup(case.flow, case.records);
            let got = which(&store, &cfg.remote.store_key(), case.named, &cfg)
                .expect("the store reads")
                .map(|r| r.account.username);
            (got.as_deref() != case.expect)
                .then(|| format!("{}: want {:?}, got {got:?}", case.name, case.expect))
        })
        .collect();
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn the_token_flow_refuses_an_app_password_and_a_refused_token() {
    let (cfg, store) = setup(
        "token",
        &[("alice", TokenKind::ApiToken, "ATBBold", 10, "")],
    );
    let err = stored_token(&store, &cfg.remote.store_key(), None, &cfg)
        .expect_err("an app password is refused");
    assert!(err.to_string().contains("app password"), "{err}");

    let (cfg, store) = setup("token", &[]);
    let err = stored_token(&store, &cfg.remote.store_key(), Some("alice"), &cfg)
        .expect_err("nothing stored");
    assert!(err.to_string().contains("--api-token"), "{err}");
}
