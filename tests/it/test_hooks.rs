//! Test hooks stay out of release binaries (issue 21, item 7; docs/
//! architecture.md, "Test hooks"): the store's fault points (a failing
//! write, a pause before the rename) read variables named
//! `GIT_CREDENTIAL_BITBUCKET_TEST_*`, and anyone who can set git's
//! environment could use them, so only builds with the `test-hooks`
//! feature have them. Evidence: the bytes of the binaries.

use crate::common::env::{helper_path, hooks_helper_path};

/// Every test hook's variable starts with one of these (the store's fault
/// points with the first; a stand-in for bitbucket.org may use the
/// second).
const HOOK_PREFIXES: [&[u8]; 2] = [b"GIT_CREDENTIAL_BITBUCKET_TEST_", b"GCB_TEST_"];

/// The hook prefixes found in the binary at `path`.
fn hooks_in(path: &std::path::Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    HOOK_PREFIXES
        .iter()
        .filter(|p| bytes.windows(p.len()).any(|w| w == **p))
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect()
}

/// The binary under test in `$GCB_HELPER` (CI: the one install.sh built,
/// as users get it) holds none of the hooks' variable names; the binary
/// cargo built for the tests does (the scan's positive control).
#[test]
fn the_release_binary_holds_no_test_hooks_and_the_test_build_does() {
    if std::env::var_os("GCB_UNDER_WINE").is_some() {
        eprintln!("skipped under Wine: the helpers are scripts that run an .exe");
        return;
    }
    let hooks = hooks_helper_path();
    assert!(
        hooks_in(&hooks).contains(&"GIT_CREDENTIAL_BITBUCKET_TEST_".to_owned()),
        "the scan finds no fault point in {}, which has them",
        hooks.display()
    );
    match std::env::var_os("GCB_HELPER").filter(|v| !v.is_empty()) {
        Some(_) => {
            let release = helper_path();
            let found = hooks_in(&release);
            assert!(
                found.is_empty(),
                "{} holds test hooks (names starting {found:?}): it was built with the \
                 test-hooks feature",
                release.display()
            );
        }
        None => eprintln!(
            "the release check is skipped: GCB_HELPER names no release binary \
             (.ci/run sets it to the installed one)"
        ),
    }
}
