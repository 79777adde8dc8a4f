//! Several Bitbucket accounts on one host (contract.md §4 step 1, §2 `status` and
//! `logout`), with the file store. Evidence: the fake's log says whose token
//! arrived; `status --json` is the documented, stable shape.

use crate::common::env::{cloud_setup as setup, TestEnv};
use crate::common::fake::{FakeBitbucket, Kind};
use crate::common::{assert_failure, assert_success, stderr, stdout};

/// The repository URL with `user@` in it.
fn url_for(fake: &FakeBitbucket, user: &str) -> String {
    fake.repo_url()
        .replacen("http://", &format!("http://{user}@"), 1)
}

fn host_url(fake: &FakeBitbucket, user: &str) -> String {
    fake.base_url()
        .replacen("http://", &format!("http://{user}@"), 1)
}

/// Accounts whose tokens reached the git endpoint and were accepted.
fn git_accounts(fake: &FakeBitbucket) -> Vec<String> {
    fake.requests()
        .into_iter()
        .filter(|r| r.kind == Kind::Git && r.status == 200)
        .filter_map(|r| r.account)
        .collect()
}

fn status_json(env: &TestEnv) -> serde_json::Value {
    let out = env.helper(&["status", "--json"], "");
    assert_success(&out, "status --json");
    serde_json::from_str(&stdout(&out)).expect("status --json prints JSON")
}

fn accounts_in(status: &serde_json::Value) -> Vec<String> {
    status["accounts"]
        .as_array()
        .expect("accounts is a list")
        .iter()
        .map(|a| a["account"].as_str().expect("account name").to_owned())
        .collect()
}

/// Clones as alice and as bob, each signing in once in the browser.
fn clone_as_alice_and_bob(fake: &FakeBitbucket, env: &TestEnv) {
    fake.set_browser_user("alice");
    env.git_ok(&["clone", &url_for(fake, "alice"), "alice"]);
    fake.set_browser_user("bob");
    env.git_ok(&["clone", &url_for(fake, "bob"), "bob"]);
    assert_eq!(env.browser_opens(), 2, "{}", env.browser_log());
    assert_eq!(fake.token_requests("authorization_code").len(), 2);
}

#[test]
fn two_accounts_on_one_host_each_sign_in_once_and_then_use_their_own_token() {
    let (fake, env) = setup();
    clone_as_alice_and_bob(&fake, &env);

    // Later commands for either: no browser, no token request, and the
    // fake sees each account's own token.
    fake.clear_log();
    // Whoever is signed in to the browser now must not matter.
    fake.set_browser_user("alice");
    env.git_in_ok(&env.work_dir().join("bob"), &["fetch"]);
    assert_eq!(git_accounts(&fake), vec!["bob"; git_accounts(&fake).len()]);
    assert!(!git_accounts(&fake).is_empty());
    fake.clear_log();
    env.git_in_ok(&env.work_dir().join("alice"), &["fetch"]);
    assert_eq!(
        git_accounts(&fake),
        vec!["alice"; git_accounts(&fake).len()]
    );
    assert!(!git_accounts(&fake).is_empty());
    assert!(
        fake.all_token_requests().is_empty() && fake.count(&Kind::User) == 0,
        "{:#?}",
        fake.requests()
    );
    assert_eq!(env.browser_opens(), 2);
}

#[test]
fn signing_in_as_bob_where_alice_is_asked_fails_naming_both_and_stores_nothing() {
    let (fake, env) = setup();
    fake.set_browser_user("bob");
    let out = env.git(&["ls-remote", &url_for(&fake, "alice")]);
    assert_failure(&out, "ls-remote as alice while bob signs in");
    let err = stderr(&out);
    assert!(err.contains("alice") && err.contains("bob"), "{err}");
    assert!(accounts_in(&status_json(&env)).is_empty());
    // Nothing stored: the next attempt signs in again.
    fake.set_browser_user("alice");
    env.git_ok(&["ls-remote", &url_for(&fake, "alice")]);
    assert_eq!(env.browser_opens(), 2);
}

#[test]
fn status_lists_both_accounts_and_logout_removes_one_then_all() {
    let (fake, env) = setup();
    clone_as_alice_and_bob(&fake, &env);

    let status = status_json(&env);
    assert_eq!(status["version"], 1);
    assert_eq!(accounts_in(&status), vec!["alice", "bob"]);
    for a in status["accounts"].as_array().expect("list") {
        assert_eq!(a["host"], fake.base_url());
        assert_eq!(a["store"], "file");
        assert!(a["access_token_expires_at"].is_string(), "{a}");
        assert_eq!(a["refresh_token"], true);
    }
    // bob signed in last: he is the default.
    let default: Vec<_> = status["accounts"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|a| a["default"] == true)
        .map(|a| a["account"].clone())
        .collect();
    assert_eq!(default, vec!["bob"]);
    // Never a secret in status.
    let text =
        stdout(&env.helper(&["status", "--json"], "")) + &stderr(&env.helper(&["status"], ""));
    for secret in fake.issued_secrets() {
        assert!(!text.contains(&secret), "status shows a secret");
    }

    // Several accounts and no name: nothing is deleted.
    let out = env.helper(&["logout", &fake.base_url()], "");
    assert_failure(&out, "logout without a name");
    assert!(stderr(&out).contains("--account"), "{}", stderr(&out));
    assert_eq!(accounts_in(&status_json(&env)), vec!["alice", "bob"]);

    let out = env.helper(&["logout", &fake.base_url(), "--account", "bob"], "");
    assert_success(&out, "logout --account bob");
    assert_eq!(accounts_in(&status_json(&env)), vec!["alice"]);
    // alice still works with no sign-in.
    env.git_in_ok(&env.work_dir().join("alice"), &["fetch"]);
    assert_eq!(env.browser_opens(), 2);

    let out = env.helper(&["logout", &host_url(&fake, "alice")], "");
    assert_success(&out, "logout of the user in the URL");
    assert!(accounts_in(&status_json(&env)).is_empty());

    clone_again_then_logout_all(&fake, &env);
}

fn clone_again_then_logout_all(fake: &FakeBitbucket, env: &TestEnv) {
    fake.set_browser_user("alice");
    env.git_ok(&["ls-remote", &url_for(fake, "alice")]);
    fake.set_browser_user("bob");
    env.git_ok(&["ls-remote", &url_for(fake, "bob")]);
    assert_eq!(accounts_in(&status_json(env)).len(), 2);
    let out = env.helper(&["logout", &fake.base_url(), "--all"], "");
    assert_success(&out, "logout --all");
    assert!(accounts_in(&status_json(env)).is_empty());
}
