//! The Windows build under Wine (.ci/windows, docs/platforms.md), as a
//! Windows user without Rust meets it: `install` from the zip and
//! `uninstall`, Git Credential Manager as Git for Windows' helper, signing
//! in over SSH, and the console paste.
//!
//! These run against the Windows helper only (`GCB_UNDER_WINE=1`, which
//! .ci/windows sets); in a native run each says it was skipped.

use std::path::{Path, PathBuf};

use crate::common::env::{cloud_setup, key, TestEnv};
use crate::common::http::Kind;
use crate::common::{assert_failure, assert_success, stderr, wine};

/// Whether the Windows helper is under test; else says the test skipped.
fn windows() -> bool {
    if !wine::active() {
        eprintln!("skipped: Windows only (GCB_UNDER_WINE=1, set by .ci/windows)");
    }
    wine::active()
}

/// The .exe under test (the zip's).
fn zip_exe() -> PathBuf {
    PathBuf::from(std::env::var_os("GCB_WINE_EXE").expect("GCB_WINE_EXE (see .ci/windows)"))
}

/// Where `install` puts the .exe: `%LOCALAPPDATA%\Programs\...`, and
/// wine-helper makes the world's `%LOCALAPPDATA%` the test's XDG data dir.
fn installed(env: &TestEnv) -> PathBuf {
    env.xdg_data()
        .join("Programs/git-credential-bitbucket/git-credential-bitbucket.exe")
}

/// The world's `HKCU\Environment` as `reg query` lists it.
fn user_environment(env: &TestEnv) -> String {
    let out = wine::run_in_world(env, "reg", &["query", r"HKCU\Environment"]);
    String::from_utf8_lossy(&out.stdout).replace('\r', "")
}

/// The user `Path` entries that name the install folder.
fn path_entries_for_us(env: &TestEnv) -> usize {
    user_environment(env)
        .lines()
        .filter(|l| l.trim_start().to_ascii_lowercase().starts_with("path "))
        .flat_map(|l| {
            l.split(';')
                .map(str::to_ascii_lowercase)
                .collect::<Vec<_>>()
        })
        .filter(|e| {
            e.trim_end()
                .ends_with(r"\appdata\local\programs\git-credential-bitbucket")
        })
        .count()
}

fn same_bytes(a: &Path, b: &Path) -> bool {
    std::fs::read(a)
        .ok()
        .zip(std::fs::read(b).ok())
        .is_some_and(|(x, y)| x == y)
}

/// install → the .exe in the profile and its folder once on the user
/// `Path` (a second install adds nothing), no question without a console,
/// the next step named; git then signs in and fetches through the
/// installed copy; uninstall, run from that copy, leaves neither the
/// folder nor a `Path` entry nor anything else in `HKCU\Environment`.
/// (`configure` itself cannot run under Wine: it writes with git, and a
/// Windows program under Wine cannot read a Linux git's output; the test
/// writes the same entries natively.)
#[test]
fn install_puts_the_exe_on_the_user_path_once_and_uninstall_leaves_nothing() {
    if !windows() {
        return;
    }
    let (fake, env) = cloud_setup();
    // The world's prefix is made by the helper's first run (wine-helper,
    // from the template); `reg` must not make a bare one first.
    assert_success(&env.helper(&["--version"], ""), "--version");
    let before = user_environment(&env);
    assert_eq!(path_entries_for_us(&env), 0, "{before}");

    let out = env.helper(&["install"], "");
    assert_success(&out, "install");
    let err = stderr(&out);
    assert!(same_bytes(&zip_exe(), &installed(&env)), "{err}");
    assert_eq!(path_entries_for_us(&env), 1, "{}", user_environment(&env));
    assert!(
        err.contains("to your user Path") && err.contains("New terminals see it"),
        "{err}"
    );
    assert!(
        err.contains("next, in a new terminal: git credential-bitbucket configure"),
        "no console, so no question, and the next step named: {err}"
    );
    assert!(!user_environment(&env).contains("GIT_CREDENTIAL_BITBUCKET_PATH_CHANGED"));

    let again = env.helper(&["install"], "");
    assert_success(&again, "install again");
    assert!(
        stderr(&again).contains("on your user Path already"),
        "{}",
        stderr(&again)
    );
    assert_eq!(path_entries_for_us(&env), 1, "{}", user_environment(&env));

    // git through the installed copy.
    env.set_env("GCB_WINE_EXE", installed(&env));
    env.git_ok(&["clone", &fake.repo_url(), "clone"]);
    assert_eq!(fake.count(&Kind::Authorize), 1);
    assert_eq!(env.browser_opens(), 1);

    let out = env.helper(&["uninstall"], "");
    assert_success(&out, "uninstall from the installed copy");
    let gone = installed(&env);
    assert!(!gone.parent().expect("folder").exists(), "{}", stderr(&out));
    assert_eq!(path_entries_for_us(&env), 0, "{}", user_environment(&env));
    assert_eq!(
        user_environment(&env),
        before,
        "HKCU\\Environment as it was"
    );
}

/// Git for Windows names GCM in its system config; the helper finds that
/// file from `GIT_EXEC_PATH` as git passes it, and `install` says in two
/// lines what happens (configure says the same when it runs).
#[test]
fn install_beside_git_for_windows_gcm_says_what_happens_to_bitbucket() {
    if !windows() {
        return;
    }
    let env = TestEnv::new();
    let git_root = env.root().join("Git");
    std::fs::create_dir_all(git_root.join("mingw64/libexec/git-core")).expect("exec path");
    std::fs::create_dir_all(git_root.join("etc")).expect("etc");
    std::fs::write(
        git_root.join("etc/gitconfig"),
        "[credential]\n\thelper = manager\n",
    )
    .expect("system gitconfig");
    env.remove_env("GIT_CONFIG_NOSYSTEM");
    env.set_env("GIT_EXEC_PATH", git_root.join("mingw64/libexec/git-core"));

    let out = env.helper(&["install"], "");
    assert_success(&out, "install");
    let err = stderr(&out);
    assert!(
        err.contains(
            "Git Credential Manager (credential.helper=manager) stays git's helper for other \
             hosts; for https://bitbucket.org, `configure` makes git ask only \
             git-credential-bitbucket"
        ),
        "{err}"
    );
    assert!(err.contains("git credential-manager erase"), "{err}");
    assert_success(&env.helper(&["uninstall"], ""), "uninstall");
}

/// Over SSH into Windows (OpenSSH sets `SSH_CONNECTION`, `SSH_CLIENT`,
/// `SSH_TTY`) no browser can be shown: without a configured browser and
/// without a terminal, git fails at once with the same advice as on a
/// headless Linux machine, instead of waiting the login timeout for a
/// browser nobody sees.
#[test]
fn over_ssh_without_a_configured_browser_git_fails_at_once_naming_login() {
    if !windows() {
        return;
    }
    for var in ["SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY"] {
        let (fake, env) = cloud_setup();
        let browser = key(&fake, "bitbucketBrowser");
        env.git_ok(&[
            "config",
            "--file",
            env.gitconfig().to_str().expect("UTF-8"),
            "--unset",
            &browser,
        ]);
        env.set_config(&key(&fake, "bitbucketLoginTimeout"), "15");
        env.set_env(
            var,
            match var {
                "SSH_TTY" => "/dev/pts/3",
                "SSH_CLIENT" => "10.0.0.2 50022 22",
                _ => "10.0.0.2 50022 10.0.0.1 22",
            },
        );
        let out = env.git(&["ls-remote", &fake.repo_url()]);
        assert_failure(&out, "ls-remote over SSH without a browser");
        let err = stderr(&out);
        assert!(
            err.contains("needs a browser or a terminal")
                && err.contains("git credential-bitbucket login"),
            "{var}: {err}"
        );
        assert_eq!(fake.count(&Kind::Authorize), 0, "{var}");
        assert_eq!(env.browser_log(), "", "{var}: no browser");
    }
}

/// The paste sign-in on the Windows console (`CONIN$`), under Wine, on a
/// pseudo-terminal as a person at an SSH session would use it. Wine's
/// console redraws its screen buffer onto the terminal: it wraps at its
/// width (hence 1,000 columns here; at the default 80 the URL arrives cut
/// into lines) and wraps each update in cursor escapes, which a terminal
/// shows as nothing (docs/platforms.md has the transcript). With those
/// removed, the authorize URL stands alone on its line, the pasted
/// redirect signs in with one code exchange, and git then asks nothing.
#[test]
fn login_no_browser_on_the_console_takes_the_pasted_redirect() {
    if !windows() {
        return;
    }
    let (fake, env) = cloud_setup();
    let mut cmd = env.command(crate::common::env::python3());
    cmd.env("PTY_LOGIN_COLUMNS", "1000")
        .env("PTY_LOGIN_WINE", "1")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/pty-login.py"
        ))
        .arg(fake.authorize_url())
        .arg(crate::common::env::helper_path())
        .args(["login", "--no-browser", &fake.base_url()]);
    let out = env.run(cmd, None);
    assert_success(&out, "login --no-browser on Wine's console");

    let seen = crate::common::stdout(&out).replace('\r', "");
    let seen = strip_cursor_escapes(&seen);
    let url_lines: Vec<&str> = seen
        .lines()
        .filter(|l| l.contains(&fake.authorize_url()))
        .collect();
    assert!(
        url_lines
            .iter()
            .any(|l| l.starts_with(&format!("{}?", fake.authorize_url()))
                && !l.contains(char::is_whitespace)),
        "the URL alone on its line: {url_lines:?}"
    );
    assert!(seen.contains("signed in"), "{seen}");
    let exchanges = fake.token_requests("authorization_code");
    assert_eq!(exchanges.len(), 1, "{:#?}", fake.requests());
    assert_eq!(exchanges[0].status, 200);
    assert_eq!(env.browser_log(), "", "no browser was started");

    fake.clear_log();
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    assert_eq!(fake.all_token_requests().len(), 0, "{:#?}", fake.requests());
    assert_eq!(fake.count(&Kind::Authorize), 0);
}

/// `text` without the CSI sequences (`ESC [ ... letter`) Wine's console
/// adds around each update.
fn strip_cursor_escapes(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Natively (Linux, macOS) `install` and `uninstall` are not for this
/// build: a usage error that names install.sh, and nothing changes.
#[test]
fn elsewhere_install_and_uninstall_point_to_install_sh() {
    if wine::active() {
        return;
    }
    let env = TestEnv::new();
    for word in ["install", "uninstall"] {
        let out = env.helper(&[word, "--yes"], "");
        assert_eq!(out.status.code(), Some(2), "{word}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("install.sh") && err.contains("Windows"),
            "{word}: {err}"
        );
    }
    assert!(!env.xdg_data().join("Programs").exists());
}
