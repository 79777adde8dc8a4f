//! The keyring backend against a real Secret Service (contract.md §5, §9):
//! gnome-keyring on the private D-Bus session that `.ci/run` starts. The
//! tests that need it run when `GCB_REAL_SECRET_SERVICE=1` (CI sets it and
//! fails if the bus is missing); elsewhere they say they were skipped.

use crate::common::env::{cloud_setup, key, TestEnv};
use crate::common::fake::FakeBitbucket;
use crate::common::secret_service;
use crate::common::{assert_success, stderr, stdout};
use std::process::Command;
use std::sync::Mutex;

/// Locking the keyring affects every test that uses it: one at a time.
static KEYRING: Mutex<()> = Mutex::new(());

/// Points `env` at the real Secret Service; `None` when there is none.
pub(crate) fn secret_service(env: &TestEnv) -> Option<std::sync::MutexGuard<'static, ()>> {
    if !secret_service::real_one_requested() {
        eprintln!("skipped: set GCB_REAL_SECRET_SERVICE=1 inside a D-Bus session with an unlocked keyring (.ci/run does)");
        return None;
    }
    let bus = std::env::var("DBUS_SESSION_BUS_ADDRESS")
        .expect("GCB_REAL_SECRET_SERVICE=1 but DBUS_SESSION_BUS_ADDRESS is not set");
    env.set_env("DBUS_SESSION_BUS_ADDRESS", bus);
    Some(KEYRING.lock().unwrap_or_else(|e| e.into_inner()))
}

fn setup(store: &str) -> (FakeBitbucket, TestEnv) {
    let (fake, env) = cloud_setup();
    env.set_config(&key(&fake, "bitbucketStore"), store);
    (fake, env)
}

/// Tokens (not codes: a browser sees those) the fake issued.
fn tokens(fake: &FakeBitbucket) -> Vec<String> {
    fake.issued_secrets()
        .into_iter()
        .filter(|s| s.starts_with("at.") || s.starts_with("rt+"))
        .collect()
}

fn status_stores(env: &TestEnv) -> Vec<String> {
    let out = env.helper(&["status", "--json"], "");
    assert_success(&out, "status --json");
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    v["accounts"]
        .as_array()
        .expect("list")
        .iter()
        .map(|a| a["store"].as_str().expect("store").to_owned())
        .collect()
}

fn get_request(fake: &FakeBitbucket) -> String {
    format!("protocol=http\nhost={}\n\n", fake.host())
}

#[test]
fn a_clone_with_the_keyring_signs_in_once_and_leaves_no_token_in_any_file() {
    let (fake, env) = setup("keyring");
    let Some(_guard) = secret_service(&env) else {
        return;
    };
    env.git_ok(&["clone", &fake.repo_url(), "clone"]);
    env.git_in_ok(&env.work_dir().join("clone"), &["fetch"]);
    assert_eq!(env.browser_opens(), 1);
    assert_eq!(
        fake.all_token_requests().len(),
        1,
        "{:#?}",
        fake.all_token_requests()
    );
    let tokens = tokens(&fake);
    assert_eq!(tokens.len(), 2, "one access and one refresh token");
    let hits = env.files_containing(&tokens);
    assert!(hits.is_empty(), "tokens found in files: {hits:?}");
    assert!(!env.data_dir().join("tokens.json").exists());
    assert_eq!(status_stores(&env), vec!["keyring"]);
    // Clean up the shared keyring.
    assert_success(
        &env.helper(&["logout", &fake.base_url(), "--all"], ""),
        "logout",
    );
}

#[test]
fn auto_uses_the_keyring_when_a_secret_service_answers() {
    let (fake, env) = setup("auto");
    let Some(_guard) = secret_service(&env) else {
        return;
    };
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    assert!(!env.data_dir().join("tokens.json").exists());
    assert_eq!(status_stores(&env), vec!["keyring"]);
    let hits = env.files_containing(&tokens(&fake));
    assert!(hits.is_empty(), "tokens found in files: {hits:?}");
    assert_success(
        &env.helper(&["logout", &fake.base_url(), "--all"], ""),
        "logout",
    );
}

#[test]
fn auto_without_a_secret_service_falls_back_to_the_file_and_says_so_once() {
    // TestEnv removes DBUS_SESSION_BUS_ADDRESS and XDG_RUNTIME_DIR: no bus.
    let (fake, env) = setup("auto");
    let out = env.git_ok(&["clone", &fake.repo_url(), "clone"]);
    let first = stderr(&out);
    assert!(first.contains("no OS keyring is reachable"), "{first}");
    assert!(
        first.contains("tokens.json"),
        "says where tokens went: {first}"
    );
    let out = env.git_in_ok(&env.work_dir().join("clone"), &["fetch"]);
    assert!(
        !stderr(&out).contains("keyring"),
        "said once: {}",
        stderr(&out)
    );
    assert!(env.data_dir().join("tokens.json").exists());
    assert_eq!(status_stores(&env), vec!["file"]);
}

#[test]
fn an_explicit_keyring_without_a_secret_service_is_an_error_not_a_file() {
    let (fake, env) = setup("keyring");
    let out = env.helper(&["get"], &get_request(&fake));
    assert_eq!(stdout(&out), "quit=1\n");
    assert!(stderr(&out).contains("keyring"), "{}", stderr(&out));
    assert!(!env.data_dir().join("tokens.json").exists());
    assert_eq!(env.browser_opens(), 0);
}

pub(crate) fn lock_login_collection() {
    let out = Command::new("dbus-send")
        .args([
            "--session",
            "--dest=org.freedesktop.secrets",
            "--print-reply",
            "/org/freedesktop/secrets",
            "org.freedesktop.Secret.Service.Lock",
            "array:objpath:/org/freedesktop/secrets/collection/login",
        ])
        .output()
        .expect("run dbus-send");
    assert!(
        out.status.success(),
        "lock: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(crate) fn unlock_login_collection() {
    let password = std::env::var("GCB_KEYRING_PASSWORD").unwrap_or_else(|_| "ci-pass".into());
    let mut cmd = Command::new("gnome-keyring-daemon");
    cmd.args(["--replace", "--unlock", "--components=secrets"])
        .stderr(std::process::Stdio::null());
    if let Err(why) = secret_service::unlock(cmd, &password) {
        panic!("unlock failed: {why}");
    }
}

#[test]
fn a_locked_keyring_says_how_to_unlock_and_the_record_survives() {
    let (fake, env) = setup("keyring");
    let Some(_guard) = secret_service(&env) else {
        return;
    };
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    let token_requests = fake.all_token_requests().len();

    lock_login_collection();
    let out = env.helper(&["get"], &get_request(&fake));
    let locked_err = stderr(&out);
    unlock_login_collection();
    assert_eq!(stdout(&out), "quit=1\n", "{locked_err}");
    assert!(locked_err.contains("unlock"), "{locked_err}");
    assert_eq!(env.browser_opens(), 1, "no new sign-in while locked");

    // After unlocking, the same record answers: no new token, no browser.
    let mut answer = String::new();
    for _ in 0..50 {
        let out = env.helper(&["get"], &get_request(&fake));
        answer = stdout(&out);
        if answer.contains("password=") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(answer.contains("password=at."), "{answer}");
    assert_eq!(fake.all_token_requests().len(), token_requests);
    assert_eq!(env.browser_opens(), 1);
    assert_success(
        &env.helper(&["logout", &fake.base_url(), "--all"], ""),
        "logout",
    );
}

/// A second `configure --api-token` without `--store` keeps the token in
/// the store the host's configuration names (`bitbucketStore=file`, set
/// by the first run), which is where `get` reads it; with a keyring on the
/// desktop, `auto` would put it in the keyring and `get` would go on
/// handing out the old token from the file.
#[test]
fn a_token_stored_again_without_store_goes_where_the_configuration_says() {
    let fake = FakeBitbucket::start(Default::default());
    let env = TestEnv::new();
    let Some(_guard) = secret_service(&env) else {
        return;
    };
    let url = fake.base_url();
    let first = fake.mint_api_token("alice");
    let second = fake.mint_api_token("alice");
    let configure = |token: &str, extra: &[&str]| {
        let mut args = vec!["configure", url.as_str(), "--api-token"];
        args.extend_from_slice(&["--kind", "cloud", "--username", "alice"]);
        args.extend_from_slice(extra);
        let out = env.helper(&args, &format!("{token}\n"));
        assert_success(&out, "configure --api-token");
    };
    configure(&first, &["--store", "file"]);
    configure(&second, &[]);
    let out = env.helper(&["get"], &get_request(&fake));
    let stores = status_stores(&env);
    // Clean up the shared keyring before anything can fail.
    let _ = env.helper(&["logout", "--all"], "");
    assert_success(&out, "get");
    assert!(
        stdout(&out).contains(&format!("password={second}\n")),
        "get did not hand out the token stored last:\n{}",
        stderr(&out)
    );
    assert_eq!(stores, vec!["file"]);
}
