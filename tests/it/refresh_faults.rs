//! Network faults on the refresh (contract.md §9): inside the margin the
//! still-valid token is used with a warning; after expiry git fails in
//! bounded time, no browser opens and the refresh token is kept.
//!
//! As in `cloud`, every assertion rests on evidence from outside the
//! helper: the fake's request log, the browser log, git's exit
//! status and output, and the store file.
//!
//! Timing: tokens are made to expire by giving them lifetimes of a few
//! seconds and sleeping. The helper keeps expiry in whole Unix seconds
//! (floored), so it sees a token stale at most one second *earlier* than
//! the fake does, never later; the waits below allow for that.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::common::env::{cloud_setup as setup, key, TestEnv};
use crate::common::fake::{FakeBitbucket, Kind, TokenFault};
use crate::common::{
    assert_failure, assert_success, ls_remote_refreshes_once, sleep_until, stderr,
};

use crate::common::steps::{
    assert_git_served, assert_no_sign_in, field, sign_in_with_short_token, stored_record,
};

/// A loopback URL whose port nobody listens on: bound, then released.
fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}/site/oauth2/access_token")
}

/// The faults of contract.md §9 that answer at once.
#[derive(Clone, Debug)]
enum Fault {
    Fake(TokenFault),
    Refused,
}

/// Applies `fault` (the fake's token fault, or a token URL on a closed
/// port); returns the undo.
fn apply<'a>(fake: &'a FakeBitbucket, env: &'a TestEnv, fault: &Fault) -> impl FnOnce() + 'a {
    let token_url_key = key(fake, "bitbucketTokenUrl");
    match fault {
        Fault::Fake(f) => fake.set_token_fault(Some(f.clone())),
        Fault::Refused => env.set_config(&token_url_key, &closed_port_url()),
    }
    let refused = matches!(fault, Fault::Refused);
    move || {
        fake.set_token_fault(None);
        if refused {
            env.set_config(&token_url_key, &fake.token_url());
        }
    }
}

/// The token requests a faulted refresh made: one with the fault for the
/// fake's faults, none for a refused connection.
#[track_caller]
fn assert_faulted_refresh(fake: &FakeBitbucket, fault: &Fault) {
    let tokens = fake.all_token_requests();
    match fault {
        Fault::Fake(f) => {
            assert_eq!(tokens.len(), 1, "{fault:?}: {tokens:#?}");
            assert_eq!(tokens[0].kind, Kind::token("refresh_token"));
            assert_eq!(tokens[0].fault.as_ref(), Some(f), "{:#?}", tokens[0]);
        }
        Fault::Refused => assert!(tokens.is_empty(), "{tokens:#?}"),
    }
}

/// After a faulted refresh: the token requests it made, no sign-in, and
/// the refresh token `rt_before` still in the store.
#[track_caller]
fn assert_sign_in_kept(fake: &FakeBitbucket, env: &TestEnv, fault: &Fault, rt_before: &str) {
    assert_faulted_refresh(fake, fault);
    assert_no_sign_in(fake, env, 1);
    assert_eq!(
        field(&stored_record(env, "alice"), "refresh_token"),
        rt_before,
        "{fault:?}: the refresh token is kept"
    );
}

/// With the fault cleared, the kept refresh token works, once, and no
/// sign-in happens.
#[track_caller]
fn assert_kept_refresh_token_works(fake: &FakeBitbucket, env: &TestEnv) {
    ls_remote_refreshes_once(fake, env);
    assert_no_sign_in(fake, env, 1);
}

fn instant_faults() -> Vec<Fault> {
    vec![
        Fault::Fake(TokenFault::ServerError500),
        Fault::Fake(TokenFault::MalformedJson),
        Fault::Fake(TokenFault::Html),
        Fault::Refused,
    ]
}

/// contract.md §4 step 6: a refresh that fails for network reasons while the old
/// access token is still valid hands out the old token, with a warning.
#[test]
fn refresh_faults_inside_the_margin_fall_back_to_the_still_valid_token_with_a_warning() {
    let (fake, env) = setup();
    // 20 s tokens: the margin is min(600, 20 / 4) = 5 s, so the token is
    // due for refresh but still valid from 15 s to 20 s after it was issued
    // (from at most 16 s to at least 19 s, allowing for whole seconds).
    fake.set_access_lifetime(20);
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    let exchange = fake.token_requests("authorization_code");
    let issued = fake.instant_of(&exchange[0]);
    let rt_before = field(&stored_record(&env, "alice"), "refresh_token");
    sleep_until(issued + Duration::from_millis(16_200));
    let valid_until = issued + Duration::from_secs(19);

    for fault in instant_faults() {
        fake.clear_log();
        let undo = apply(&fake, &env, &fault);
        let out = env.git(&["ls-remote", &fake.repo_url()]);
        undo();
        assert!(
            Instant::now() < valid_until,
            "the machine is too slow for this test: the token's margin window passed"
        );

        assert_success(&out, &format!("ls-remote with {fault:?} inside the margin"));
        let err = stderr(&out);
        assert!(
            err.contains("warning") && err.contains("refresh"),
            "{fault:?}: a warning on stderr:\n{err}"
        );
        assert_sign_in_kept(&fake, &env, &fault, &rt_before);
        // No token request succeeded, so the token git was served with is
        // the old one, still live at the fake.
        assert_git_served(&fake, "alice");
    }

    // Fault cleared: the kept refresh token works, once.
    assert_kept_refresh_token_works(&fake, &env);
}

/// contract.md §4 step 6, §6, §7: with the access token expired, a refresh that
/// fails for network reasons (500, garbage, HTML, refused, a hang) fails
/// git in bounded time with a message, opens no browser, and keeps the
/// refresh token, which works once the fault clears.
#[test]
fn refresh_faults_after_expiry_fail_in_bounded_time_open_no_browser_and_keep_the_refresh_token() {
    let (fake, env) = setup();
    let expired_by = sign_in_with_short_token(&fake, &env, 2);
    let rt_before = field(&stored_record(&env, "alice"), "refresh_token");
    sleep_until(expired_by);

    let mut faults = instant_faults();
    // The only hang test: longer than the helper's 30 s whole-request
    // timeout, which must end it.
    // The fake answers 504 after 50 s, so a helper without that timeout
    // shows up both in the time taken and in the message.
    faults.push(Fault::Fake(TokenFault::Hang(Duration::from_secs(50))));
    for fault in faults {
        let hang = matches!(fault, Fault::Fake(TokenFault::Hang(_)));
        fake.clear_log();
        let undo = apply(&fake, &env, &fault);
        let started = Instant::now();
        let out = env.git(&["ls-remote", &fake.repo_url()]);
        let took = started.elapsed();
        undo();

        assert_failure(&out, &format!("ls-remote with {fault:?} after expiry"));
        let bound = if hang { 45 } else { 20 };
        assert!(
            took < Duration::from_secs(bound),
            "{fault:?}: took {took:?}"
        );
        let err = stderr(&out);
        assert!(
            err.contains("could not refresh the access token"),
            "{fault:?}: a clear message on stderr:\n{err}"
        );
        assert!(
            err.contains("told us to quit"),
            "{fault:?}: quit=1, so git does not prompt:\n{err}"
        );
        if hang {
            assert!(err.contains("timed out"), "{fault:?}:\n{err}");
        }
        assert_sign_in_kept(&fake, &env, &fault, &rt_before);
    }

    assert_kept_refresh_token_works(&fake, &env);
    assert_git_served(&fake, "alice");
}
