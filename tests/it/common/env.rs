//! An isolated place to run git and the helper: a private temp dir with its
//! own HOME, XDG dirs and global gitconfig, and an environment scrubbed of
//! anything from the developer's session that could change the outcome
//! (askpass programs, displays, browsers, proxies, our own overrides).
//!
//! Every child runs in a session of its own (`setsid`), so it has no
//! controlling terminal, and under a watchdog that kills its whole process
//! group when it outlives the timeout: a hung sign-in fails the test
//! instead of hanging the run.

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::fake::{FakeBitbucket, FakeOptions};
use super::fake_core::{FakeServer, Flavor};
use super::{assert_success, describe, stdout};

/// How long one command may run before it is killed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The fake browser script.
pub const FAKE_BROWSER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/fake-browser.py"
);

/// A browser that sends crafted requests to the helper's loopback listener
/// (mode in `$HOSTILE_BROWSER_MODE`).
pub const HOSTILE_BROWSER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/hostile-browser.py"
);

/// Variables removed from every child's environment (besides the
/// `GIT_CREDENTIAL_BITBUCKET_*` and `*_proxy` families).
const SCRUBBED: &[&str] = &[
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "BROWSER",
    "DBUS_SESSION_BUS_ADDRESS",
    "XDG_RUNTIME_DIR",
    // Left behind when tests run from a git hook.
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_EDITOR",
    "GIT_SSL_NO_VERIFY",
    // Some machines point git at their bundle here, which would hide
    // the test's own `http.sslCAInfo` (git reads the variable last).
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
    "GIT_SSL_CERT",
    "GIT_SSL_KEY",
    "GIT_SSL_CERT_PASSWORD_PROTECTED",
];

fn scrubbed(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    SCRUBBED.contains(&name)
        || name.starts_with("GIT_CREDENTIAL_BITBUCKET_")
        || name.starts_with("GIT_CONFIG_KEY_")
        || name.starts_with("GIT_CONFIG_VALUE_")
        || name.to_ascii_lowercase().ends_with("_proxy")
}

/// The helper under test: `$GCB_HELPER` (CI points it at the installed
/// binary) or the one cargo built.
pub fn helper_path() -> PathBuf {
    let path = match std::env::var_os("GCB_HELPER") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_git-credential-bitbucket")),
    };
    if path.is_absolute() {
        path
    } else {
        std::env::current_dir().expect("a current dir").join(path)
    }
}

/// The helper with test hooks (fault points, built with the `test-hooks`
/// feature; docs/architecture.md, "Test hooks"): `$GCB_HOOKS_HELPER`, else
/// the one cargo built for these tests, which has them (the crate's
/// dev-dependency on itself turns the feature on). The release binary in
/// `$GCB_HELPER` has none; tests that need a fault point run this one.
pub fn hooks_helper_path() -> PathBuf {
    match std::env::var_os("GCB_HOOKS_HELPER") {
        Some(p) if !p.is_empty() => {
            let p = PathBuf::from(p);
            std::env::current_dir().expect("a current dir").join(p)
        }
        _ => {
            assert!(
                std::env::var_os("GCB_UNDER_WINE").is_none(),
                "under Wine, GCB_HOOKS_HELPER must name the Windows helper with test hooks"
            );
            PathBuf::from(env!("CARGO_BIN_EXE_git-credential-bitbucket"))
        }
    }
}

/// An absolute python3 (skips version-manager shims, which are slow and may
/// depend on HOME), else `python3` from PATH.
pub fn python3() -> String {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            ["/usr/bin/python3", "/usr/local/bin/python3"]
                .iter()
                .find(|p| Path::new(p).exists())
                .map(|p| p.to_string())
                .unwrap_or_else(|| "python3".into())
        })
        .clone()
}

fn setsid() -> Option<&'static str> {
    static SETSID: OnceLock<Option<&'static str>> = OnceLock::new();
    *SETSID.get_or_init(|| {
        ["/usr/bin/setsid", "/bin/setsid"]
            .into_iter()
            .find(|p| Path::new(p).exists())
    })
}

/// A fake Bitbucket Cloud with `opts` and an environment configured for
/// it ([`TestEnv::configure_cloud`]: fake browser, file store).
pub fn cloud_setup_with(opts: FakeOptions) -> (FakeBitbucket, TestEnv) {
    let fake = FakeBitbucket::start(opts);
    let env = TestEnv::new();
    env.configure_cloud(&fake);
    (fake, env)
}

/// A fake Bitbucket Cloud with default options (rotating refresh tokens)
/// and an environment configured for it.
pub fn cloud_setup() -> (FakeBitbucket, TestEnv) {
    cloud_setup_with(FakeOptions::default())
}

/// `credential.<fake>.<k>`: a config key for the fake's host.
pub fn key<F: Flavor>(fake: &FakeServer<F>, k: &str) -> String {
    format!("credential.{}.{k}", fake.base_url())
}

/// The fake browser as a `bitbucketBrowser` command.
pub fn fake_browser_command() -> String {
    super::wine::fake_browser()
        .unwrap_or_else(|| format!("{} {}", shell_quote(&python3()), shell_quote(FAKE_BROWSER)))
}

/// Quotes `s` for sh.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// One command that ran, kept for later scans of everything printed.
#[derive(Clone, Debug)]
pub struct Ran {
    /// The command line, for messages.
    pub command: String,
    /// What it printed and how it ended.
    pub output: Output,
}

/// A private temp dir and environment for one test.
pub struct TestEnv {
    dir: tempfile::TempDir,
    root: PathBuf,
    extra_env: Mutex<Vec<(OsString, Option<OsString>)>>,
    timeout: Mutex<Duration>,
    transcript: Mutex<Vec<Ran>>,
    /// Whether the helper run is the one with test hooks.
    hooks: std::sync::atomic::AtomicBool,
}

impl TestEnv {
    /// A fresh environment: `home/`, `xdg/{data,config,state,cache}`,
    /// `gitconfig` (the global config, with a committer identity) and
    /// `work/` (where `git()` runs).
    pub fn new() -> TestEnv {
        let dir = tempfile::Builder::new()
            .prefix("gcb-it-")
            .tempdir()
            .expect("a temp dir for the test");
        let root = dir.path().canonicalize().expect("canonical temp dir");
        for sub in [
            "home",
            "xdg/data",
            "xdg/config",
            "xdg/state",
            "xdg/cache",
            "work",
        ] {
            std::fs::create_dir_all(root.join(sub)).expect("create a test dir");
        }
        std::fs::write(
            root.join("gitconfig"),
            "[user]\n\tname = Test User\n\temail = test@example.invalid\n\
             [init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n",
        )
        .expect("write the global gitconfig");
        let env = TestEnv {
            dir,
            root,
            extra_env: Mutex::new(Vec::new()),
            timeout: Mutex::new(DEFAULT_TIMEOUT),
            transcript: Mutex::new(Vec::new()),
            hooks: std::sync::atomic::AtomicBool::new(false),
        };
        if std::env::var_os("GCB_KEEP_TEMP").is_some() {
            eprintln!("test dir kept: {}", env.root.display());
        }
        env
    }

    /// The temp dir.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `HOME` of every child.
    pub fn home(&self) -> PathBuf {
        self.root.join("home")
    }

    /// `XDG_DATA_HOME`.
    pub fn xdg_data(&self) -> PathBuf {
        self.root.join("xdg/data")
    }

    /// `XDG_CONFIG_HOME`.
    pub fn xdg_config(&self) -> PathBuf {
        self.root.join("xdg/config")
    }

    /// `XDG_STATE_HOME`.
    pub fn xdg_state(&self) -> PathBuf {
        self.root.join("xdg/state")
    }

    /// `XDG_CACHE_HOME`.
    pub fn xdg_cache(&self) -> PathBuf {
        self.root.join("xdg/cache")
    }

    /// The global gitconfig (`GIT_CONFIG_GLOBAL`).
    pub fn gitconfig(&self) -> PathBuf {
        self.root.join("gitconfig")
    }

    /// Where `git()` runs.
    pub fn work_dir(&self) -> PathBuf {
        self.root.join("work")
    }

    /// Where the helper keeps its file store.
    pub fn data_dir(&self) -> PathBuf {
        if super::wine::active() {
            return super::wine::data_dir(&self.xdg_data());
        }
        self.xdg_data().join("git-credential-bitbucket")
    }

    /// `FAKE_BROWSER_LOG`.
    pub fn browser_log_path(&self) -> PathBuf {
        self.root.join("browser.log")
    }

    /// Sets a variable for every child from now on.
    pub fn set_env(&self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) {
        let mut extra = self.extra_env.lock().expect("env lock");
        extra.push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
    }

    /// Removes a variable from every child from now on.
    pub fn remove_env(&self, key: impl AsRef<OsStr>) {
        let mut extra = self.extra_env.lock().expect("env lock");
        extra.push((key.as_ref().to_owned(), None));
    }

    /// How long each command may run from now on (default 120 s).
    pub fn set_timeout(&self, timeout: Duration) {
        *self.timeout.lock().expect("timeout lock") = timeout;
    }

    /// A command with this environment applied (not yet isolated in its
    /// own session; [`Self::run`] does that).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        for (name, _) in std::env::vars_os() {
            if scrubbed(&name) {
                cmd.env_remove(name);
            }
        }
        cmd.env("HOME", self.home())
            .env("XDG_DATA_HOME", self.xdg_data())
            .env("XDG_CONFIG_HOME", self.xdg_config())
            .env("XDG_STATE_HOME", self.xdg_state())
            .env("XDG_CACHE_HOME", self.xdg_cache())
            .env("GIT_CONFIG_GLOBAL", self.gitconfig())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("FAKE_BROWSER_LOG", self.browser_log_path())
            .env("LC_ALL", "C")
            .env("LANGUAGE", "C")
            .current_dir(self.work_dir());
        for (key, value) in self.extra_env.lock().expect("env lock").iter() {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            };
        }
        cmd
    }

    /// `git -c core.askPass= <args>` in `dir`.
    pub fn git_command(&self, dir: &Path, args: &[&str]) -> Command {
        // GCB_TEST_GIT picks another git, e.g. Debian's 2.39 (.ci/run runs
        // the end-to-end tests with both).
        let git = std::env::var("GCB_TEST_GIT").unwrap_or_else(|_| "git".into());
        let mut cmd = self.command(git);
        cmd.current_dir(dir)
            .args(["-c", "core.askPass="])
            .args(args);
        cmd
    }

    /// Whether the git under test sends `capability[]=authtype` (2.46+),
    /// without which Bearer cannot be used.
    pub fn git_has_authtype(&self) -> bool {
        let out = self.git(&["--version"]);
        let text = String::from_utf8_lossy(&out.stdout);
        let version: Vec<u32> = text
            .split_whitespace()
            .nth(2)
            .unwrap_or("0")
            .split('.')
            .take(2)
            .map(|n| n.parse().unwrap_or(0))
            .collect();
        version.as_slice() >= [2, 46].as_slice()
    }

    /// Runs git in the work dir.
    pub fn git(&self, args: &[&str]) -> Output {
        self.git_in(&self.work_dir(), args)
    }

    /// Runs git in `dir`.
    pub fn git_in(&self, dir: &Path, args: &[&str]) -> Output {
        self.run(self.git_command(dir, args), None)
    }

    /// Runs git in the work dir and panics, showing its output, if it fails.
    #[track_caller]
    pub fn git_ok(&self, args: &[&str]) -> Output {
        let out = self.git(args);
        assert_success(&out, &format!("git {}", args.join(" ")));
        out
    }

    /// Runs git in `dir` and panics, showing its output, if it fails.
    #[track_caller]
    pub fn git_in_ok(&self, dir: &Path, args: &[&str]) -> Output {
        let out = self.git_in(dir, args);
        assert_success(
            &out,
            &format!("git {} (in {})", args.join(" "), dir.display()),
        );
        out
    }

    /// Writes `contents` to `file` in the work tree `dir` and commits it.
    pub fn commit_file(&self, dir: &Path, file: &str, contents: &[u8], message: &str) {
        std::fs::write(dir.join(file), contents).expect("write a file");
        self.git_in_ok(dir, &["add", file]);
        self.git_in_ok(dir, &["commit", "-q", "-m", message]);
    }

    /// The commit `HEAD` of the repository in `dir` points at.
    pub fn head_of(&self, dir: &Path) -> String {
        stdout(&self.git_in_ok(dir, &["rev-parse", "HEAD"]))
            .trim()
            .to_string()
    }

    /// The helper with `args`, fed `stdin`.
    pub fn helper_command(&self, args: &[&str]) -> Command {
        let mut cmd = self.command(self.helper_bin());
        cmd.args(args);
        cmd
    }

    /// Runs `configure <url>` on a pseudo-terminal and answers its prompts
    /// in order, each the moment it appears (as a paste would); returns
    /// everything the terminal showed.
    pub fn configure_on_pty(&self, url: &str, answers: &[&str]) -> String {
        self.configure_on_pty_with(&self.helper_bin(), url, answers)
    }

    /// As [`Self::configure_on_pty`], with the helper binary `helper`.
    pub fn configure_on_pty_with(&self, helper: &Path, url: &str, answers: &[&str]) -> String {
        const DRIVER: &str = r#"
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:3] + [sys.argv[3]])
answers = [a.encode() + b"\n" for a in sys.argv[4:]]
out, deadline = b"", time.time() + 20
# Answer a prompt only once something was printed after the last answer:
# the bare newline a hidden read echoes still leaves the old prompt's ":"
# at the end, and an answer typed then (echo still on) would show.
mark = 0
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
        tail = out[mark:]
        if answers and tail.strip() and tail.rstrip().endswith(b":"):
            os.write(fd, answers.pop(0))
            mark = len(out)
sys.stdout.write(out.decode("utf-8", "replace"))
"#;
        let mut cmd = self.command(python3());
        cmd.args([
            "-c",
            DRIVER,
            helper.to_str().expect("UTF-8 helper path"),
            "configure",
            url,
        ]);
        cmd.args(answers);
        // Wrapped messages joined back (a terminal turns LF into CR LF).
        crate::common::stdout(&self.run(cmd, None)).replace("\r\n  ", " ")
    }

    /// The helper this environment runs: [`helper_path`], or
    /// [`hooks_helper_path`] after [`TestEnv::use_test_hooks`].
    pub fn helper_bin(&self) -> PathBuf {
        if self.hooks.load(std::sync::atomic::Ordering::SeqCst) {
            hooks_helper_path()
        } else {
            helper_path()
        }
    }

    /// From now on runs the helper with test hooks (a test that sets a
    /// fault point's variable needs it), also where git runs it: a helper
    /// already configured is switched over in the global gitconfig.
    pub fn use_test_hooks(&self) {
        self.hooks.store(true, std::sync::atomic::Ordering::SeqCst);
        let (plain, hooks) = (helper_path(), hooks_helper_path());
        if plain != hooks {
            let config = std::fs::read_to_string(self.gitconfig()).unwrap_or_default();
            let config = config.replace(
                plain.to_str().expect("UTF-8 helper path"),
                hooks.to_str().expect("UTF-8 helper path"),
            );
            std::fs::write(self.gitconfig(), config).expect("write the global gitconfig");
        }
    }

    /// Runs the helper with `args`, feeding it `stdin`.
    pub fn helper(&self, args: &[&str], stdin: &str) -> Output {
        self.run(self.helper_command(args), Some(stdin.as_bytes()))
    }

    /// Runs a prepared command in its own session under the watchdog,
    /// feeding it `stdin` (or /dev/null), and records it in the transcript.
    pub fn run(&self, cmd: Command, stdin: Option<&[u8]>) -> Output {
        let timeout = *self.timeout.lock().expect("timeout lock");
        let (described, output) = run_isolated(cmd, stdin, timeout);
        self.transcript.lock().expect("transcript lock").push(Ran {
            command: described,
            output: output.clone(),
        });
        output
    }

    /// Every command run so far, with what it printed.
    pub fn transcript(&self) -> Vec<Ran> {
        self.transcript.lock().expect("transcript lock").clone()
    }

    /// Everything every command printed (stdout and stderr), for scans.
    pub fn all_output(&self) -> String {
        let mut all = String::new();
        for ran in self.transcript() {
            all.push_str(&String::from_utf8_lossy(&ran.output.stdout));
            all.push_str(&String::from_utf8_lossy(&ran.output.stderr));
        }
        all
    }

    /// Every file under the temp dir (store, configs, clones, logs).
    pub fn all_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                match entry.file_type() {
                    Ok(t) if t.is_dir() => walk(&path, out),
                    Ok(t) if t.is_file() => out.push(path),
                    _ => {}
                }
            }
        }
        let mut files = Vec::new();
        walk(&self.root, &mut files);
        files.sort();
        files
    }

    /// Files under the temp dir that contain any of `needles`, with the
    /// needle found. Callers exclude the store themselves.
    pub fn files_containing(&self, needles: &[String]) -> Vec<(PathBuf, String)> {
        let mut hits = Vec::new();
        for file in self.all_files() {
            let Ok(bytes) = std::fs::read(&file) else {
                continue;
            };
            let text = String::from_utf8_lossy(&bytes);
            for needle in needles.iter().filter(|n| !n.is_empty()) {
                if text.contains(needle.as_str()) {
                    hits.push((file.clone(), needle.clone()));
                }
            }
        }
        hits
    }

    /// Files holding any of `needles` where no secret belongs: everything
    /// under the temp dir except the helper's store ([`Self::data_dir`]),
    /// the fake browser's log and pages (a browser sees the code), and a
    /// client secret in the global gitconfig where the test configured it
    /// as `bitbucketClientSecret`.
    pub fn leaked_secrets(&self, needles: &[String]) -> Vec<(PathBuf, String)> {
        let store = self.data_dir();
        let browser = self.browser_log_path().to_string_lossy().into_owned();
        let gitconfig = self.gitconfig();
        let configured_secrets: Vec<String> = std::fs::read_to_string(&gitconfig)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.trim().split_once('='))
            .filter(|(key, _)| key.trim().eq_ignore_ascii_case("bitbucketClientSecret"))
            .map(|(_, value)| value.trim().to_string())
            .collect();
        self.files_containing(needles)
            .into_iter()
            .filter(|(path, needle)| {
                let allowed = path.starts_with(&store)
                    || path.to_string_lossy().starts_with(&browser)
                    || (*path == gitconfig && configured_secrets.contains(needle));
                !allowed
            })
            .collect()
    }

    /// Sets `key` in the global gitconfig (`git config --file`).
    pub fn set_config(&self, key: &str, value: &str) {
        self.config_file(&[key, value]);
    }

    /// Adds a value to a multi-valued `key` in the global gitconfig.
    pub fn add_config(&self, key: &str, value: &str) {
        self.config_file(&["--add", key, value]);
    }

    fn config_file(&self, args: &[&str]) {
        let file = self.gitconfig();
        let file = file.to_str().expect("UTF-8 temp path");
        let mut all = vec!["config", "--file", file];
        all.extend_from_slice(args);
        self.git_ok(&all);
    }

    /// Points the fake's host at our helper, the way `configure` would, with
    /// the fake's endpoints, the file store and the fake browser; the
    /// redirect is Cloud's default (any free port). The login
    /// timeout is 60 s, so a helper that never hears back fails the test
    /// instead of holding it for the default 300 s.
    pub fn configure_cloud(&self, fake: &FakeBitbucket) {
        self.configure_cloud_at(fake, &fake.base_url());
    }

    /// As [`Self::configure_cloud`], but for the remote `base` (e.g.
    /// `http://bb.test:PORT`, reached through `http.curloptResolve`); the
    /// endpoints stay the fake's loopback URLs.
    pub fn configure_cloud_at(&self, fake: &FakeBitbucket, base: &str) {
        self.configure_helper(
            base,
            "cloud",
            fake,
            &[
                ("bitbucketAuthorizeUrl", &fake.authorize_url()),
                ("bitbucketTokenUrl", &fake.token_url()),
                ("bitbucketApiUrl", &fake.api_url()),
            ],
        );
    }

    /// Points the remote `base` at our helper for a Bitbucket of `kind`
    /// with `fake`'s client, then sets the `extra` keys (`bitbucket…`
    /// names), the file store, the fake browser and a login timeout of
    /// 60 s.
    pub fn configure_helper<F: Flavor>(
        &self,
        base: &str,
        kind: &str,
        fake: &FakeServer<F>,
        extra: &[(&str, &str)],
    ) {
        let key = |k: &str| format!("credential.{base}.{k}");
        let helper = self.helper_bin();
        let browser = fake_browser_command();
        self.set_config(&key("helper"), "");
        self.add_config(&key("helper"), helper.to_str().expect("UTF-8 helper path"));
        self.set_config(&key("bitbucketKind"), kind);
        self.set_config(&key("bitbucketClientId"), &fake.client_id());
        self.set_config(&key("bitbucketClientSecret"), &fake.client_secret());
        for (k, value) in extra {
            self.set_config(&key(k), value);
        }
        self.set_config(&key("bitbucketStore"), "file");
        self.set_config(&key("bitbucketBrowser"), &browser);
        self.set_config(&key("bitbucketLoginTimeout"), "60");
    }

    /// The fake browser's log (`open <url>`, then one line per step).
    pub fn browser_log(&self) -> String {
        std::fs::read_to_string(self.browser_log_path()).unwrap_or_default()
    }

    /// How many times a browser was opened.
    pub fn browser_opens(&self) -> usize {
        self.browser_log()
            .lines()
            .filter(|l| l.starts_with("open "))
            .count()
    }

    /// The URLs the browser was opened with, in order.
    pub fn browser_urls(&self) -> Vec<String> {
        self.browser_log()
            .lines()
            .filter_map(|l| l.strip_prefix("open "))
            .map(str::to_string)
            .collect()
    }

    /// The authorize URLs the browsers reached through the helper's
    /// one-time start page (`start <status> <location>` lines), in order.
    pub fn browser_authorize_urls(&self) -> Vec<String> {
        self.browser_log()
            .lines()
            .filter_map(|l| l.strip_prefix("start "))
            .filter_map(|l| l.split_once(' ').map(|(_, url)| url.to_string()))
            .collect()
    }

    /// Waits (up to 35 s) until every opened browser has finished.
    pub fn wait_for_browsers(&self) {
        let deadline = Instant::now() + Duration::from_secs(35);
        loop {
            let log = self.browser_log();
            let opened = log.lines().filter(|l| l.starts_with("open ")).count();
            let done = log.lines().filter(|l| *l == "done").count();
            if done >= opened || Instant::now() > deadline {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The last page the browser ended on (after waiting for browsers).
    pub fn last_browser_page(&self) -> Option<String> {
        self.wait_for_browsers();
        let log = self.browser_log();
        let path = log.lines().rev().find_map(|l| l.strip_prefix("page "))?;
        let path = path.split_once(' ').map(|(_, p)| p)?;
        std::fs::read_to_string(path).ok()
    }
}

impl Default for TestEnv {
    fn default() -> Self {
        TestEnv::new()
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if std::env::var_os("GCB_KEEP_TEMP").is_some() {
            self.dir.disable_cleanup(true);
        }
    }
}

/// Runs `cmd` in a new session (no controlling terminal) and kills its
/// process group if it runs longer than `timeout`.
fn run_isolated(cmd: Command, stdin: Option<&[u8]>, timeout: Duration) -> (String, Output) {
    let described = format!("{cmd:?}");
    let mut cmd = match setsid() {
        Some(setsid) => {
            let mut wrapped = Command::new(setsid);
            wrapped
                .arg("--wait")
                .arg(cmd.get_program())
                .args(cmd.get_args());
            for (key, value) in cmd.get_envs() {
                match value {
                    Some(value) => wrapped.env(key, value),
                    None => wrapped.env_remove(key),
                };
            }
            if let Some(dir) = cmd.get_current_dir() {
                wrapped.current_dir(dir);
            }
            wrapped
        }
        None => {
            use std::os::unix::process::CommandExt as _;
            let mut cmd = cmd;
            cmd.process_group(0);
            cmd
        }
    };
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child: Child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {described}: {e}"));
    let writer = child.stdin.take().map(|mut pipe| {
        let input = stdin.unwrap_or_default().to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        })
    });
    let read_all = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out_reader = read_all(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err_reader = read_all(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let started = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for a child") {
            break status;
        }
        if started.elapsed() > timeout {
            timed_out = true;
            // The child leads its own process group: end it and its
            // descendants (git, the helper, a browser) by that id.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            break child.wait().expect("wait for a killed child");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    let output = Output {
        status,
        stdout: out_reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
    };
    if timed_out {
        panic!(
            "timed out after {timeout:?}: {described}\n{}",
            describe(&output)
        );
    }
    (described, output)
}
