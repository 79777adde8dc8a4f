//! The Windows build under Wine (.ci/windows, docs/platforms.md): what
//! only Windows has, end to end with real (Linux) git: the Credential
//! Manager with records larger than one credential holds, the local (not
//! roaming) data directory, and the opener getting the sign-in URL intact.
//!
//! These run against the Windows helper only (`GCB_UNDER_WINE=1`, which
//! .ci/windows sets); in a native run each says it was skipped.

use std::time::{Duration, Instant};

use crate::common::env::{cloud_setup, cloud_setup_with, key, TestEnv};
use crate::common::fake::{FakeBitbucket, FakeOptions};
use crate::common::http::Kind;
use crate::common::{assert_failure, assert_success, ls_remote_refreshes_once, sleep_until};
use crate::common::{stderr, stdout, wine};

/// Whether the Windows helper is under test; else says the test skipped.
fn windows() -> bool {
    if !wine::active() {
        eprintln!("skipped: Windows only (GCB_UNDER_WINE=1, set by .ci/windows)");
    }
    wine::active()
}

/// Tokens (not codes) the fake issued.
fn tokens(fake: &FakeBitbucket) -> Vec<String> {
    fake.issued_secrets()
        .into_iter()
        .filter(|s| s.starts_with("at.") || s.starts_with("rt+"))
        .collect()
}

/// The stores `status --json` names, one per account.
fn status_stores(env: &TestEnv) -> Vec<String> {
    let out = env.helper(&["status", "--json"], "");
    assert_success(&out, "status --json");
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    v["accounts"]
        .as_array()
        .expect("a list of accounts")
        .iter()
        .map(|a| a["store"].as_str().expect("a store").to_owned())
        .collect()
}

/// Every git request was served to alice with a token.
fn assert_served_alice(fake: &FakeBitbucket) {
    crate::common::assert_git_served_as(
        &fake.requests(),
        "authenticated",
        |r| r.auth_scheme.is_some(),
        "alice",
        None,
    );
}

/// Tokens of 2,600+ characters (as Bitbucket issues since 2026) make a
/// record of over 5,000 bytes, which the Credential Manager keeps only in
/// pieces of 2,560: a clone signs in once, a fresh command reads the
/// whole record back and asks nothing, an expired token is refreshed
/// once with the long refresh token, and no token reaches any file.
#[test]
fn long_tokens_round_trip_through_the_credential_manager() {
    if !windows() {
        return;
    }
    let (fake, env) = cloud_setup_with(FakeOptions {
        long_tokens: true,
        ..FakeOptions::default()
    });
    env.set_config(&key(&fake, "bitbucketStore"), "keyring");
    // 8 s tokens: the margin is 2 s, so a refresh is due 6 s after issue.
    fake.set_access_lifetime(8);
    let issued_by = Instant::now();
    env.git_ok(&["clone", &fake.repo_url(), "clone"]);
    assert_eq!(env.browser_opens(), 1);
    let first = tokens(&fake);
    assert_eq!(first.len(), 2, "one access and one refresh token");
    assert!(
        first.iter().all(|t| t.len() >= 2600),
        "the fake issued long tokens: {:?}",
        first.iter().map(String::len).collect::<Vec<_>>()
    );

    fake.clear_log();
    env.git_in_ok(&env.work_dir().join("clone"), &["fetch"]);
    assert_eq!(fake.all_token_requests().len(), 0, "{:#?}", fake.requests());
    assert_eq!(fake.count(&Kind::User), 0);
    assert_served_alice(&fake);

    sleep_until(issued_by + Duration::from_millis(6500));
    ls_remote_refreshes_once(&fake, &env);
    assert_eq!(env.browser_opens(), 1, "no new sign-in");
    assert_served_alice(&fake);

    let all = tokens(&fake);
    assert_eq!(all.len(), 4, "the refresh issued a new pair (rotation)");
    let hits = env.files_containing(&all);
    assert!(hits.is_empty(), "tokens found in files: {hits:?}");
    assert!(!env.data_dir().join("tokens.json").exists());
    assert_eq!(status_stores(&env), vec!["keyring"]);
    assert_success(
        &env.helper(&["logout", &fake.base_url(), "--all"], ""),
        "logout",
    );
    assert!(status_stores(&env).is_empty(), "logout removed every piece");
}

/// git erases a refused token: with the Credential Manager, the erase
/// drops the access token only, so the next command refreshes with the
/// kept refresh token and opens no browser.
#[test]
fn erase_with_the_credential_manager_keeps_the_refresh_token() {
    if !windows() {
        return;
    }
    let (fake, env) = cloud_setup();
    env.set_config(&key(&fake, "bitbucketStore"), "keyring");
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    fake.revoke_access_tokens();
    fake.clear_log();

    let failed = env.git(&["ls-remote", &fake.repo_url()]);
    assert_failure(&failed, "ls-remote with a revoked token");
    assert_eq!(fake.all_token_requests().len(), 0, "{:#?}", fake.requests());

    ls_remote_refreshes_once(&fake, &env);
    assert_eq!(env.browser_opens(), 1, "no browser");
    assert_eq!(fake.count(&Kind::Authorize), 0);
    assert_served_alice(&fake);
}

/// The file store and its locks live under the local application data
/// directory (`%LOCALAPPDATA%`, which wine-helper points at the test's
/// data dir), never the roaming one, which travels with a roaming profile.
#[test]
fn the_file_store_lives_under_local_not_roaming_app_data() {
    if !windows() {
        return;
    }
    let (fake, env) = cloud_setup();
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    assert!(
        env.data_dir().join("tokens.json").is_file(),
        "no store at {}",
        env.data_dir().display()
    );
    let roaming: Vec<_> = std::fs::read_dir(wine::prefix(&env).join("drive_c/users"))
        .expect("the prefix's users")
        .flatten()
        .map(|u| u.path().join("AppData/Roaming/git-credential-bitbucket"))
        .filter(|p| p.exists())
        .collect();
    assert!(
        roaming.is_empty(),
        "data in the roaming profile: {roaming:?}"
    );
}

/// The sign-in reaches the browser intact: helper → configured browser (a
/// Windows program) → Wine's `start /unix` → the fake browser, which logs
/// what it got. The browser is given our one-time start page (the URL
/// with `state` stays off command lines, docs/security.md), which sends it
/// on to the authorize URL, `&`, `%` and `=` and all, the same URL the
/// helper printed for a person. That an opener's argument with those
/// characters arrives byte for byte is the unit test
/// `platform::tests::a_url_with_ampersand_percent_equals_and_spaces_reaches_the_browser_intact`,
/// which .ci/windows runs under Wine.
#[test]
fn the_browser_gets_the_sign_in_url_with_ampersands_percents_and_equals_intact() {
    if !windows() {
        return;
    }
    let (fake, env) = cloud_setup();
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    let opened = env.browser_urls();
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert!(opened[0].contains("/start/"), "{opened:?}");
    let urls = env.browser_authorize_urls();
    assert_eq!(urls.len(), 1, "{urls:?}");
    let url = &urls[0];
    assert!(url.starts_with(&fake.authorize_url()), "{url}");
    for c in ['&', '%', '='] {
        assert!(url.contains(c), "the URL has a {c:?}: {url}");
    }
    // The helper printed the same URL for a person to open by hand.
    let printed = env
        .transcript()
        .iter()
        .map(|ran| stderr(&ran.output))
        .collect::<String>();
    assert!(
        printed.split_whitespace().any(|word| word == url),
        "the browser was sent to {url}\nthe helper printed:\n{printed}"
    );
}
