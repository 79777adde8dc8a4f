//! End-to-end: real git, through our helper, against the fake Bitbucket
//! Cloud (contract.md §4, §6). Every assertion rests on evidence from outside the
//! helper: the fake's request log, the fake browser's log, git's exit
//! status and output, and the repositories on both sides.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::common::env::{cloud_setup as setup, TestEnv};
use crate::common::fake::{ClientAuth, FakeBitbucket, Kind, LoggedRequest, TokenState};
use crate::common::{
    assert_failure, assert_git_served_as, assert_success, describe, ls_remote_refreshes_once,
    sleep_until, stderr, stdout,
};

/// Clones the fake's repository into `work/clone` and returns its path.
fn clone(env: &TestEnv, fake: &FakeBitbucket) -> PathBuf {
    env.git_ok(&["clone", &fake.repo_url(), "clone"]);
    env.work_dir().join("clone")
}

/// Git requests that the fake refused with 401.
fn git_401s(fake: &FakeBitbucket) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.kind == Kind::Git && r.status == 401)
        .count()
}

/// Every authenticated git request was answered 200 for alice.
#[track_caller]
fn assert_git_served_alice(fake: &FakeBitbucket) {
    let authenticated = |r: &LoggedRequest| r.auth_scheme.is_some();
    assert_git_served_as(
        &fake.requests(),
        "authenticated",
        authenticated,
        "alice",
        None,
    );
}

/// `git ls-remote` of the fake's repository fails (`what`) within 30 s,
/// the helper having said quit=1 and stderr naming `topic` (in any case).
#[track_caller]
fn ls_remote_fails_fast_naming(env: &TestEnv, fake: &FakeBitbucket, what: &str, topic: &str) {
    let started = Instant::now();

    let out = env.git(&["ls-remote", &fake.repo_url()]);

    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert_failure(&out, what);
    let err = stderr(&out);
    assert!(
        err.to_lowercase().contains(topic),
        "stderr names the {topic}:\n{err}"
    );
    assert!(
        err.contains("told us to quit"),
        "the helper said quit=1:\n{err}"
    );
}

#[test]
fn first_clone_opens_the_browser_once_and_exchanges_one_code() {
    let (fake, env) = setup();
    let dir = clone(&env, &fake);

    let readme =
        std::fs::read_to_string(dir.join("README.md")).expect("the checkout has the README");
    assert!(readme.contains("# repo"), "{readme}");
    assert_eq!(
        env.browser_opens(),
        1,
        "browser log:\n{}",
        env.browser_log()
    );
    // The browser is opened on the helper's one-time start page, which
    // redirects to the authorize URL.
    let opened = &env.browser_urls()[0];
    assert!(
        opened.starts_with("http://127.0.0.1:") && opened.contains("/start/"),
        "{opened}"
    );
    let authorize_url = &env.browser_authorize_urls()[0];
    assert!(
        authorize_url.starts_with(&format!("{}?", fake.authorize_url())),
        "{authorize_url}"
    );
    assert_eq!(fake.count(&Kind::Authorize), 1);

    let tokens = fake.all_token_requests();
    assert_eq!(tokens.len(), 1, "one token request in all: {tokens:#?}");
    let exchange = &tokens[0];
    assert_eq!(exchange.kind, Kind::token("authorization_code"));
    assert_eq!(exchange.status, 200, "{exchange:#?}");
    assert_eq!(exchange.client_auth, Some(ClientAuth::Basic));
    assert!(
        exchange.param("client_secret").is_none(),
        "the secret goes in Basic only"
    );
    let requests = fake.requests();
    let authorize = requests
        .iter()
        .find(|r| r.kind == Kind::Authorize)
        .expect("an authorize request");
    let redirect = authorize
        .param("redirect_uri")
        .expect("a loopback redirect_uri");
    assert!(
        redirect.starts_with("http://127.0.0.1:"),
        "a port was chosen: {redirect}"
    );
    assert_eq!(
        exchange.param("redirect_uri"),
        Some(redirect),
        "the exchange repeats redirect_uri"
    );

    let users: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.kind == Kind::User)
        .collect();
    assert!(
        users.len() <= 1,
        "at most one /2.0/user request: {users:#?}"
    );
    for r in &users {
        assert_eq!(
            (r.status, r.auth_scheme.as_deref()),
            (200, Some("Bearer")),
            "{r:#?}"
        );
    }
    assert_git_served_alice(&fake);
}

#[test]
fn a_second_git_command_while_the_token_is_fresh_makes_no_token_or_user_request() {
    let (fake, env) = setup();
    let dir = clone(&env, &fake);
    fake.clear_log();

    env.git_in_ok(&dir, &["fetch", "origin"]);
    env.git_ok(&["ls-remote", &fake.repo_url()]);

    assert_eq!(fake.all_token_requests().len(), 0, "{:#?}", fake.requests());
    assert_eq!(fake.count(&Kind::User), 0);
    assert_eq!(fake.count(&Kind::Authorize), 0);
    assert_eq!(env.browser_opens(), 1);
    assert_git_served_alice(&fake);
}

#[test]
fn a_token_near_expiry_is_refreshed_once_and_the_rotated_refresh_token_is_kept() {
    let (fake, env) = setup();
    // Lifetime 8 s: the margin is min(600, 8 / 4) = 2 s, so the token is
    // due for refresh 6 s after it was issued.
    fake.set_access_lifetime(8);
    let dir = clone(&env, &fake);
    // The token in use was issued before this instant.
    let mut issued_by = Instant::now();

    for round in 1..=2 {
        sleep_until(issued_by + Duration::from_millis(6500));
        fake.clear_log();
        env.git_in_ok(&dir, &["fetch", "origin"]);
        issued_by = Instant::now();
        let refreshes = fake.token_requests("refresh_token");
        assert_eq!(refreshes.len(), 1, "round {round}: {:#?}", fake.requests());
        // Under rotation the previous refresh token is dead, so round 2
        // succeeds only if round 1 stored the rotated one.
        assert_eq!(
            refreshes[0].status, 200,
            "round {round}: {:#?}",
            refreshes[0]
        );
        assert_eq!(refreshes[0].client_auth, Some(ClientAuth::Basic));
        assert_eq!(fake.all_token_requests().len(), 1, "round {round}");
        assert_eq!(fake.count(&Kind::Authorize), 0, "round {round}");
        assert_eq!(env.browser_opens(), 1, "round {round}: no browser");
        assert_git_served_alice(&fake);
    }
}

#[test]
fn a_dead_refresh_token_leads_to_one_new_browser_sign_in_in_the_same_command() {
    let (fake, env) = setup();
    fake.set_access_lifetime(8);
    clone(&env, &fake);
    let issued_before = Instant::now();
    fake.revoke_refresh_tokens();
    sleep_until(issued_before + Duration::from_millis(8200));
    fake.clear_log();

    env.git_ok(&["ls-remote", &fake.repo_url()]);

    let refreshes = fake.token_requests("refresh_token");
    assert_eq!(refreshes.len(), 1, "{:#?}", fake.requests());
    assert_eq!(refreshes[0].status, 400);
    assert_eq!(refreshes[0].error.as_deref(), Some("invalid_request"));
    let exchanges = fake.token_requests("authorization_code");
    assert_eq!(exchanges.len(), 1, "{:#?}", fake.requests());
    assert_eq!(exchanges[0].status, 200);
    assert_eq!(fake.all_token_requests().len(), 2);
    assert_eq!(env.browser_opens(), 2, "one new sign-in");
    assert_eq!(fake.count(&Kind::Authorize), 1);
    assert_git_served_alice(&fake);
}

#[test]
fn a_revoked_access_token_fails_once_then_the_next_command_refreshes_without_a_browser() {
    let (fake, env) = setup();
    clone(&env, &fake);
    fake.revoke_access_tokens();
    fake.clear_log();

    let failed = env.git(&["ls-remote", &fake.repo_url()]);
    assert_failure(&failed, "ls-remote with a revoked token");
    assert!(
        stderr(&failed).contains("Authentication failed"),
        "{}",
        describe(&failed)
    );
    let refused: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.kind == Kind::Git && r.token_state == Some(TokenState::Revoked))
        .collect();
    assert_eq!(refused.len(), 1, "{:#?}", fake.requests());
    assert_eq!(
        (refused[0].status, refused[0].account.as_deref()),
        (401, Some("alice"))
    );
    assert_eq!(
        fake.all_token_requests().len(),
        0,
        "the store thought the token fresh"
    );
    assert_eq!(env.browser_opens(), 1);

    ls_remote_refreshes_once(&fake, &env);
    assert_eq!(fake.count(&Kind::Authorize), 0);
    assert_eq!(env.browser_opens(), 1, "no browser");
    assert_git_served_alice(&fake);
}

#[test]
fn push_of_a_new_commit_reaches_the_server() {
    let (fake, env) = setup();
    let dir = clone(&env, &fake);
    env.commit_file(
        &dir,
        "notes.txt",
        b"pushed through the helper\n",
        "Add notes",
    );
    fake.clear_log();

    env.git_in_ok(&dir, &["push", "origin", "main"]);

    let local = env.head_of(&dir);
    assert_eq!(fake.server_rev("refs/heads/main"), local);
    assert_eq!(fake.server_commit_count("main"), 2);
    assert!(fake.requests().iter().any(|r| r.method == "POST"
        && r.git_service.as_deref() == Some("git-receive-pack")
        && r.status == 200
        && r.account.as_deref() == Some("alice")));
    assert_eq!(fake.all_token_requests().len(), 0);
    assert_eq!(env.browser_opens(), 1);
}

#[test]
fn denied_sign_in_fails_fast_with_a_message_and_no_token_request() {
    let (fake, env) = setup();
    fake.set_deny(true);

    ls_remote_fails_fast_naming(&env, &fake, "ls-remote after a denied sign-in", "denied");

    assert_eq!(env.browser_opens(), 1);
    assert_eq!(fake.count(&Kind::Authorize), 1);
    assert_eq!(fake.all_token_requests().len(), 0, "{:#?}", fake.requests());
    assert_eq!(
        git_401s(&fake),
        1,
        "git gave up after the anonymous request"
    );
}

#[test]
fn tampered_state_fails_with_a_message_and_no_token_request() {
    let (fake, env) = setup();
    env.set_env("FAKE_BROWSER_TAMPER_STATE", "1");

    ls_remote_fails_fast_naming(&env, &fake, "ls-remote after a tampered state", "state");

    assert_eq!(env.browser_opens(), 1);
    assert!(
        env.browser_log().contains("\ncallback "),
        "the callback reached the helper:\n{}",
        env.browser_log()
    );
    assert_eq!(fake.all_token_requests().len(), 0, "{:#?}", fake.requests());
}

#[test]
fn get_for_hosts_that_are_not_configured_prints_nothing_and_sends_nothing() {
    let (fake, env) = setup();
    let out = env.helper(&["get"], "protocol=https\nhost=github.com\n\n");
    assert_success(&out, "get for github.com");
    assert_eq!(stdout(&out), "", "{}", describe(&out));

    let bare_env = TestEnv::new();
    let input = format!("protocol=http\nhost={}\n\n", fake.host());
    let out = bare_env.helper(&["get"], &input);
    assert_success(&out, "get for an unconfigured fake host");
    assert_eq!(stdout(&out), "", "{}", describe(&out));

    assert!(fake.requests().is_empty(), "{:#?}", fake.requests());
    assert_eq!(env.browser_opens() + bare_env.browser_opens(), 0);
}
