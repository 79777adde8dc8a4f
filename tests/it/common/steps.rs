//! Steps and evidence readers that the robustness tests (`parallel`,
//! `refresh_faults`, `kill_mid_write`, `loopback_listener`,
//! `secret_leaks`, `host_policy`), `store_safety` and `signin_safety`
//! share: a sign-in with short-lived tokens, a barrier-released parallel
//! runner, the store document and its records, the secrets the fake
//! issued, an environment with the hostile browser, and asserts on git
//! being served and on no sign-in having happened.

use std::path::Path;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::assert_git_served_as;
use crate::common::env::{key, python3, shell_quote, TestEnv, HOSTILE_BROWSER};
use crate::common::fake::{FakeBitbucket, Kind, LoggedRequest, TokenState};

/// Makes the helper sleep this many ms before renaming its store temp
/// file into place (a test-only hook), so a test can kill it mid-write.
pub const PAUSE_ENV: &str = "GIT_CREDENTIAL_BITBUCKET_TEST_PAUSE_BEFORE_RENAME_MS";
/// Turns the helper's trace on (to stderr, or to the file it names).
pub const TRACE_ENV: &str = "GIT_CREDENTIAL_BITBUCKET_TRACE";

/// The fake's repository URL with `user@` in it.
pub fn repo_url_as(fake: &FakeBitbucket, user: &str) -> String {
    format!("http://{user}@{}/ws/repo.git", fake.host())
}

/// What git sends the helper for the fake's host.
pub fn get_input(fake: &FakeBitbucket) -> String {
    format!("protocol=http\nhost={}\n\n", fake.host())
}

/// Signs in (alice, through the fake browser) with access tokens of
/// `lifetime` seconds, then makes later tokens live two hours. Returns the
/// instant by which the sign-in's token has expired for the helper and for
/// the fake alike.
pub fn sign_in_with_short_token(fake: &FakeBitbucket, env: &TestEnv, lifetime: u64) -> Instant {
    fake.set_access_lifetime(lifetime);
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    let issued_by = Instant::now();
    fake.set_access_lifetime(7200);
    issued_by + Duration::from_secs(lifetime) + Duration::from_millis(300)
}

/// Runs `f(0..n)` on `n` threads released together by a barrier, so the
/// processes they start overlap as much as the machine allows.
pub fn in_parallel<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let barrier = Barrier::new(n);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (f, barrier) = (&f, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    f(i)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a parallel worker panicked"))
            .collect()
    })
}

/// Polls `cond` every 20 ms until it holds; panics with `what` after
/// `timeout`.
#[track_caller]
pub fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The store document, parsed (panics if it is missing or not JSON).
pub fn store_doc(env: &TestEnv) -> Value {
    let path = env.data_dir().join("tokens.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{} is not JSON ({e}):\n{}",
            path.display(),
            String::from_utf8_lossy(&bytes)
        )
    })
}

/// The stored record of `user` (panics if there is none).
pub fn stored_record(env: &TestEnv, user: &str) -> Value {
    let doc = store_doc(env);
    doc["records"]
        .as_array()
        .and_then(|records| {
            records
                .iter()
                .find(|r| r["account"]["username"] == user)
                .cloned()
        })
        .unwrap_or_else(|| panic!("no record for {user} in the store: {doc:#}"))
}

/// A string field of a stored record.
pub fn field(record: &Value, name: &str) -> String {
    record[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {record:#}"))
        .to_string()
}

/// The secrets the fake issued that start with `prefix` (`at.`, `rt+`,
/// `code-`), oldest first.
pub fn issued(fake: &FakeBitbucket, prefix: &str) -> Vec<String> {
    fake.issued_secrets()
        .into_iter()
        .filter(|s| s.starts_with(prefix))
        .collect()
}

/// Every git request that carried a token the fake issued was answered
/// 200 for `user`, and there was at least one. (With `user@` in the URL,
/// git's first request carries the user name and an empty password; the
/// fake knows no such token and answers 401, as for an anonymous one.)
#[track_caller]
pub fn assert_git_served(fake: &FakeBitbucket, user: &str) {
    let issued_token = |r: &LoggedRequest| r.token_state.is_some_and(|t| t != TokenState::Unknown);
    assert_git_served_as(&fake.requests(), "issued-token", issued_token, user, None);
}

/// No browser was opened and no authorize request made since the log was
/// last cleared (the browser log is never cleared: `opens_before`).
#[track_caller]
pub fn assert_no_sign_in(fake: &FakeBitbucket, env: &TestEnv, opens_before: usize) {
    assert_eq!(fake.count(&Kind::Authorize), 0, "{:#?}", fake.requests());
    assert_eq!(
        fake.token_requests("authorization_code").len(),
        0,
        "{:#?}",
        fake.requests()
    );
    assert_eq!(
        env.browser_opens(),
        opens_before,
        "no browser may open:\n{}",
        env.browser_log()
    );
}

#[cfg(unix)]
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The helper asked the fake for nothing (no authorize, token or user
/// request) and opened no browser.
#[track_caller]
pub fn assert_nothing_asked(fake: &FakeBitbucket, env: &TestEnv) {
    assert_eq!(fake.count(&Kind::Authorize), 0);
    assert!(
        fake.all_token_requests().is_empty(),
        "{:#?}",
        fake.requests()
    );
    assert_eq!(fake.count(&Kind::User), 0);
    assert_eq!(env.browser_opens(), 0);
}

/// An environment whose browser is the hostile browser in `mode`.
pub fn hostile_env(fake: &FakeBitbucket, mode: &str) -> TestEnv {
    let env = TestEnv::new();
    env.configure_cloud(fake);
    let browser = format!(
        "{} {}",
        shell_quote(&python3()),
        shell_quote(HOSTILE_BROWSER)
    );
    env.set_config(&key(fake, "bitbucketBrowser"), &browser);
    env.set_env("HOSTILE_BROWSER_MODE", mode);
    env
}
