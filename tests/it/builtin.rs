//! A build with a consumer built in (contract.md §1), proven end to end:
//! the helper compiled with the fake's key and secret in
//! `GIT_CREDENTIAL_BITBUCKET_BUILTIN_CLIENT_ID`/`_SECRET` and the
//! `test-hooks` feature, whose stand-in makes the fake *be* bitbucket.org
//! (the built-in consumer counts for bitbucket.org only). With no consumer
//! configured at all: `configure` asks nothing about consumers, the first
//! clone signs in, the refresh works, and `--version` and `doctor` say
//! "built in"; a consumer of the user's own wins.
//!
//! The binary: `$GCB_BUILTIN_HELPER` (.ci/run builds it before the
//! tests), else built here once into target/builtin, which takes a
//! while the first time.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::common::env::{fake_browser_command, helper_path, TestEnv};
use crate::common::fake::{FakeBitbucket, FakeOptions, Kind};
use crate::common::{
    assert_failure, assert_success, ls_remote_refreshes_once, param, stderr, stdout,
};

/// The variable a `test-hooks` build reads (src/bitbucket/stand_in.rs).
const STAND_IN: &str = "GCB_TEST_STAND_IN_FOR_BITBUCKET_ORG";

/// The helper with the fake's default consumer built in.
fn builtin_helper() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("GCB_BUILTIN_HELPER").filter(|p| !p.is_empty()) {
                return PathBuf::from(p);
            }
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            let target = root.join("target").join("builtin");
            eprintln!(
                "GCB_BUILTIN_HELPER is unset: building the helper with the fake's consumer \
                 built in (cargo build --features test-hooks --target-dir {})",
                target.display()
            );
            let opts = FakeOptions::default();
            let status = Command::new(option_env!("CARGO").unwrap_or("cargo"))
                .args(["build", "--quiet", "--locked", "--features", "test-hooks"])
                .arg("--target-dir")
                .arg(&target)
                .args(["--bin", "git-credential-bitbucket"])
                .current_dir(root)
                .env(
                    "GIT_CREDENTIAL_BITBUCKET_BUILTIN_CLIENT_ID",
                    &opts.client_id,
                )
                .env(
                    "GIT_CREDENTIAL_BITBUCKET_BUILTIN_CLIENT_SECRET",
                    &opts.client_secret,
                )
                .status()
                .expect("run cargo");
            assert!(status.success(), "building the built-in helper failed");
            target.join("debug").join("git-credential-bitbucket")
        })
        .clone()
}

/// A fake standing in for bitbucket.org, and an environment where
/// nothing names a consumer: only where tokens go, the browser and the
/// login timeout are set, through the environment.
fn stand_in() -> (FakeBitbucket, TestEnv, PathBuf) {
    let helper = builtin_helper();
    let fake = FakeBitbucket::start(FakeOptions::default());
    let env = TestEnv::new();
    env.set_env(STAND_IN, fake.base_url());
    env.set_env("GIT_CREDENTIAL_BITBUCKET_STORE", "file");
    env.set_env("GIT_CREDENTIAL_BITBUCKET_BROWSER", fake_browser_command());
    env.set_env("GIT_CREDENTIAL_BITBUCKET_LOGIN_TIMEOUT", "60");
    (fake, env, helper)
}

/// The helper `helper` with `args`.
fn run(env: &TestEnv, helper: &Path, args: &[&str], stdin: &str) -> std::process::Output {
    let mut cmd = env.command(helper);
    cmd.args(args);
    env.run(cmd, Some(stdin.as_bytes()))
}

#[test]
fn with_a_built_in_consumer_the_first_clone_needs_no_consumer_setup() {
    let (fake, env, helper) = stand_in();
    let base = fake.base_url();

    let shown = env.configure_on_pty_with(&helper, &base, &[]);
    assert!(shown.contains("built into this build"), "{shown}");
    for question in [
        "Choose 1 or 2",
        "Consumer key",
        "Callback URL",
        "Workspace ID",
    ] {
        assert!(!shown.contains(question), "asked {question:?}:\n{shown}");
    }
    let ours = |k: &str| {
        stdout(&env.git(&[
            "config",
            "--global",
            "--get-all",
            &format!("credential.{base}.{k}"),
        ]))
    };
    assert_eq!(ours("bitbucketClientId"), "", "no consumer written");
    assert_eq!(ours("helper"), format!("\n{}\n", helper.display()));

    // The first clone signs in with the built-in consumer, on a free port.
    env.git_ok(&["clone", &fake.repo_url(), "clone"]);
    let exchange = fake.token_requests("authorization_code");
    assert_eq!(exchange.len(), 1, "{:#?}", fake.requests());
    assert_eq!(
        (exchange[0].status, exchange[0].basic_user.as_deref()),
        (200, Some("test-client"))
    );
    let redirect = param(&exchange[0].params, "redirect_uri").unwrap_or_default();
    assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");
    assert_eq!(env.browser_opens(), 1);

    // A refused access token: the refresh with the built-in consumer.
    fake.revoke_access_tokens();
    assert_failure(
        &env.git(&["ls-remote", &fake.repo_url()]),
        "a revoked token",
    );
    ls_remote_refreshes_once(&fake, &env);
    assert_eq!(fake.count(&Kind::Authorize), 0, "no new sign-in");

    let version = run(&env, &helper, &["--version"], "");
    assert!(
        stdout(&version).contains("bitbucket.org consumer: built in"),
        "{}",
        stdout(&version)
    );
    let doctor = run(&env, &helper, &["doctor", &base], "");
    assert!(
        stdout(&doctor).contains("the OAuth consumer: built in"),
        "{}",
        stdout(&doctor)
    );
}

#[test]
fn a_consumer_of_your_own_wins_over_the_built_in_one() {
    let (fake, env, helper) = stand_in();
    let base = fake.base_url();
    fake.set_consumer("my-key", "my-secret");

    let out = run(
        &env,
        &helper,
        &[
            "configure",
            &base,
            "--client-id",
            "my-key",
            "--client-secret-stdin",
        ],
        "my-secret\n",
    );
    assert_success(&out, "configure --client-id");
    assert!(
        !stderr(&out).contains("built into this build"),
        "{}",
        stderr(&out)
    );

    env.git_ok(&["ls-remote", &fake.repo_url()]);
    let exchange = fake.token_requests("authorization_code");
    assert_eq!(
        (exchange[0].status, exchange[0].basic_user.as_deref()),
        (200, Some("my-key"))
    );
    let doctor = run(&env, &helper, &["doctor", &base], "");
    assert!(
        stdout(&doctor).contains("the OAuth consumer: yours (my-key)"),
        "{}",
        stdout(&doctor)
    );
}

/// The stand-in exists only in `test-hooks` builds: the helper under test
/// (CI: the one install.sh built) holds no trace of its variable, the
/// built-in build does (the positive control), and without a consumer
/// `--version` says none is built in.
#[test]
fn only_a_test_hooks_build_has_the_stand_in() {
    let contains = |path: &Path| {
        let bytes = std::fs::read(path).expect("read the binary");
        bytes
            .windows(STAND_IN.len())
            .any(|w| w == STAND_IN.as_bytes())
    };
    assert!(contains(&builtin_helper()), "positive control");
    if cfg!(feature = "test-hooks") {
        eprintln!("skipped the plain build's half: this test run has test-hooks itself");
        return;
    }
    assert!(!contains(&helper_path()), "{}", helper_path().display());
    let env = TestEnv::new();
    let version = env.helper(&["--version"], "");
    assert!(
        stdout(&version).contains("bitbucket.org consumer: none"),
        "{}",
        stdout(&version)
    );
}
