//! What servers answer, and how the helper takes it: odd but
//! valid token answers, tokens git cannot carry, long tokens, a Cloud user
//! object without `username`, Data Center usernames in another case,
//! default ports, app passwords, and a planted repository's config.
//! Every test drives the helper as git would (`get`, `erase` on stdin)
//! and judges by the fake's log and the fake browser's.

use crate::common::env::{cloud_setup, cloud_setup_with, TestEnv};
use crate::common::fake::{FakeBitbucket, FakeOptions, Kind};
use crate::common::fake_dc::{free_port, DcOptions, FakeDataCenter};
use crate::common::{assert_failure, assert_success, describe, stderr, stdout};
use serde_json::{json, Value};

/// `get` for `host` (with `username=` when given).
fn get(env: &TestEnv, host: &str, user: Option<&str>) -> std::process::Output {
    let user = user.map(|u| format!("username={u}\n")).unwrap_or_default();
    env.helper(&["get"], &format!("protocol=http\nhost={host}\n{user}\n"))
}

/// The password of a `get` that answered; panics on anything else.
#[track_caller]
fn password(out: &std::process::Output) -> String {
    let text = stdout(out);
    assert!(!text.contains("quit=1"), "{}", describe(out));
    text.lines()
        .find_map(|l| l.strip_prefix("password="))
        .unwrap_or_else(|| panic!("no password: {}", describe(out)))
        .to_owned()
}

/// git's `erase` after a 401 with `password`: drops that access token,
/// keeps the refresh token, so the next `get` refreshes.
fn erase(env: &TestEnv, host: &str, password: &str) {
    let out = env.helper(
        &["erase"],
        &format!("protocol=http\nhost={host}\nusername=x-token-auth\npassword={password}\n\n"),
    );
    assert_success(&out, "erase");
}

/// The accounts `status --json` lists.
fn accounts(env: &TestEnv) -> Vec<Value> {
    let out = env.helper(&["status", "--json"], "");
    assert_success(&out, "status --json");
    let doc: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    doc["accounts"].as_array().expect("a list").clone()
}

fn with_expires_in(mut v: Value, expires: Value) -> String {
    v["expires_in"] = expires;
    v.to_string()
}

/// Rewrites the fake's token answer (the JSON object in, the body out).
type Shape = fn(Value) -> String;

/// Token answers that are odd but carry the tokens (defect 6).
const ODD_ANSWERS: [(&str, Shape); 7] = [
    ("a fractional lifetime", |v| {
        with_expires_in(v, json!(3600.5))
    }),
    ("a lifetime as a string", |v| {
        with_expires_in(v, json!("3600"))
    }),
    ("a negative lifetime", |v| with_expires_in(v, json!(-5))),
    ("a huge lifetime", |v| with_expires_in(v, json!(1e30))),
    ("a repeated key", |v| {
        v.to_string()
            .replacen("{", "{\"access_token\":\"stale\",", 1)
    }),
    ("bytes after the object", |v| {
        format!("{v}\n<!-- cached -->")
    }),
    ("scopes and unknown fields", |mut v| {
        let scope = v["scope"].take();
        v["scopes"] = scope;
        v["jti"] = json!({"nested": [1, 2]});
        v.to_string()
    }),
];

/// Defect 6: after the server rotated, an answer with an odd lifetime, a
/// repeated key or trailing bytes still yields the new tokens. Each round
/// forces a refresh (erase, then get), so each round's refresh succeeds
/// only if the previous odd answer's refresh token was kept.
#[test]
fn odd_but_valid_token_answers_keep_the_rotated_refresh_token() {
    let (fake, env) = cloud_setup();
    let host = fake.host();
    let mut current = password(&get(&env, &host, None));
    assert_eq!(env.browser_opens(), 1);

    for (what, shape) in ODD_ANSWERS {
        fake.set_token_answer(Some(shape));
        erase(&env, &host, &current);
        fake.clear_log();
        let out = get(&env, &host, None);
        assert!(
            !stdout(&out).contains("quit=1"),
            "{what}: {}",
            describe(&out)
        );
        current = password(&out);
        let refreshes = fake.token_requests("refresh_token");
        assert_eq!(refreshes.len(), 1, "{what}: {:#?}", fake.requests());
        assert_eq!(refreshes[0].status, 200, "{what}: {:#?}", refreshes[0]);
        assert_eq!(env.browser_opens(), 1, "{what}: no new sign-in");
    }
    // And the last one's rotated token works with a plain answer too.
    fake.set_token_answer(None);
    erase(&env, &host, &current);
    fake.clear_log();
    password(&get(&env, &host, None));
    assert_eq!(fake.token_requests("refresh_token")[0].status, 200);
    assert_eq!(env.browser_opens(), 1);
}

/// Defect 11: an access token holding a line break is refused at the
/// exchange with a message; nothing is stored, and git is told to stop
/// instead of getting no answer at all.
#[test]
fn a_token_with_a_line_break_is_refused_at_the_exchange_and_not_stored() {
    let (fake, env) = cloud_setup();
    let host = fake.host();
    fake.set_token_answer(Some(|mut v| {
        let token = v["access_token"].as_str().expect("a token").to_owned();
        v["access_token"] = json!(format!("{token}\nX"));
        v.to_string()
    }));

    let out = get(&env, &host, None);

    assert_eq!(stdout(&out), "quit=1\n", "{}", describe(&out));
    assert!(
        stderr(&out).contains("line break"),
        "says why: {}",
        describe(&out)
    );
    assert_eq!(fake.token_requests("authorization_code").len(), 1);
    assert!(accounts(&env).is_empty(), "nothing stored");
}

/// Defect 11, refresh side: a refresh token holding a CR is refused too,
/// and nothing of that answer is stored.
#[test]
fn a_refresh_token_with_a_carriage_return_is_refused_and_not_stored() {
    let (fake, env) = cloud_setup();
    let host = fake.host();
    let first = password(&get(&env, &host, None));
    fake.set_token_answer(Some(|mut v| {
        let token = v["refresh_token"].as_str().expect("a token").to_owned();
        v["refresh_token"] = json!(format!("{token}\r"));
        v.to_string()
    }));
    erase(&env, &host, &first);

    let out = get(&env, &host, None);

    assert_eq!(stdout(&out), "quit=1\n", "{}", describe(&out));
    assert!(
        stderr(&out).contains("refresh token") && stderr(&out).contains("line break"),
        "{}",
        describe(&out)
    );
    let fresh: Vec<String> = fake
        .issued_secrets()
        .into_iter()
        .filter(|s| s.starts_with("at.") && *s != first)
        .collect();
    assert_eq!(fresh.len(), 1, "the refused answer's access token");
    assert!(
        env.files_containing(&fresh).is_empty(),
        "the refused answer was not stored"
    );
}

/// Fidelity: tokens of 2,500+ characters, as Cloud issues since 2026,
/// survive sign-in, storage and a refresh.
#[test]
fn long_tokens_are_stored_and_refreshed() {
    let (fake, env) = cloud_setup_with(FakeOptions {
        long_tokens: true,
        ..FakeOptions::default()
    });
    let host = fake.host();
    let first = password(&get(&env, &host, None));
    assert!(first.len() > 2500, "{}", first.len());
    erase(&env, &host, &first);
    fake.clear_log();

    let second = password(&get(&env, &host, None));

    assert!(second.len() > 2500 && second != first);
    assert_eq!(fake.token_requests("refresh_token")[0].status, 200);
    assert_eq!(env.browser_opens(), 1);
    env.git_ok(&["ls-remote", &fake.repo_url()]);
}

/// Fidelity: a `/2.0/user` without `username` signs in anyway; the
/// account is known by its uuid, people see its nickname, and git's
/// `user@` (the nickname) finds the record again without a browser.
#[test]
fn a_user_object_without_username_is_known_by_its_uuid() {
    let (fake, env) = cloud_setup_with(FakeOptions {
        user_without_username: true,
        ..FakeOptions::default()
    });
    let host = fake.host();
    let alice = fake.account("alice");

    let out = get(&env, &host, None);
    password(&out);
    assert!(
        stderr(&out).contains("as alice"),
        "the nickname is shown: {}",
        describe(&out)
    );
    let listed = accounts(&env);
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0]["account"], json!(alice.uuid));
    assert_eq!(listed[0]["display_name"], json!(alice.display_name));

    password(&get(&env, &host, Some("alice")));
    password(&get(&env, &host, None));
    assert_eq!(env.browser_opens(), 1, "{}", env.browser_log());
    assert_eq!(fake.count(&Kind::User), 1);
    env.git_ok(&["ls-remote", &fake.repo_url()]);
}

/// Defect 16: Data Center compares usernames without case, so
/// `username=Alice` signs in as `alice` once and then finds that record.
#[test]
fn a_data_center_username_in_another_case_finds_its_account() {
    let fake = FakeDataCenter::start(DcOptions::with_redirect_port(free_port()));
    let env = TestEnv::new();
    let redirect = fake.redirect_uri();
    env.configure_helper(
        &fake.base_url(),
        "datacenter",
        &fake,
        &[("bitbucketRedirectUri", &redirect)],
    );
    let host = fake.host();

    let out = get(&env, &host, Some("Alice"));
    password(&out);
    for user in ["Alice", "ALICE", "alice"] {
        password(&get(&env, &host, Some(user)));
    }

    assert_eq!(env.browser_opens(), 1, "{}", env.browser_log());
    let listed = accounts(&env);
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0]["account"], json!("alice"));
}

/// Fidelity: Data Center tokens of 2,500+ characters sign in, refresh
/// (which revokes the previous access token at once) and serve git.
#[test]
fn long_data_center_tokens_are_stored_and_refreshed() {
    let fake = FakeDataCenter::start(DcOptions {
        long_tokens: true,
        ..DcOptions::with_redirect_port(free_port())
    });
    let env = TestEnv::new();
    let redirect = fake.redirect_uri();
    env.configure_helper(
        &fake.base_url(),
        "datacenter",
        &fake,
        &[("bitbucketRedirectUri", &redirect)],
    );
    let host = fake.host();
    let first = password(&get(&env, &host, None));
    assert!(first.len() > 2500, "{}", first.len());
    erase(&env, &host, &first);

    let second = password(&get(&env, &host, None));

    assert!(second.len() > 2500 && second != first);
    assert_eq!(env.browser_opens(), 1);
    env.git_ok(&["ls-remote", &fake.repo_url()]);
}

/// Defect 14: `host:443` for https is the bare host (git's urlmatch says
/// so too): one record, one sign-in.
#[test]
fn the_default_port_finds_the_same_record() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let env = TestEnv::new();
    env.configure_cloud_at(&fake, "https://bb.test");
    let https = |host: &str| format!("protocol=https\nhost={host}\n\n");

    password(&env.helper(&["get"], &https("bb.test")));
    password(&env.helper(&["get"], &https("bb.test:443")));
    password(&env.helper(&["get"], &https("BB.test:0443")));

    assert_eq!(env.browser_opens(), 1, "{}", env.browser_log());
    let listed = accounts(&env);
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0]["host"], json!("https://bb.test"));
}

/// An app password (`ATBB…`) offered to `configure --api-token` is
/// refused with what to use instead; nothing is stored or configured.
#[test]
fn configure_refuses_an_app_password() {
    let (fake, env) = cloud_setup();
    let url = fake.base_url();
    let out = env.helper(
        &[
            "configure",
            &url,
            "--kind",
            "cloud",
            "--api-token",
            "--store",
            "file",
        ],
        "ATBBexampleexampleexample0123\n",
    );
    assert_failure(&out, "configure with an app password");
    let err = stderr(&out);
    assert!(
        err.contains("app password") && err.contains("ATATT") && err.contains("OAuth"),
        "{err}"
    );
    assert!(accounts(&env).is_empty());
    assert!(env.files_containing(&["ATBBexample".into()]).is_empty());
}

/// An app password found in the store (kept by an older version) is not
/// handed to git: `quit=1` with the way out.
#[test]
fn get_explains_an_app_password_found_in_the_store() {
    let (fake, env) = cloud_setup();
    let url = fake.base_url();
    let api_token = fake.mint_api_token("alice");
    let out = env.helper(
        &[
            "configure",
            &url,
            "--kind",
            "cloud",
            "--api-token",
            "--store",
            "file",
        ],
        &format!("{api_token}\n"),
    );
    assert_success(&out, "configure --api-token");
    // What an older version could have stored: the same record holding an
    // app password.
    let files = env.files_containing(std::slice::from_ref(&api_token));
    assert!(!files.is_empty(), "the token is in the file store");
    for (path, _) in files {
        let text = std::fs::read_to_string(&path).expect("store");
        std::fs::write(&path, text.replace(&api_token, "ATBBoldapppassword0123")).expect("write");
    }

    let out = get(&env, &fake.host(), None);

    assert_eq!(stdout(&out), "quit=1\n", "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains("app password") && err.contains("ATATT"),
        "{err}"
    );
}

/// Defect 4, end to end: a directory planted in a shared place, with an
/// empty HEAD, objects/, refs/ and a config naming another token
/// endpoint, is no repository to git, so a `get` run there refreshes at
/// the configured endpoint, never the planted one.
#[test]
fn a_planted_repository_does_not_redirect_the_refresh() {
    let (fake, env) = cloud_setup();
    let host = fake.host();
    let first = password(&get(&env, &host, None));
    let planted = env.root().join("shared").join("planted");
    for sub in ["objects", "refs"] {
        std::fs::create_dir_all(planted.join(sub)).expect("dirs");
    }
    std::fs::write(planted.join("HEAD"), "").expect("HEAD");
    // Port 9 (discard) on loopback: nothing listens, so a helper that
    // used this endpoint fails the refresh.
    std::fs::write(
        planted.join("config"),
        format!(
            "[credential \"{}\"]\n\tbitbucketTokenUrl = http://127.0.0.1:9/token\n",
            fake.base_url()
        ),
    )
    .expect("config");
    erase(&env, &host, &first);
    fake.clear_log();

    let mut cmd = env.helper_command(&["get"]);
    cmd.current_dir(&planted);
    let out = env.run(
        cmd,
        Some(format!("protocol=http\nhost={host}\n\n").as_bytes()),
    );

    password(&out);
    assert_eq!(
        fake.token_requests("refresh_token").len(),
        1,
        "{}",
        describe(&out)
    );
}
