//! Robustness (issue 4): parallel git processes, network faults on the
//! refresh, a kill in the middle of a store write, two accounts refreshing
//! at once, a hostile browser at the loopback listener, secrets in traces
//! and files, and the host policy (contract.md §4–§7).
//!
//! As in `cloud`, every assertion rests on evidence from outside the
//! helper: the fake's request log, the browsers' logs and pages, git's exit
//! status and output, the store file and its modes, and sockets.
//!
//! Timing: tokens are made to expire by giving them lifetimes of a few
//! seconds and sleeping. The helper keeps expiry in whole Unix seconds
//! (floored), so it sees a token stale at most one second *earlier* than
//! the fake does, never later; the waits below allow for that.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::env::{
    cloud_setup as setup, key, python3, shell_quote, TestEnv, HOSTILE_BROWSER,
};
use crate::common::fake::{
    FakeBitbucket, FakeOptions, Kind, LoggedRequest, TokenFault, TokenState,
};
use crate::common::{
    assert_failure, assert_git_served_as, assert_success, describe, ls_remote_refreshes_once,
    sleep_until, stderr, stdout,
};

const PAUSE_ENV: &str = "GIT_CREDENTIAL_BITBUCKET_TEST_PAUSE_BEFORE_RENAME_MS";
const TRACE_ENV: &str = "GIT_CREDENTIAL_BITBUCKET_TRACE";

// ---------------------------------------------------------------- helpers

/// The fake's repository URL with `user@` in it.
fn repo_url_as(fake: &FakeBitbucket, user: &str) -> String {
    format!("http://{user}@{}/ws/repo.git", fake.host())
}

/// What git sends the helper for the fake's host.
fn get_input(fake: &FakeBitbucket) -> String {
    format!("protocol=http\nhost={}\n\n", fake.host())
}

/// Signs in (alice, through the fake browser) with access tokens of
/// `lifetime` seconds, then makes later tokens live two hours. Returns the
/// instant by which the sign-in's token has expired for the helper and for
/// the fake alike.
fn sign_in_with_short_token(fake: &FakeBitbucket, env: &TestEnv, lifetime: u64) -> Instant {
    fake.set_access_lifetime(lifetime);
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    let issued_by = Instant::now();
    fake.set_access_lifetime(7200);
    issued_by + Duration::from_secs(lifetime) + Duration::from_millis(300)
}

/// Runs `f(0..n)` on `n` threads released together by a barrier, so the
/// processes they start overlap as much as the machine allows.
fn in_parallel<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
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
fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The store document, parsed (panics if it is missing or not JSON).
fn store_doc(env: &TestEnv) -> Value {
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
fn stored_record(env: &TestEnv, user: &str) -> Value {
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
fn field(record: &Value, name: &str) -> String {
    record[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {record:#}"))
        .to_string()
}

/// The secrets the fake issued that start with `prefix` (`at.`, `rt+`,
/// `code-`), oldest first.
fn issued(fake: &FakeBitbucket, prefix: &str) -> Vec<String> {
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
fn assert_git_served(fake: &FakeBitbucket, user: &str) {
    let issued_token = |r: &LoggedRequest| r.token_state.is_some_and(|t| t != TokenState::Unknown);
    assert_git_served_as(&fake.requests(), "issued-token", issued_token, user, None);
}

/// No browser was opened and no authorize request made since the log was
/// last cleared (the browser log is never cleared: `opens_before`).
#[track_caller]
fn assert_no_sign_in(fake: &FakeBitbucket, env: &TestEnv, opens_before: usize) {
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

/// A loopback URL whose port nobody listens on: bound, then released.
fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}/site/oauth2/access_token")
}

/// The port of the loopback redirect the helper sent at authorize.
fn redirect_port(fake: &FakeBitbucket) -> u16 {
    let requests = fake.requests();
    let authorize = requests
        .iter()
        .find(|r| r.kind == Kind::Authorize)
        .expect("an authorize request");
    let uri = authorize.param("redirect_uri").expect("a redirect_uri");
    uri.trim_start_matches("http://127.0.0.1:")
        .split('/')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {uri}"))
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
fn listening(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

// ------------------------------------------- 1. parallel git processes

/// contract.md §5, §8: 32 parallel `get`s after expiry, with rotating refresh
/// tokens, cause one refresh and 32 successes.
#[test]
fn thirty_two_parallel_git_commands_after_expiry_cause_exactly_one_refresh() {
    let (fake, env) = setup();
    let expired_by = sign_in_with_short_token(&fake, &env, 3);
    assert!(fake.options().rotate, "refresh tokens rotate");
    sleep_until(expired_by);
    fake.clear_log();

    let url = fake.repo_url();
    let outs = in_parallel(32, |_| env.git(&["ls-remote", &url]));

    for (i, out) in outs.iter().enumerate() {
        assert_success(out, &format!("parallel ls-remote #{i}"));
        assert!(
            stdout(out).contains("refs/heads/main"),
            "#{i}: {}",
            describe(out)
        );
    }
    let refreshes = fake.token_requests("refresh_token");
    assert_eq!(refreshes.len(), 1, "one refresh: {refreshes:#?}");
    assert_eq!(refreshes[0].status, 200, "{:#?}", refreshes[0]);
    assert_eq!(fake.all_token_requests().len(), 1);
    assert_no_sign_in(&fake, &env, 1);
    assert_git_served(&fake, "alice");
    let served = fake
        .requests()
        .iter()
        .filter(|r| r.kind == Kind::Git && r.auth_scheme.is_some() && r.status == 200)
        .count();
    assert!(served >= 32, "each of the 32 was served: {served}");
}

/// contract.md §5: parallel first clones with nothing stored open one browser and
/// exchange one code; the others wait for it and use its token.
#[test]
fn eight_parallel_first_commands_open_one_browser_and_exchange_one_code() {
    let (fake, env) = setup();

    let url = fake.repo_url();
    let outs = in_parallel(8, |_| env.git(&["ls-remote", &url]));

    for (i, out) in outs.iter().enumerate() {
        assert_success(out, &format!("parallel first ls-remote #{i}"));
    }
    env.wait_for_browsers();
    assert_eq!(env.browser_opens(), 1, "{}", env.browser_log());
    assert_eq!(fake.count(&Kind::Authorize), 1, "{:#?}", fake.requests());
    let exchanges = fake.token_requests("authorization_code");
    assert_eq!(exchanges.len(), 1, "{exchanges:#?}");
    assert_eq!(exchanges[0].status, 200);
    assert_eq!(fake.all_token_requests().len(), 1);
    assert!(fake.count(&Kind::User) <= 1);
    assert_git_served(&fake, "alice");
}

// ------------------------------------------- 2. network faults on refresh

/// The faults of contract.md §9 that answer at once.
#[derive(Clone, Debug)]
enum Fault {
    Fake(TokenFault),
    Refused,
}

/// Applies `fault` (the fake's token fault, or a token URL on a closed
/// port); returns the undo.
fn apply<'a>(fake: &'a FakeBitbucket, env: &'a TestEnv, fault: &Fault) -> impl FnOnce() + 'a {
    let token_url_key = key(fake, "bitbucketTokenUrl");
    match fault {
        Fault::Fake(f) => fake.set_token_fault(Some(f.clone())),
        Fault::Refused => env.set_config(&token_url_key, &closed_port_url()),
    }
    let refused = matches!(fault, Fault::Refused);
    move || {
        fake.set_token_fault(None);
        if refused {
            env.set_config(&token_url_key, &fake.token_url());
        }
    }
}

/// The token requests a faulted refresh made: one with the fault for the
/// fake's faults, none for a refused connection.
#[track_caller]
fn assert_faulted_refresh(fake: &FakeBitbucket, fault: &Fault) {
    let tokens = fake.all_token_requests();
    match fault {
        Fault::Fake(f) => {
            assert_eq!(tokens.len(), 1, "{fault:?}: {tokens:#?}");
            assert_eq!(tokens[0].kind, Kind::token("refresh_token"));
            assert_eq!(tokens[0].fault.as_ref(), Some(f), "{:#?}", tokens[0]);
        }
        Fault::Refused => assert!(tokens.is_empty(), "{tokens:#?}"),
    }
}

/// After a faulted refresh: the token requests it made, no sign-in, and
/// the refresh token `rt_before` still in the store.
#[track_caller]
fn assert_sign_in_kept(fake: &FakeBitbucket, env: &TestEnv, fault: &Fault, rt_before: &str) {
    assert_faulted_refresh(fake, fault);
    assert_no_sign_in(fake, env, 1);
    assert_eq!(
        field(&stored_record(env, "alice"), "refresh_token"),
        rt_before,
        "{fault:?}: the refresh token is kept"
    );
}

/// With the fault cleared, the kept refresh token works, once, and no
/// sign-in happens.
#[track_caller]
fn assert_kept_refresh_token_works(fake: &FakeBitbucket, env: &TestEnv) {
    ls_remote_refreshes_once(fake, env);
    assert_no_sign_in(fake, env, 1);
}

/// The helper asked the fake for nothing (no authorize, token or user
/// request) and opened no browser.
#[track_caller]
fn assert_nothing_asked(fake: &FakeBitbucket, env: &TestEnv) {
    assert_eq!(fake.count(&Kind::Authorize), 0);
    assert!(
        fake.all_token_requests().is_empty(),
        "{:#?}",
        fake.requests()
    );
    assert_eq!(fake.count(&Kind::User), 0);
    assert_eq!(env.browser_opens(), 0);
}

fn instant_faults() -> Vec<Fault> {
    vec![
        Fault::Fake(TokenFault::ServerError500),
        Fault::Fake(TokenFault::MalformedJson),
        Fault::Fake(TokenFault::Html),
        Fault::Refused,
    ]
}

/// contract.md §4 step 6: a refresh that fails for network reasons while the old
/// access token is still valid hands out the old token, with a warning.
#[test]
fn refresh_faults_inside_the_margin_fall_back_to_the_still_valid_token_with_a_warning() {
    let (fake, env) = setup();
    // 20 s tokens: the margin is min(600, 20 / 4) = 5 s, so the token is
    // due for refresh but still valid from 15 s to 20 s after it was issued
    // (from at most 16 s to at least 19 s, allowing for whole seconds).
    fake.set_access_lifetime(20);
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    let exchange = fake.token_requests("authorization_code");
    let issued = fake.instant_of(&exchange[0]);
    let rt_before = field(&stored_record(&env, "alice"), "refresh_token");
    sleep_until(issued + Duration::from_millis(16_200));
    let valid_until = issued + Duration::from_secs(19);

    for fault in instant_faults() {
        fake.clear_log();
        let undo = apply(&fake, &env, &fault);
        let out = env.git(&["ls-remote", &fake.repo_url()]);
        undo();
        assert!(
            Instant::now() < valid_until,
            "the machine is too slow for this test: the token's margin window passed"
        );

        assert_success(&out, &format!("ls-remote with {fault:?} inside the margin"));
        let err = stderr(&out);
        assert!(
            err.contains("warning") && err.contains("refresh"),
            "{fault:?}: a warning on stderr:\n{err}"
        );
        assert_sign_in_kept(&fake, &env, &fault, &rt_before);
        // No token request succeeded, so the token git was served with is
        // the old one, still live at the fake.
        assert_git_served(&fake, "alice");
    }

    // Fault cleared: the kept refresh token works, once.
    assert_kept_refresh_token_works(&fake, &env);
}

/// contract.md §4 step 6, §6, §7: with the access token expired, a refresh that
/// fails for network reasons (500, garbage, HTML, refused, a hang) fails
/// git in bounded time with a message, opens no browser, and keeps the
/// refresh token, which works once the fault clears.
#[test]
fn refresh_faults_after_expiry_fail_in_bounded_time_open_no_browser_and_keep_the_refresh_token() {
    let (fake, env) = setup();
    let expired_by = sign_in_with_short_token(&fake, &env, 2);
    let rt_before = field(&stored_record(&env, "alice"), "refresh_token");
    sleep_until(expired_by);

    let mut faults = instant_faults();
    // The only hang test: longer than the helper's 30 s whole-request
    // timeout, which must end it.
    // The fake answers 504 after 50 s, so a helper without that timeout
    // shows up both in the time taken and in the message.
    faults.push(Fault::Fake(TokenFault::Hang(Duration::from_secs(50))));
    for fault in faults {
        let hang = matches!(fault, Fault::Fake(TokenFault::Hang(_)));
        fake.clear_log();
        let undo = apply(&fake, &env, &fault);
        let started = Instant::now();
        let out = env.git(&["ls-remote", &fake.repo_url()]);
        let took = started.elapsed();
        undo();

        assert_failure(&out, &format!("ls-remote with {fault:?} after expiry"));
        let bound = if hang { 45 } else { 20 };
        assert!(
            took < Duration::from_secs(bound),
            "{fault:?}: took {took:?}"
        );
        let err = stderr(&out);
        assert!(
            err.contains("could not refresh the access token"),
            "{fault:?}: a clear message on stderr:\n{err}"
        );
        assert!(
            err.contains("told us to quit"),
            "{fault:?}: quit=1, so git does not prompt:\n{err}"
        );
        if hang {
            assert!(err.contains("timed out"), "{fault:?}:\n{err}");
        }
        assert_sign_in_kept(&fake, &env, &fault, &rt_before);
    }

    assert_kept_refresh_token_works(&fake, &env);
    assert_git_served(&fake, "alice");
}

// ------------------------------------------- 3. kill mid-write

/// Runs `helper get` for the fake's host with the store write paused
/// before its rename, SIGKILLs it once the fsynced temp file is in place,
/// and returns the temp file's path and contents (read before the kill)
/// and what the helper printed.
fn kill_helper_mid_write(fake: &FakeBitbucket, env: &TestEnv) -> (PathBuf, Vec<u8>, Output) {
    let trace = env.root().join("kill-trace.log");
    let _ = std::fs::remove_file(&trace);
    let mut cmd = env.helper_command(&["get"]);
    cmd.env(PAUSE_ENV, "5000").env(TRACE_ENV, &trace);
    let input = get_input(fake);
    let data_dir = env.data_dir();
    // The pid comes from the paused process's own trace line; its temp
    // file is `tokens.json.tmp-<pid>-<random>` (an earlier kill may have
    // left another one behind).
    let paused_pid = || -> Option<u32> {
        let text = std::fs::read_to_string(&trace).ok()?;
        let line = text
            .lines()
            .find(|l| l.contains("test fault point: pausing"))?;
        let pid = line.split('[').nth(1)?.split(']').next()?;
        pid.parse().ok()
    };
    std::thread::scope(|s| {
        let helper = s.spawn(|| env.run(cmd, Some(input.as_bytes())));
        let mut found = None;
        wait_for(
            "the helper to pause between the temp file and the rename",
            Duration::from_secs(20),
            || {
                found = paused_pid().and_then(|pid| {
                    let prefix = format!("tokens.json.tmp-{pid}-");
                    std::fs::read_dir(&data_dir)
                        .ok()?
                        .flatten()
                        .find(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                        .map(|e| (e.path(), pid))
                });
                found.is_some()
            },
        );
        let (path, pid) = found.expect("found above");
        let temp_bytes = std::fs::read(&path).expect("read the temp file");
        // Under Wine the pid is a Windows one: wine::kill ends it there.
        assert!(crate::common::wine::kill(env, pid), "kill -KILL {pid}");
        let out = helper.join().expect("the helper runner");
        (path, temp_bytes, out)
    })
}

/// contract.md §5, §9: a helper killed between writing the fsynced temp file and
/// renaming it leaves the old store whole; the next command adopts the
/// complete temp file, so even a rotated refresh token is not lost.
#[test]
fn a_helper_killed_mid_write_leaves_the_old_store_whole() {
    let (fake, env) = setup();
    // Part 1, refresh tokens NOT rotating: the killed helper's refresh did
    // not spend the stored refresh token, so the next command refreshes
    // with it, without a browser.
    fake.set_rotate(false);
    let expired_by = sign_in_with_short_token(&fake, &env, 2);
    sleep_until(expired_by);
    let store_path = env.data_dir().join("tokens.json");
    let before = std::fs::read(&store_path).expect("the store after sign-in");
    let old = stored_record(&env, "alice");
    fake.clear_log();

    let (temp, temp_bytes, out) = kill_helper_mid_write(&fake, &env);

    assert_eq!(
        stdout(&out),
        "",
        "killed before answering: {}",
        describe(&out)
    );
    let refreshed = fake.token_requests("refresh_token");
    assert_eq!(refreshed.len(), 1, "{:#?}", fake.requests());
    assert_eq!(refreshed[0].status, 200);
    // The kill landed after the new document was complete on disk…
    let new_at = issued(&fake, "at.").pop().expect("the refresh's token");
    let temp_doc: Value = serde_json::from_slice(&temp_bytes).expect("the temp file is whole");
    assert!(temp_doc.to_string().contains(&new_at), "{temp_doc:#}");
    // …and before the rename: the store is the old document, byte for byte.
    assert_eq!(
        std::fs::read(&store_path).expect("the store"),
        before,
        "the store is untouched"
    );
    assert_eq!(stored_record(&env, "alice"), old);
    assert!(
        temp.exists(),
        "the temp file was left behind (it was never renamed)"
    );
    // Windows has no file modes (docs/platforms.md): not checked under Wine.
    #[cfg(unix)]
    if !crate::common::wine::active() {
        assert_eq!(
            mode(&temp),
            0o600,
            "the temp file is private from its creation"
        );
    }

    // The next command finishes the killed helper's write: the temp file
    // is whole and of the next generation, so it is adopted, and its
    // fresh token answers with no token request and no browser.
    fake.clear_log();
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    assert!(
        fake.all_token_requests().is_empty(),
        "{:#?}",
        fake.requests()
    );
    assert_no_sign_in(&fake, &env, 1);
    assert_eq!(field(&stored_record(&env, "alice"), "access_token"), new_at);
    assert!(!temp.exists(), "the temp file was adopted");

    // Part 2, refresh tokens rotating: the fake rotated the stored refresh
    // token when it answered the killed helper. Its new refresh token sat
    // only in the temp file, which the next command adopts: the sign-in
    // is kept, no browser.
    fake.set_rotate(true);
    let token = field(&stored_record(&env, "alice"), "access_token");
    // Dropping the access token (git's `erase` after a 401) makes the
    // next command refresh.
    let erase = format!(
        "protocol=http\nhost={}\nusername=x-token-auth\npassword={token}\n\n",
        fake.host()
    );
    assert_success(&env.helper(&["erase"], &erase), "erase");
    let before = std::fs::read(&store_path).expect("the store");
    fake.clear_log();

    let (_, _, out) = kill_helper_mid_write(&fake, &env);

    assert_eq!(stdout(&out), "", "{}", describe(&out));
    assert_eq!(fake.token_requests("refresh_token").len(), 1);
    assert_eq!(std::fs::read(&store_path).expect("the store"), before);
    store_doc(&env);
    let rotated_rt = issued(&fake, "rt+")
        .pop()
        .expect("the rotated refresh token");

    fake.clear_log();
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    assert!(
        fake.all_token_requests().is_empty(),
        "{:#?}",
        fake.requests()
    );
    assert_eq!(env.browser_opens(), 1, "no new sign-in");
    assert_git_served(&fake, "alice");
    assert_eq!(
        field(&stored_record(&env, "alice"), "refresh_token"),
        rotated_rt
    );
    // And the adopted refresh token works.
    let token = field(&stored_record(&env, "alice"), "access_token");
    let erase = format!(
        "protocol=http\nhost={}\nusername=x-token-auth\npassword={token}\n\n",
        fake.host()
    );
    assert_success(&env.helper(&["erase"], &erase), "erase");
    ls_remote_refreshes_once(&fake, &env);
}

// ------------------------------------------- 4. two accounts at once

/// contract.md §5: two accounts on one host refreshing at the same moment never
/// lose each other's (rotated) refresh tokens.
#[test]
fn two_accounts_refreshing_at_once_keep_both_latest_refresh_tokens() {
    let (fake, env) = setup();
    let users = ["alice", "bob"];
    // Both sign in with 2 s tokens (margin min(600, 2 / 4) = 0).
    fake.set_access_lifetime(2);
    for user in users {
        fake.set_browser_user(user);
        env.git_ok(&["ls-remote", &repo_url_as(&fake, user)]);
    }
    assert_eq!(env.browser_opens(), 2);
    let mut expired_by = Instant::now() + Duration::from_millis(2300);

    for round in 1..=5 {
        sleep_until(expired_by);
        fake.clear_log();
        let outs = in_parallel(2, |i| {
            env.git(&["ls-remote", &repo_url_as(&fake, users[i])])
        });
        expired_by = Instant::now() + Duration::from_millis(2300);

        for (user, out) in users.iter().zip(&outs) {
            assert_success(out, &format!("round {round}: ls-remote as {user}"));
        }
        let refreshes = fake.token_requests("refresh_token");
        assert_eq!(refreshes.len(), 2, "round {round}: {refreshes:#?}");
        let mut accounts: Vec<_> = refreshes
            .iter()
            .map(|r| {
                assert_eq!(r.status, 200, "round {round}: {r:#?}");
                r.account.clone().unwrap_or_default()
            })
            .collect();
        accounts.sort();
        assert_eq!(accounts, users, "round {round}");
        assert_no_sign_in(&fake, &env, 2);
    }

    // The store holds exactly the two refresh tokens issued last.
    let mut stored: Vec<String> = users
        .iter()
        .map(|u| field(&stored_record(&env, u), "refresh_token"))
        .collect();
    let mut latest = issued(&fake, "rt+");
    let mut latest = latest.split_off(latest.len() - 2);
    stored.sort();
    latest.sort();
    assert_eq!(stored, latest);

    // And each works: one refresh each, no browser.
    sleep_until(expired_by);
    for user in users {
        fake.clear_log();
        env.git_ok(&["ls-remote", &repo_url_as(&fake, user)]);
        let refreshes = fake.token_requests("refresh_token");
        assert_eq!(refreshes.len(), 1, "{user}: {:#?}", fake.requests());
        assert_eq!(refreshes[0].status, 200);
        assert_eq!(refreshes[0].account.as_deref(), Some(user));
        assert_no_sign_in(&fake, &env, 2);
        assert_git_served(&fake, user);
    }
}

// ------------------------------------------- 5. loopback listener

/// An environment whose browser is the hostile browser in `mode`.
fn hostile_env(fake: &FakeBitbucket, mode: &str) -> TestEnv {
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

/// The hostile browser's `request METHOD TARGET STATUS` lines.
fn listener_requests(env: &TestEnv) -> Vec<(String, String, u16)> {
    env.browser_log()
        .lines()
        .filter_map(|l| l.strip_prefix("request "))
        .map(|l| {
            let mut parts = l.split(' ');
            let method = parts.next().unwrap_or_default().to_string();
            let target = parts.next().unwrap_or_default().to_string();
            let status = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
            (method, target, status)
        })
        .collect()
}

/// contract.md §6: other paths and methods get 404 and the wait goes on; the
/// real callback then succeeds; the listener is closed right after the
/// callback, while the helper is still running.
#[test]
fn loopback_answers_404_to_other_paths_and_methods_then_takes_the_callback_and_closes() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let env = hostile_env(&fake, "probe-then-callback");
    let trace = env.root().join("trace.log");
    let mut cmd = env.helper_command(&["get"]);
    // The store write after the sign-in pauses 1.5 s: the helper is still
    // alive then, so a closed port shows the listener itself was closed.
    cmd.env(PAUSE_ENV, "1500").env(TRACE_ENV, &trace);
    let input = get_input(&fake);

    let (out, port_open_while_paused) = std::thread::scope(|s| {
        let helper = s.spawn(|| env.run(cmd, Some(input.as_bytes())));
        let paused = || std::fs::read_to_string(&trace).is_ok_and(|t| t.contains("pausing"));
        wait_for(
            "the helper to reach the store write or end",
            Duration::from_secs(30),
            || paused() || helper.is_finished(),
        );
        // `None`: the helper never got as far as storing a token; the
        // assertions below say why.
        let open = paused().then(|| listening(redirect_port(&fake)));
        (helper.join().expect("the helper runner"), open)
    });

    assert_success(&out, "helper get");
    assert!(
        stdout(&out).contains("password=at."),
        "a token after the probes: {}",
        describe(&out)
    );
    env.wait_for_browsers();
    let requests = listener_requests(&env);
    let statuses: Vec<(&str, u16)> = requests.iter().map(|(m, _, s)| (m.as_str(), *s)).collect();
    assert_eq!(
        statuses,
        [("GET", 404), ("GET", 404), ("POST", 404), ("GET", 200)],
        "browser log:\n{}",
        env.browser_log()
    );
    assert!(requests[0].1 == "/favicon.ico" && requests[1].1.starts_with("/elsewhere?code="));
    let page = env.last_browser_page().expect("the callback page");
    assert!(page.contains("Signed in"), "{page}");
    let exchanges = fake.token_requests("authorization_code");
    assert_eq!(exchanges.len(), 1, "{:#?}", fake.requests());
    assert_eq!(exchanges[0].status, 200);
    assert_eq!(fake.count(&Kind::Authorize), 1);
    assert_eq!(
        port_open_while_paused,
        Some(false),
        "the loopback port still accepted connections after the callback"
    );
    // Control: the probe does see a port that is open.
    let open = TcpListener::bind("127.0.0.1:0").expect("bind");
    assert!(listening(open.local_addr().expect("addr").port()));
}

/// contract.md §6: a callback with a wrong or missing `state`, or without a
/// code, ends the sign-in at once with a message and no token request.
#[test]
fn loopback_callbacks_with_a_bad_state_or_no_code_end_the_sign_in_without_a_token_request() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    for (mode, says) in [
        ("bad-state", "state"),
        ("missing-state", "state"),
        ("no-code", "no authorization code"),
    ] {
        let env = hostile_env(&fake, mode);
        fake.clear_log();
        let started = Instant::now();
        let out = env.helper(&["get"], &get_input(&fake));
        let took = started.elapsed();

        assert_eq!(stdout(&out), "quit=1\n", "{mode}: {}", describe(&out));
        assert!(
            took < Duration::from_secs(20),
            "{mode}: ended at once, not at the login timeout: {took:?}"
        );
        assert!(
            stderr(&out).contains(says),
            "{mode}: stderr says why:\n{}",
            stderr(&out)
        );
        env.wait_for_browsers();
        let requests = listener_requests(&env);
        assert_eq!(requests.len(), 1, "{mode}: {}", env.browser_log());
        let page = env.last_browser_page().expect("a page");
        assert!(page.contains("Sign-in failed"), "{mode}: {page}");
        assert_eq!(fake.count(&Kind::Authorize), 1, "{mode}");
        assert!(
            fake.all_token_requests().is_empty(),
            "{mode}: {:#?}",
            fake.requests()
        );
        assert!(!listening(redirect_port(&fake)), "{mode}: port closed");
        assert!(
            !env.data_dir().join("tokens.json").exists(),
            "{mode}: nothing stored"
        );
    }
}

/// contract.md §6: the failure page echoes no input unescaped.
#[test]
fn loopback_failure_page_escapes_the_error_description() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let env = hostile_env(&fake, "error-xss");

    let out = env.helper(&["get"], &get_input(&fake));

    assert_eq!(stdout(&out), "quit=1\n", "{}", describe(&out));
    assert!(stderr(&out).contains("access_denied"), "{}", stderr(&out));
    let page = env.last_browser_page().expect("the failure page");
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the description is shown, escaped:\n{page}"
    );
    assert!(!page.contains("<script"), "unescaped markup:\n{page}");
    assert!(
        fake.all_token_requests().is_empty(),
        "{:#?}",
        fake.requests()
    );
    assert!(!listening(redirect_port(&fake)));
}

// ------------------------------------------- 6. secrets

/// Files under the test dir holding a secret where none belongs: all but
/// our store document, the fake browser's log and pages, and the client
/// secret where the test configured it.
fn leaks_in_files(env: &TestEnv, secrets: &[String]) -> Vec<(PathBuf, String)> {
    let store_file = env.data_dir().join("tokens.json");
    env.leaked_secrets(secrets)
        .into_iter()
        .chain(
            // `leaked_secrets` allows the whole data dir; we allow only the
            // document, so lock and temp files are scanned too.
            env.files_containing(secrets)
                .into_iter()
                .filter(|(p, _)| p.starts_with(env.data_dir()) && *p != store_file),
        )
        .collect()
}

/// Secrets in anything any command printed.
fn leaks_in_output(env: &TestEnv, secrets: &[String]) -> Vec<(String, String)> {
    let mut hits = Vec::new();
    for ran in env.transcript() {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&ran.output.stdout),
            String::from_utf8_lossy(&ran.output.stderr)
        );
        for s in secrets.iter().filter(|s| !s.is_empty()) {
            if text.contains(s.as_str()) {
                hits.push((ran.command.clone(), s.clone()));
            }
        }
    }
    hits
}

/// The `state` of every authorize request and the `code_verifier` of
/// every code exchange in the fake's log: secrets the helper made up, which
/// `issued_secrets` cannot know.
fn helper_made_secrets(fake: &FakeBitbucket) -> (Vec<String>, Vec<String>) {
    let requests = fake.requests();
    let pick = |kind: Kind, name: &str| -> Vec<String> {
        requests
            .iter()
            .filter(|r| r.kind == kind)
            .filter_map(|r| r.param(name).map(str::to_string))
            .collect()
    };
    (
        pick(Kind::Authorize, "state"),
        pick(Kind::token("authorization_code"), "code_verifier"),
    )
}

/// First clone, fresh fetch, refresh, erase after revoke, push and a
/// denied sign-in, each checked against the fake's log. Returns the
/// `state`s and PKCE verifiers the helper used.
fn run_secret_flows(fake: &FakeBitbucket, env: &TestEnv) -> (Vec<String>, Vec<String>) {
    // First clone (sign-in).
    fake.set_access_lifetime(2);
    env.git_ok(&["clone", &fake.repo_url(), "clone"]);
    let (mut states, verifiers) = helper_made_secrets(fake);
    let dir = env.work_dir().join("clone");
    let expired_by = Instant::now() + Duration::from_millis(2300);
    fake.set_access_lifetime(7200);
    assert_eq!(fake.token_requests("authorization_code").len(), 1);
    sleep_until(expired_by);

    // Refresh.
    fake.clear_log();
    env.git_in_ok(&dir, &["fetch", "origin"]);
    assert_eq!(fake.token_requests("refresh_token").len(), 1);

    // Fresh fetch: no token request.
    fake.clear_log();
    env.git_in_ok(&dir, &["fetch", "origin"]);
    assert_eq!(fake.all_token_requests().len(), 0);

    // Erase after revoke: git reports the 401, the next command refreshes.
    fake.revoke_access_tokens();
    assert_failure(
        &env.git(&["ls-remote", &fake.repo_url()]),
        "ls-remote with a revoked token",
    );
    fake.clear_log();
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    let refreshes = fake.token_requests("refresh_token");
    assert_eq!(refreshes.len(), 1, "erase dropped the access token");
    assert_eq!(refreshes[0].status, 200);

    // Push.
    env.commit_file(&dir, "notes.txt", b"pushed\n", "Add notes");
    env.git_in_ok(&dir, &["push", "origin", "main"]);
    assert_eq!(fake.server_commit_count("main"), 2);

    // Denied sign-in (bob has no record).
    fake.set_deny(true);
    fake.set_browser_user("bob");
    fake.clear_log();
    let denied = env.git(&["ls-remote", &repo_url_as(fake, "bob")]);
    fake.set_deny(false);
    assert_failure(&denied, "denied sign-in");
    assert!(
        stderr(&denied).contains("access_denied"),
        "{}",
        describe(&denied)
    );
    states.extend(helper_made_secrets(fake).0);
    assert_eq!(
        (states.len(), verifiers.len()),
        (2, 1),
        "two sign-ins, one exchange"
    );
    (states, verifiers)
}

/// Runs the flows with the trace going to `trace`, then scans.
fn secrets_never_leak(trace_to_file: bool) {
    let (fake, env) = setup();
    let trace_file = env.root().join("trace.log");
    if trace_to_file {
        env.set_env(TRACE_ENV, &trace_file);
    } else {
        env.set_env(TRACE_ENV, "1");
    }

    let (states, verifiers) = run_secret_flows(&fake, &env);

    // The trace was on and saw the flows, so scanning it means something.
    let traced = if trace_to_file {
        std::fs::read_to_string(&trace_file).expect("the trace file")
    } else {
        env.all_output()
    };
    for step in [
        "POST",
        "refreshing",
        "erase: dropping",
        "exchanging the authorization code",
    ] {
        assert!(traced.contains(step), "the trace shows {step:?}:\n{traced}");
    }

    let secrets = fake.issued_secrets();
    assert!(
        secrets.iter().filter(|s| s.starts_with("at.")).count() >= 3
            && secrets.iter().any(|s| s.starts_with("rt+"))
            && secrets.iter().any(|s| s.starts_with("code-")),
        "the scan has tokens and codes to look for: {secrets:?}"
    );
    // The store does hold live secrets: the needles are the right ones.
    let store_file = env.data_dir().join("tokens.json");
    assert!(
        env.files_containing(&secrets)
            .iter()
            .any(|(p, _)| *p == store_file),
        "positive control: the store holds a secret"
    );

    assert_eq!(leaks_in_output(&env, &secrets), [], "secrets printed");
    assert_eq!(leaks_in_files(&env, &secrets), [], "secrets in files");

    // The PKCE verifier appears nowhere; `state` only inside the authorize
    // URL, which contract.md §6 requires on stderr (alone on its line), and in
    // the browser's log.
    assert_eq!(leaks_in_output(&env, &verifiers), [], "verifier printed");
    assert_eq!(leaks_in_files(&env, &verifiers), [], "verifier in files");
    assert_eq!(leaks_in_files(&env, &states), [], "state in files");
    let authorize_prefix = format!("{}?", fake.authorize_url());
    for line in env.all_output().lines() {
        for state in &states {
            assert!(
                !line.contains(state.as_str()) || line.starts_with(&authorize_prefix),
                "state outside the authorize URL line: {line}"
            );
        }
    }

    // Positive control: a planted token is caught in a file and in output.
    let planted = issued(&fake, "rt+").pop().expect("a refresh token");
    let plant = env.root().join("work/planted.txt");
    std::fs::write(&plant, format!("oops {planted}\n")).expect("plant");
    assert_eq!(
        leaks_in_files(&env, &secrets),
        [(plant.clone(), planted.clone())]
    );
    std::fs::remove_file(&plant).expect("unplant");
    // …also beside the store, where only tokens.json may hold one.
    let stray = env.data_dir().join("tokens.json.tmp-1");
    std::fs::write(&stray, &planted).expect("plant");
    assert_eq!(
        leaks_in_files(&env, &secrets),
        [(stray.clone(), planted.clone())]
    );
    std::fs::remove_file(&stray).expect("unplant");
    let mut cmd = env.command("sh");
    cmd.args(["-c", &format!("echo {} >&2", shell_quote(&planted))]);
    env.run(cmd, None);
    assert_eq!(
        leaks_in_output(&env, &secrets).len(),
        1,
        "planted in stderr"
    );

    // File modes (contract.md §5, §7).
    #[cfg(unix)]
    {
        assert_eq!(mode(&env.data_dir()), 0o700);
        assert_eq!(mode(&store_file), 0o600);
        let locks = env.data_dir().join("locks");
        assert_eq!(mode(&locks), 0o700);
        let lock_files: Vec<PathBuf> = std::fs::read_dir(&locks)
            .expect("the lock dir")
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(!lock_files.is_empty());
        for lock in &lock_files {
            assert_eq!(mode(lock), 0o600, "{}", lock.display());
        }
        if trace_to_file {
            assert_eq!(mode(&trace_file), 0o600);
        }
    }
}

/// contract.md §7: no secret in any output, the trace file or any file but our
/// store, with `GIT_CREDENTIAL_BITBUCKET_TRACE=<file>`.
#[test]
fn secrets_never_reach_output_or_files_with_the_trace_in_a_file() {
    secrets_never_leak(true);
}

/// contract.md §7: the same with `GIT_CREDENTIAL_BITBUCKET_TRACE=1` (stderr).
#[test]
fn secrets_never_reach_output_or_files_with_the_trace_on_stderr() {
    secrets_never_leak(false);
}

// ------------------------------------------- 7. host policy

/// contract.md §4, §7: our host over plain http to a non-loopback name without
/// `bitbucketAllowHttp` gets `quit=1` and a message, and no token moves;
/// with the opt-in, the same remote works (so the refusal was the policy).
#[test]
fn plain_http_to_a_non_loopback_host_is_refused_without_bitbucket_allow_http() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let env = TestEnv::new();
    let port = fake.host().rsplit(':').next().expect("a port").to_string();
    let host = format!("bb.test:{port}");
    let base = format!("http://{host}");
    env.configure_cloud_at(&fake, &base);
    let resolve = format!("http.curloptResolve={host}:127.0.0.1");
    let url = format!("{base}/ws/repo.git");

    let out = env.git(&["-c", &resolve, "ls-remote", &url]);
    assert_failure(&out, "ls-remote over http to bb.test");
    assert!(
        stderr(&out).contains("bitbucketAllowHttp"),
        "{}",
        describe(&out)
    );
    assert!(
        stderr(&out).contains("told us to quit"),
        "{}",
        describe(&out)
    );
    assert!(
        fake.requests().iter().any(|r| r.kind == Kind::Git),
        "git reached the fake through curloptResolve: {:#?}",
        fake.requests()
    );

    let direct = env.helper(&["get"], &format!("protocol=http\nhost={host}\n\n"));
    assert_eq!(stdout(&direct), "quit=1\n", "{}", describe(&direct));
    assert!(
        stderr(&direct).contains("bitbucketAllowHttp"),
        "{}",
        describe(&direct)
    );

    assert_nothing_asked(&fake, &env);

    // Control: with the opt-in the same remote signs in and works.
    env.set_config(&format!("credential.{base}.bitbucketAllowHttp"), "true");
    fake.clear_log();
    let out = env.git(&["-c", &resolve, "ls-remote", &url]);
    assert_success(&out, "ls-remote with bitbucketAllowHttp=true");
    assert_eq!(fake.token_requests("authorization_code").len(), 1);
    assert_git_served(&fake, "alice");
}

/// contract.md §4: a global (unscoped) client id makes only bitbucket.org ours;
/// any other host, configured nowhere, gets nothing and no request.
#[test]
fn a_global_client_id_does_not_make_other_hosts_ours() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let env = TestEnv::new();
    let browser = format!(
        "{} {}",
        shell_quote(&python3()),
        shell_quote(crate::common::env::FAKE_BROWSER)
    );
    let helper = crate::common::env::helper_path();
    env.set_config("credential.helper", helper.to_str().expect("UTF-8"));
    env.set_config("credential.bitbucketClientId", &fake.client_id());
    env.set_config("credential.bitbucketClientSecret", &fake.client_secret());
    env.set_config("credential.bitbucketAuthorizeUrl", &fake.authorize_url());
    env.set_config("credential.bitbucketTokenUrl", &fake.token_url());
    env.set_config("credential.bitbucketApiUrl", &fake.api_url());
    env.set_config("credential.bitbucketBrowser", &browser);
    env.set_config("credential.bitbucketStore", "file");

    for input in [
        "protocol=https\nhost=github.com\n\n".to_string(),
        get_input(&fake),
    ] {
        let out = env.helper(&["get"], &input);
        assert_success(&out, "get");
        assert_eq!(stdout(&out), "", "{input:?}: {}", describe(&out));
    }
    let out = env.git(&["ls-remote", &fake.repo_url()]);
    assert_failure(&out, "ls-remote without credentials");
    assert!(
        !stderr(&out).contains("told us to quit"),
        "the helper stayed silent: {}",
        describe(&out)
    );

    assert_nothing_asked(&fake, &env);
    assert!(!env.data_dir().exists(), "nothing stored, not even a lock");
}
