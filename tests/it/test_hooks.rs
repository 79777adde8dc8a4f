//! Test hooks stay out of release binaries (issue 21, item 7; docs/
//! architecture.md, "Test hooks"): the store's fault points (a failing
//! write, a pause before the rename) read variables named
//! `GIT_CREDENTIAL_BITBUCKET_TEST_*`, and anyone who can set git's
//! environment could use them, so only builds with the `test-hooks`
//! feature have them. Evidence: the bytes of the binaries.

use crate::common::env::{helper_path, hooks_helper_path};

/// Every test hook's variable starts with this.
const HOOK_PREFIX: &[u8] = b"GIT_CREDENTIAL_BITBUCKET_TEST_";

fn holds_hooks(path: &std::path::Path) -> bool {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    bytes.windows(HOOK_PREFIX.len()).any(|w| w == HOOK_PREFIX)
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
        holds_hooks(&hooks),
        "the scan finds no hook in {}, which has them",
        hooks.display()
    );
    match std::env::var_os("GCB_HELPER").filter(|v| !v.is_empty()) {
        Some(_) => {
            let release = helper_path();
            assert!(
                !holds_hooks(&release),
                "{} holds test hooks (a `GIT_CREDENTIAL_BITBUCKET_TEST_*` name): \
                 it was built with the test-hooks feature",
                release.display()
            );
        }
        None => eprintln!(
            "the release check is skipped: GCB_HELPER names no release binary \
             (.ci/run sets it to the installed one)"
        ),
    }
}
