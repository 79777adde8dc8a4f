//! A helper killed in the middle of a store write (contract.md §5): the
//! old store stays whole and the next command works.
//!
//! As in `cloud`, every assertion rests on evidence from outside the
//! helper: the store file, its temp file and their modes, the
//! helper's trace, the fake's request log, git's exit status and output.
//!
//! Timing: tokens are made to expire by giving them lifetimes of a few
//! seconds and sleeping. The helper keeps expiry in whole Unix seconds
//! (floored), so it sees a token stale at most one second *earlier* than
//! the fake does, never later; the waits below allow for that.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;

use crate::common::env::{cloud_setup as setup, TestEnv};
use crate::common::fake::FakeBitbucket;
use crate::common::{assert_success, describe, ls_remote_refreshes_once, sleep_until, stdout};

use crate::common::steps::{
    assert_git_served, assert_no_sign_in, field, get_input, issued, mode, sign_in_with_short_token,
    store_doc, stored_record, wait_for, PAUSE_ENV, TRACE_ENV,
};

/// Runs `helper get` for the fake's host with the store write paused
/// before its rename, SIGKILLs it once the fsynced temp file is in place,
/// and returns the temp file's path and contents (read before the kill)
/// and what the helper printed.
fn kill_helper_mid_write(fake: &FakeBitbucket, env: &TestEnv) -> (PathBuf, Vec<u8>, Output) {
    let trace = env.root().join("kill-trace.log");
    let _ = std::fs::remove_file(&trace);
    env.use_test_hooks();
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
