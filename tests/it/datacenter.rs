//! Bitbucket Data Center end to end: real git, through our
//! helper, against the strict fake Data Center (`common::fake_dc`), plus
//! the token flow (`configure --api-token`) against both fakes. That the
//! fake enforces docs/bitbucket-facts.md Part B, so these tests can lean on
//! its log, is proved by hand in `fake_selftest::fake_dc`.

use std::time::{Duration, Instant};

use crate::common::env::{key, TestEnv};
use crate::common::fake::{FakeBitbucket, FakeOptions, API_TOKEN_USER};
use crate::common::fake_dc::{free_port, DcOptions, FakeDataCenter};
use crate::common::http::{ClientAuth, Kind, LoggedRequest, TokenState};
use crate::common::{
    assert_failure, assert_git_served_as, assert_success, describe, sleep_until, stderr, stdout,
};

/// A fake Data Center whose client has `http://localhost:<free port>/`
/// registered, with this access-token lifetime and context path.
fn start_dc(access_lifetime: u64, context_path: &str) -> FakeDataCenter {
    FakeDataCenter::start(DcOptions {
        access_lifetime,
        context_path: context_path.into(),
        ..DcOptions::with_redirect_port(free_port())
    })
}

/// The least a Data Center user configures (what `configure --kind
/// datacenter --client-id … --client-secret-stdin --redirect-uri …`
/// writes), plus the test's file store, fake browser and a login timeout
/// that fails a lost sign-in in 60 s. No endpoint keys: they are derived
/// from the remote.
fn configure_dc(env: &TestEnv, fake: &FakeDataCenter) {
    let redirect = [("bitbucketRedirectUri", &*fake.redirect_uri())];
    env.configure_helper(&fake.base_url(), "datacenter", fake, &redirect);
}

/// As [`configure_dc`], plus the three endpoint keys pointing below the
/// fake's context path (what docs/datacenter.md recommends first).
fn configure_dc_with_endpoints(env: &TestEnv, fake: &FakeDataCenter) {
    configure_dc(env, fake);
    env.set_config(&key(fake, "bitbucketAuthorizeUrl"), &fake.authorize_url());
    env.set_config(&key(fake, "bitbucketTokenUrl"), &fake.token_url());
    env.set_config(&key(fake, "bitbucketApiUrl"), &fake.api_url());
}

fn git_requests(log: &[LoggedRequest]) -> Vec<LoggedRequest> {
    log.iter()
        .filter(|r| r.kind == Kind::Git)
        .cloned()
        .collect()
}

/// Every authenticated git request was served (200) as `account`, sent
/// with `scheme`.
#[track_caller]
fn assert_git_served(log: &[LoggedRequest], account: &str, scheme: &str) {
    let authenticated = |r: &LoggedRequest| r.auth_scheme.is_some();
    assert_git_served_as(log, "authenticated", authenticated, account, Some(scheme));
}

fn status_accounts(env: &TestEnv) -> Vec<serde_json::Value> {
    let out = env.helper(&["status", "--json"], "");
    assert_success(&out, "status --json");
    let doc: serde_json::Value =
        serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("JSON ({e}): {out:?}"));
    doc["accounts"].as_array().expect("a list").clone()
}

/// `git credential-bitbucket configure <url> <args…>`, the token on stdin.
fn configure_token(env: &TestEnv, url: &str, args: &[&str], token: &str) {
    let mut all = vec!["configure", url, "--api-token"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--store", "file"]);
    let out = env.helper(&all, &format!("{token}\n"));
    assert_success(&out, "configure --api-token");
}

#[test]
fn first_clone_signs_in_with_pkce_and_body_auth_then_a_refresh_revokes_the_old_token_and_push_works(
) {
    let fake = start_dc(8, "");
    let env = TestEnv::new();
    configure_dc(&env, &fake);

    env.git_ok(&["clone", &fake.repo_url(), "clone"]);
    // The access token in use was issued before this instant.
    let issued_by = Instant::now();
    let dir = env.work_dir().join("clone");
    assert!(dir.join("README.md").exists());

    // One sign-in, with the endpoints derived from the remote.
    assert_eq!(env.browser_opens(), 1, "{}", env.browser_log());
    let opened = &env.browser_authorize_urls()[0];
    assert!(
        opened.starts_with(&format!(
            "{}/rest/oauth2/latest/authorize?",
            fake.base_url()
        )),
        "{opened}"
    );
    let log = fake.requests();
    let authorizes: Vec<_> = log.iter().filter(|r| r.kind == Kind::Authorize).collect();
    assert_eq!(authorizes.len(), 1, "{log:#?}");
    let authorize = authorizes[0];
    assert_eq!(authorize.status, 303, "{authorize:#?}");
    assert_eq!(authorize.error, None, "{authorize:#?}");
    assert_eq!(authorize.param("redirect_uri"), Some(&*fake.redirect_uri()));
    assert_eq!(authorize.param("code_challenge_method"), Some("S256"));
    assert_eq!(authorize.param("scope"), Some("REPO_READ REPO_WRITE"));
    assert!(
        env.browser_log()
            .contains(&format!("callback 200 {}?code=", fake.redirect_uri())),
        "the browser reached the helper at localhost:\n{}",
        env.browser_log()
    );
    let tokens: Vec<_> = log.iter().filter(|r| r.kind.is_token()).collect();
    assert_eq!(tokens.len(), 1, "one token request: {tokens:#?}");
    let exchange = tokens[0];
    assert_eq!(exchange.kind, Kind::token("authorization_code"));
    assert_eq!(exchange.status, 200, "{exchange:#?}");
    assert_eq!(exchange.pkce.as_deref(), Some("S256"), "PKCE was verified");
    assert_eq!(exchange.client_auth, Some(ClientAuth::Body));
    assert_eq!(exchange.auth_scheme, None, "no Authorization header at all");
    assert_eq!(exchange.param("client_id"), Some(&*fake.client_id()));
    assert_eq!(exchange.param("redirect_uri"), Some(&*fake.redirect_uri()));
    let users: Vec<_> = log.iter().filter(|r| r.kind == Kind::User).collect();
    assert_eq!(users.len(), 1, "one X-AUSERNAME lookup: {users:#?}");
    assert_eq!(
        (users[0].status, users[0].auth_scheme.as_deref()),
        (200, Some("Bearer"))
    );
    assert_git_served(&log, "alice", "Basic");
    for r in git_requests(&log)
        .iter()
        .filter(|r| r.auth_scheme.is_some())
    {
        assert_eq!(r.basic_user.as_deref(), Some("alice"), "{r:#?}");
    }
    let first = fake.oauth_access_tokens();
    assert_eq!(first.len(), 1);

    // 6.5 s later the token is inside the refresh margin (a quarter of 8
    // s) but has not expired: the refresh must kill it.
    sleep_until(issued_by + Duration::from_millis(6500));
    fake.clear_log();
    env.git_in_ok(&dir, &["fetch", "origin"]);
    let log = fake.requests();
    let refreshes: Vec<_> = log.iter().filter(|r| r.kind.is_token()).collect();
    assert_eq!(refreshes.len(), 1, "{log:#?}");
    assert_eq!(refreshes[0].kind, Kind::token("refresh_token"));
    assert_eq!(refreshes[0].status, 200, "{:#?}", refreshes[0]);
    assert_eq!(refreshes[0].client_auth, Some(ClientAuth::Body));
    assert_eq!(fake.count(&Kind::Authorize), 0);
    assert_eq!(env.browser_opens(), 1, "no browser");
    assert_git_served(&log, "alice", "Basic");
    let old = &first[0];
    assert_eq!(fake.token_state(old), TokenState::Revoked);
    let probe = fake.probe(
        "/scm/PROJ/repo.git/info/refs?service=git-upload-pack",
        Some(&format!("Bearer {old}")),
    );
    assert_eq!(probe.status, 401, "the old access token is dead: {probe:?}");
    let logged = fake.requests();
    let probed = logged.last().expect("the probe is logged");
    assert_eq!(probed.token_state, Some(TokenState::Revoked), "{probed:#?}");

    // Push with the rotated token.
    env.commit_file(&dir, "notes.txt", b"pushed to Data Center\n", "Add notes");
    fake.clear_log();
    env.git_in_ok(&dir, &["push", "origin", "main"]);
    let local = env.head_of(&dir);
    assert_eq!(fake.server_rev("refs/heads/main"), local);
    assert_eq!(fake.server_commit_count("main"), 2);
    let log = fake.requests();
    assert!(
        log.iter().any(|r| r.method == "POST"
            && r.git_service.as_deref() == Some("git-receive-pack")
            && r.status == 200
            && r.account.as_deref() == Some("alice")),
        "{log:#?}"
    );
    assert_eq!(fake.all_token_requests().len(), 0, "the new token is fresh");

    // No code or token anywhere but the store (and the browser's log).
    let secrets: Vec<String> = fake
        .issued_secrets()
        .into_iter()
        .filter(|s| *s != fake.client_secret())
        .collect();
    assert_eq!(env.leaked_secrets(&secrets), vec![]);
    let printed = env.all_output();
    for secret in &secrets {
        assert!(!printed.contains(secret.as_str()), "a secret was printed");
    }
}

#[test]
fn with_bitbucket_auth_type_bearer_git_sends_bearer_and_a_refused_token_is_renewed_without_a_browser(
) {
    let fake = start_dc(3600, "");
    let env = TestEnv::new();
    configure_dc(&env, &fake);
    env.set_config(&key(&fake, "bitbucketAuthType"), "bearer");
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    if !env.git_has_authtype() {
        // git before 2.46 cannot carry Bearer: Basic is the fallback.
        assert_git_served(&fake.requests(), "alice", "Basic");
        return;
    }
    assert_git_served(&fake.requests(), "alice", "Bearer");

    // git erases the refused Bearer credential; the refresh token stays.
    fake.revoke_access_tokens();
    fake.clear_log();
    let out = env.git(&["ls-remote", &fake.repo_url()]);
    assert_failure(&out, "ls-remote with a revoked token");
    assert_eq!(fake.all_token_requests().len(), 0);
    fake.clear_log();
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    let tokens = fake.all_token_requests();
    assert_eq!(tokens.len(), 1, "{tokens:#?}");
    assert_eq!(
        (tokens[0].kind.clone(), tokens[0].status),
        (Kind::token("refresh_token"), 200)
    );
    assert_git_served(&fake.requests(), "alice", "Bearer");
    assert_eq!(env.browser_opens(), 1, "no second sign-in");
}

#[test]
fn a_dead_refresh_token_on_data_center_leads_to_one_new_sign_in() {
    // Lifetime 4 s: the margin is a quarter, so the token is stale at 3 s.
    let fake = start_dc(4, "");
    let env = TestEnv::new();
    configure_dc(&env, &fake);
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    let issued_by = Instant::now();
    fake.revoke_refresh_tokens();
    sleep_until(issued_by + Duration::from_millis(3300));
    fake.clear_log();

    env.git_ok(&["ls-remote", &fake.repo_url()]);

    let refreshes = fake.token_requests("refresh_token");
    assert_eq!(refreshes.len(), 1, "{:#?}", fake.requests());
    assert_eq!(
        (refreshes[0].status, refreshes[0].error.as_deref()),
        (400, Some("invalid_grant"))
    );
    let exchanges = fake.token_requests("authorization_code");
    assert_eq!(exchanges.len(), 1, "{:#?}", fake.requests());
    assert_eq!(exchanges[0].status, 200);
    assert_eq!(fake.all_token_requests().len(), 2);
    assert_eq!(env.browser_opens(), 2, "one new sign-in");
    assert_git_served(&fake.requests(), "alice", "Basic");
}

#[test]
fn twelve_parallel_ls_remotes_after_expiry_make_exactly_one_refresh() {
    let fake = start_dc(8, "");
    let env = TestEnv::new();
    configure_dc(&env, &fake);
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    let issued_by = Instant::now();
    assert_eq!(fake.all_token_requests().len(), 1);

    sleep_until(issued_by + Duration::from_millis(8300));
    fake.clear_log();
    let url = fake.repo_url();
    let outs: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|_| s.spawn(|| env.git(&["ls-remote", &url])))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a git thread"))
            .collect()
    });
    for (i, out) in outs.iter().enumerate() {
        assert_success(out, &format!("parallel ls-remote #{i}"));
        assert!(stdout(out).contains("refs/heads/main"), "{}", describe(out));
    }
    let tokens = fake.all_token_requests();
    assert_eq!(tokens.len(), 1, "exactly one refresh: {tokens:#?}");
    assert_eq!(
        (tokens[0].kind.clone(), tokens[0].status),
        (Kind::token("refresh_token"), 200)
    );
    assert_eq!(fake.count(&Kind::Authorize), 0);
    assert_eq!(env.browser_opens(), 1);
    assert_git_served(&fake.requests(), "alice", "Basic");
}

#[test]
fn a_server_under_a_context_path_works_with_the_three_endpoint_keys_and_logout_revokes() {
    let fake = start_dc(3600, "/bitbucket");
    let env = TestEnv::new();
    configure_dc_with_endpoints(&env, &fake);
    let url = fake.repo_url();
    assert!(url.contains("/bitbucket/scm/PROJ/repo.git"), "{url}");

    env.git_ok(&["clone", &url, "clone"]);
    let log = fake.requests();
    for r in &log {
        assert!(
            r.path.starts_with("/bitbucket/"),
            "outside the context path: {r:#?}"
        );
        assert_ne!(r.status, 404, "{r:#?}");
    }
    assert_eq!(fake.count(&Kind::Authorize), 1);
    let exchanges = fake.token_requests("authorization_code");
    assert_eq!(exchanges.len(), 1, "{log:#?}");
    assert_eq!(
        (exchanges[0].status, exchanges[0].pkce.as_deref()),
        (200, Some("S256"))
    );
    assert_eq!(
        fake.requests_of(&Kind::User)
            .iter()
            .map(|r| r.status)
            .collect::<Vec<_>>(),
        vec![200]
    );
    assert_git_served(&log, "alice", "Basic");
    assert_eq!(env.browser_opens(), 1);

    // logout revokes both tokens at <token url minus /token>/revoke.
    let access = fake.oauth_access_tokens();
    assert_eq!(access.len(), 1);
    fake.clear_log();
    let out = env.helper(&["logout", &fake.base_url()], "");
    assert_success(&out, "logout");
    let revokes = fake.requests_of(&Kind::Revoke);
    assert_eq!(revokes.len(), 2, "{:#?}", fake.requests());
    for r in &revokes {
        assert_eq!(r.path, "/bitbucket/rest/oauth2/latest/revoke");
        assert_eq!(r.status, 200, "{r:#?}");
        assert_eq!(r.client_auth, Some(ClientAuth::Body));
    }
    let hints: Vec<_> = revokes
        .iter()
        .map(|r| r.param("token_type_hint").unwrap_or(""))
        .collect();
    assert_eq!(hints, vec!["refresh_token", "access_token"]);
    assert_eq!(fake.token_state(&access[0]), TokenState::Revoked);
    assert_eq!(fake.live_refresh_tokens(), 0);
    assert!(status_accounts(&env).is_empty());
}

/// contract.md §5 keys records by host + context path; with
/// `credential.useHttpPath=true` git sends the whole path, and two
/// repositories of one server must still share one sign-in.
#[test]
fn with_use_http_path_two_repositories_under_one_context_path_share_one_sign_in() {
    let fake = start_dc(3600, "/bitbucket");
    let env = TestEnv::new();
    configure_dc_with_endpoints(&env, &fake);
    env.set_config(&key(&fake, "useHttpPath"), "true");
    let second = fake.create_repo("PROJ", "second");

    env.git_ok(&["clone", &fake.repo_url(), "one"]);
    env.git_ok(&["clone", &second, "two"]);

    assert_git_served(&fake.requests(), "alice", "Basic");
    assert_eq!(
        env.browser_opens(),
        1,
        "one sign-in for the server, not one per repository; status: {:#?}",
        status_accounts(&env)
    );
    let accounts = status_accounts(&env);
    assert_eq!(accounts.len(), 1, "{accounts:#?}");
    assert_eq!(
        accounts[0]["host"].as_str(),
        Some(&*format!("{}/bitbucket", fake.base_url())),
        "{accounts:#?}"
    );
}

#[test]
fn a_data_center_redirect_without_its_port_is_a_configuration_error_naming_the_key() {
    let fake = start_dc(3600, "");
    let env = TestEnv::new();
    configure_dc(&env, &fake);
    env.set_config(&key(&fake, "bitbucketRedirectUri"), "http://localhost/");
    let out = env.git(&["ls-remote", &fake.repo_url()]);
    assert_failure(&out, "ls-remote with a port-less Data Center redirect");
    let err = stderr(&out);
    assert!(
        err.contains("bitbucketRedirectUri") && err.contains("port"),
        "{}",
        describe(&out)
    );
    assert_eq!(fake.count(&Kind::Authorize), 0);
    assert_eq!(env.browser_opens(), 0);
}

/// An application link with Repositories Read only: the default scopes
/// (`REPO_READ REPO_WRITE`) are refused with `invalid_scope`, fast and
/// named; `bitbucketScopes=REPO_READ` then clones, and a push is refused.
#[test]
fn a_read_only_application_link_needs_bitbucket_scopes_repo_read() {
    let fake = FakeDataCenter::start(DcOptions {
        scopes: "PUBLIC_REPOS REPO_READ".into(),
        ..DcOptions::with_redirect_port(free_port())
    });
    let env = TestEnv::new();
    configure_dc(&env, &fake);
    let started = Instant::now();
    let out = env.git(&["ls-remote", &fake.repo_url()]);
    assert_failure(&out, "ls-remote asking for REPO_WRITE");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(stderr(&out).contains("invalid_scope"), "{}", describe(&out));
    assert_eq!(fake.all_token_requests().len(), 0);

    env.set_config(&key(&fake, "bitbucketScopes"), "REPO_READ");
    env.git_ok(&["clone", &fake.repo_url(), "clone"]);
    let dir = env.work_dir().join("clone");
    env.git_in_ok(&dir, &["commit", "-q", "--allow-empty", "-m", "Empty"]);
    fake.clear_log();
    let out = env.git_in(&dir, &["push", "origin", "main"]);
    assert_failure(&out, "push with REPO_READ");
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.status == 403 && r.git_service.as_deref() == Some("git-receive-pack")),
        "{:#?}",
        fake.requests()
    );
}

/// `configure` without `--client-id` on a terminal walks the user
/// through the setup; for a Data Center URL that must be the application
/// link with the `localhost` redirect, not Cloud's OAuth consumer with
/// `127.0.0.1` (which Data Center refuses to register, bitbucket-facts.md B.3).
#[test]
fn guided_configure_for_a_data_center_url_describes_the_application_link() {
    let env = TestEnv::new();
    let shown = env.configure_on_pty(
        "https://bitbucket.example.com",
        // The OAuth way in (1), then the client id and secret.
        &["1", "dc-client", "dc-secret"],
    );
    assert!(
        shown.contains("configured https://bitbucket.example.com"),
        "{shown}"
    );
    assert!(
        !shown.contains("127.0.0.1:34107") && shown.contains("http://localhost:34107/"),
        "the guide must give Data Center's redirect URL:\n{shown}"
    );
    assert!(
        !shown.contains("OAuth consumers"),
        "the guide describes Cloud's OAuth consumer, not an application link:\n{shown}"
    );
}

/// The secret prompt says "not shown": a secret pasted as soon as the
/// prompt appears must not be echoed either.
#[test]
fn guided_configure_never_echoes_a_secret_pasted_at_the_prompt() {
    let env = TestEnv::new();
    let shown = env.configure_on_pty(
        "https://bitbucket.example.com",
        // The OAuth way in (1), then the client id and secret.
        &["1", "dc-client", "dc-secret"],
    );
    assert!(shown.contains("dc-client"), "{shown}");
    assert!(
        !shown.contains("dc-secret"),
        "the secret was echoed:\n{shown}"
    );
}

/// contract.md §3's other route for a context path: with
/// `credential.useHttpPath=true` git sends the path, so the helper can see
/// the context and derive the endpoints from it, with no endpoint keys.
#[test]
fn with_use_http_path_the_endpoints_are_derived_below_the_context_path() {
    let fake = start_dc(3600, "/bitbucket");
    let env = TestEnv::new();
    configure_dc(&env, &fake);
    env.set_config(&key(&fake, "useHttpPath"), "true");
    // A browser sent to the wrong place never comes back: fail in 10 s.
    env.set_config(&key(&fake, "bitbucketLoginTimeout"), "10");

    let out = env.git(&["ls-remote", &fake.repo_url()]);

    let outside: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| !r.path.starts_with("/bitbucket/"))
        .collect();
    assert!(
        outside.is_empty(),
        "requests outside the context path: {outside:#?}"
    );
    assert_success(&out, "ls-remote under a context path with useHttpPath");
    assert_eq!(fake.count(&Kind::Authorize), 1);
    assert_git_served(&fake.requests(), "alice", "Basic");
}

#[test]
fn a_stored_cloud_api_token_is_sent_with_the_username_it_needs() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let token = fake.mint_api_token("alice");
    for (args, user) in [
        (&["--kind", "cloud", "--username", "alice"][..], "alice"),
        (&["--kind", "cloud"][..], API_TOKEN_USER),
    ] {
        let env = TestEnv::new();
        configure_token(&env, &fake.base_url(), args, &token);
        fake.clear_log();

        env.git_ok(&["clone", &fake.repo_url(), "clone"]);

        let authenticated: Vec<_> = fake
            .requests()
            .into_iter()
            .filter(|r| r.kind == Kind::Git && r.auth_scheme.is_some())
            .collect();
        assert!(!authenticated.is_empty(), "{:#?}", fake.requests());
        for r in &authenticated {
            assert_eq!(
                (
                    r.status,
                    r.auth_scheme.as_deref(),
                    r.basic_user.as_deref(),
                    r.token_state
                ),
                (200, Some("Basic"), Some(user), Some(TokenState::Live)),
                "{r:#?}"
            );
        }
        assert_eq!(fake.all_token_requests().len(), 0);
        assert_eq!(fake.count(&Kind::Authorize), 0);
        assert_eq!(env.browser_opens(), 0);
    }
}

/// The fake Cloud with alice's API token stored by `configure
/// --api-token` (file store), as the token flow leaves a host.
fn cloud_with_alices_api_token() -> (FakeBitbucket, TestEnv) {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let env = TestEnv::new();
    let token = fake.mint_api_token("alice");
    configure_token(&env, &fake.base_url(), &["--kind", "cloud"], &token);
    (fake, env)
}

/// Bitbucket's clone button gives `https://alice@bitbucket.org/…`: a token
/// stored under the generic API-token name must still serve it, and go out
/// with the generic name, never paired with alice's (contract.md §4 token flow).
#[test]
fn a_token_stored_without_a_username_serves_a_clone_url_that_names_a_user() {
    let (fake, env) = cloud_with_alices_api_token();
    let url = fake.repo_url().replacen("http://", "http://alice@", 1);

    env.git_ok(&["clone", &url, "clone"]);

    // git's first try carries `alice` with an empty password (the URL's
    // user); every request that carried the token used the generic name.
    let git = git_requests(&fake.requests());
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
    let (fake, env) = cloud_with_alices_api_token();
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

#[test]
fn a_data_center_project_token_is_sent_as_bearer_and_a_personal_token_with_its_owner() {
    let fake = start_dc(3600, "");

    let env = TestEnv::new();
    let project = fake.mint_project_token("PROJ", false);
    configure_token(
        &env,
        &fake.base_url(),
        &["--token-kind", "project"],
        &project,
    );
    fake.clear_log();
    if !env.git_has_authtype() {
        // git before 2.46: the helper says why it cannot answer.
        let out = env.git(&["ls-remote", &fake.repo_url()]);
        assert_failure(&out, "a project token with git < 2.46");
        assert!(stderr(&out).contains("2.46"), "{}", describe(&out));
        return;
    }
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    assert_git_served(&fake.requests(), "proj-bot", "Bearer");
    assert_eq!(fake.all_token_requests().len(), 0);
    // A git without `capability[]=authtype` (before 2.46) cannot send it.
    let out = env.helper(
        &["get"],
        &format!("protocol=http\nhost={}\n\n", fake.host()),
    );
    assert!(stdout(&out).contains("quit=1"), "{}", describe(&out));
    assert!(stderr(&out).contains("2.46"), "{}", describe(&out));
    // Refused as Bearer: git erases it, and the record goes.
    fake.revoke_access_tokens();
    let out = env.git(&["ls-remote", &fake.repo_url()]);
    assert_failure(&out, "ls-remote with a revoked project token");
    // Named for what it is: no app-password story for a Data Center token.
    assert!(
        stderr(&out).contains("refused the stored HTTP access token")
            && !stderr(&out).contains("app password"),
        "{}",
        describe(&out)
    );
    assert!(status_accounts(&env).is_empty(), "the record is gone");

    let env = TestEnv::new();
    let personal = fake.mint_personal_token("alice", true);
    configure_token(
        &env,
        &fake.base_url(),
        &["--token-kind", "personal", "--username", "alice"],
        &personal,
    );
    fake.clear_log();
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    let log = fake.requests();
    assert_git_served(&log, "alice", "Basic");
    for r in git_requests(&log)
        .iter()
        .filter(|r| r.auth_scheme.is_some())
    {
        assert_eq!(r.basic_user.as_deref(), Some("alice"), "{r:#?}");
    }
    assert_eq!(env.browser_opens(), 0);
}

/// `configure --api-token --store file` chose the file store; `get` must
/// look there without probing the keyring (on a desktop with a keyring,
/// `auto` would pick the keyring and never find the token).
#[test]
fn the_store_chosen_by_configure_api_token_is_the_one_get_reads() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let env = TestEnv::new();
    let token = fake.mint_api_token("alice");
    configure_token(
        &env,
        &fake.base_url(),
        &["--kind", "cloud", "--username", "alice"],
        &token,
    );
    let out = env.git(&["ls-remote", &fake.repo_url()]);
    assert_success(&out, "ls-remote with the stored token");
    assert!(
        !stderr(&out).contains("no OS keyring is reachable"),
        "get probed for a keyring although configure was told --store file:\n{}",
        describe(&out)
    );
}

#[test]
fn a_refused_stored_token_is_dropped_with_a_message_for_its_kind() {
    // Cloud: a token the server never issued (one revoked since; an app
    // password, `ATBB…`, is refused by `configure` itself).
    let cloud = FakeBitbucket::start(FakeOptions::default());
    let env = TestEnv::new();
    configure_token(
        &env,
        &cloud.base_url(),
        &["--kind", "cloud", "--username", "alice"],
        "ATATTnot-a-token-the-server-knows",
    );
    assert_eq!(status_accounts(&env).len(), 1);
    let out = env.git(&["ls-remote", &cloud.repo_url()]);
    assert_failure(&out, "ls-remote with a refused token");
    let err = stderr(&out);
    assert!(
        err.contains("refused the stored API token") && !err.contains("app password"),
        "{}",
        describe(&out)
    );
    let refused: Vec<_> = cloud
        .requests()
        .into_iter()
        .filter(|r| r.kind == Kind::Git && r.auth_scheme.is_some())
        .collect();
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(
        (refused[0].status, refused[0].token_state),
        (401, Some(TokenState::Unknown))
    );
    assert!(status_accounts(&env).is_empty(), "the record is gone");
    // The next command says how to store a new one, and sends nothing.
    cloud.clear_log();
    let out = env.git(&["ls-remote", &cloud.repo_url()]);
    assert_failure(&out, "ls-remote with no stored token");
    assert!(stderr(&out).contains("--api-token"), "{}", describe(&out));
    assert!(cloud
        .requests()
        .iter()
        .all(|r| r.auth_scheme.is_none() && r.kind == Kind::Git));

    // Data Center: a personal token that works, then is revoked.
    let dc = start_dc(3600, "");
    let env = TestEnv::new();
    let personal = dc.mint_personal_token("alice", false);
    configure_token(
        &env,
        &dc.base_url(),
        &["--token-kind", "personal", "--username", "alice"],
        &personal,
    );
    env.git_ok(&["ls-remote", &dc.repo_url()]);
    dc.revoke_access_tokens();
    let out = env.git(&["ls-remote", &dc.repo_url()]);
    assert_failure(&out, "ls-remote with a revoked personal token");
    let err = stderr(&out);
    assert!(
        err.contains("refused the stored HTTP access token") && !err.contains("app password"),
        "{}",
        describe(&out)
    );
    assert!(status_accounts(&env).is_empty(), "the record is gone");
}
