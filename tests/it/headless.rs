//! Signing in where there is no browser, or a real one (contract.md §6):
//! `login --no-browser` on a terminal with the redirect URL pasted back,
//! and without a terminal (over SSH) printing the URL and taking the
//! redirect;
//! a background git with neither browser nor terminal failing fast with
//! the command to run; `client_credentials` for CI with the consumer in
//! the environment; and a real headless Chromium following the sign-in.
//!
//! Evidence: the fake's request log, the fake browser's log (empty when no
//! browser may be used), what the helper wrote on the pseudo-terminal, and
//! the page Chromium rendered.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::client;
use crate::common::env::{
    cloud_setup_with as setup, helper_path, key, python3, shell_quote, TestEnv,
};
use crate::common::fake::{FakeBitbucket, FakeOptions, Kind};
use crate::common::{assert_failure, assert_success, describe, stderr, stdout};

/// Runs a command on a pseudo-terminal and pastes the redirect URL.
const PTY_LOGIN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pty-login.py");

/// Debian's Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Removes a key from the test's global gitconfig.
pub fn unset_config(env: &TestEnv, key: &str) {
    let file = env.gitconfig();
    env.git_ok(&[
        "config",
        "--file",
        file.to_str().expect("UTF-8 temp path"),
        "--unset",
        key,
    ]);
}

/// Whether the Chromium tests can run here. Missing Chromium skips them
/// (with a note) on a developer machine; in CI (`CI=true`) it fails them.
pub fn chromium_available(test: &str) -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    assert_ne!(
        std::env::var("CI").as_deref(),
        Ok("true"),
        "{test}: {CHROMIUM} is missing, and CI must run the real-browser tests"
    );
    eprintln!("skipping {test}: {CHROMIUM} is not installed (CI installs it)");
    false
}

/// A `bitbucketBrowser` command that opens the URL (the helper passes it
/// as `$1`) in headless Chromium, which follows the fake's redirect to the
/// helper's loopback page and dumps the rendered DOM into `<dir>/dom.html`
/// (written whole: through a temporary file and a rename). Chromium's own
/// chatter goes to `<dir>/chromium.log`.
pub fn chromium_browser(dir: &Path) -> String {
    std::fs::create_dir_all(dir).expect("create the Chromium dir");
    let q = |p: PathBuf| shell_quote(p.to_str().expect("UTF-8 temp path"));
    format!(
        "f() {{ {CHROMIUM} --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
         --disable-background-networking --disable-component-update --disable-sync \
         --user-data-dir={profile} --dump-dom \"$1\" > {tmp} 2> {log}; mv {tmp} {dom}; }}; f",
        profile = q(dir.join("profile")),
        tmp = q(dir.join("dom.tmp")),
        log = q(dir.join("chromium.log")),
        dom = q(dir.join("dom.html")),
    )
}

/// The DOM Chromium dumped into `dir` (waits up to 30 s for it).
pub fn chromium_dom(dir: &Path) -> String {
    let dom = dir.join("dom.html");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !dom.exists() {
        assert!(
            Instant::now() < deadline,
            "Chromium wrote no DOM; its log:\n{}",
            std::fs::read_to_string(dir.join("chromium.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::read_to_string(dom).expect("read the dumped DOM")
}

#[test]
fn login_no_browser_on_a_terminal_prints_the_url_and_takes_the_pasted_redirect() {
    let (fake, env) = setup(FakeOptions::default());
    let mut cmd = env.command(python3());
    cmd.arg(PTY_LOGIN)
        .arg(fake.authorize_url())
        .arg(helper_path())
        .args(["login", "--no-browser", &fake.base_url()]);

    let out = env.run(cmd, None);

    assert_success(&out, "login --no-browser on a pseudo-terminal");
    // Everything the helper wrote, its stderr included, went to the pty.
    let pty = stdout(&out).replace('\r', "");
    let url_lines: Vec<&str> = pty
        .lines()
        .filter(|l| l.contains(&fake.authorize_url()))
        .collect();
    assert_eq!(url_lines.len(), 1, "{}", describe(&out));
    let line = url_lines[0];
    assert!(
        line.starts_with(&format!("{}?", fake.authorize_url())),
        "the URL alone on its line: {line:?}"
    );
    assert!(
        !line.contains(char::is_whitespace) && !line.contains('\x1b'),
        "plain text, nothing but the URL: {line:?}"
    );
    assert!(pty.contains("signed in"), "{}", describe(&out));

    let exchanges = fake.token_requests("authorization_code");
    assert_eq!(exchanges.len(), 1, "{:#?}", fake.requests());
    assert_eq!(exchanges[0].status, 200, "{:#?}", exchanges[0]);
    assert_eq!(fake.all_token_requests().len(), 1, "{:#?}", fake.requests());
    assert_eq!(fake.count(&Kind::Authorize), 1, "the paste, not a browser");
    assert_eq!(env.browser_log(), "", "no browser was started");

    fake.clear_log();
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    assert_eq!(fake.all_token_requests().len(), 0, "{:#?}", fake.requests());
    assert_eq!(fake.count(&Kind::User), 0, "{:#?}", fake.requests());
    assert_eq!(fake.count(&Kind::Authorize), 0);
    assert_eq!(env.browser_log(), "", "still no browser");
}

#[test]
fn without_browser_or_terminal_git_fails_fast_naming_the_login_command() {
    let (fake, env) = setup(FakeOptions::default());
    unset_config(&env, &key(&fake, "bitbucketBrowser"));
    env.set_env("GIT_TERMINAL_PROMPT", "0");
    let started = Instant::now();

    let out = env.git(&["ls-remote", &fake.repo_url()]);

    let took = started.elapsed();
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert_failure(&out, "ls-remote with neither browser nor terminal");
    let err = stderr(&out);
    assert!(
        err.contains("git credential-bitbucket login"),
        "names the command to run:\n{err}"
    );
    assert!(err.contains("told us to quit"), "quit=1, no prompt:\n{err}");
    assert_eq!(fake.all_token_requests().len(), 0, "{:#?}", fake.requests());
    assert_eq!(fake.count(&Kind::Authorize), 0);
    assert_eq!(env.browser_log(), "");
}

#[test]
fn client_credentials_from_the_environment_clones_and_renews_with_a_new_grant() {
    let fake = FakeBitbucket::start(FakeOptions {
        private: true,
        ..FakeOptions::default()
    });
    let env = TestEnv::new();
    let base = fake.base_url();
    let key = |k: &str| format!("credential.{base}.{k}");
    env.set_config(&key("helper"), "");
    env.add_config(
        &key("helper"),
        helper_path().to_str().expect("UTF-8 helper path"),
    );
    env.set_config(&key("bitbucketFlow"), "client_credentials");
    // Stand-ins for Cloud's defaults: the fake is not bitbucket.org, so
    // its kind and endpoints must be named.
    env.set_config(&key("bitbucketKind"), "cloud");
    env.set_config(&key("bitbucketAuthorizeUrl"), &fake.authorize_url());
    env.set_config(&key("bitbucketTokenUrl"), &fake.token_url());
    env.set_config(&key("bitbucketApiUrl"), &fake.api_url());
    env.set_env("GIT_CREDENTIAL_BITBUCKET_CLIENT_ID", fake.client_id());
    env.set_env(
        "GIT_CREDENTIAL_BITBUCKET_CLIENT_SECRET",
        fake.client_secret(),
    );
    // Margin min(600, 8 / 4) = 2 s.
    fake.set_access_lifetime(8);

    env.git_ok(&["clone", &fake.repo_url(), "clone"]);
    let issued_by = Instant::now();

    let grants = fake.token_requests("client_credentials");
    assert_eq!(grants.len(), 1, "{:#?}", fake.requests());
    assert_eq!(grants[0].status, 200, "{:#?}", grants[0]);
    assert_eq!(fake.all_token_requests().len(), 1, "{:#?}", fake.requests());
    assert_eq!(fake.count(&Kind::Authorize), 0);
    assert_eq!(env.browser_log(), "", "no browser");
    assert!(fake
        .requests()
        .iter()
        .any(|r| r.kind == Kind::Git && r.status == 200 && r.auth_scheme.is_some()));

    // After expiry: one new grant, no refresh.
    std::thread::sleep(
        (issued_by + Duration::from_millis(8500)).saturating_duration_since(Instant::now()),
    );
    fake.clear_log();
    env.git_in_ok(&env.work_dir().join("clone"), &["fetch", "origin"]);
    let grants = fake.token_requests("client_credentials");
    assert_eq!(grants.len(), 1, "{:#?}", fake.requests());
    assert_eq!(grants[0].status, 200);
    assert_eq!(fake.token_requests("refresh_token").len(), 0);
    assert_eq!(fake.all_token_requests().len(), 1, "{:#?}", fake.requests());
    assert_eq!(fake.count(&Kind::Authorize), 0);
    assert_eq!(env.browser_log(), "");
}

#[test]
fn real_headless_chromium_follows_the_sign_in_and_shows_the_success_page() {
    if !chromium_available("real_headless_chromium_follows_the_sign_in") {
        return;
    }
    let (fake, env) = setup(FakeOptions::default());
    let dir = env.root().join("chromium");
    env.set_config(&key(&fake, "bitbucketBrowser"), &chromium_browser(&dir));

    env.git_ok(&["clone", &fake.repo_url(), "clone"]);

    let dom = chromium_dom(&dir);
    assert!(dom.contains("Signed in to Bitbucket"), "{dom}");
    assert!(env.work_dir().join("clone/README.md").exists());
    assert_eq!(fake.count(&Kind::Authorize), 1, "{:#?}", fake.requests());
    let exchanges = fake.token_requests("authorization_code");
    assert_eq!(exchanges.len(), 1, "{:#?}", fake.requests());
    assert_eq!(exchanges[0].status, 200);
    assert_eq!(env.browser_log(), "", "the fake browser was not used");
}

/// Starts `login --no-browser` for the fake's host in a session of its
/// own (no controlling terminal), stdin closed, stdout and stderr piped:
/// a login over SSH as `ssh host git credential-bitbucket login` runs it.
pub fn spawn_login_without_terminal(env: &TestEnv, fake: &FakeBitbucket) -> Child {
    let mut cmd = env.command("setsid");
    cmd.arg("--wait")
        .arg(helper_path())
        .args(["login", "--no-browser", &fake.base_url()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().expect("start login")
}

/// `login --no-browser` over SSH without a terminal (`ssh host git
/// credential-bitbucket login --no-browser` with `ssh -L`): it prints the
/// URL and waits for the redirect instead of failing at once.
#[test]
fn login_without_browser_or_terminal_prints_the_url_and_takes_the_redirect() {
    let (fake, env) = setup(FakeOptions::default());
    let mut child = spawn_login_without_terminal(&env, &fake);
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let authorize = fake.authorize_url();
    let url = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.starts_with(&authorize))
        .expect("login prints the authorize URL on its own line");

    // The browser on the other machine: Bitbucket redirects it to the
    // loopback address, which reaches the waiting login (ssh -L).
    let consent = client::get(&url, None);
    let callback = consent.location.expect("a redirect back to the helper");
    let page = client::get(&callback, None);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Signed in"), "{}", page.body);

    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().expect("login ends");
    assert!(status.success(), "login failed: {rest:?}");
    assert!(rest.iter().any(|l| l.contains("signed in")), "{rest:?}");
    assert_eq!(fake.token_requests("authorization_code").len(), 1);
    assert_eq!(env.browser_opens(), 0);
    // And git needs nothing more.
    fake.clear_log();
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    assert!(fake.all_token_requests().is_empty());
}
