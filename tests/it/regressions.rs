//! Regressions from the review of the helper against docs/contract.md: each test
//! names the finding it guards.

use std::io::BufRead;
use std::process::Stdio;

use crate::common::client;
use crate::common::env::{cloud_setup, helper_path, key, TestEnv};
use crate::common::fake::{FakeBitbucket, FakeOptions, Kind, TokenState, API_TOKEN_USER};
use crate::common::{assert_success, describe, stdout};

/// `configure --api-token` for the fake's host, the token on stdin.
fn store_api_token(env: &TestEnv, fake: &FakeBitbucket, token: &str) {
    let out = env.helper(
        &[
            "configure",
            &fake.base_url(),
            "--api-token",
            "--kind",
            "cloud",
            "--store",
            "file",
        ],
        &format!("{token}\n"),
    );
    assert_success(&out, "configure --api-token");
}

/// Bitbucket's clone button gives `https://alice@bitbucket.org/…`: a token
/// stored under the generic API-token name must still serve it, and go out
/// with the generic name, never paired with alice's (contract.md §4 token flow).
#[test]
fn a_token_stored_without_a_username_serves_a_clone_url_that_names_a_user() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let env = TestEnv::new();
    store_api_token(&env, &fake, &fake.mint_api_token("alice"));
    let url = fake.repo_url().replacen("http://", "http://alice@", 1);

    env.git_ok(&["clone", &url, "clone"]);

    // git's first try carries `alice` with an empty password (the URL's
    // user); every request that carried the token used the generic name.
    let git: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.kind == Kind::Git)
        .collect();
    let live: Vec<_> = git
        .iter()
        .filter(|r| r.token_state == Some(TokenState::Live))
        .collect();
    assert!(!live.is_empty(), "{git:#?}");
    for r in &live {
        assert_eq!(
            (r.status, r.basic_user.as_deref()),
            (200, Some(API_TOKEN_USER)),
            "{r:#?}"
        );
    }
    for r in git
        .iter()
        .filter(|r| r.basic_user.as_deref() == Some("alice"))
    {
        assert_ne!(
            r.token_state,
            Some(TokenState::Live),
            "alice paired with the token: {r:#?}"
        );
    }
    assert_eq!(env.browser_opens(), 0);
}

/// After a token flow, `configure` with a consumer key sets the host up
/// for OAuth again: the flow key must not stay `token`.
#[test]
fn configure_with_a_consumer_after_an_api_token_returns_the_host_to_oauth() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let env = TestEnv::new();
    store_api_token(&env, &fake, &fake.mint_api_token("alice"));
    let flow = key(&fake, "bitbucketFlow");
    assert_eq!(
        stdout(&env.git(&["config", "--global", &flow])).trim(),
        "token"
    );

    let out = env.helper(
        &[
            "configure",
            &fake.base_url(),
            "--client-id",
            "test-client",
            "--client-secret-stdin",
        ],
        "test-secret\n",
    );
    assert_success(&out, "configure with a consumer");
    let left = env.git(&["config", "--global", &flow]);
    assert!(
        !left.status.success(),
        "bitbucketFlow is still set: {}",
        describe(&left)
    );
}

/// `login --no-browser` over SSH without a terminal (`ssh host git
/// credential-bitbucket login --no-browser` with `ssh -L`): it prints the
/// URL and waits for the redirect instead of failing at once.
#[test]
fn login_without_browser_or_terminal_prints_the_url_and_takes_the_redirect() {
    let (fake, env) = cloud_setup();
    let mut cmd = env.command("setsid");
    cmd.arg("--wait")
        .arg(helper_path())
        .args(["login", "--no-browser", &fake.base_url()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start login");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let authorize = fake.authorize_url();
    let url = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.starts_with(&authorize))
        .expect("login prints the authorize URL on its own line");

    // The browser on the other machine: Bitbucket redirects it to the
    // loopback address, which reaches the waiting login (ssh -L).
    let consent = client::get(&url, None);
    let callback = consent.location.expect("a redirect back to the helper");
    let page = client::get(&callback, None);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Signed in"), "{}", page.body);

    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().expect("login ends");
    assert!(status.success(), "login failed: {rest:?}");
    assert!(rest.iter().any(|l| l.contains("signed in")), "{rest:?}");
    assert_eq!(fake.token_requests("authorization_code").len(), 1);
    assert_eq!(env.browser_opens(), 0);
    // And git needs nothing more.
    fake.clear_log();
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    assert!(fake.all_token_requests().is_empty());
}

/// A huge login timeout is a configuration error, not an overflow panic
/// that would leave git prompting for a password.
#[test]
fn an_absurd_login_timeout_is_a_clear_error() {
    let (fake, env) = cloud_setup();
    env.set_config(&key(&fake, "bitbucketLoginTimeout"), "18446744073709551615");
    let out = env.helper(
        &["get"],
        &format!("protocol=http\nhost={}\n\n", fake.host()),
    );
    assert_eq!(stdout(&out), "quit=1\n", "{}", describe(&out));
    assert!(
        describe(&out).contains("bitbucketLoginTimeout"),
        "{}",
        describe(&out)
    );
}
