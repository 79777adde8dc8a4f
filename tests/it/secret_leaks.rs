//! Secrets in traces and files (contract.md §7): no token, code or client
//! secret the flows handle reaches git's output, the trace or any file but
//! the store.
//!
//! As in `cloud`, every assertion rests on evidence from outside the
//! helper: what git and the helper printed, the trace, and every
//! file under the test directory.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::common::env::{cloud_setup as setup, shell_quote, TestEnv};
use crate::common::fake::{FakeBitbucket, Kind};
use crate::common::{assert_failure, describe, sleep_until, stderr};

use crate::common::steps::{issued, mode, repo_url_as, TRACE_ENV};

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
