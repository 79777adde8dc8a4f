//! The store's safety rules: the store directory must be ours,
//! files are created exclusively, a kill during a refresh loses nothing, a
//! slow token endpoint does not queue every git process, a full disk does
//! not burn the refresh token, one bad record costs only itself, and two
//! consumers keep their own records.
//!
//! As elsewhere, the evidence is outside the helper: the fake's request log
//! and refresh tokens, the store file, git's exit status and stderr.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::env::{cloud_setup as setup, key, TestEnv};
use crate::common::fake::{FakeBitbucket, Kind};
use crate::common::steps::{get_input, in_parallel, sign_in_with_short_token, store_doc};
use crate::common::{assert_success, describe, sleep_until, stderr, stdout};

// ---------------------------------------------------------------- helpers

/// alice's stored refresh token.
fn stored_refresh_token(env: &TestEnv, user: &str) -> String {
    store_doc(env)["records"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["account"]["username"] == user))
        .and_then(|r| r["refresh_token"].as_str())
        .unwrap_or_else(|| panic!("no refresh token of {user}: {:#}", store_doc(env)))
        .to_owned()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Gives `path` to another user (the tests run as root, who may).
#[cfg(unix)]
fn give_away(path: &Path) {
    std::os::unix::fs::chown(path, Some(4242), Some(4242))
        .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
}

/// The helper refused the store with a message and asked the fake for no
/// token.
#[track_caller]
fn assert_refused(fake: &FakeBitbucket, out: &std::process::Output, why: &str) {
    assert_eq!(stdout(out), "quit=1\n", "{}", describe(out));
    let err = stderr(out);
    assert!(
        err.contains(why) && err.contains("not used"),
        "a clear message:\n{err}"
    );
    assert!(
        fake.all_token_requests().is_empty(),
        "{:#?}",
        fake.requests()
    );
}

// ------------------------------------ 1. the store directory must be ours

/// A store directory of ours that others may write is made 0700 (and its
/// locks directory too), and used.
#[cfg(unix)]
#[test]
fn a_store_directory_writable_by_others_is_made_private() {
    use std::os::unix::fs::PermissionsExt;
    let (fake, env) = setup();
    let dir = env.data_dir();
    fs::create_dir_all(dir.join("locks")).expect("mkdir");
    for d in [dir.clone(), dir.join("locks")] {
        fs::set_permissions(&d, fs::Permissions::from_mode(0o777)).expect("chmod");
    }
    let out = env.git(&["ls-remote", &fake.repo_url()]);
    assert_success(&out, "ls-remote with a 0777 store directory");
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("locks")), 0o700);
    assert!(
        stderr(&out).contains("was writable by other users"),
        "{}",
        describe(&out)
    );
}

/// A store directory that another user owns is refused before anything
/// is read or sent.
#[cfg(unix)]
#[test]
fn a_store_directory_of_another_user_is_refused() {
    let (fake, env) = setup();
    sign_in_with_short_token(&fake, &env, 7200);
    give_away(&env.data_dir());
    fake.clear_log();
    let out = env.helper(&["get"], &get_input(&fake));
    assert_refused(&fake, &out, "belongs to another user");
}

/// A store directory that is a link (here, to a directory of ours that
/// holds a valid sign-in) is refused.
#[cfg(unix)]
#[test]
fn a_store_directory_that_is_a_link_is_refused() {
    let (fake, env) = setup();
    sign_in_with_short_token(&fake, &env, 7200);
    let elsewhere = env.root().join("elsewhere");
    fs::rename(env.data_dir(), &elsewhere).expect("move the store");
    std::os::unix::fs::symlink(&elsewhere, env.data_dir()).expect("symlink");
    fake.clear_log();
    let out = env.helper(&["get"], &get_input(&fake));
    assert_refused(&fake, &out, "is a symbolic link");
}

/// Lock files that another user made (and holds) are refused at once,
/// not waited on for the whole login timeout.
#[cfg(unix)]
#[test]
fn lock_files_of_another_user_are_refused_not_waited_on() {
    let (fake, env) = setup();
    let expired_by = sign_in_with_short_token(&fake, &env, 2);
    let locks = env.data_dir().join("locks");
    let mut held = Vec::new();
    for entry in fs::read_dir(&locks).expect("the locks dir").flatten() {
        give_away(&entry.path());
        let file = fs::File::open(entry.path()).expect("open a lock file");
        file.lock().expect("hold it");
        held.push(file);
    }
    assert!(!held.is_empty(), "the sign-in made lock files");
    // A short login timeout bounds the old behaviour (wait, then time
    // out) so the test fails rather than hangs without the fix.
    env.set_config(&key(&fake, "bitbucketLoginTimeout"), "5");
    sleep_until(expired_by);
    fake.clear_log();
    let out = env.helper(&["get"], &get_input(&fake));
    assert_refused(&fake, &out, "belongs to another user");
    assert!(!stderr(&out).contains("timed out"), "{}", describe(&out));
}

/// A lock file that is a link is refused (never opened through it).
#[cfg(unix)]
#[test]
fn a_lock_file_that_is_a_link_is_refused() {
    let (fake, env) = setup();
    let expired_by = sign_in_with_short_token(&fake, &env, 2);
    let locks = env.data_dir().join("locks");
    let target = env.root().join("somebody-elses-file");
    fs::write(&target, "").expect("write");
    for entry in fs::read_dir(&locks).expect("the locks dir").flatten() {
        fs::remove_file(entry.path()).expect("rm");
        std::os::unix::fs::symlink(&target, entry.path()).expect("symlink");
    }
    sleep_until(expired_by);
    fake.clear_log();
    let out = env.helper(&["get"], &get_input(&fake));
    assert_refused(&fake, &out, "is a symbolic link");
}

/// A `tokens.json` replaced by a link is not followed: the store is not
/// read through it and the next write replaces the link, not its target.
#[cfg(unix)]
#[test]
fn a_store_file_that_is_a_link_is_not_written_through() {
    let (fake, env) = setup();
    let expired_by = sign_in_with_short_token(&fake, &env, 2);
    let store = env.data_dir().join("tokens.json");
    let target = env.root().join("attackers-file.json");
    fs::rename(&store, &target).expect("move the store");
    std::os::unix::fs::symlink(&target, &store).expect("symlink");
    let before = fs::read(&target).expect("read");
    sleep_until(expired_by);
    let out = env.helper(&["get"], &get_input(&fake));
    assert_eq!(stdout(&out), "quit=1\n", "{}", describe(&out));
    assert_eq!(fs::read(&target).expect("read"), before, "target untouched");
}

const FAIL_WRITE_ENV: &str = "GIT_CREDENTIAL_BITBUCKET_TEST_FAIL_WRITE";

/// Signs alice in with a token of `lifetime` seconds and waits until it is
/// due for renewal (past the margin, a quarter of its life) but valid.
/// Returns the instant until which it is surely still valid.
fn stale_but_valid(fake: &FakeBitbucket, env: &TestEnv, lifetime: u64) -> Instant {
    fake.set_access_lifetime(lifetime);
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    fake.set_access_lifetime(7200);
    let issued = fake.instant_of(&fake.token_requests("authorization_code")[0]);
    let quarter = Duration::from_secs(lifetime - lifetime / 4);
    sleep_until(issued + quarter + Duration::from_millis(1200));
    issued + Duration::from_secs(lifetime - 1)
}

// ------------------------------- 5. a store that cannot be written

/// With the store unwritable (a full disk, played by a test-only fault
/// point) and the access token expired, the refresh token is not spent:
/// no token request, a plain message, and it works once the store can be
/// written again.
#[test]
fn an_unwritable_store_does_not_spend_the_refresh_token() {
    let (fake, env) = setup();
    let expired_by = sign_in_with_short_token(&fake, &env, 2);
    let rt = stored_refresh_token(&env, "alice");
    sleep_until(expired_by);
    fake.clear_log();
    env.use_test_hooks();
    let mut cmd = env.helper_command(&["get"]);
    cmd.env(FAIL_WRITE_ENV, "1");
    let out = env.run(cmd, Some(get_input(&fake).as_bytes()));
    assert_eq!(stdout(&out), "quit=1\n", "{}", describe(&out));
    assert!(
        stderr(&out).contains("not renewed, so it is kept"),
        "{}",
        describe(&out)
    );
    assert!(
        fake.all_token_requests().is_empty(),
        "{:#?}",
        fake.requests()
    );
    assert_eq!(stored_refresh_token(&env, "alice"), rt);
    crate::common::ls_remote_refreshes_once(&fake, &env);
    assert_eq!(env.browser_opens(), 1, "no new sign-in");
}

/// While the access token is valid, an unwritable store (the fault point)
/// or one whose locks cannot be taken (a read-only store, played by a
/// `locks` that is a file) still answers with it.
#[test]
fn an_unwritable_or_read_only_store_answers_with_the_valid_token() {
    let (fake, env) = setup();
    let valid_until = stale_but_valid(&fake, &env, 24);
    let token = store_doc(&env)["records"][0]["access_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    fake.clear_log();

    env.use_test_hooks();
    let mut cmd = env.helper_command(&["get"]);
    cmd.env(FAIL_WRITE_ENV, "1");
    let unwritable = env.run(cmd, Some(get_input(&fake).as_bytes()));

    let locks = env.data_dir().join("locks");
    fs::remove_dir_all(&locks).expect("rm locks");
    fs::write(&locks, "").expect("a file where locks/ was");
    let read_only = env.helper(&["get"], &get_input(&fake));
    assert!(Instant::now() < valid_until, "the machine is too slow");

    for (what, out) in [("unwritable", &unwritable), ("read-only", &read_only)] {
        assert!(
            stdout(out).contains(&format!("password={token}\n")),
            "{what}: answers with the valid token: {}",
            describe(out)
        );
        assert!(stderr(out).contains("warning"), "{what}: {}", describe(out));
    }
    assert!(
        fake.all_token_requests().is_empty(),
        "{:#?}",
        fake.requests()
    );
}

// ------------------------------- 3. a slow token endpoint

/// With the token endpoint hanging, parallel `get`s whose access token is
/// stale but valid answer with it at once instead of queueing: one token
/// request in all, and every one succeeds.
#[test]
fn parallel_gets_with_a_valid_token_do_not_queue_behind_a_hanging_refresh() {
    let (fake, env) = setup();
    let valid_until = stale_but_valid(&fake, &env, 24);
    fake.set_token_fault(Some(crate::common::fake::TokenFault::Hang(
        Duration::from_secs(2),
    )));
    fake.clear_log();
    let input = get_input(&fake);
    let outs = in_parallel(3, |_| env.helper(&["get"], &input));
    assert!(Instant::now() < valid_until, "the machine is too slow");
    for (i, out) in outs.iter().enumerate() {
        assert!(
            stdout(out).contains("password=at."),
            "#{i} answered: {}",
            describe(out)
        );
    }
    let tokens = fake.all_token_requests();
    assert_eq!(tokens.len(), 1, "one refresh attempt: {tokens:#?}");
}

/// With the access token expired and the endpoint hanging, the processes
/// queued behind the failing refresh fail with its message instead of
/// each repeating it.
#[test]
fn a_failed_refresh_is_not_repeated_by_every_waiter() {
    let (fake, env) = setup();
    let expired_by = sign_in_with_short_token(&fake, &env, 2);
    sleep_until(expired_by);
    fake.set_token_fault(Some(crate::common::fake::TokenFault::Hang(
        Duration::from_secs(3),
    )));
    fake.clear_log();
    let input = get_input(&fake);
    let outs = in_parallel(3, |_| env.helper(&["get"], &input));
    for (i, out) in outs.iter().enumerate() {
        assert_eq!(stdout(out), "quit=1\n", "#{i}: {}", describe(out));
        assert!(
            stderr(out).contains("could not refresh"),
            "#{i}: {}",
            describe(out)
        );
    }
    let tokens = fake.all_token_requests();
    assert_eq!(tokens.len(), 1, "one refresh attempt: {tokens:#?}");
    assert_eq!(fake.count(&Kind::Authorize), 0);
}

// ------------------------------- 2. a refresh whose answer was lost

/// The fake rotates the refresh token but the answer never arrives (the
/// connection closes). Within Cloud's grace window the helper asks once
/// more with the same refresh token, gets the new one and keeps it: no
/// browser.
#[test]
fn a_refresh_whose_answer_was_lost_is_repeated_once_with_the_same_token() {
    let (fake, env) = setup();
    let expired_by = sign_in_with_short_token(&fake, &env, 2);
    let rt = stored_refresh_token(&env, "alice");
    sleep_until(expired_by);
    fake.drop_next_refresh_answers(1);
    fake.clear_log();

    let out = env.git(&["ls-remote", &fake.repo_url()]);

    assert_success(&out, "ls-remote with the first refresh answer lost");
    let refreshes = fake.token_requests("refresh_token");
    assert_eq!(refreshes.len(), 2, "{refreshes:#?}");
    for r in &refreshes {
        assert_eq!(r.param("refresh_token"), Some(rt.as_str()), "{r:#?}");
    }
    assert_eq!(refreshes[1].status, 200);
    let latest = fake
        .issued_secrets()
        .into_iter()
        .rfind(|s| s.starts_with("rt+"))
        .expect("a refresh token");
    assert_eq!(stored_refresh_token(&env, "alice"), latest);
    assert_eq!(env.browser_opens(), 1, "no new sign-in");
}

/// Strict mode (no grace window): the repeated refresh is refused, which
/// is a dead refresh token, so the helper signs in; a refresh token
/// refused outright is never repeated.
#[test]
fn without_a_grace_window_the_repeat_is_refused_and_a_dead_token_is_not_repeated() {
    let (fake, env) = setup();
    fake.set_refresh_grace(Duration::ZERO);
    let expired_by = sign_in_with_short_token(&fake, &env, 2);
    sleep_until(expired_by);
    fake.drop_next_refresh_answers(1);
    fake.clear_log();
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    let statuses: Vec<u16> = fake
        .token_requests("refresh_token")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [0, 400], "{:#?}", fake.requests());
    assert_eq!(fake.token_requests("authorization_code").len(), 1);

    // A dead refresh token: one request, then the browser.
    fake.set_access_lifetime(2);
    env.helper(&["erase"], &{
        let doc = store_doc(&env);
        let token = doc["records"][0]["access_token"].as_str().unwrap_or("");
        format!(
            "protocol=http\nhost={}\nusername=x-token-auth\npassword={token}\n\n",
            fake.host()
        )
    });
    fake.set_access_lifetime(7200);
    fake.revoke_refresh_tokens();
    fake.clear_log();
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    assert_eq!(fake.token_requests("refresh_token").len(), 1);
    assert_eq!(fake.token_requests("authorization_code").len(), 1);
}

/// The fake's grace window itself: a used refresh token still refreshes
/// within it (twice over), and not in strict mode.
#[test]
fn the_fake_keeps_a_used_refresh_token_alive_for_the_grace_window_only() {
    let (fake, env) = setup();
    let expired_by = sign_in_with_short_token(&fake, &env, 2);
    let rt = stored_refresh_token(&env, "alice");
    sleep_until(expired_by);
    let refresh = |token: &str| {
        let out = std::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-u"])
            .arg(format!("{}:{}", fake.client_id(), fake.client_secret()))
            .args(["-d", "grant_type=refresh_token", "--data-urlencode"])
            .arg(format!("refresh_token={token}"))
            .arg(fake.token_url())
            .output()
            .expect("run curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(refresh(&rt), "200");
    assert_eq!(refresh(&rt), "200", "still valid in the window");
    fake.set_refresh_grace(Duration::ZERO);
    assert_eq!(refresh(&rt), "400", "the window is over");
}

// ------------------------------- 15. two consumers, one account

/// Signing the same account in with a second OAuth consumer keeps the
/// first consumer's record (it is not ours to replace); each consumer then
/// uses its own.
#[test]
fn signing_in_with_another_consumer_keeps_the_first_consumers_record() {
    let (fake, env) = setup();
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    let first_rt = stored_refresh_token(&env, "alice");
    fake.set_consumer("second-client", "second-secret");
    env.set_config(&key(&fake, "bitbucketClientId"), "second-client");
    env.set_config(&key(&fake, "bitbucketClientSecret"), "second-secret");
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    assert_eq!(env.browser_opens(), 2, "the second consumer signs in");

    let doc = store_doc(&env);
    let mut consumers: Vec<&str> = doc["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|r| r["account"]["username"] == "alice")
        .filter_map(|r| r["client_id"].as_str())
        .collect();
    consumers.sort_unstable();
    assert_eq!(consumers, ["second-client", "test-client"], "{doc:#}");
    let kept = doc["records"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["client_id"] == "test-client"))
        .and_then(|r| r["refresh_token"].as_str())
        .expect("the first consumer's refresh token");
    assert_eq!(kept, first_rt);
}

// ------------------------------- 12. one unreadable record

/// A record this version cannot read (here, of a kind it does not know)
/// costs only itself: the other account keeps working with no sign-in,
/// and the unreadable record is kept in the file.
#[test]
fn one_unreadable_record_costs_only_itself() {
    let (fake, env) = setup();
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    let path = env.data_dir().join("tokens.json");
    let mut doc = store_doc(&env);
    let mut alien = doc["records"][0].clone();
    alien["account"]["username"] = "carol".into();
    alien["kind"] = "from_a_newer_version".into();
    doc["records"]
        .as_array_mut()
        .expect("records")
        .push(alien.clone());
    fs::write(&path, serde_json::to_vec_pretty(&doc).expect("json")).expect("write");
    fake.clear_log();

    let out = env.git(&["ls-remote", &fake.repo_url()]);
    assert_success(&out, "ls-remote beside an unreadable record");
    assert_eq!(env.browser_opens(), 1, "no new sign-in");
    assert!(
        fake.all_token_requests().is_empty(),
        "{:#?}",
        fake.requests()
    );
    let text = fs::read_to_string(&path).expect("read");
    assert!(text.contains("from_a_newer_version"), "kept: {text}");
    assert!(!text.contains(".corrupt-"));
    let aside = fs::read_dir(env.data_dir())
        .expect("ls")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("corrupt"))
        .count();
    assert_eq!(aside, 0, "the file was not set aside whole");
}

// ------------------------------- 2. SIGTERM during the save

/// A SIGTERM that arrives while the rotated token is being saved (here,
/// paused by the test fault point between the fsynced temp file and the
/// rename) waits for the save: the store holds the new tokens when the
/// process ends, and no temp file is left.
#[cfg(unix)]
#[test]
fn a_sigterm_during_the_save_waits_for_it() {
    let (fake, env) = setup();
    let expired_by = sign_in_with_short_token(&fake, &env, 2);
    sleep_until(expired_by);
    let trace = env.root().join("term-trace.log");
    env.use_test_hooks();
    let mut cmd = env.helper_command(&["get"]);
    cmd.env(
        "GIT_CREDENTIAL_BITBUCKET_TEST_PAUSE_BEFORE_RENAME_MS",
        "1500",
    )
    .env("GIT_CREDENTIAL_BITBUCKET_TRACE", &trace);
    let input = get_input(&fake);
    let paused_pid = || -> Option<String> {
        let text = fs::read_to_string(&trace).ok()?;
        let line = text
            .lines()
            .find(|l| l.contains("test fault point: pausing"))?;
        Some(line.split('[').nth(1)?.split(']').next()?.to_owned())
    };
    let out = std::thread::scope(|s| {
        let helper = s.spawn(|| env.run(cmd, Some(input.as_bytes())));
        let deadline = Instant::now() + Duration::from_secs(20);
        let pid = loop {
            if let Some(pid) = paused_pid() {
                break pid;
            }
            assert!(Instant::now() < deadline, "the helper never paused");
            std::thread::sleep(Duration::from_millis(20));
        };
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(killed.success());
        helper.join().expect("the helper runner")
    });
    assert_eq!(stdout(&out), "", "ended by the signal: {}", describe(&out));
    let newest_at = fake
        .issued_secrets()
        .into_iter()
        .rfind(|s| s.starts_with("at."))
        .expect("the refresh's token");
    let doc = store_doc(&env);
    assert_eq!(
        doc["records"][0]["access_token"],
        newest_at.as_str(),
        "{doc:#}"
    );
    let temps = fs::read_dir(env.data_dir())
        .expect("ls")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .count();
    assert_eq!(temps, 0);
}
