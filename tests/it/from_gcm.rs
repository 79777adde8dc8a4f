//! Moving over from Git Credential Manager (docs/from-gcm.md): with GCM as
//! git's host-wide helper (what Git for Windows sets), `configure` and
//! `doctor` say in two lines what happens, and git then asks only us for
//! the Bitbucket host while GCM keeps the others.

use crate::common::env::{cloud_setup, TestEnv};
use crate::common::{assert_success, stderr, stdout};

/// The first of the two lines, for `base`.
fn first_line(base: &str) -> String {
    format!(
        "Git Credential Manager (credential.helper=manager) stays git's helper for other hosts; \
         for {base}, `configure` makes git ask only git-credential-bitbucket"
    )
}

#[test]
fn configure_on_a_machine_with_gcm_says_what_happens_to_bitbucket_and_the_other_hosts() {
    let env = TestEnv::new();
    env.set_config("credential.helper", "manager");
    let out = env.helper(
        &["configure", "--client-id", "K", "--client-secret-stdin"],
        "S\n",
    );
    assert_success(&out, "configure");
    let err = stderr(&out);
    assert!(err.contains(&first_line("https://bitbucket.org")), "{err}");
    assert!(
        err.contains(
            "GCM's old entries for bitbucket.org in Credential Manager are no longer used"
        ) && err.contains("git credential-manager erase"),
        "{err}"
    );

    // Without GCM, not a word about it.
    let plain = TestEnv::new();
    plain.set_config("credential.helper", "store");
    let out = plain.helper(
        &["configure", "--client-id", "K", "--client-secret-stdin"],
        "S\n",
    );
    assert_success(&out, "configure");
    assert!(
        !stderr(&out).contains("Credential Manager"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn doctor_with_gcm_as_the_host_wide_helper_says_what_happens_and_git_asks_only_us() {
    let (fake, env) = cloud_setup();
    // GCM named before our entries, as Git for Windows' system config does.
    let config = std::fs::read_to_string(env.gitconfig()).expect("gitconfig");
    std::fs::write(
        env.gitconfig(),
        format!("[credential]\n\thelper = manager\n{config}"),
    )
    .expect("write gitconfig");
    let base = fake.base_url();

    let out = env.helper(&["doctor", &base], "");
    let text = stdout(&out);
    assert!(
        text.contains(&format!("[warn] gcm: {}", first_line(&base))),
        "{text}\n{}",
        stderr(&out)
    );
    assert!(
        text.contains("fix: GCM's old entries for 127.0.0.1 in Credential Manager"),
        "{text}"
    );
    // Under Wine git runs the helper through scripts/cross/wine-helper, a
    // path that is not the .exe's own, so doctor cannot tell it is us
    // there (on Windows git runs the .exe itself).
    if !crate::common::wine::active() {
        assert!(text.contains("[ok  ] helpers"), "{text}");
    }

    // git asks only us: had it called GCM too, it would have said that
    // `credential-manager` is not a git command (GCM is not here).
    let out = env.git_ok(&["ls-remote", &fake.repo_url()]);
    let err = stderr(&out);
    assert!(!err.contains("manager"), "{err}");
}
