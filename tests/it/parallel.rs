//! Parallel processes (contract.md §5, §8): many git commands at once after
//! expiry or before the first sign-in, and two accounts on one host
//! refreshing at the same moment.
//!
//! As in `cloud`, every assertion rests on evidence from outside the
//! helper: the fake's request log, the browser log, git's exit
//! status and output, and the store file.
//!
//! Timing: tokens are made to expire by giving them lifetimes of a few
//! seconds and sleeping. The helper keeps expiry in whole Unix seconds
//! (floored), so it sees a token stale at most one second *earlier* than
//! the fake does, never later; the waits below allow for that.

use std::time::{Duration, Instant};

use crate::common::env::cloud_setup as setup;
use crate::common::fake::Kind;
use crate::common::{assert_success, describe, sleep_until, stdout};

use crate::common::steps::{
    assert_git_served, assert_no_sign_in, field, in_parallel, issued, repo_url_as,
    sign_in_with_short_token, stored_record,
};

// ------------------------------------------- parallel git processes

/// contract.md §5, §8: 32 parallel `get`s after expiry, with rotating refresh
/// tokens, cause one refresh and 32 successes.
#[test]
fn thirty_two_parallel_git_commands_after_expiry_cause_exactly_one_refresh() {
    let (fake, env) = setup();
    let expired_by = sign_in_with_short_token(&fake, &env, 3);
    assert!(fake.options().rotate, "refresh tokens rotate");
    sleep_until(expired_by);
    fake.clear_log();

    let url = fake.repo_url();
    let outs = in_parallel(32, |_| env.git(&["ls-remote", &url]));

    for (i, out) in outs.iter().enumerate() {
        assert_success(out, &format!("parallel ls-remote #{i}"));
        assert!(
            stdout(out).contains("refs/heads/main"),
            "#{i}: {}",
            describe(out)
        );
    }
    let refreshes = fake.token_requests("refresh_token");
    assert_eq!(refreshes.len(), 1, "one refresh: {refreshes:#?}");
    assert_eq!(refreshes[0].status, 200, "{:#?}", refreshes[0]);
    assert_eq!(fake.all_token_requests().len(), 1);
    assert_no_sign_in(&fake, &env, 1);
    assert_git_served(&fake, "alice");
    let served = fake
        .requests()
        .iter()
        .filter(|r| r.kind == Kind::Git && r.auth_scheme.is_some() && r.status == 200)
        .count();
    assert!(served >= 32, "each of the 32 was served: {served}");
}

/// contract.md §5: parallel first clones with nothing stored open one browser and
/// exchange one code; the others wait for it and use its token.
#[test]
fn eight_parallel_first_commands_open_one_browser_and_exchange_one_code() {
    let (fake, env) = setup();

    let url = fake.repo_url();
    let outs = in_parallel(8, |_| env.git(&["ls-remote", &url]));

    for (i, out) in outs.iter().enumerate() {
        assert_success(out, &format!("parallel first ls-remote #{i}"));
    }
    env.wait_for_browsers();
    assert_eq!(env.browser_opens(), 1, "{}", env.browser_log());
    assert_eq!(fake.count(&Kind::Authorize), 1, "{:#?}", fake.requests());
    let exchanges = fake.token_requests("authorization_code");
    assert_eq!(exchanges.len(), 1, "{exchanges:#?}");
    assert_eq!(exchanges[0].status, 200);
    assert_eq!(fake.all_token_requests().len(), 1);
    assert!(fake.count(&Kind::User) <= 1);
    assert_git_served(&fake, "alice");
}

// ------------------------------------------- two accounts at once

/// contract.md §5: two accounts on one host refreshing at the same moment never
/// lose each other's (rotated) refresh tokens.
#[test]
fn two_accounts_refreshing_at_once_keep_both_latest_refresh_tokens() {
    let (fake, env) = setup();
    let users = ["alice", "bob"];
    // Both sign in with 2 s tokens (margin min(600, 2 / 4) = 0).
    fake.set_access_lifetime(2);
    for user in users {
        fake.set_browser_user(user);
        env.git_ok(&["ls-remote", &repo_url_as(&fake, user)]);
    }
    assert_eq!(env.browser_opens(), 2);
    let mut expired_by = Instant::now() + Duration::from_millis(2300);

    for round in 1..=5 {
        sleep_until(expired_by);
        fake.clear_log();
        let outs = in_parallel(2, |i| {
            env.git(&["ls-remote", &repo_url_as(&fake, users[i])])
        });
        expired_by = Instant::now() + Duration::from_millis(2300);

        for (user, out) in users.iter().zip(&outs) {
            assert_success(out, &format!("round {round}: ls-remote as {user}"));
        }
        let refreshes = fake.token_requests("refresh_token");
        assert_eq!(refreshes.len(), 2, "round {round}: {refreshes:#?}");
        let mut accounts: Vec<_> = refreshes
            .iter()
            .map(|r| {
                assert_eq!(r.status, 200, "round {round}: {r:#?}");
                r.account.clone().unwrap_or_default()
            })
            .collect();
        accounts.sort();
        assert_eq!(accounts, users, "round {round}");
        assert_no_sign_in(&fake, &env, 2);
    }

    // The store holds exactly the two refresh tokens issued last.
    let mut stored: Vec<String> = users
        .iter()
        .map(|u| field(&stored_record(&env, u), "refresh_token"))
        .collect();
    let mut latest = issued(&fake, "rt+");
    let mut latest = latest.split_off(latest.len() - 2);
    stored.sort();
    latest.sort();
    assert_eq!(stored, latest);

    // And each works: one refresh each, no browser.
    sleep_until(expired_by);
    for user in users {
        fake.clear_log();
        env.git_ok(&["ls-remote", &repo_url_as(&fake, user)]);
        let refreshes = fake.token_requests("refresh_token");
        assert_eq!(refreshes.len(), 1, "{user}: {:#?}", fake.requests());
        assert_eq!(refreshes[0].status, 200);
        assert_eq!(refreshes[0].account.as_deref(), Some(user));
        assert_no_sign_in(&fake, &env, 2);
        assert_git_served(&fake, user);
    }
}
