//! Bitbucket Data Center end to end (issue 6): real git, through our
//! helper, against the strict fake Data Center (`common::fake_dc`), plus
//! the token flow (`configure --api-token`) against both fakes. The
//! `fake` submodule first proves, by hand, that the fake enforces docs/bitbucket-facts.md
//! Part B, so the end-to-end tests can lean on its log.

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
    assert!(stderr(&out).contains("2026-07-28"), "{}", describe(&out));
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
fn a_refused_stored_token_is_dropped_with_the_app_password_message() {
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
        err.contains("2026-07-28") && err.contains("API token"),
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
        err.contains("2026-07-28") && err.contains("API token"),
        "{}",
        describe(&out)
    );
    assert!(status_accounts(&env).is_empty(), "the record is gone");
}

/// The fake Data Center driven by hand: no helper involved.
mod fake {
    use base64::Engine as _;
    use sha2::{Digest, Sha256};

    use crate::common::client::{agent, answer, basic, get, post_form, Answer};
    use crate::common::fake_dc::{
        check_redirect_registration, DcOptions, FakeDataCenter, WWW_AUTHENTICATE,
    };
    use crate::common::http::{ClientAuth, Kind, TokenState};
    use crate::common::percent_encode;

    const VERIFIER: &str = "verifier-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEF";

    fn challenge(verifier: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier))
    }

    /// The authorize URL the helper would open, with `changes` applied
    /// (`None` removes a parameter).
    fn authorize_url(fake: &FakeDataCenter, changes: &[(&str, Option<&str>)]) -> String {
        let (client_id, redirect, challenge) =
            (fake.client_id(), fake.redirect_uri(), challenge(VERIFIER));
        let mut params: Vec<(&str, Option<&str>)> = vec![
            ("response_type", Some("code")),
            ("client_id", Some(&client_id)),
            ("redirect_uri", Some(&redirect)),
            ("state", Some("st-1")),
            ("code_challenge", Some(&challenge)),
            ("code_challenge_method", Some("S256")),
            ("scope", Some("REPO_READ REPO_WRITE")),
        ];
        for (key, value) in changes {
            match params.iter_mut().find(|(k, _)| k == key) {
                Some(entry) => entry.1 = *value,
                None => params.push((key, *value)),
            }
        }
        let query: Vec<String> = params
            .iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k}={}", percent_encode(v))))
            .collect();
        format!("{}?{}", fake.authorize_url(), query.join("&"))
    }

    fn code(fake: &FakeDataCenter) -> String {
        let answer = get(&authorize_url(fake, &[]), None);
        assert_eq!(answer.status, 303, "{}", answer.body);
        answer.location_param("code").expect("a code")
    }

    fn exchange(fake: &FakeDataCenter, code: &str, changes: &[(&str, Option<&str>)]) -> Answer {
        let (id, secret, redirect) = (fake.client_id(), fake.client_secret(), fake.redirect_uri());
        let mut form: Vec<(&str, Option<&str>)> = vec![
            ("grant_type", Some("authorization_code")),
            ("code", Some(code)),
            ("redirect_uri", Some(&redirect)),
            ("code_verifier", Some(VERIFIER)),
            ("client_id", Some(&id)),
            ("client_secret", Some(&secret)),
        ];
        for (key, value) in changes {
            match form.iter_mut().find(|(k, _)| k == key) {
                Some(entry) => entry.1 = *value,
                None => form.push((key, *value)),
            }
        }
        let form: Vec<(&str, &str)> = form
            .iter()
            .filter_map(|(k, v)| v.map(|v| (*k, v)))
            .collect();
        post_form(&fake.token_url(), None, &form)
    }

    fn sign_in(fake: &FakeDataCenter) -> serde_json::Value {
        let answer = exchange(fake, &code(fake), &[]);
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.json()
    }

    fn refresh(fake: &FakeDataCenter, refresh_token: &str) -> Answer {
        post_form(
            &fake.token_url(),
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", &fake.client_id()),
                ("client_secret", &fake.client_secret()),
            ],
        )
    }

    fn field(value: &serde_json::Value, key: &str) -> String {
        value[key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} in {value}"))
            .to_string()
    }

    fn start() -> FakeDataCenter {
        FakeDataCenter::start(DcOptions::with_redirect_port(34999))
    }

    #[test]
    fn fake_dc_registration_allows_plain_http_for_localhost_only() {
        assert!(check_redirect_registration("http://localhost:34107/", false).is_ok());
        assert!(check_redirect_registration("https://ci.example.com/cb", false).is_ok());
        for bad in [
            "http://127.0.0.1:34107/",
            "http://[::1]:34107/",
            "http://example.com/",
            "http://localhost:34107/#x",
            "localhost:34107/",
        ] {
            assert!(
                check_redirect_registration(bad, false).is_err(),
                "{bad} was accepted"
            );
        }
        assert!(check_redirect_registration("http://127.0.0.1:34107/", true).is_ok());
        let long = format!("https://example.com/{}", "a".repeat(440));
        assert!(check_redirect_registration(&long, false).is_err());
    }

    #[test]
    fn fake_dc_authorize_checks_scope_first_then_the_exact_redirect_pkce_and_response_type() {
        let fake = start();
        let redirect = fake.redirect_uri();

        let ok = get(&authorize_url(&fake, &[]), None);
        assert_eq!(ok.status, 303);
        assert!(ok
            .location
            .as_deref()
            .unwrap()
            .starts_with(&format!("{redirect}?code=")));
        assert_eq!(ok.location_param("state").as_deref(), Some("st-1"));
        assert_eq!(ok.header("cache-control"), Some("no-store"));
        assert!(ok.header("x-arequestid").is_some());
        let no_state = get(&authorize_url(&fake, &[("state", Some("  "))]), None);
        assert_eq!(no_state.location_param("state"), None);
        let default_scope = get(&authorize_url(&fake, &[("scope", None)]), None);
        assert!(default_scope.location_param("code").is_some());

        // A scope outside the client's goes back to the client, even with a
        // redirect_uri that is not registered: the scope check is first.
        let scope = get(
            &authorize_url(
                &fake,
                &[
                    ("scope", Some("REPO_ADMIN REPO_READ")),
                    ("redirect_uri", Some("http://localhost:1/")),
                ],
            ),
            None,
        );
        assert_eq!(scope.status, 303);
        assert!(scope
            .location
            .as_deref()
            .unwrap()
            .starts_with("http://localhost:1/?"));
        assert_eq!(
            scope.location_param("error").as_deref(),
            Some("invalid_scope")
        );
        assert_eq!(scope.location_param("state").as_deref(), Some("st-1"));

        // Exact redirect: no other port, no missing slash, no 127.0.0.1.
        let port = redirect
            .trim_start_matches("http://localhost:")
            .trim_end_matches('/')
            .to_string();
        for other in [
            format!("http://localhost:{port}"),
            format!("http://127.0.0.1:{port}/"),
            "http://localhost:34998/".to_string(),
            format!("{redirect}cb"),
        ] {
            let answer = get(
                &authorize_url(&fake, &[("redirect_uri", Some(&other))]),
                None,
            );
            assert_eq!(
                (answer.status, answer.location.as_deref()),
                (400, None),
                "{other}"
            );
        }
        let unknown = get(
            &authorize_url(&fake, &[("client_id", Some("nobody"))]),
            None,
        );
        assert_eq!((unknown.status, unknown.location.as_deref()), (400, None));

        // PKCE: required here; method S256 or plain; the challenge's form.
        for (changes, error) in [
            (vec![("code_challenge", None)], "invalid_request"),
            (
                vec![("code_challenge_method", Some("s256"))],
                "invalid_request",
            ),
            (vec![("code_challenge", Some("short"))], "invalid_request"),
            (
                vec![("code_challenge", Some(&*"a+b".repeat(20)))],
                "invalid_request",
            ),
            (
                vec![("response_type", Some("token"))],
                "unsupported_response_type",
            ),
        ] {
            let answer = get(&authorize_url(&fake, &changes), None);
            assert_eq!(answer.status, 303, "{changes:?}");
            assert_eq!(
                answer.location_param("error").as_deref(),
                Some(error),
                "{changes:?}"
            );
        }
        let plain = get(
            &authorize_url(
                &fake,
                &[
                    ("code_challenge_method", None),
                    ("code_challenge", Some(VERIFIER)),
                ],
            ),
            None,
        );
        let plain_code = plain.location_param("code").expect("plain PKCE is fine");
        let answer = exchange(&fake, &plain_code, &[]);
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(
            fake.token_requests("authorization_code")[0].pkce.as_deref(),
            Some("plain")
        );

        fake.set_deny(true);
        let denied = get(&authorize_url(&fake, &[]), None);
        assert_eq!(
            denied.location_param("error").as_deref(),
            Some("access_denied")
        );
        assert_eq!(denied.location_param("code"), None);
    }

    #[test]
    fn fake_dc_token_reads_the_client_from_the_body_only_and_checks_every_binding() {
        let fake = start();
        let code = code(&fake);
        let (id, secret) = (fake.client_id(), fake.client_secret());

        // Only Basic: the header is never read.
        let answer = post_form(
            &fake.token_url(),
            Some(&basic(&id, &secret)),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &fake.redirect_uri()),
                ("code_verifier", VERIFIER),
            ],
        );
        assert_eq!(
            (answer.status, answer.error()),
            (400, "invalid_request".into())
        );
        let logged = fake.token_requests("authorization_code");
        assert_eq!(logged[0].client_auth, Some(ClientAuth::Basic));

        for (changes, error) in [
            (vec![("code_verifier", None)], "invalid_grant"),
            (
                vec![("code_verifier", Some(&*VERIFIER.replace('v', "w")))],
                "invalid_grant",
            ),
            (
                vec![("redirect_uri", Some("http://localhost:34998/"))],
                "invalid_grant",
            ),
            (vec![("redirect_uri", None)], "invalid_request"),
            (vec![("client_id", Some("nobody"))], "invalid_grant"),
            (vec![("client_secret", Some("wrong"))], "invalid_client"),
            (vec![("client_secret", None)], "invalid_client"),
            (vec![("code", Some("dc-code-unknown"))], "invalid_request"),
            (
                vec![("grant_type", Some("password"))],
                "unsupported_grant_type",
            ),
            (vec![("grant_type", None)], "invalid_request"),
        ] {
            let answer = exchange(&fake, &code, &changes);
            assert_eq!(
                (answer.status, answer.error()),
                (400, error.to_string()),
                "{changes:?}: {}",
                answer.body
            );
            assert_eq!(answer.header("cache-control"), Some("no-store, no-cache"));
        }

        let good = exchange(&fake, &code, &[]);
        assert_eq!(good.status, 200, "{}", good.body);
        assert_eq!(good.header("cache-control"), Some("no-store"));
        let json = good.json();
        assert_eq!(json["token_type"], "bearer");
        assert_eq!(json["expires_in"], 3600);
        assert_eq!(json["scope"], "REPO_READ REPO_WRITE");
        let access = field(&json, "access_token");
        field(&json, "refresh_token");
        let last = fake.all_token_requests().pop().expect("logged");
        assert_eq!(
            (last.client_auth, last.pkce.as_deref()),
            (Some(ClientAuth::Body), Some("S256"))
        );

        // Replay: invalid_grant, and what the code gave is revoked.
        assert_eq!(fake.token_state(&access), TokenState::Live);
        let replay = exchange(&fake, &code, &[]);
        assert_eq!(
            (replay.status, replay.error()),
            (400, "invalid_grant".into())
        );
        assert_eq!(fake.token_state(&access), TokenState::Revoked);
        assert_eq!(fake.live_refresh_tokens(), 0);

        // Form bodies only.
        let json_body = agent()
            .post(fake.token_url())
            .header("Content-Type", "application/json")
            .send(r#"{"grant_type":"authorization_code"}"#);
        assert_eq!(super::fake::answer(json_body).status, 415);
    }

    #[test]
    fn fake_dc_refresh_rotates_and_the_old_access_token_dies_at_once() {
        let fake = start();
        let first = sign_in(&fake);
        let (old_access, old_refresh) = (
            field(&first, "access_token"),
            field(&first, "refresh_token"),
        );
        let props = "/rest/api/latest/application-properties";
        assert_eq!(
            fake.probe(props, Some(&format!("Bearer {old_access}")))
                .status,
            200
        );

        let renewed = refresh(&fake, &old_refresh);
        assert_eq!(renewed.status, 200, "{}", renewed.body);
        let renewed = renewed.json();
        let new_access = field(&renewed, "access_token");
        assert_ne!(new_access, old_access);
        assert_ne!(field(&renewed, "refresh_token"), old_refresh);

        let dead = fake.probe(props, Some(&format!("Bearer {old_access}")));
        assert_eq!(dead.status, 401);
        assert_eq!(dead.www_authenticate.as_deref(), Some(WWW_AUTHENTICATE));
        assert_eq!(fake.token_state(&old_access), TokenState::Revoked);
        let replay = refresh(&fake, &old_refresh);
        assert_eq!(
            (replay.status, replay.error()),
            (400, "invalid_grant".into())
        );
        let live = fake.probe(props, Some(&format!("Bearer {new_access}")));
        assert_eq!(
            (live.status, live.ausername.as_deref()),
            (200, Some("alice"))
        );

        // Without the client secret: invalid_client, and nothing rotates.
        let renewed_refresh = field(&renewed, "refresh_token");
        let no_secret = post_form(
            &fake.token_url(),
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &renewed_refresh),
                ("client_id", &fake.client_id()),
            ],
        );
        assert_eq!(
            (no_secret.status, no_secret.error()),
            (400, "invalid_client".into())
        );
        assert_eq!(refresh(&fake, &renewed_refresh).status, 200);
    }

    #[test]
    fn fake_dc_resources_take_bearer_or_basic_and_http_tokens_as_documented() {
        let fake = start();
        let access = field(&sign_in(&fake), "access_token");
        let props = "/rest/api/latest/application-properties";
        let refs = "/scm/PROJ/repo.git/info/refs?service=git-upload-pack";
        let push_refs = "/scm/PROJ/repo.git/info/refs?service=git-receive-pack";

        let anonymous = fake.probe(props, None);
        assert_eq!(anonymous.status, 401);
        assert_eq!(
            anonymous.www_authenticate.as_deref(),
            Some(WWW_AUTHENTICATE)
        );
        assert!(anonymous.request_id.is_some());
        assert_eq!(anonymous.ausername, None);

        let cases: Vec<(String, &str, u16, Option<&str>)> = vec![
            (format!("Bearer {access}"), props, 200, Some("alice")),
            (format!("bearer {access}"), props, 401, None),
            (basic("anyone-at-all", &access), props, 200, Some("alice")),
            (basic("alice", &format!("{access}:x")), props, 401, None),
            (format!("Bearer {access}"), refs, 200, Some("alice")),
            (
                basic("OAUTH_USERNAME", &access),
                push_refs,
                200,
                Some("alice"),
            ),
            ("Bearer not-a-token".to_string(), refs, 401, None),
        ];
        let personal = fake.mint_personal_token("alice", false);
        let project = fake.mint_project_token("PROJ", true);
        let other_project = fake.mint_project_token("OTHER", true);
        let more: Vec<(String, &str, u16, Option<&str>)> = vec![
            (basic("alice", &personal), refs, 200, Some("alice")),
            (basic("bob", &personal), refs, 401, None),
            (format!("Bearer {personal}"), refs, 200, Some("alice")),
            (basic("alice", &personal), push_refs, 403, Some("alice")),
            (
                format!("Bearer {project}"),
                push_refs,
                200,
                Some("proj-bot"),
            ),
            (basic("x-token-auth", &project), refs, 401, None),
            (
                format!("Bearer {other_project}"),
                refs,
                403,
                Some("other-bot"),
            ),
        ];
        for (authorization, path, status, user) in cases.iter().chain(&more) {
            let probe = fake.probe(path, Some(authorization));
            assert_eq!(
                (probe.status, probe.ausername.as_deref()),
                (*status, *user),
                "{authorization} {path}"
            );
            assert!(probe.request_id.is_some());
            if *status == 401 {
                assert_eq!(probe.www_authenticate.as_deref(), Some(WWW_AUTHENTICATE));
            }
        }
        let git = fake.requests_of(&Kind::Git);
        assert!(git.iter().all(|r| r.git_service.is_some()));
    }

    #[test]
    fn fake_dc_serves_only_below_its_context_path_and_revokes_through_the_endpoint() {
        let fake = FakeDataCenter::start(DcOptions {
            context_path: "/bitbucket/".into(),
            ..DcOptions::with_redirect_port(34998)
        });
        assert_eq!(fake.context_path(), "/bitbucket");
        assert!(fake
            .token_url()
            .ends_with("/bitbucket/rest/oauth2/latest/token"));
        let json = sign_in(&fake);
        let (access, refresh_token) = (field(&json, "access_token"), field(&json, "refresh_token"));
        let outside = get(
            &format!("{}/rest/api/latest/application-properties", fake.base_url()),
            Some(&format!("Bearer {access}")),
        );
        assert_eq!(outside.status, 404);
        assert_eq!(
            fake.probe(
                "/rest/api/latest/application-properties",
                Some(&format!("Bearer {access}"))
            )
            .status,
            200
        );

        let revoke = |token: &str, secret: &str| {
            post_form(
                &fake.revoke_url(),
                None,
                &[
                    ("token", token),
                    ("token_type_hint", "refresh_token"),
                    ("client_id", &fake.client_id()),
                    ("client_secret", secret),
                ],
            )
        };
        assert_eq!(revoke(&refresh_token, "wrong").status, 400);
        assert_eq!(fake.token_state(&access), TokenState::Live);
        assert_eq!(revoke(&refresh_token, &fake.client_secret()).status, 200);
        assert_eq!(fake.token_state(&access), TokenState::Revoked);
        assert_eq!(fake.live_refresh_tokens(), 0);
        assert_eq!(fake.count(&Kind::Revoke), 2);
    }
}
