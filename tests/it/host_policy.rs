//! The host policy (contract.md §4, §7): plain http to a non-loopback host
//! is refused without the opt-in, and a global client id does not make
//! other hosts ours.
//!
//! As in `cloud`, every assertion rests on evidence from outside the
//! helper: the fake's request log, git's exit status and output.

use crate::common::env::{python3, shell_quote, TestEnv};
use crate::common::fake::{FakeBitbucket, FakeOptions, Kind};
use crate::common::{assert_failure, assert_success, describe, stderr, stdout};

use crate::common::steps::{assert_git_served, assert_nothing_asked, get_input};

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
