//! The `get` ladder tried in-process, one table of cases: each starts from
//! the records in a memory store and a stopped clock, scripts what
//! Bitbucket and the sign-in answer, and checks what git reads on stdout
//! (or the error), every call made in order (store writes included), what
//! the user reads on stderr, and the store afterwards.

mod policy;
mod record;
mod testkit;

use super::get::answer;
use super::ladder::lock_file_in;
use crate::bitbucket::NetCause;
use crate::config::{self, GitConfig, Remote};
use crate::protocol::Request;
use crate::store::TokenKind;
use std::cell::RefCell;
use std::collections::VecDeque;
use testkit::{deps, record, Answer, FakeEndpoint, FakeSignIn, Log, MemStore, TempDir};

const NOW: u64 = 1_800_000_000;
const CLOUD: &str = "https://bitbucket.org";
const DC: &str = "https://git.example.com";

/// Fresh for the default 600 s margin: an hour left of a two-hour token.
const FRESH: (u64, i64) = (3600, 3600);
/// Valid for 60 s more: inside the margin, so it is renewed.
const STALE: (u64, i64) = (3540, 60);
/// Expired 10 s ago.
const EXPIRED: (u64, i64) = (3610, -10);

/// One `get`.
struct Case {
    name: &'static str,
    /// Extra `credential.*` settings beside the client id and secret.
    config: &'static [(&'static str, &'static str)],
    /// The host git asks about.
    host: &'static str,
    /// The username git sent.
    username: Option<&'static str>,
    /// Whether git offered `capability[]=authtype`.
    authtype: bool,
    /// The records at the start: (user, kind, (access, refresh), (age, left)).
    store: &'static [StartRecord],
    /// Another process's record, written just before the store's read n.
    meanwhile: Option<(usize, StartRecord)>,
    /// What the token endpoint answers, call by call.
    endpoint: &'static [Answer],
    /// Who signs in, with what tokens (`None`: the sign-in times out).
    sign_in: Option<(&'static str, Answer)>,
    /// What git reads on stdout, or a part of the error.
    expect: Result<&'static str, &'static str>,
    /// Every call, in order.
    calls: &'static [&'static str],
    /// The store afterwards, `user access refresh` sorted.
    after: &'static [&'static str],
    /// The ladder's lines on stderr (after our name), in order, each by a
    /// part of it.
    stderr: &'static [&'static str],
    /// The account whose lock another process holds (a renewal in flight).
    held: Option<&'static str>,
    /// Whether the store refuses writes (`check_writable` fails).
    read_only: bool,
}

type StartRecord = (
    &'static str,
    TokenKind,
    (&'static str, Option<&'static str>),
    (u64, i64),
);

/// `password_expiry_utc` of a record `left` seconds from now.
macro_rules! at {
    ($left:expr) => {
        concat!("password_expiry_utc=", $left, "\n")
    };
}

/// What most cases share: Cloud, git asking for alice, no authtype, no
/// call, nothing in flight elsewhere; each case says how it differs.
const CLOUD_ALICE: Case = Case {
    name: "",
    config: &[],
    host: CLOUD,
    username: Some("alice"),
    authtype: false,
    store: &[],
    meanwhile: None,
    endpoint: &[],
    sign_in: None,
    expect: Err("every case says what it expects"),
    calls: &[],
    after: &[],
    stderr: &[],
    held: None,
    read_only: false,
};

const CASES: &[Case] = &[
    Case {
        name: "fresh: answered from the store, no call",
        store: &[("alice", TokenKind::Oauth, ("A1", Some("R1")), FRESH)],
        expect: Ok(concat!("username=alice\npassword=A1\n", at!(1_800_003_600))),
        after: &["alice A1 R1"],
        ..CLOUD_ALICE
    },
    Case {
        name: "fresh, no username: Cloud's generic name, never the account's",
        username: None,
        store: &[("alice", TokenKind::Oauth, ("A1", Some("R1")), FRESH)],
        expect: Ok(concat!(
            "username=x-token-auth\npassword=A1\n",
            at!(1_800_003_600)
        )),
        after: &["alice A1 R1"],
        ..CLOUD_ALICE
    },
    Case {
        name: "fresh, Bearer configured and offered: ephemeral Bearer",
        config: &[("credential.bitbucketauthtype", "bearer")],
        authtype: true,
        store: &[("alice", TokenKind::Oauth, ("A1", Some("R1")), FRESH)],
        expect: Ok(concat!(
            "capability[]=authtype\nauthtype=Bearer\ncredential=A1\nephemeral=1\n",
            at!(1_800_003_600)
        )),
        after: &["alice A1 R1"],
        ..CLOUD_ALICE
    },
    Case {
        name: "stale: one refresh, the rotated refresh token saved before the answer",
        store: &[("alice", TokenKind::Oauth, ("A1", Some("R1")), STALE)],
        endpoint: &[Answer::Tokens("A2", Some("R2"), 7200)],
        expect: Ok(concat!("username=alice\npassword=A2\n", at!(1_800_007_200))),
        calls: &["refresh R1", "put alice A2 R2"],
        after: &["alice A2 R2"],
        ..CLOUD_ALICE
    },
    Case {
        name: "stale, refresh not rotated: the old refresh token is kept",
        store: &[("alice", TokenKind::Oauth, ("A1", Some("R1")), STALE)],
        endpoint: &[Answer::Tokens("A2", None, 3600)],
        expect: Ok(concat!("username=alice\npassword=A2\n", at!(1_800_003_600))),
        calls: &["refresh R1", "put alice A2 R1"],
        after: &["alice A2 R1"],
        ..CLOUD_ALICE
    },
    Case {
        name: "renewed meanwhile by another process: the re-read under the lock answers",
        store: &[("alice", TokenKind::Oauth, ("A1", Some("R1")), STALE)],
        meanwhile: Some((2, ("alice", TokenKind::Oauth, ("A9", Some("R9")), FRESH))),
        expect: Ok(concat!("username=alice\npassword=A9\n", at!(1_800_003_600))),
        after: &["alice A9 R9"],
        ..CLOUD_ALICE
    },
    Case {
        name: "dead refresh token: dropped, then a sign-in for the same account",
        store: &[("alice", TokenKind::Oauth, ("A1", Some("R1")), STALE)],
        endpoint: &[Answer::Dead],
        sign_in: Some(("alice", Answer::Tokens("A3", Some("R3"), 7200))),
        expect: Ok(concat!("username=alice\npassword=A3\n", at!(1_800_007_200))),
        calls: &[
            "refresh R1",
            "put alice A1 -",
            "sign_in alice",
            "put alice A3 R3",
        ],
        after: &["alice A3 R3"],
        stderr: &[
            "the saved sign-in of alice on https://bitbucket.org has expired or was revoked",
            "signed in to https://bitbucket.org as alice (memory store)",
        ],
        ..CLOUD_ALICE
    },
    Case {
        name: "Bitbucket unreachable, access token still valid: answered with it",
        store: &[("alice", TokenKind::Oauth, ("A1", Some("R1")), STALE)],
        endpoint: &[Answer::Network(NetCause::Timeout)],
        expect: Ok(concat!("username=alice\npassword=A1\n", at!(1_800_000_060))),
        calls: &["refresh R1"],
        after: &["alice A1 R1"],
        stderr: &[
            "warning: could not refresh the access token: could not reach",
            "using the current access token meanwhile; it is valid until 2027-01-15T08:01:00Z",
        ],
        ..CLOUD_ALICE
    },
    Case {
        name: "Bitbucket unreachable, access token expired: the error, refresh token kept",
        store: &[("alice", TokenKind::Oauth, ("A1", Some("R1")), EXPIRED)],
        endpoint: &[Answer::Network(NetCause::Timeout)],
        expect: Err("Timeout (as the fake says it)"),
        calls: &["refresh R1"],
        after: &["alice A1 R1"],
        ..CLOUD_ALICE
    },
    Case {
        name: "refresh never sent (refused, TLS): no second try, the refresh token kept",
        store: &[("alice", TokenKind::Oauth, ("A1", Some("R1")), EXPIRED)],
        endpoint: &[
            Answer::Network(NetCause::Tls),
            Answer::Tokens("A2", Some("R2"), 7200),
        ],
        expect: Err("Tls (as the fake says it)"),
        calls: &["refresh R1"],
        after: &["alice A1 R1"],
        ..CLOUD_ALICE
    },
    Case {
        name: "refresh answer lost on the way: one more try with the same token",
        store: &[("alice", TokenKind::Oauth, ("A1", Some("R1")), EXPIRED)],
        endpoint: &[
            Answer::Network(NetCause::Dropped),
            Answer::Tokens("A2", Some("R2"), 7200),
        ],
        expect: Ok(concat!("username=alice\npassword=A2\n", at!(1_800_007_200))),
        calls: &["refresh R1", "refresh R1", "put alice A2 R2"],
        after: &["alice A2 R2"],
        ..CLOUD_ALICE
    },
    Case {
        name: "no record: sign-in, saved, answered",
        username: None,
        store: &[],
        sign_in: Some(("bob", Answer::Tokens("A3", Some("R3"), 7200))),
        expect: Ok(concat!(
            "username=x-token-auth\npassword=A3\n",
            at!(1_800_007_200)
        )),
        calls: &["sign_in -", "put bob A3 R3"],
        after: &["bob A3 R3"],
        stderr: &["signed in to https://bitbucket.org as bob (memory store)"],
        ..CLOUD_ALICE
    },
    Case {
        name: "asked alice, signed in as bob: refused, nothing stored",
        store: &[],
        sign_in: Some(("bob", Answer::Tokens("A3", Some("R3"), 7200))),
        expect: Err("bob"),
        calls: &["sign_in alice"],
        after: &[],
        ..CLOUD_ALICE
    },
    Case {
        name: "another account's record is not alice's: sign-in for alice",
        store: &[("bob", TokenKind::Oauth, ("B1", Some("RB")), FRESH)],
        sign_in: Some(("alice", Answer::Tokens("A3", Some("R3"), 7200))),
        expect: Ok(concat!("username=alice\npassword=A3\n", at!(1_800_007_200))),
        calls: &["sign_in alice", "put alice A3 R3"],
        after: &["alice A3 R3", "bob B1 RB"],
        stderr: &["signed in to https://bitbucket.org as alice (memory store)"],
        ..CLOUD_ALICE
    },
    Case {
        name: "sign-in times out: the error, nothing stored",
        username: None,
        store: &[],
        expect: Err("1 s"),
        calls: &["sign_in -"],
        after: &[],
        ..CLOUD_ALICE
    },
    Case {
        name: "client_credentials, nothing stored: one grant, saved without a refresh token",
        config: &[("credential.bitbucketflow", "client_credentials")],
        store: &[],
        endpoint: &[Answer::Tokens("C1", Some("ignored"), 7200)],
        expect: Ok(concat!(
            "username=x-token-auth\npassword=C1\n",
            at!(1_800_007_200)
        )),
        calls: &["client_credentials", "put consumer:id C1 -"],
        after: &["consumer:id C1 -"],
        ..CLOUD_ALICE
    },
    Case {
        name: "client_credentials, stale and the grant fails: the current token meanwhile",
        config: &[("credential.bitbucketflow", "client_credentials")],
        username: None,
        store: &[(
            "consumer:id",
            TokenKind::ClientCredentials,
            ("C1", None),
            STALE,
        )],
        endpoint: &[Answer::Network(NetCause::Timeout)],
        expect: Ok(concat!(
            "username=x-token-auth\npassword=C1\n",
            at!(1_800_000_060)
        )),
        calls: &["client_credentials"],
        after: &["consumer:id C1 -"],
        stderr: &[
            "warning: could not get a client_credentials token",
            "using the current access token meanwhile; it is valid until 2027-01-15T08:01:00Z",
        ],
        ..CLOUD_ALICE
    },
    Case {
        name: "token flow: a stored API token with its username, no expiry, no call",
        config: &[("credential.bitbucketflow", "token")],
        username: None,
        authtype: true,
        store: &[("alice", TokenKind::ApiToken, ("T1", None), FRESH)],
        expect: Ok("username=alice\npassword=T1\n"),
        after: &["alice T1 -"],
        ..CLOUD_ALICE
    },
    Case {
        name: "token flow, Bearer configured: an API token is still Basic",
        config: &[
            ("credential.bitbucketflow", "token"),
            ("credential.bitbucketauthtype", "bearer"),
        ],
        username: None,
        authtype: true,
        store: &[("alice", TokenKind::ApiToken, ("T1", None), FRESH)],
        expect: Ok("username=alice\npassword=T1\n"),
        after: &["alice T1 -"],
        ..CLOUD_ALICE
    },
    Case {
        name: "token flow, Bearer configured: an access token goes as Bearer",
        config: &[
            ("credential.bitbucketflow", "token"),
            ("credential.bitbucketauthtype", "bearer"),
        ],
        username: None,
        authtype: true,
        store: &[("x-token-auth", TokenKind::AccessToken, ("T2", None), FRESH)],
        expect: Ok("capability[]=authtype\nauthtype=Bearer\ncredential=T2\nephemeral=1\n"),
        after: &["x-token-auth T2 -"],
        ..CLOUD_ALICE
    },
    Case {
        name: "token flow: alice@ finds a token kept under the generic name, handed out with it",
        config: &[("credential.bitbucketflow", "token")],
        store: &[("x-token-auth", TokenKind::AccessToken, ("T2", None), FRESH)],
        expect: Ok("username=x-token-auth\npassword=T2\n"),
        after: &["x-token-auth T2 -"],
        ..CLOUD_ALICE
    },
    Case {
        name: "token flow: a Data Center project token needs git's authtype",
        config: &[
            (
                "credential.https://git.example.com.bitbucketkind",
                "datacenter",
            ),
            ("credential.https://git.example.com.bitbucketflow", "token"),
        ],
        host: DC,
        username: None,
        store: &[("x-token-auth", TokenKind::ProjectToken, ("P1", None), FRESH)],
        expect: Err("2.46"),
        after: &["x-token-auth P1 -"],
        ..CLOUD_ALICE
    },
    Case {
        name: "token flow: a Data Center project token as Bearer when git offers it",
        config: &[
            (
                "credential.https://git.example.com.bitbucketkind",
                "datacenter",
            ),
            ("credential.https://git.example.com.bitbucketflow", "token"),
        ],
        host: DC,
        username: None,
        authtype: true,
        store: &[("x-token-auth", TokenKind::ProjectToken, ("P1", None), FRESH)],
        expect: Ok("capability[]=authtype\nauthtype=Bearer\ncredential=P1\nephemeral=1\n"),
        after: &["x-token-auth P1 -"],
        ..CLOUD_ALICE
    },
    Case {
        name: "a renewal in flight elsewhere, token still valid: answered at once, no call",
        store: &[("alice", TokenKind::Oauth, ("A1", Some("R1")), STALE)],
        expect: Ok(concat!("username=alice\npassword=A1\n", at!(1_800_000_060))),
        after: &["alice A1 R1"],
        held: Some("alice"),
        ..CLOUD_ALICE
    },
    Case {
        name: "a consumer problem (invalid_client): nothing dropped, the current token meanwhile",
        store: &[("alice", TokenKind::Oauth, ("A1", Some("R1")), STALE)],
        endpoint: &[Answer::Refused("invalid_client")],
        expect: Ok(concat!("username=alice\npassword=A1\n", at!(1_800_000_060))),
        calls: &["refresh R1"],
        after: &["alice A1 R1"],
        stderr: &[
            "warning: Bitbucket refused to refresh the access token",
            "using the current access token meanwhile; it is valid until 2027-01-15T08:01:00Z",
        ],
        ..CLOUD_ALICE
    },
    Case {
        name: "a consumer problem with the token expired: the error, no sign-in, nothing dropped",
        store: &[("alice", TokenKind::Oauth, ("A1", Some("R1")), EXPIRED)],
        endpoint: &[Answer::Refused("invalid_client")],
        sign_in: Some(("alice", Answer::Tokens("A3", Some("R3"), 7200))),
        expect: Err("invalid_client"),
        calls: &["refresh R1"],
        after: &["alice A1 R1"],
        ..CLOUD_ALICE
    },
    Case {
        name: "a store that cannot save: the refresh token is not spent",
        store: &[("alice", TokenKind::Oauth, ("A1", Some("R1")), STALE)],
        endpoint: &[Answer::Tokens("A2", Some("R2"), 7200)],
        expect: Ok(concat!("username=alice\npassword=A1\n", at!(1_800_000_060))),
        after: &["alice A1 R1"],
        read_only: true,
        stderr: &[
            "warning: token store memory: cannot write",
            "using the current access token meanwhile; it is valid until 2027-01-15T08:01:00Z",
        ],
        ..CLOUD_ALICE
    },
];

/// Runs one case; returns what differs from its expectations.
fn run(index: usize, case: &Case) -> Vec<String> {
    let mut pairs: Vec<(String, String)> = vec![
        ("credential.bitbucketclientid".into(), "id".into()),
        ("credential.bitbucketclientsecret".into(), "secret".into()),
    ];
    if case.host == DC {
        pairs.push((
            "credential.https://git.example.com.bitbucketclientid".into(),
            "id".into(),
        ));
    }
    pairs.extend(case.config.iter().map(|(k, v)| ((*k).into(), (*v).into())));
    let git = GitConfig::from_pairs(pairs);
    let mut remote = Remote::from_url(case.host).expect("a valid URL");
    remote.username = case.username.map(str::to_owned);
    let cfg = config::resolve(&git, &testkit::NoEnv, &remote)
        .expect("a valid configuration")
        .expect("the host is ours");
    let key = cfg.remote.store_key();
    let start =
        |(user, kind, tokens, times): &StartRecord| record(&key, user, *kind, *tokens, NOW, *times);
    let log = Log::default();
    let stderr = Log::default();
    let store = MemStore::new(
        case.store.iter().map(start).collect(),
        case.meanwhile.as_ref().map(|(n, r)| (*n, start(r))),
        log.clone(),
    );
    store.read_only.set(case.read_only);
    let locks = TempDir::new(&index.to_string());
    // Another process's renewal: its lock, held over this `get`.
    let _held = case.held.map(|user| {
        let path = lock_file_in(&locks.0, &key, Some(user));
        crate::store::lock::try_acquire(&path)
            .expect("the lock file can be made")
            .expect("nobody holds it yet")
    });
    let deps = deps(
        NOW,
        &locks,
        FakeEndpoint {
            answers: RefCell::new(case.endpoint.iter().copied().collect::<VecDeque<_>>()),
            log: log.clone(),
        },
        FakeSignIn {
            outcome: case.sign_in,
            log: log.clone(),
        },
        stderr.clone(),
    );
    let req = Request {
        protocol: Some("https".into()),
        host: Some(remote.host.clone()),
        username: case.username.map(str::to_owned),
        capability: if case.authtype {
            vec!["authtype".into()]
        } else {
            Vec::new()
        },
        ..Request::default()
    };
    let got = answer(&cfg, &req, &store, &deps).map(|resp| {
        let mut stdout: Vec<u8> = Vec::new();
        resp.write_to(&mut stdout).expect("writable");
        String::from_utf8(stdout).expect("UTF-8")
    });
    let mut wrong = Vec::new();
    match (&case.expect, &got) {
        (Ok(want), Ok(out)) if want == out => {}
        (Err(part), Err(e)) if e.to_string().contains(part) => {}
        (want, got) => wrong.push(format!("answer: want {want:?}, got {got:?}")),
    }
    let calls = log.borrow().clone();
    if calls != case.calls {
        wrong.push(format!("calls: want {:?}, got {calls:?}", case.calls));
    }
    let said = stderr.borrow().clone();
    let matches = said.len() == case.stderr.len()
        && said
            .iter()
            .zip(case.stderr)
            .all(|(line, part)| line.contains(part));
    if !matches {
        wrong.push(format!("stderr: want {:?}, got {said:?}", case.stderr));
    }
    let after = store.summaries();
    if after != case.after {
        wrong.push(format!("store: want {:?}, got {after:?}", case.after));
    }
    wrong
}

#[test]
fn the_ladder_answers_calls_and_stores_as_each_case_says() {
    let failures: Vec<String> = CASES
        .iter()
        .enumerate()
        .flat_map(|(i, case)| {
            run(i, case)
                .into_iter()
                .map(move |w| format!("{}: {w}", case.name))
        })
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
