//! install.sh from a release archive (no cargo involved) and its
//! `--uninstall`, which must not leave git config naming a removed binary.
//! The archive is laid out as scripts/release lays it out, around the
//! binary under test.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::env::{helper_path, TestEnv};
use crate::common::{assert_failure, assert_success, describe, stderr, stdout};

const NAME: &str = "git-credential-bitbucket";
const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// `<root>/archive/git-credential-bitbucket-V-x86_64-linux-musl/` with the
/// binary and install.sh, and the same directory as a .tar.gz.
fn archive(env: &TestEnv) -> (PathBuf, PathBuf) {
    let top = env.root().join("archive");
    let dir = top.join(format!("{NAME}-0.0.0-x86_64-linux-musl"));
    std::fs::create_dir_all(&dir).expect("archive dir");
    std::fs::copy(helper_path(), dir.join(NAME)).expect("copy the binary");
    std::fs::copy(Path::new(REPO).join("install.sh"), dir.join("install.sh")).expect("copy");
    let tarball = env.root().join("release.tar.gz");
    let mut tar = env.command("tar");
    tar.arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(&top)
        .arg(dir.file_name().expect("name"));
    assert_success(&env.run(tar, None), "tar");
    (dir, tarball)
}

fn run(env: &TestEnv, script: &Path, args: &[&str]) -> Output {
    let mut cmd = env.command("bash");
    cmd.arg(script).args(args);
    env.run(cmd, None)
}

fn installed(prefix: &Path) -> Vec<PathBuf> {
    [
        format!("bin/{NAME}"),
        format!("share/man/man1/{NAME}.1"),
        format!("share/bash-completion/completions/{NAME}"),
        format!("share/zsh/site-functions/_{NAME}"),
        format!("share/fish/vendor_completions.d/{NAME}.fish"),
    ]
    .iter()
    .map(|f| prefix.join(f))
    .collect()
}

fn helper_entry(env: &TestEnv) -> String {
    stdout(&env.git(&[
        "config",
        "--global",
        "--get-regexp",
        r"^credential\..*\.helper$",
    ]))
}

/// Installs from `dir`'s install.sh, configures bitbucket.org with the
/// installed binary, and returns the prefix.
fn install_and_configure(env: &TestEnv, dir: &Path) -> PathBuf {
    let prefix = env.root().join("prefix");
    let p = prefix.to_str().expect("UTF-8").to_owned();
    let out = run(env, &dir.join("install.sh"), &["--prefix", &p]);
    assert_success(&out, "install.sh from inside the archive");
    let mut cmd = env.command(prefix.join("bin").join(NAME));
    cmd.args([
        "configure",
        "https://bitbucket.org",
        "--client-id",
        "K",
        "--client-secret-stdin",
    ]);
    assert_success(&env.run(cmd, Some(b"S\n")), "configure");
    assert!(
        helper_entry(env).contains(&format!("{}/bin/{NAME}", p)),
        "{}",
        helper_entry(env)
    );
    prefix
}

#[test]
fn install_from_an_archive_or_from_inside_one_installs_binary_man_page_and_completions() {
    let env = TestEnv::new();
    let (dir, tarball) = archive(&env);
    for (how, script, extra) in [
        (
            "--from tarball",
            Path::new(REPO).join("install.sh"),
            Some(tarball.clone()),
        ),
        (
            "--from dir",
            Path::new(REPO).join("install.sh"),
            Some(dir.clone()),
        ),
        ("inside the archive", dir.join("install.sh"), None),
    ] {
        let prefix = env.root().join(format!("prefix-{}", how.replace(' ', "-")));
        let mut args = vec!["--prefix".to_owned(), prefix.to_string_lossy().into_owned()];
        if let Some(from) = extra {
            args.extend(["--from".to_owned(), from.to_string_lossy().into_owned()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&env, &script, &args);
        assert_success(&out, how);
        assert!(
            !stderr(&out).contains("Building"),
            "{how} built from source: {}",
            describe(&out)
        );
        for file in installed(&prefix) {
            assert!(
                file.is_file(),
                "{how}: {} missing\n{}",
                file.display(),
                describe(&out)
            );
        }
        let bash = std::fs::read_to_string(&installed(&prefix)[2]).expect("bash completion");
        assert!(
            bash.contains("complete -F _git_credential_bitbucket"),
            "{how}"
        );
        let man = std::fs::read_to_string(&installed(&prefix)[1]).expect("man page");
        assert!(man.starts_with(".TH "), "{how}");
    }
}

#[test]
fn uninstall_without_a_terminal_or_a_choice_refuses_and_removes_nothing() {
    let env = TestEnv::new();
    let (dir, _) = archive(&env);
    let prefix = install_and_configure(&env, &dir);
    let p = prefix.to_str().expect("UTF-8");

    let out = run(
        &env,
        &dir.join("install.sh"),
        &["--prefix", p, "--uninstall"],
    );
    assert_failure(&out, "uninstall with config left and no choice");
    assert!(stderr(&out).contains("--yes"), "{}", describe(&out));
    assert!(
        stderr(&out).contains("https://bitbucket.org"),
        "{}",
        describe(&out)
    );
    assert!(
        installed(&prefix).iter().all(|f| f.exists()),
        "nothing removed"
    );
}

#[test]
fn uninstall_yes_unconfigures_the_hosts_then_removes_every_file() {
    let env = TestEnv::new();
    let (dir, _) = archive(&env);
    let prefix = install_and_configure(&env, &dir);
    let p = prefix.to_str().expect("UTF-8");

    let out = run(
        &env,
        &dir.join("install.sh"),
        &["--prefix", p, "--uninstall", "--yes"],
    );
    assert_success(&out, "uninstall --yes");
    assert_eq!(helper_entry(&env), "", "{}", describe(&out));
    let left = stdout(&env.git(&["config", "--global", "--list"]));
    assert!(!left.contains("bitbucket.org"), "config left: {left}");
    for file in installed(&prefix) {
        assert!(!file.exists(), "{} left", file.display());
    }
}

#[test]
fn uninstall_keep_config_removes_the_files_and_says_how_to_remove_the_config() {
    let env = TestEnv::new();
    let (dir, _) = archive(&env);
    let prefix = install_and_configure(&env, &dir);
    let p = prefix.to_str().expect("UTF-8");

    let out = run(
        &env,
        &dir.join("install.sh"),
        &["--prefix", p, "--uninstall", "--keep-config"],
    );
    assert_success(&out, "uninstall --keep-config");
    assert!(helper_entry(&env).contains(NAME), "config kept");
    assert!(
        stderr(&out).contains("--remove-section"),
        "{}",
        describe(&out)
    );
    assert!(installed(&prefix).iter().all(|f| !f.exists()));
}

/// The data directory (tokens, consumer secrets) is outside the prefix:
/// `--uninstall` says where it is, keeps it with `--keep-config` and
/// removes it with `--yes`.
#[test]
fn uninstall_names_the_data_directory_and_removes_it_only_when_told() {
    let env = TestEnv::new();
    let (dir, _) = archive(&env);
    let data = env.data_dir();
    let shown = data.to_str().expect("UTF-8").to_owned();

    let prefix = install_and_configure(&env, &dir);
    assert!(data.is_dir(), "configure kept the secret in {shown}");
    let p = prefix.to_str().expect("UTF-8");
    let out = run(
        &env,
        &dir.join("install.sh"),
        &["--prefix", p, "--uninstall", "--keep-config"],
    );
    assert_success(&out, "uninstall --keep-config");
    assert!(data.is_dir(), "kept");
    let err = stderr(&out);
    assert!(
        err.contains(&format!("Kept the data directory {shown}")),
        "{err}"
    );
    assert!(err.contains(&format!("rm -rf '{shown}'")), "{err}");

    let prefix = install_and_configure(&env, &dir);
    let p = prefix.to_str().expect("UTF-8");
    let out = run(
        &env,
        &dir.join("install.sh"),
        &["--prefix", p, "--uninstall", "--yes"],
    );
    assert_success(&out, "uninstall --yes");
    assert!(!data.exists(), "{shown} left:\n{}", describe(&out));
    assert!(
        stdout(&out).contains(&format!("Removed the data directory {shown}")),
        "{}",
        describe(&out)
    );
}
