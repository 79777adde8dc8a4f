//! Every file of the store is read as `tokens.json` is (issue 21, items 4
//! and 5; docs/security.md, "A store directory others can reach"): never
//! through a link, only a regular file of ours, and never with a blocking
//! `open`. Planted by someone who could once write in the store directory
//! (the helper now repairs such a directory, but what was planted stays),
//! a FIFO under a store name hung every command forever, and a
//! `secrets.json` or `stores.json` of another user, or a link, was
//! believed.
//!
//! Evidence: each command ends (the test environment's watchdog would
//! fail the test), what it prints (the path to remove), the fake's log.

#![cfg(unix)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use crate::common::env::{cloud_setup as setup, key, TestEnv};
use crate::common::fake::FakeBitbucket;
use crate::common::steps::{get_input, sign_in_with_short_token};
use crate::common::{describe, sleep_until, stderr, stdout};
use crate::headless::unset_config;

/// Makes a FIFO at `path` (replacing what is there).
fn plant_fifo(path: &Path) {
    let _ = fs::remove_file(path);
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "mkfifo {}", path.display());
}

/// The user commands that a planted file hung, and `get`.
fn every_command(env: &TestEnv, fake: &FakeBitbucket) -> Vec<(&'static str, Output)> {
    let url = fake.base_url();
    vec![
        ("get", env.helper(&["get"], &get_input(fake))),
        ("status", env.helper(&["status"], "")),
        ("doctor", env.helper(&["doctor", &url], "")),
        ("logout --all", env.helper(&["logout", &url, "--all"], "")),
    ]
}

/// Item 4: a FIFO as `tokens.json`, `secrets.json`, `stores.json` or a
/// temp file. Every command ends; a command that needs the file says it
/// is a FIFO and names it; a FIFO under a temp name is removed and costs
/// nothing.
#[test]
fn a_fifo_planted_under_a_store_name_hangs_no_command() {
    for name in [
        "tokens.json",
        "secrets.json",
        "stores.json",
        "tokens.json.tmp-1-aa",
    ] {
        let (fake, env) = setup();
        // Expired by the time of `get`: it refreshes, which needs the
        // consumer secret too.
        let expired_by = sign_in_with_short_token(&fake, &env, 2);
        if name == "secrets.json" {
            // The consumer secret kept in the store, not in gitconfig.
            keep_secret_in_store(&env, &fake, &fake.client_secret());
        }
        env.set_config(&key(&fake, "bitbucketStore"), "auto");
        let path = env.data_dir().join(name);
        plant_fifo(&path);
        env.set_timeout(Duration::from_secs(30));
        sleep_until(expired_by);

        let outs = every_command(&env, &fake);

        let said = |out: &Output| stderr(out).contains(&path.display().to_string());
        for (what, out) in &outs {
            assert!(
                !stderr(out).contains("panicked"),
                "{name}, {what}: {}",
                describe(out)
            );
        }
        let get = &outs[0].1;
        match name {
            "tokens.json" | "secrets.json" | "stores.json" => {
                assert!(
                    outs.iter().any(|(_, o)| said(o)),
                    "{name}: no command names it: {:#?}",
                    outs.iter().map(|(w, o)| (w, stderr(o))).collect::<Vec<_>>()
                );
                for (what, out) in &outs {
                    if said(out) {
                        assert!(
                            stderr(out).contains("FIFO"),
                            "{name}, {what}: {}",
                            describe(out)
                        );
                    }
                }
                if name == "tokens.json" {
                    assert!(said(get), "{}", describe(get));
                }
            }
            _ => {
                assert!(
                    stdout(get).contains("password="),
                    "{name}: {}",
                    describe(get)
                );
                assert!(!path.exists(), "{name} is still there");
            }
        }
    }
}

/// Writes `secrets.json` (as `configure` keeps a consumer secret) with
/// `secret` for the fake, and takes the secret out of gitconfig.
fn keep_secret_in_store(env: &TestEnv, fake: &FakeBitbucket, secret: &str) {
    let doc = serde_json::json!({
        "consumers": [{
            "host": fake.base_url(),
            "client_id": fake.client_id(),
            "secret": secret,
        }]
    });
    let path = env.data_dir().join("secrets.json");
    fs::write(&path, doc.to_string()).expect("write secrets.json");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
    unset_config(env, &key(fake, "bitbucketClientSecret"));
}

/// Item 5: a `secrets.json` that another user planted (owned by them,
/// with a consumer secret of their choosing) is refused, naming the file,
/// and its secret is never sent; one that is a link is refused too.
#[test]
fn a_secrets_file_of_another_user_or_through_a_link_is_not_believed() {
    for planted in ["another user's", "a link"] {
        let (fake, env) = setup();
        let expired_by = sign_in_with_short_token(&fake, &env, 2);
        keep_secret_in_store(&env, &fake, "planted-secret");
        let path = env.data_dir().join("secrets.json");
        if planted == "a link" {
            let elsewhere = env.root().join("elsewhere.json");
            fs::rename(&path, &elsewhere).expect("move");
            std::os::unix::fs::symlink(&elsewhere, &path).expect("symlink");
        } else {
            std::os::unix::fs::lchown(&path, Some(4242), Some(4242)).expect("chown");
        }
        sleep_until(expired_by);
        fake.clear_log();

        let out = env.helper(&["get"], &get_input(&fake));

        let err = stderr(&out);
        assert!(
            err.contains(&path.display().to_string()),
            "{planted}: names the file: {}",
            describe(&out)
        );
        let why = if planted == "a link" {
            "symbolic link"
        } else {
            "belongs to another user"
        };
        assert!(err.contains(why), "{planted}: {}", describe(&out));
        let sent = fake
            .requests()
            .iter()
            .any(|r| format!("{r:?}").contains("planted-secret"));
        assert!(!sent, "{planted}: the planted secret was sent");
    }
}

/// Item 5: a `stores.json` that is a link (here, to a file saying the
/// host's tokens are in the keyring) or another user's is refused,
/// naming the file.
#[test]
fn a_stores_file_of_another_user_or_through_a_link_is_not_believed() {
    for planted in ["another user's", "a link"] {
        let (fake, env) = setup();
        sign_in_with_short_token(&fake, &env, 7200);
        env.set_config(&key(&fake, "bitbucketStore"), "auto");
        let path = env.data_dir().join("stores.json");
        let doc = serde_json::json!({ "hosts": { fake.base_url(): "keyring" } });
        if planted == "a link" {
            let elsewhere = env.root().join("elsewhere.json");
            fs::write(&elsewhere, doc.to_string()).expect("write");
            std::os::unix::fs::symlink(&elsewhere, &path).expect("symlink");
        } else {
            fs::write(&path, doc.to_string()).expect("write");
            std::os::unix::fs::lchown(&path, Some(4242), Some(4242)).expect("chown");
        }

        let out = env.helper(&["get"], &get_input(&fake));

        let err = stderr(&out);
        assert_eq!(stdout(&out), "quit=1\n", "{planted}: {}", describe(&out));
        assert!(
            err.contains(&path.display().to_string()),
            "{planted}: names the file: {}",
            describe(&out)
        );
        let why = if planted == "a link" {
            "symbolic link"
        } else {
            "belongs to another user"
        };
        assert!(err.contains(why), "{planted}: {}", describe(&out));
    }
}
