//! The README's newcomer path, run as written: the commands of its
//! "Install" and "Set up bitbucket.org" sections (and its API-token way),
//! in order, from this
//! checkout into a fresh HOME, up to the first clone through the fake
//! Bitbucket Cloud with the fake browser; then its sample session against
//! what that clone printed. So README.md cannot drift from what the tool
//! does (issue: a README for users, "Done when").
//!
//! The test changes only what the test world needs, each in one place
//! ([`World`]): `https://bitbucket.org` is the fake (plain http on
//! 127.0.0.1), so `configure` is given the fake's URL and endpoints and
//! the clone URL's host is the fake's; `WORKSPACE/REPO` is the fake's
//! `ws/repo` and `YOUR_BITBUCKET_USERNAME` its alice, whose API token is
//! `TOKEN`; `KEY` and `SECRET` are the fake consumer's, which is
//! registered with the README's Callback URL; `$BROWSER` is the fake
//! browser; there is no Secret Service, so tokens go to the file store
//! where the README shows the keyring. With `GCB_HELPER` set (CI: the
//! installed binary), `./install.sh` installs that binary (`--from`)
//! instead of building one; otherwise it builds, as a newcomer's does.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::common::env::{python3, shell_quote, TestEnv, FAKE_BROWSER};
use crate::common::fake::{FakeBitbucket, FakeOptions, Kind, TokenState};
use crate::common::{describe, stderr};
use crate::setup::use_real_toolchain;

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const NAME: &str = "git-credential-bitbucket";
const INSTALL: &str = "## Install";
const SETUP: &str = "## Set up bitbucket.org";
const TOKEN: &str = "### No workspace you administer? An API token";

/// The lines of the section under `heading` (a whole heading line), up to
/// the next heading of any level.
fn section<'a>(readme: &'a str, heading: &str) -> Vec<&'a str> {
    let mut lines = readme.lines().skip_while(|l| l.trim_end() != heading);
    assert!(
        lines.next().is_some(),
        "README.md has no `{heading}` section"
    );
    let mut fenced = false;
    lines
        .take_while(|l| {
            if l.trim_start().starts_with("```") {
                fenced = !fenced;
            }
            fenced || !l.starts_with('#')
        })
        .collect()
}

/// The fenced blocks of `lang` in `lines`, each as its lines without the
/// fence's indentation (blocks inside a numbered list are indented).
fn blocks(lines: &[&str], lang: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut open: Option<(usize, Vec<String>)> = None;
    for line in lines {
        let indent = line.len() - line.trim_start().len();
        match &mut open {
            None if line.trim() == format!("```{lang}") => open = Some((indent, Vec::new())),
            Some((_, block)) if line.trim() == "```" => {
                out.push(std::mem::take(block));
                open = None;
            }
            Some((at, block)) => block.push(line.get(*at..).unwrap_or("").to_owned()),
            None => {}
        }
    }
    out
}

/// The commands of the `sh` blocks in `lines`, trailing comments dropped;
/// a line ending in `|` or `\` goes on on the next, as in a shell.
fn commands(lines: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut open = false;
    for line in blocks(lines, "sh").into_iter().flatten() {
        let line = line.split(" #").next().unwrap_or("").trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match out.last_mut() {
            Some(last) if open => {
                last.push(' ');
                last.push_str(line);
            }
            _ => out.push(line.to_owned()),
        }
        open = line.ends_with('|') || line.ends_with('\\');
        if let Some(last) = out.last_mut().filter(|_| line.ends_with('\\')) {
            last.pop();
        }
    }
    out
}

/// The first backticked value after `label` in `lines`, wherever the
/// lines break.
fn backticked_after(lines: &[&str], label: &str) -> Option<String> {
    let text = lines
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let after = &text[text.find(label)? + label.len()..];
    let start = after.find('`')? + 1;
    let len = after[start..].find('`')?;
    Some(after[start..start + len].to_owned())
}

/// Whether `line` is `pattern`, where `…` in the pattern stands for any
/// text (the README shortens long URLs so).
fn matches(pattern: &str, line: &str) -> bool {
    let mut pieces = pattern.trim_end().split('…');
    let line = line.trim_end();
    let Some(mut rest) = line.strip_prefix(pieces.next().unwrap_or("")) else {
        return false;
    };
    let pieces: Vec<&str> = pieces.collect();
    let Some((last, middle)) = pieces.split_last() else {
        return rest.is_empty();
    };
    for piece in middle {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// What stands for the newcomer's world in the test's.
struct World<'a> {
    fake: &'a FakeBitbucket,
}

impl World<'_> {
    /// A README text with bitbucket.org, the placeholders and the store
    /// the test cannot have replaced by the test's.
    fn translate(&self, text: &str) -> String {
        text.replace("https://bitbucket.org", &self.fake.base_url())
            .replace("WORKSPACE/REPO", "ws/repo")
            .replace("'REPO'", "'repo'")
            .replace("(keyring store)", "(file store)")
            .replace("YOUR_BITBUCKET_USERNAME", "alice")
    }

    /// `configure` for the fake: its URL, kind and endpoints, which
    /// bitbucket.org has by default.
    fn configure_args(&self) -> String {
        let f = self.fake;
        format!(
            "configure {} --kind cloud --authorize-url {} --token-url {} --api-url {}",
            shell_quote(&f.base_url()),
            shell_quote(&f.authorize_url()),
            shell_quote(&f.token_url()),
            shell_quote(&f.api_url())
        )
    }
}

/// Runs one README command line with bash in `dir`.
fn sh(env: &TestEnv, dir: &Path, line: &str) -> Output {
    let mut cmd = env.command("bash");
    cmd.args(["-c", line]).current_dir(dir);
    env.run(cmd, None)
}

/// Everything run so far, for a failure message.
fn transcript(env: &TestEnv) -> String {
    env.transcript()
        .iter()
        .map(|r| format!("$ {}\n{}\n", r.command, describe(&r.output)))
        .collect()
}

/// `./install.sh` as the README writes it, installing `GCB_HELPER` when it
/// is set rather than building.
fn install_line(env: &TestEnv, line: &str) -> String {
    match std::env::var_os("GCB_HELPER").filter(|p| !p.is_empty()) {
        Some(helper) => {
            let dir = env.root().join("built");
            std::fs::create_dir_all(&dir).expect("a dir for the built binary");
            let helper = std::fs::canonicalize(PathBuf::from(helper)).expect("GCB_HELPER exists");
            std::os::unix::fs::symlink(helper, dir.join(NAME)).expect("link the binary");
            format!("{line} --from {}", shell_quote(&dir.to_string_lossy()))
        }
        None => {
            // A cold release build takes minutes on two cores.
            env.set_timeout(Duration::from_secs(900));
            use_real_toolchain(env);
            line.to_owned()
        }
    }
}

fn read_readme() -> String {
    std::fs::read_to_string(Path::new(REPO).join("README.md")).expect("README.md")
}

/// A fresh HOME where the README's Install commands ran as written, with
/// the fake browser as `$BROWSER`.
fn installed_as_written(readme: &str) -> TestEnv {
    let env = TestEnv::new();
    env.set_env(
        "BROWSER",
        format!("{} {}", shell_quote(&python3()), shell_quote(FAKE_BROWSER)),
    );
    let install_cmds = commands(&section(readme, INSTALL));
    assert!(!install_cmds.is_empty(), "no sh block in {INSTALL}");
    for line in &install_cmds {
        assert!(
            line.starts_with("./install.sh"),
            "{INSTALL} runs `{line}`, which this test does not know; teach it here"
        );
        let out = sh(&env, Path::new(REPO), &install_line(&env, line));
        assert!(
            out.status.success(),
            "`{line}` failed\n{}",
            transcript(&env)
        );
    }
    env.set_timeout(Duration::from_secs(60));
    env
}

/// The first clone the setup section shows.
fn clone_line(setup: &[&str]) -> String {
    commands(setup)
        .into_iter()
        .find(|l| l.starts_with("git clone https://bitbucket.org/"))
        .expect("the setup shows the first `git clone https://bitbucket.org/…`")
}

#[test]
fn the_readme_commands_take_a_newcomer_from_this_checkout_to_the_first_clone() {
    let readme = read_readme();
    let setup = section(&readme, SETUP);
    let callback = backticked_after(&setup, "Callback URL")
        .expect("the setup section names the consumer's Callback URL in backticks");
    let fake = FakeBitbucket::start(FakeOptions {
        callback,
        ..FakeOptions::default()
    });
    let world = World { fake: &fake };
    let env = installed_as_written(&readme);
    env.set_env("KEY", fake.client_id());
    env.set_env("SECRET", fake.client_secret());

    // Set up: the scripted `configure` (the interactive one names the same
    // program), then the clone.
    let setup_cmds = commands(&setup);
    let program = |line: &str| line.split(" configure").next().map(str::to_owned);
    let scripted = setup_cmds
        .iter()
        .find(|l| l.contains(" configure ") && l.contains("--client-secret-stdin"))
        .expect("the setup shows `configure` for scripts (--client-secret-stdin)");
    let run_program = program(scripted.rsplit(" | ").next().unwrap_or(scripted));
    let mut cloned = None;
    let mut clone_shown = String::new();
    for line in &setup_cmds {
        if line.ends_with(" configure") {
            assert_eq!(
                program(line),
                run_program,
                "both configure lines, one program"
            );
        } else if line == scripted {
            let out = sh(
                &env,
                &env.work_dir(),
                &line.replacen("configure", &world.configure_args(), 1),
            );
            assert!(
                out.status.success(),
                "`{line}` failed\n{}",
                transcript(&env)
            );
        } else if *line == clone_line(&setup) {
            let out = sh(&env, &env.work_dir(), &world.translate(line));
            assert!(
                out.status.success(),
                "`{line}` failed\n{}",
                transcript(&env)
            );
            cloned = Some(out);
            clone_shown = line.clone();
        } else {
            panic!("{SETUP} runs `{line}`, which this test does not know; teach it here");
        }
    }
    let cloned = cloned.expect("the setup runs the clone");

    // The clone went through the helper that install.sh put where the
    // README says, and signed in once in the (fake) browser.
    let checkout = env.work_dir().join("repo").join("README.md");
    let text = std::fs::read_to_string(&checkout).unwrap_or_default();
    assert!(text.contains("# repo"), "no checkout\n{}", transcript(&env));
    assert_eq!(env.browser_opens(), 1, "{}", env.browser_log());
    let helpers = env.git_ok(&[
        "config",
        "--global",
        "--get-all",
        &format!("credential.{}.helper", fake.base_url()),
    ]);
    let named = run_program.clone().unwrap_or_default();
    let installed = match named.strip_prefix("~/") {
        Some(rest) => env.home().join(rest),
        None => PathBuf::from(&named),
    };
    assert_eq!(
        String::from_utf8_lossy(&helpers.stdout),
        format!("\n{}\n", installed.display()),
        "configure wrote the binary install.sh installed, where the README runs it from"
    );

    // The sample session is what the clone printed, line by line.
    let sample = blocks(&setup, "text")
        .into_iter()
        .find(|b| b.first().is_some_and(|l| l.starts_with("$ git clone ")))
        .expect("the setup shows what the first clone prints (a text block)");
    assert_eq!(
        sample[0],
        format!("$ {clone_shown}"),
        "the sample runs the clone shown"
    );
    let printed = stderr(&cloned);
    let mut lines = printed.lines();
    for shown in &sample[1..] {
        let want = world.translate(shown);
        assert!(
            lines.any(|l| matches(&want, l)),
            "the README's sample line\n  {shown}\nis not in what the clone printed (in order):\n{printed}"
        );
    }
}

/// The API-token way, as written: the token stored by the README's
/// command is what git sends, with the username it says, and no browser
/// opens.
#[test]
fn the_readme_api_token_way_clones_with_the_token_and_the_username() {
    let readme = read_readme();
    let fake = FakeBitbucket::start(FakeOptions::default());
    let world = World { fake: &fake };
    let env = installed_as_written(&readme);
    env.set_env("TOKEN", fake.mint_api_token("alice"));
    let cmds = commands(&section(&readme, TOKEN));
    assert!(!cmds.is_empty(), "no sh block in {TOKEN}");
    for line in &cmds {
        assert!(
            line.contains(" configure ") && line.contains("--api-token"),
            "{TOKEN} runs `{line}`, which this test does not know; teach it here"
        );
        let run = world.translate(&line.replacen("configure", &world.configure_args(), 1));
        let out = sh(&env, &env.work_dir(), &run);
        assert!(
            out.status.success(),
            "`{line}` failed\n{}",
            transcript(&env)
        );
    }
    let clone = clone_line(&section(&readme, SETUP));
    let out = sh(&env, &env.work_dir(), &world.translate(&clone));
    assert!(
        out.status.success(),
        "`{clone}` failed\n{}",
        transcript(&env)
    );
    assert_eq!(env.browser_opens(), 0, "{}", env.browser_log());
    let sent: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.kind == Kind::Git && r.auth_scheme.is_some())
        .map(|r| (r.status, r.basic_user, r.token_state))
        .collect();
    assert!(!sent.is_empty(), "{:#?}", fake.requests());
    for request in sent {
        assert_eq!(
            request,
            (200, Some("alice".to_owned()), Some(TokenState::Live))
        );
    }
}

/// A newcomer meets the setup early, and the README still shows the
/// install and test commands and sends contributors on.
#[test]
fn the_setup_comes_within_60_lines_and_contributors_are_sent_on() {
    let readme = read_readme();
    let at = readme
        .lines()
        .position(|l| l.trim_end() == SETUP)
        .expect("a setup section");
    assert!(at < 60, "{SETUP} starts on line {}", at + 1);
    let install_at = readme.find("./install.sh").expect("./install.sh");
    assert!(install_at < readme.find(SETUP).unwrap_or(0));
    assert!(commands(&readme.lines().collect::<Vec<_>>()).contains(&"cargo test".to_owned()));
    assert!(readme.contains("(CONTRIBUTING.md)"));
    assert!(Path::new(REPO).join("CONTRIBUTING.md").is_file());
}

#[test]
fn the_sample_matcher_takes_ellipses_as_any_text_and_nothing_else() {
    assert!(matches("a…c", "abbbc"));
    assert!(matches("https://x/?q=…", "https://x/?q=1&r=2"));
    assert!(matches("same", "same  "));
    assert!(!matches("same", "same but longer"));
    assert!(!matches("a…c", "abbbd"));
    assert!(!matches("x…y…z", "xzy"));
}

#[test]
fn commands_join_continued_lines_and_drop_comments() {
    let md = [
        "text",
        "  ```sh",
        "  a |",
        "    b # c",
        "  d \\",
        "    e",
        "  # x",
        "  ```",
    ];
    assert_eq!(commands(&md), ["a | b", "d  e"]);
}
