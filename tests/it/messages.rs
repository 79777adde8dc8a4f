//! What a user reads when a credential cannot be had (contract.md §4,
//! §6): one small test per cause, each setting the cause up for real and
//! running the protocol `get` as git would. Every answer must be exactly
//! `quit=1` on stdout (git stops instead of prompting for a password
//! Bitbucket does not take), and stderr must say what happened and what
//! to do: the command or the config key that fixes it.
//!
//! Not here: a locked keyring (the `keyring` module covers it).

use std::process::Output;
use std::time::{Duration, Instant};

use crate::common::env::{cloud_setup as setup, helper_path, key, TestEnv};
use crate::common::fake::{FakeBitbucket, FakeOptions, Kind};
use crate::common::{assert_success, describe, raw_stderr, stderr, stdout};
use crate::headless::unset_config;

/// `get` for the fake's host, as git 2.47 sends it (no path).
fn get(env: &TestEnv, fake: &FakeBitbucket, username: Option<&str>) -> Output {
    let user = username
        .map(|u| format!("username={u}\n"))
        .unwrap_or_default();
    env.helper(
        &["get"],
        &format!("protocol=http\nhost={}\n{user}\n", fake.host()),
    )
}

/// Asserts a `get` answered exactly `quit=1`, that stderr holds every
/// phrase, and that no line of it is wider than 100 columns (long advice
/// is wrapped, the first line says what happened); returns stderr.
#[track_caller]
fn assert_quit_saying(out: &Output, phrases: &[&str]) -> String {
    assert_success(out, "get (protocol actions exit 0)");
    assert_eq!(stdout(out), "quit=1\n", "{}", describe(out));
    let raw = raw_stderr(out);
    for line in raw.lines() {
        // The sign-in URL alone on its line must stay whole.
        let alone = !line.trim().contains(' ') && line.contains("://");
        assert!(
            alone || line.chars().count() <= 100,
            "a line of {} columns:\n{line}\n--- all ---\n{raw}",
            line.chars().count()
        );
    }
    let err = stderr(out);
    for phrase in phrases {
        assert!(err.contains(phrase), "stderr lacks {phrase:?}:\n{err}");
    }
    err
}

/// Signed in through the fake browser with tokens that live `lifetime`
/// seconds; waits until the access token has expired.
fn signed_in_then_expired(lifetime: u64) -> (FakeBitbucket, TestEnv) {
    let (fake, env) = setup();
    fake.set_access_lifetime(lifetime);
    let out = get(&env, &fake, None);
    assert_success(&out, "first get");
    assert!(stdout(&out).contains("password="), "{}", describe(&out));
    let signed_in = Instant::now();
    // Expiry is kept in whole seconds: one more makes "expired" certain.
    std::thread::sleep(
        (signed_in + Duration::from_secs(lifetime + 1)).saturating_duration_since(Instant::now()),
    );
    fake.clear_log();
    (fake, env)
}

/// A loopback port with nobody listening.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("its address").port()
}

#[test]
fn no_client_id_names_the_key_and_configure() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let env = TestEnv::new();
    env.set_config(&key(&fake, "helper"), &helper_path().to_string_lossy());
    env.set_config(&key(&fake, "bitbucketKind"), "cloud");

    let out = get(&env, &fake, None);

    assert_quit_saying(
        &out,
        &[
            "no OAuth consumer",
            "bitbucketClientId",
            "git credential-bitbucket configure",
        ],
    );
    assert!(fake.requests().is_empty(), "{:#?}", fake.requests());
}

#[test]
fn no_client_secret_names_configure_and_the_environment_variable() {
    let (fake, env) = setup();
    unset_config(&env, &key(&fake, "bitbucketClientSecret"));

    let out = get(&env, &fake, None);

    assert_quit_saying(
        &out,
        &[
            &format!("git credential-bitbucket configure {}", fake.base_url()),
            "GIT_CREDENTIAL_BITBUCKET_CLIENT_SECRET",
        ],
    );
    assert!(fake.requests().is_empty(), "{:#?}", fake.requests());
}

#[test]
fn an_unknown_value_names_the_key_and_the_accepted_values() {
    let (fake, env) = setup();
    env.set_config(&key(&fake, "bitbucketStore"), "vault");

    let out = get(&env, &fake, None);

    assert_quit_saying(
        &out,
        &["bitbucketStore", "\"vault\"", "auto, keyring, file"],
    );
    assert!(fake.requests().is_empty(), "{:#?}", fake.requests());
}

#[test]
fn denied_names_the_oauth_error_and_what_to_do() {
    let (fake, env) = setup();
    fake.set_deny(true);

    let out = get(&env, &fake, None);

    assert_quit_saying(&out, &["access_denied", "git credential-bitbucket login"]);
    assert_eq!(fake.all_token_requests().len(), 0);
}

#[test]
fn denied_names_the_oauth_error() {
    let (fake, env) = setup();
    fake.set_deny(true);

    let out = get(&env, &fake, None);

    assert_quit_saying(&out, &["refused the sign-in", "access_denied"]);
    assert_eq!(fake.all_token_requests().len(), 0);
}

#[test]
fn timed_out_names_the_timeout_key_and_login() {
    let (fake, env) = setup();
    env.set_config(&key(&fake, "bitbucketLoginTimeout"), "2");
    // A browser that opens nothing: nobody ever comes back.
    env.set_config(&key(&fake, "bitbucketBrowser"), "true");
    let started = Instant::now();

    let out = get(&env, &fake, None);

    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_quit_saying(
        &out,
        &[
            "timed out after 2 s",
            "bitbucketLoginTimeout",
            "git credential-bitbucket login",
        ],
    );
    assert!(fake.requests().is_empty(), "{:#?}", fake.requests());
}

#[test]
fn network_down_on_refresh_of_an_expired_token_says_the_sign_in_was_kept() {
    let (fake, env) = signed_in_then_expired(2);
    env.set_config(
        &key(&fake, "bitbucketTokenUrl"),
        &format!(
            "http://127.0.0.1:{}/site/oauth2/access_token",
            closed_port()
        ),
    );

    let out = get(&env, &fake, None);

    assert_quit_saying(
        &out,
        &["could not refresh", "sign-in was kept", "try again"],
    );
    // It was kept indeed: with the network back, one refresh, no browser.
    env.set_config(&key(&fake, "bitbucketTokenUrl"), &fake.token_url());
    let out = get(&env, &fake, None);
    assert!(stdout(&out).contains("password="), "{}", describe(&out));
    assert_eq!(
        fake.token_requests("refresh_token").len(),
        1,
        "{:#?}",
        fake.requests()
    );
    assert_eq!(fake.count(&Kind::Authorize), 0);
    assert_eq!(env.browser_opens(), 1);
}

#[test]
fn refresh_refused_for_a_consumer_problem_points_at_the_consumer_and_keeps_the_sign_in() {
    let (fake, env) = signed_in_then_expired(2);
    // The consumer secret was regenerated in Bitbucket, say.
    env.set_config(&key(&fake, "bitbucketClientSecret"), "not-the-secret");

    let out = get(&env, &fake, None);

    assert_quit_saying(
        &out,
        &["refused to refresh", "OAuth consumer", "secret", "was kept"],
    );
    let refreshes = fake.token_requests("refresh_token");
    assert_eq!(refreshes.len(), 1, "{:#?}", fake.requests());
    assert_eq!(refreshes[0].error.as_deref(), Some("unauthorized_client"));
    assert_eq!(fake.count(&Kind::Authorize), 0, "no new sign-in");
    // Kept: with the right secret, a plain refresh.
    env.set_config(&key(&fake, "bitbucketClientSecret"), &fake.client_secret());
    fake.clear_log();
    let out = get(&env, &fake, None);
    assert!(stdout(&out).contains("password="), "{}", describe(&out));
    assert_eq!(fake.token_requests("refresh_token").len(), 1);
    assert_eq!(fake.count(&Kind::Authorize), 0);
}

#[test]
fn a_dead_refresh_token_without_browser_or_terminal_names_login() {
    let (fake, env) = signed_in_then_expired(2);
    fake.revoke_refresh_tokens();
    unset_config(&env, &key(&fake, "bitbucketBrowser"));

    let out = get(&env, &fake, None);

    assert_quit_saying(
        &out,
        &["expired or was revoked", "git credential-bitbucket login"],
    );
}

#[test]
fn the_wrong_account_names_both_accounts() {
    let (fake, env) = setup();
    fake.set_browser_user("alice");

    let out = get(&env, &fake, Some("bob"));

    let err = assert_quit_saying(&out, &["alice", "bob", "nothing was saved"]);
    assert!(err.contains("signed in to Bitbucket as alice"), "{err}");
    assert!(err.contains("but bob was asked for"), "{err}");
}

#[test]
fn neither_browser_nor_terminal_names_the_login_command() {
    let (fake, env) = setup();
    unset_config(&env, &key(&fake, "bitbucketBrowser"));

    let out = get(&env, &fake, None);

    assert_quit_saying(
        &out,
        &[
            "needs a browser or a terminal",
            &format!("git credential-bitbucket login {}", fake.base_url()),
        ],
    );
    assert!(fake.requests().is_empty(), "{:#?}", fake.requests());
}

#[test]
fn plain_http_to_a_remote_host_names_bitbucket_allow_http() {
    let env = TestEnv::new();
    let base = "http://bb.example";
    for (k, v) in [
        ("bitbucketKind", "cloud"),
        ("bitbucketClientId", "id"),
        ("bitbucketClientSecret", "secret"),
    ] {
        env.set_config(&format!("credential.{base}.{k}"), v);
    }

    let out = env.helper(&["get"], "protocol=http\nhost=bb.example\n\n");

    assert_quit_saying(
        &out,
        &[
            "plain http",
            "credential.http://bb.example.bitbucketAllowHttp",
        ],
    );
}

#[test]
fn client_credentials_on_a_public_consumer_says_it_must_be_private() {
    let (fake, env) = setup();
    env.set_config(&key(&fake, "bitbucketFlow"), "client_credentials");

    let out = get(&env, &fake, None);

    assert_quit_saying(&out, &["client_credentials", "private consumer"]);
    assert_eq!(fake.token_requests("client_credentials").len(), 1);
}

#[test]
fn a_busy_redirect_port_names_bitbucket_redirect_uri() {
    let (fake, env) = setup();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = busy.local_addr().expect("its address").port();
    env.set_config(
        &key(&fake, "bitbucketRedirectUri"),
        &format!("http://127.0.0.1:{port}/"),
    );

    let out = get(&env, &fake, None);

    assert_quit_saying(
        &out,
        &[&format!("127.0.0.1:{port}"), "bitbucketRedirectUri"],
    );
    assert!(fake.requests().is_empty(), "{:#?}", fake.requests());
    drop(busy);
}

/// A huge login timeout is a configuration error, not an overflow panic
/// that would leave git prompting for a password.
#[test]
fn an_absurd_login_timeout_is_a_clear_error() {
    let (fake, env) = setup();
    env.set_config(&key(&fake, "bitbucketLoginTimeout"), "18446744073709551615");
    let out = get(&env, &fake, None);
    assert_eq!(stdout(&out), "quit=1\n", "{}", describe(&out));
    assert!(
        describe(&out).contains("bitbucketLoginTimeout"),
        "{}",
        describe(&out)
    );
}
