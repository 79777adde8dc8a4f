//! The account commands as a user meets them: `status` for a
//! host and a URL, `switch`, `token`, `doctor`, the consumer secret kept
//! out of gitconfig, `configure` re-runs, a second `login`, `logout` and
//! `unconfigure` with nothing to do, and a mistyped command. Everything
//! runs the real binary against the fake Bitbucket Cloud, and asserts what
//! the user sees on stdout and stderr.

use crate::common::client;
use crate::common::env::{cloud_setup as setup, key, TestEnv};
use crate::common::fake::{FakeBitbucket, FakeOptions, Kind};
use crate::common::{assert_failure, assert_success, describe, stderr, stdout};
use std::time::{Duration, Instant};

fn with_user(url: &str, user: &str) -> String {
    url.replacen("http://", &format!("http://{user}@"), 1)
}

/// Signs in with `login` as `user` (the fake browser's user).
fn login_as(fake: &FakeBitbucket, env: &TestEnv, user: &str) -> String {
    fake.set_browser_user(user);
    let out = env.helper(&["login", &fake.base_url()], "");
    assert_success(&out, &format!("login as {user}"));
    stderr(&out)
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}", describe(out)))
}

/// Accounts whose tokens git used, accepted, since the last `clear_log`.
fn git_accounts(fake: &FakeBitbucket) -> Vec<String> {
    fake.requests()
        .into_iter()
        .filter(|r| r.kind == Kind::Git && r.status == 200)
        .filter_map(|r| r.account)
        .collect()
}

/// No secret (the consumer secret, any saved token) in `text`.
#[track_caller]
fn assert_no_secret(fake: &FakeBitbucket, env: &TestEnv, text: &str) {
    assert!(
        !text.contains(&fake.client_secret()),
        "the consumer secret is shown:\n{text}"
    );
    let saved = std::fs::read_to_string(env.data_dir().join("tokens.json")).unwrap_or_default();
    let doc: serde_json::Value = serde_json::from_str(&saved).unwrap_or_default();
    for r in doc["records"].as_array().into_iter().flatten() {
        for t in [&r["access_token"], &r["refresh_token"]] {
            if let Some(t) = t.as_str() {
                assert!(!text.contains(t), "a token is shown:\n{text}");
            }
        }
    }
}

#[test]
fn status_shows_a_configured_host_before_any_sign_in_then_who_git_gets_for_a_url() {
    let (fake, env) = setup();
    let base = fake.base_url();

    let out = env.helper(&["status"], "");
    assert_success(&out, "status before any sign-in");
    let text = stdout(&out);
    assert!(
        text.contains(&base) && text.contains("no sign-in yet"),
        "{}",
        describe(&out)
    );
    let doc = json(&env.helper(&["status", "--json"], ""));
    assert_eq!(doc["hosts"][0]["host"], base.as_str(), "{doc}");
    assert_eq!(doc["hosts"][0]["configured"], true, "{doc}");
    assert_eq!(doc["hosts"][0]["kind"], "cloud", "{doc}");
    assert_eq!(doc["accounts"].as_array().map(Vec::len), Some(0), "{doc}");

    login_as(&fake, &env, "alice");
    login_as(&fake, &env, "bob");

    // No user in the URL: the default, bob, who signed in last.
    let out = env.helper(&["status", &base], "");
    assert_success(&out, "status URL");
    assert!(
        stdout(&out).contains(&format!("For {base} git gets bob, from the file store")),
        "{}",
        describe(&out)
    );
    // A user in the URL picks that account.
    let out = env.helper(&["status", "--json", &with_user(&base, "alice")], "");
    assert_success(&out, "status --json alice@URL");
    let doc = json(&out);
    assert_eq!(doc["selected"]["account"], "alice", "{doc}");
    assert_eq!(doc["selected"]["store"], "file", "{doc}");
    let alice = doc["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .find(|a| a["account"] == "alice")
        .cloned()
        .expect("alice listed");
    assert!(
        alice["access_token_expires_in_seconds"].as_u64().is_some(),
        "{alice}"
    );
    // Expiry in one unit style: "valid for 1 h 59 min (until …)".
    let text = stdout(&env.helper(&["status"], ""));
    assert!(
        text.contains("valid for 1 h 59 min") || text.contains("valid for 2 h"),
        "{text}"
    );
    assert_no_secret(&fake, &env, &(text + &stdout(&out)));
}

#[test]
fn status_and_configure_report_a_bad_store_value_instead_of_succeeding() {
    let (fake, env) = setup();
    env.set_config(&key(&fake, "bitbucketStore"), "vault");

    let out = env.helper(&["status"], "");
    assert_failure(&out, "status with bitbucketStore=vault");
    assert!(
        stdout(&out).contains("bitbucketStore") && stdout(&out).contains("vault"),
        "{}",
        describe(&out)
    );
    let out = env.helper(
        &[
            "configure",
            &fake.base_url(),
            "--client-id",
            &fake.client_id(),
        ],
        "",
    );
    assert_failure(&out, "configure with bitbucketStore=vault set");
    assert!(
        stderr(&out).contains("bitbucketStore"),
        "{}",
        describe(&out)
    );
}

#[test]
fn switch_makes_another_account_the_default_and_git_then_uses_it() {
    let (fake, env) = setup();
    login_as(&fake, &env, "alice");
    login_as(&fake, &env, "bob");

    let out = env.helper(&["switch", &fake.base_url(), "alice"], "");
    assert_success(&out, "switch alice");
    let err = stderr(&out);
    assert!(
        err.contains("alice is now the default") && err.contains("it was bob"),
        "{err}"
    );
    assert_eq!(stdout(&out), "");

    fake.clear_log();
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    let used = git_accounts(&fake);
    assert!(
        !used.is_empty() && used.iter().all(|a| a == "alice"),
        "{used:?}"
    );
    assert!(
        fake.all_token_requests().is_empty(),
        "switch needs no network"
    );

    // Unknown account: fails naming the saved ones, changes nothing.
    let out = env.helper(&["switch", &fake.base_url(), "carol"], "");
    assert_failure(&out, "switch carol");
    assert!(stderr(&out).contains("alice, bob"), "{}", describe(&out));
}

#[test]
fn a_second_login_that_changes_the_default_says_so_and_how_to_go_back() {
    let (fake, env) = setup();
    let first = login_as(&fake, &env, "alice");
    assert!(!first.contains("now the default"), "{first}");

    let err = login_as(&fake, &env, "bob");
    for phrase in [
        "bob is now the default for",
        "alice is still saved",
        "git credential-bitbucket switch",
    ] {
        assert!(err.contains(phrase), "missing {phrase:?}:\n{err}");
    }
}

#[test]
fn token_prints_only_a_fresh_token_and_refreshes_once_after_expiry() {
    let (fake, env) = setup();
    fake.set_access_lifetime(2);
    login_as(&fake, &env, "alice");
    let signed_in = Instant::now();
    std::thread::sleep(
        (signed_in + Duration::from_secs(3)).saturating_duration_since(Instant::now()),
    );
    // The renewed token lives long, so a second `token` needs no request.
    fake.set_access_lifetime(7200);
    fake.clear_log();

    let out = env.helper(&["token", &fake.base_url()], "");
    assert_success(&out, "token after expiry");
    let printed = stdout(&out);
    let token = printed.strip_suffix('\n').expect("ends with a newline");
    assert!(!token.is_empty() && !token.contains('\n'), "{printed:?}");
    assert_eq!(
        fake.token_requests("refresh_token").len(),
        1,
        "{:#?}",
        fake.requests()
    );
    assert_eq!(fake.all_token_requests().len(), 1, "{:#?}", fake.requests());
    // It is the renewed access token: the API takes it.
    let me = client::get(
        &format!("{}/user", fake.api_url()),
        Some(&client::bearer(token)),
    );
    assert_eq!(me.status, 200, "the API refused the printed token");
    assert!(!stderr(&out).contains(token), "the token went to stderr");

    let again = env.helper(&["token", "--account", "alice", &fake.base_url()], "");
    assert_success(&again, "token while fresh");
    assert_eq!(stdout(&again), printed, "the same fresh token");
    assert_eq!(fake.all_token_requests().len(), 1, "no second refresh");
}

#[test]
fn doctor_finds_a_misspelled_key_a_secret_in_gitconfig_and_a_busy_redirect_port() {
    let (fake, env) = setup();
    // The test setup writes the secret into gitconfig, as old versions did.
    env.set_config(&key(&fake, "bitbucketStor"), "file");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port();
    env.set_config(
        &key(&fake, "bitbucketRedirectUri"),
        &format!("http://127.0.0.1:{port}/"),
    );

    let out = env.helper(&["doctor", &fake.base_url()], "");
    assert_failure(&out, "doctor with three problems");
    let text = stdout(&out);
    let gitconfig = env.gitconfig().to_string_lossy().into_owned();
    for phrase in [
        "bitbucketstor",
        "did you mean bitbucketStore?",
        gitconfig.as_str(),
        "the consumer secret is in",
        "--move-secret",
        &format!("port {port}"),
        "in use",
        "fix:",
    ] {
        assert!(
            text.contains(phrase),
            "missing {phrase:?}:\n{}",
            describe(&out)
        );
    }
    assert_no_secret(&fake, &env, &(text.clone() + &stderr(&out)));
    drop(busy);

    // With the port free, git works: the key lines are warnings, and
    // doctor passes (it fails exactly when git would).
    let out = env.helper(&["doctor", "--json", &fake.base_url()], "");
    assert_success(&out, "doctor --json");
    let doc = json(&out);
    assert_eq!(doc["ok"], true);
    let warned: Vec<&str> = doc["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["status"] == "warn")
        .filter_map(|c| c["check"].as_str())
        .collect();
    assert_eq!(
        warned,
        vec!["keys", "keys", "sign-in"],
        "the port is free now: {doc}"
    );
}

#[test]
fn doctor_reports_a_bad_value_with_its_key() {
    let (fake, env) = setup();
    env.set_config(&key(&fake, "bitbucketAuthType"), "token");

    let out = env.helper(&["doctor", &fake.base_url()], "");
    assert_failure(&out, "doctor with a bad value");
    let text = stdout(&out);
    assert!(
        text.contains("bitbucketAuthType") && text.contains("basic, bearer"),
        "{}",
        describe(&out)
    );
}

#[test]
fn configure_moves_the_secret_out_of_gitconfig_then_git_and_doctor_are_happy() {
    let (fake, env) = setup();
    let out = env.helper(&["configure", &fake.base_url(), "--move-secret"], "");
    assert_success(&out, "configure --move-secret");
    assert!(
        stderr(&out).contains("kept in the file store"),
        "{}",
        describe(&out)
    );
    let gitconfig = std::fs::read_to_string(env.gitconfig()).expect("gitconfig");
    assert!(!gitconfig.contains(&fake.client_secret()), "{gitconfig}");
    assert!(
        gitconfig.contains("bitbucketKind = cloud"),
        "kind kept: {gitconfig}"
    );
    let secrets = env.data_dir().join("secrets.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secrets)
            .expect("secrets.json")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The sign-in reads the secret from the store (the fake checks it).
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    let exchanges = fake.token_requests("authorization_code");
    assert_eq!(exchanges.len(), 1);
    assert_eq!(exchanges[0].status, 200, "{:#?}", exchanges[0]);

    let out = env.helper(&["doctor", &fake.base_url()], "");
    assert_success(&out, "doctor on a clean setup");
    assert!(!stdout(&out).contains("FAIL"), "{}", describe(&out));
    assert!(
        stdout(&out).contains("alice is signed in"),
        "{}",
        describe(&out)
    );
}

#[test]
fn configure_again_keeps_the_kind_and_says_what_changed() {
    let env = TestEnv::new();
    let url = "https://bb.example.com";
    let key = |k: &str| format!("credential.{url}.{k}");
    let get = |k: &str| {
        stdout(&env.git(&["config", "--global", &key(k)]))
            .trim()
            .to_owned()
    };
    let out = env.helper(
        &[
            "configure",
            url,
            "--kind",
            "cloud",
            "--client-id",
            "K",
            "--client-secret-stdin",
        ],
        "S3CRET\n",
    );
    assert_success(&out, "first configure");

    let out = env.helper(
        &[
            "configure",
            url,
            "--redirect-uri",
            "http://127.0.0.1:34999/",
            "--token-url",
            "https://bb.example.com/oauth/token",
        ],
        "",
    );
    assert_success(&out, "configure again with two options");
    assert_eq!(get("bitbucketKind"), "cloud", "the kind was kept");
    assert_eq!(get("bitbucketClientId"), "K");
    assert_eq!(
        get("bitbucketTokenUrl"),
        "https://bb.example.com/oauth/token"
    );
    let err = stderr(&out);
    assert!(
        err.contains("set bitbucketRedirectUri = http://127.0.0.1:34999/")
            && err.contains("set bitbucketTokenUrl"),
        "{err}"
    );
    assert!(!err.contains("bitbucketKind"), "{err}");

    let out = env.helper(&["configure", url], "");
    assert_success(&out, "configure a third time, no options, no terminal");
    assert!(
        stderr(&out).contains("nothing changed"),
        "{}",
        describe(&out)
    );
    assert!(!stderr(&out).contains("S3CRET"));
}

#[test]
fn logout_and_unconfigure_with_nothing_to_do_touch_nothing_and_say_so() {
    let env = TestEnv::new();
    let out = env.helper(&["logout", "https://nobody.example"], "");
    assert_failure(&out, "logout of a host never used");
    assert!(!stderr(&out).contains("keyring"), "{}", describe(&out));
    assert!(
        !env.data_dir().join("stores.json").exists(),
        "logout decided a store for a host it never used"
    );

    let before = std::fs::read(env.gitconfig()).expect("gitconfig");
    let out = env.helper(&["unconfigure", "https://nobody.example"], "");
    assert_success(&out, "unconfigure with nothing to remove");
    assert!(
        stderr(&out).contains("nothing to remove"),
        "{}",
        describe(&out)
    );
    assert!(!stderr(&out).contains("removed"), "{}", describe(&out));
    assert_eq!(std::fs::read(env.gitconfig()).expect("gitconfig"), before);
}

#[test]
fn a_mistyped_command_without_a_terminal_gets_one_hint_and_git_words_stay_silent() {
    let env = TestEnv::new();
    let out = env.helper(&["stauts"], "");
    assert_success(&out, "stauts </dev/null");
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        "git-credential-bitbucket: did you mean `status`?\n"
    );
    // A word far from every command (a newer git's action): silent.
    let out = env.helper(&["frobnicate"], "");
    assert_success(&out, "unknown action");
    assert_eq!((stdout(&out), stderr(&out)), (String::new(), String::new()));
}

#[test]
fn guided_configure_offers_an_api_token_and_git_then_uses_it() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let env = TestEnv::new();
    let base = fake.base_url();
    // The fake is a Cloud on a loopback host: set the kind as a user would
    // have; the guided mode keeps it.
    env.set_config(&format!("credential.{base}.bitbucketKind"), "cloud");
    env.set_config(&format!("credential.{base}.bitbucketStore"), "file");
    let token = fake.mint_api_token("alice");

    let shown = env.configure_on_pty(&base, &["2", "alice", &token]);
    for phrase in [
        "OAuth consumer",
        "any workspace you administer",
        "API token",
        "Choose 1 or 2",
    ] {
        assert!(shown.contains(phrase), "missing {phrase:?}:\n{shown}");
    }
    assert!(!shown.contains(&token), "the token was echoed:\n{shown}");

    fake.clear_log();
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    let used: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.kind == Kind::Git && r.status == 200 && r.basic_user.is_some())
        .map(|r| r.basic_user.unwrap_or_default())
        .collect();
    assert!(
        !used.is_empty() && used.iter().all(|u| u == "alice"),
        "{used:?}"
    );
}

#[test]
fn guided_configure_run_again_shows_what_is_set_and_enter_keeps_it() {
    let env = TestEnv::new();
    let url = "https://bitbucket.org";
    let out = env.helper(
        &[
            "configure",
            url,
            "--client-id",
            "KEY1",
            "--client-secret-stdin",
        ],
        "SECRET1\n",
    );
    assert_success(&out, "configure without a terminal");

    // The OAuth way, then Enter at the key and at the secret.
    let shown = env.configure_on_pty(url, &["1", "", ""]);
    for phrase in [
        "Consumer key [KEY1]:",
        "Enter keeps the one stored now",
        "nothing changed",
    ] {
        assert!(shown.contains(phrase), "missing {phrase:?}:\n{shown}");
    }
    assert!(!shown.contains("SECRET1"), "{shown}");
    let id = stdout(&env.git(&[
        "config",
        "--global",
        "credential.https://bitbucket.org.bitbucketClientId",
    ]));
    assert_eq!(id.trim(), "KEY1");
}

/// With the keyring, the moved secret is a keyring item: no file holds it,
/// and the sign-in reads it from there.
#[test]
fn with_the_keyring_the_consumer_secret_is_a_keyring_item_and_in_no_file() {
    let (fake, env) = setup();
    env.set_config(&key(&fake, "bitbucketStore"), "keyring");
    let Some(_guard) = crate::keyring::secret_service(&env) else {
        return;
    };
    let out = env.helper(&["configure", &fake.base_url(), "--move-secret"], "");
    assert_success(&out, "configure --move-secret with the keyring");
    assert!(
        stderr(&out).contains("kept in the keyring store"),
        "{}",
        describe(&out)
    );
    assert_eq!(
        env.files_containing(&[fake.client_secret()]),
        vec![],
        "the secret is in a file"
    );

    env.git_ok(&["ls-remote", &fake.repo_url()]);
    let exchanges = fake.token_requests("authorization_code");
    assert_eq!(exchanges.len(), 1);
    assert_eq!(exchanges[0].status, 200, "{:#?}", exchanges[0]);

    let out = env.helper(&["unconfigure", &fake.base_url()], "");
    assert_success(&out, "unconfigure");
    assert!(
        stderr(&out).contains("and the consumer secret of key test-client from the token store"),
        "{}",
        describe(&out)
    );
}
