//! A newcomer's first day (issue 19): Cloud's sign-in on any free port
//! (port 34107 held by someone else changes nothing; a pinned port is
//! used exactly), the consumer hint only for a sign-in that does not come
//! back, and the token path of the guided `configure` (where the token is
//! made, its scopes, the username git sends, an app password asked again,
//! the token checked against a repository before it is kept).

use std::net::TcpListener;

use crate::common::env::{cloud_setup as setup, key, TestEnv};
use crate::common::fake::{FakeBitbucket, FakeOptions, Kind};
use crate::common::{assert_failure, assert_success, param, query_params, stderr, stdout};

/// The `redirect_uri` of every authorize request the browsers made.
fn redirects(env: &TestEnv) -> Vec<String> {
    env.browser_authorize_urls()
        .iter()
        .filter_map(|u| param(&query_params(u), "redirect_uri").map(str::to_owned))
        .collect()
}

/// A free loopback port (free when this returns; good enough for a pin).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("its address").port()
}

#[test]
fn a_cloud_sign_in_takes_a_free_port_when_34107_is_held_by_someone_else() {
    // Held for the whole test: the old default port. Someone else may
    // hold it already, which is just as busy.
    let _held = TcpListener::bind("127.0.0.1:34107");
    assert!(TcpListener::bind("127.0.0.1:34107").is_err(), "34107 busy");
    let (fake, env) = setup();
    let unset = env.git(&["config", "--get", &key(&fake, "bitbucketRedirectUri")]);
    assert!(!unset.status.success(), "the default redirect is in use");

    env.git_ok(&["ls-remote", &fake.repo_url()]);

    let sent = redirects(&env);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let port: u16 = sent[0]
        .strip_prefix("http://127.0.0.1:")
        .and_then(|rest| rest.strip_suffix('/'))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("redirect_uri {:?}", sent[0]));
    assert_ne!(port, 34107);
    // The fake accepted it against the Callback URL http://127.0.0.1 and
    // the code exchange repeated it.
    let exchange = fake.token_requests("authorization_code");
    assert_eq!(exchange.len(), 1, "{:#?}", fake.requests());
    assert_eq!(exchange[0].status, 200);
    assert_eq!(param(&exchange[0].params, "redirect_uri"), Some(&*sent[0]));
}

#[test]
fn a_pinned_redirect_port_is_used_exactly() {
    let (fake, env) = setup();
    let pinned = format!("http://127.0.0.1:{}/", free_port());
    env.set_config(&key(&fake, "bitbucketRedirectUri"), &pinned);

    env.git_ok(&["ls-remote", &fake.repo_url()]);

    assert_eq!(redirects(&env), vec![pinned.clone()]);
    let exchange = fake.token_requests("authorization_code");
    assert_eq!(param(&exchange[0].params, "redirect_uri"), Some(&*pinned));
}

#[test]
fn a_callback_url_with_a_trailing_slash_admits_no_free_port() {
    // The registered http://127.0.0.1/ is no prefix of
    // http://127.0.0.1:PORT/: Bitbucket shows its error page, nothing
    // comes back, and the timeout names the Callback URL to register.
    let (fake, env) = crate::common::env::cloud_setup_with(FakeOptions {
        callback: "http://127.0.0.1/".into(),
        ..FakeOptions::default()
    });
    env.set_config(&key(&fake, "bitbucketLoginTimeout"), "3");

    let out = env.git(&["ls-remote", &fake.repo_url()]);

    assert_failure(&out, "ls-remote against a trailing-slash callback");
    let authorize = fake.requests_of(&Kind::Authorize);
    assert_eq!(authorize.len(), 1, "{:#?}", fake.requests());
    assert_eq!(authorize[0].status, 400, "Invalid redirect_uri");
    let err = stderr(&out);
    assert!(err.contains("its Callback URL http://127.0.0.1 "), "{err}");
}

#[test]
fn a_quick_sign_in_prints_no_consumer_hint() {
    let (fake, env) = setup();
    let out = env.helper(&["login", &fake.base_url()], "");
    assert_success(&out, "login");
    let err = stderr(&out);
    assert!(!err.contains("error page"), "{err}");
    assert!(!err.contains("bitbucketClientId"), "{err}");
}

#[test]
fn a_sign_in_with_no_answer_for_20_seconds_hears_the_consumer_hint_before_the_timeout() {
    let (fake, env) = setup();
    // A browser that opens nothing, as after a wrong key or Callback URL:
    // Bitbucket's error page never comes back.
    env.set_config(&key(&fake, "bitbucketBrowser"), "true");
    env.set_config(&key(&fake, "bitbucketLoginTimeout"), "24");

    let out = env.helper(&["login", &fake.base_url()], "");

    assert_failure(&out, "login that nobody answers");
    let err = stderr(&out);
    let (waiting, timeout) = err
        .split_once("timed out")
        .unwrap_or_else(|| panic!("no timeout: {err}"));
    for part in [waiting, timeout] {
        assert!(part.contains("error page"), "{part}");
        assert!(
            part.contains(&format!("credential.{}.bitbucketClientId", fake.base_url())),
            "{part}"
        );
    }
    assert!(waiting.contains("no answer from the browser yet"), "{err}");
}

#[test]
fn the_guided_token_path_says_where_and_which_scopes_and_asks_again_for_an_app_password() {
    let env = TestEnv::new();
    let shown = env.configure_on_pty(
        "https://bitbucket.org",
        &["2", "alice", "ATBBthisIsAnAppPassword", "ATATTanApiToken"],
    );
    for phrase in [
        "https://id.atlassian.com/manage-profile/security/api-tokens",
        "read:repository:bitbucket",
        "write:repository:bitbucket",
        "docs/bitbucket-facts.md A.9",
        "your Bitbucket username (not your email)",
        "x-bitbucket-api-token-auth",
        "That is an app password",
        "stored the token for https://bitbucket.org",
    ] {
        assert!(shown.contains(phrase), "missing {phrase:?} in:\n{shown}");
    }
    assert!(!shown.contains("ATATTanApiToken"), "echoed:\n{shown}");
    let status = env.helper(&["status"], "");
    assert_success(&status, "status");
    let out = stdout(&status);
    assert!(out.contains("API token, sent as alice"), "{out}");
}

/// `configure URL/ws/repo.git --api-token`: one `info/refs` request with
/// the username git will send; a refused token is not kept.
#[test]
fn configure_with_a_repository_url_checks_the_token_once_and_keeps_a_refused_one_nowhere() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let env = TestEnv::new();
    let repo = fake.repo_url();
    let args = [
        "configure",
        &repo,
        "--kind",
        "cloud",
        "--api-token",
        "--username",
        "alice",
        "--store",
        "file",
    ];

    let refused = env.helper(&args, "ATATTnotAToken\n");
    assert_failure(&refused, "configure with a bad token");
    let err = stderr(&refused);
    assert!(
        err.contains("refused this token") && err.contains("nothing was stored"),
        "{err}"
    );
    let git = fake.requests_of(&Kind::Git);
    assert_eq!(git.len(), 1, "{git:#?}");
    assert_eq!(
        (git[0].status, git[0].basic_user.as_deref()),
        (401, Some("alice"))
    );
    assert!(!env.data_dir().join("tokens.json").exists());
    let helpers = env.git(&["config", "--get-all", &key(&fake, "helper")]);
    assert_eq!(stdout(&helpers), "", "nothing configured");

    fake.clear_log();
    let token = fake.mint_api_token("alice");
    let kept = env.helper(&args, &format!("{token}\n"));
    assert_success(&kept, "configure with a good token");
    let git = fake.requests_of(&Kind::Git);
    assert_eq!(git.len(), 1, "{git:#?}");
    assert_eq!(git[0].status, 200);
    assert!(stderr(&kept).contains("Bitbucket accepted the token"));
    // git uses it from now on.
    fake.clear_log();
    env.git_ok(&["ls-remote", &repo]);
    assert_eq!(fake.all_token_requests().len(), 0);
}
