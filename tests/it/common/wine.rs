//! The end-to-end tests against the Windows helper under Wine (.ci/windows,
//! docs/platforms.md): `GCB_UNDER_WINE=1`, with `GCB_HELPER` pointing at
//! scripts/cross/wine-helper, which gives each test world (one
//! [`TestEnv`]) a Wine prefix of its own under `$GCB_WINE_WORLDS`.
//!
//! What differs from a native run, and how the tests cope:
//! - the browser: a Windows program cannot start the Linux fake browser
//!   directly, so `bitbucketBrowser` names `$GCB_WINE_BROWSER`
//!   (scripts/cross/wine-browser.c), which hands the URL to it through
//!   Wine's `start /unix`;
//! - process ids: the helper reports its Windows pid, which means nothing
//!   to Linux `kill`; [`kill`] ends it through the world's own wineserver;
//! - file modes: Windows has none (its ACLs are not what Wine maps to Unix
//!   modes), so mode checks are skipped under Wine ([`active`]).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::env::TestEnv;

/// Whether the helper under test is the Windows build under Wine.
pub fn active() -> bool {
    std::env::var_os("GCB_UNDER_WINE").is_some_and(|v| v == "1")
}

/// `path` as the Windows helper sees it: Wine's `Z:` drive maps `/`.
pub fn windows_path(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

/// The `bitbucketBrowser` value for the fake browser under Wine, if active.
pub fn fake_browser() -> Option<String> {
    if !active() {
        return None;
    }
    let exe = std::env::var_os("GCB_WINE_BROWSER")
        .filter(|v| !v.is_empty())
        .expect("GCB_UNDER_WINE=1 needs GCB_WINE_BROWSER (see .ci/windows)");
    Some(windows_path(Path::new(&exe)))
}

/// Where the Windows helper keeps its store, given the test's
/// `XDG_DATA_HOME`: `%LOCALAPPDATA%\git-credential-bitbucket\data`
/// (docs/platforms.md), and wine-helper makes the world's `%LOCALAPPDATA%`
/// that directory.
pub fn data_dir(xdg_data: &Path) -> PathBuf {
    xdg_data.join("git-credential-bitbucket").join("data")
}

/// The Wine prefix of `env`'s world, as scripts/cross/wine-helper names it.
pub fn prefix(env: &TestEnv) -> PathBuf {
    let worlds = std::env::var_os("GCB_WINE_WORLDS")
        .expect("GCB_UNDER_WINE=1 needs GCB_WINE_WORLDS (see .ci/windows)");
    let world = env.root().file_name().expect("a temp dir name");
    Path::new(&worlds).join(world)
}

/// Runs a Windows program (e.g. `taskkill`) in `env`'s world, with nothing
/// of the test's environment but the prefix.
pub fn run_in_world(env: &TestEnv, program: &str, args: &[&str]) -> std::process::Output {
    let wine = std::env::var("GCB_WINE").unwrap_or_else(|_| "/usr/lib/wine/wine64".into());
    Command::new(wine)
        .arg(program)
        .args(args)
        .env("WINEPREFIX", prefix(env))
        .env("WINEDEBUG", "-all")
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} under Wine: {e}"))
}

/// Ends the helper process `pid` (as the helper itself reports it) at
/// once, like SIGKILL: natively `kill -KILL`; under Wine `taskkill /F`,
/// which terminates the Windows process of that id in `env`'s world.
pub fn kill(env: &TestEnv, pid: u32) -> bool {
    if active() {
        let out = run_in_world(env, "taskkill", &["/F", "/PID", &pid.to_string()]);
        out.status.success()
    } else {
        Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }
}
