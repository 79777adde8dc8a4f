//! Everything that differs between Linux, macOS and Windows, in one room:
//! the credential store behind the `keyring` backend, where the data
//! directory is, how a browser is started, how the terminal is reached
//! (and echo turned off for secrets), which files git reads its config
//! from, and who owns a repository. docs/platforms.md has the table.
//!
//! The rules that decide something (which program and arguments open a
//! URL, which config files Git for Windows reads) are pure functions
//! compiled on every platform, so the Linux test run checks the Windows
//! rules too; only the code that touches the OS is behind `cfg`.

#[cfg(any(windows, test))]
use std::path::Path;
use std::path::PathBuf;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(any(windows, test))]
pub mod listed;
#[cfg(target_os = "macos")]
mod macos;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

#[cfg(unix)]
pub use unix::{
    git_home, git_system_files, open_terminal, owned_by_me, prompt_hidden, terminal_available,
};
#[cfg(windows)]
pub use windows::{
    git_home, git_system_files, open_terminal, owned_by_me, prompt_hidden, terminal_available,
    user_path,
};

pub mod keyring;

/// The BSDs and other systems: no native store is built, so `auto` uses
/// the file store and `keyring` is a clear error.
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
mod none {
    use super::keyring::{KeyringError, Slots};

    /// What the messages call the store.
    pub const NAME: &str = "the OS keyring";
    /// How to unlock it (never reached: there is none).
    pub const UNLOCK_HINT: &str = "unlock it";
    /// What to check when it fails.
    pub const CHECK_HINT: &str = "This build has no keyring backend for this system";

    /// No store.
    pub struct Native;

    impl Native {
        /// Always unavailable.
        pub fn connect() -> Result<Native, KeyringError> {
            Err(KeyringError::Unavailable(
                "this build has no keyring backend for this system".into(),
            ))
        }
    }

    impl Slots for Native {
        fn get(&self, _: &str, _: &str) -> Result<Option<String>, KeyringError> {
            Ok(None)
        }
        fn set(&self, _: &str, _: &str, _: &str, _: &str) -> Result<(), KeyringError> {
            Err(KeyringError::Unavailable("no keyring backend".into()))
        }
        fn delete(&self, _: &str, _: &str) -> Result<(), KeyringError> {
            Ok(())
        }
        fn users(&self, _: &str) -> Result<Vec<String>, KeyringError> {
            Ok(Vec::new())
        }
        fn max_len(&self) -> Option<usize> {
            None
        }
    }
}

/// Largest secret Windows' Credential Manager keeps in one credential, in
/// bytes. Our items hold the record's UTF-8 bytes (`set_secret`), not
/// UTF-16 text (`set_password`, which would halve it to 1,280
/// characters), so a piece holds 2,560 bytes of the record.
#[cfg(any(windows, test))]
pub const CREDENTIAL_MANAGER_MAX_BYTES: usize = 2560;

/// The directory for the store file and lock files. Windows: the local
/// (not roaming) application data directory, so tokens never travel to
/// another machine with a roaming profile. Linux: `$XDG_DATA_HOME/...`;
/// macOS: `~/Library/Application Support/...`.
pub fn data_dir(dirs: &directories::ProjectDirs) -> PathBuf {
    if cfg!(windows) {
        dirs.data_local_dir().to_path_buf()
    } else {
        dirs.data_dir().to_path_buf()
    }
}

/// Makes the directories `builder` creates private: mode 0700 on Unix.
/// Windows has no modes: the store's directory is under the user's local
/// application data, inside the profile, whose ACL (the user, SYSTEM,
/// administrators) the new directory inherits (docs/security.md).
pub fn private_dir(builder: &mut std::fs::DirBuilder) {
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(builder, 0o700);
    #[cfg(not(unix))]
    let _ = builder;
}

/// Makes the files `options` creates private: mode 0600 on Unix; on
/// Windows they inherit their directory's ACL, as [`private_dir`] says.
pub fn private_file(options: &mut std::fs::OpenOptions) {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(options, 0o600);
    #[cfg(not(unix))]
    let _ = options;
}

/// How to open a URL: what a browser rule (`bitbucketBrowser`, `$BROWSER`
/// or this platform's opener) comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Browser {
    /// A configured command (`bitbucketBrowser` or `$BROWSER`); the URL
    /// is passed as one separate argument, never pasted into the command
    /// (Unix: through `/bin/sh`; Windows: no shell, see src/platform/).
    Shell(String),
    /// A platform opener program.
    Program(String),
}

/// The browser this platform offers when neither `bitbucketBrowser` nor
/// `$BROWSER` names one: macOS `open`, Windows [`WINDOWS_OPENER`]; Linux
/// and the BSDs only with a display and `xdg-open` (headless servers ship
/// it too), or in WSL the Windows browser through `wslview` or
/// `explorer.exe`. `var` reads the environment (the caller's `Env`, so
/// tests can give their own; the platform sits below it).
pub fn default_browser(var: &dyn Fn(&str) -> Option<String>) -> Option<Browser> {
    if cfg!(target_os = "macos") {
        return Some(Browser::Program("open".into()));
    }
    if cfg!(windows) {
        return windows_default_browser(var);
    }
    let wsl = var("WSL_DISTRO_NAME").is_some()
        || std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|r| r.to_ascii_lowercase().contains("microsoft"))
            .unwrap_or(false);
    if wsl {
        for opener in ["wslview", "explorer.exe"] {
            if on_path(var, opener) {
                return Some(Browser::Program(opener.into()));
            }
        }
    }
    let display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| var(v).is_some_and(|d| !d.is_empty()));
    if display && on_path(var, "xdg-open") {
        return Some(Browser::Program("xdg-open".into()));
    }
    None
}

/// Whether this process runs in an SSH session: OpenSSH's server sets
/// `SSH_CONNECTION` and `SSH_CLIENT` (and `SSH_TTY` with a terminal), on
/// Windows as on Unix.
pub fn over_ssh(var: &dyn Fn(&str) -> Option<String>) -> bool {
    ["SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY"]
        .iter()
        .any(|v| var(v).is_some_and(|s| !s.is_empty()))
}

/// Windows' own opener, except in an SSH session: the browser would open
/// on the desktop of whoever sits at the machine, or nowhere (a service's
/// session), and the sign-in would wait for nothing. There, as on a Linux
/// machine without a display, only `bitbucketBrowser` or `$BROWSER` count
/// (docs/platforms.md).
pub fn windows_default_browser(var: &dyn Fn(&str) -> Option<String>) -> Option<Browser> {
    if over_ssh(var) {
        return None;
    }
    Some(Browser::Program(WINDOWS_OPENER.into()))
}

fn on_path(var: &dyn Fn(&str) -> Option<String>, program: &str) -> bool {
    var("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

/// The name `default_browser` gives the Windows opener: `rundll32
/// url.dll,FileProtocolHandler`, which hands the URL to the user's default
/// browser through the shell's URL association. Chosen over `cmd /c
/// start`, where `&` ends the command and `%` expands variables, and over
/// `explorer.exe`, which treats commas as its own separators and always
/// exits 1. rundll32 passes the rest of its command line to the handler
/// as raw text, so the URL goes there verbatim (see [`Launch::raw_tail`]).
pub const WINDOWS_OPENER: &str = "rundll32 url.dll,FileProtocolHandler";

/// A program to start, with its arguments; no shell unless the program is
/// one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub program: String,
    /// Its arguments, each passed as one argument.
    pub args: Vec<String>,
    /// Windows only: text appended to the command line as is, unquoted
    /// (rundll32 reads its tail raw, so quoting would reach the browser).
    pub raw_tail: Option<String>,
}

/// How a Unix system opens `url`: a configured command runs through
/// `/bin/sh -c 'CMD "$@"' sh URL`, so it may use shell syntax while the URL
/// stays one argument that the shell never parses; a platform opener gets
/// the URL as its one argument.
pub fn unix_launch(browser: &Browser, url: &str) -> Launch {
    match browser {
        Browser::Shell(cmd) => Launch {
            program: "/bin/sh".into(),
            args: vec![
                "-c".into(),
                format!("{cmd} \"$@\""),
                "sh".into(),
                url.into(),
            ],
            raw_tail: None,
        },
        Browser::Program(p) => Launch {
            program: p.clone(),
            args: vec![url.into()],
            raw_tail: None,
        },
    }
}

/// How Windows opens `url`. No shell is involved: Git for Windows runs
/// such commands through its bundled `sh`, which we cannot assume, and
/// `cmd.exe` would parse `&`, `%` and `^` in the URL. A configured command
/// is split into words by [`split_command`], the URL added as the last
/// argument, and the program started directly (std quotes each argument
/// for the usual command-line parsing, so spaces, `&`, `%` and `=` arrive
/// as they are). `system_root` is `%SystemRoot%`, where rundll32 lives (an
/// absolute path: no program of that name elsewhere on PATH is run).
pub fn windows_launch(browser: &Browser, url: &str, system_root: &str) -> Result<Launch, String> {
    match browser {
        Browser::Program(p) if p == WINDOWS_OPENER => Ok(Launch {
            program: format!(
                "{}\\System32\\rundll32.exe",
                system_root.trim_end_matches('\\')
            ),
            args: vec!["url.dll,FileProtocolHandler".into()],
            raw_tail: Some(url.into()),
        }),
        Browser::Program(p) => Ok(Launch {
            program: p.clone(),
            args: vec![url.into()],
            raw_tail: None,
        }),
        Browser::Shell(cmd) => {
            let mut words = split_command(cmd)?;
            if words.is_empty() {
                return Err("the browser command is empty".into());
            }
            let program = words.remove(0);
            words.push(url.into());
            Ok(Launch {
                program,
                args: words,
                raw_tail: None,
            })
        }
    }
}

/// Splits a browser command the simple way, for Windows: words are
/// separated by spaces or tabs; double quotes group (and are removed);
/// everything else, backslashes included, is literal, so
/// `"C:\Program Files\Mozilla Firefox\firefox.exe" -private-window` is a
/// program and one argument. There is no other shell syntax.
pub fn split_command(cmd: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quoted = false;
    for c in cmd.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            ' ' | '\t' if !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quoted {
        return Err(format!(
            "the browser command {cmd:?} has an unclosed double quote"
        ));
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// The [`Launch`] for this platform.
pub fn launch(browser: &Browser, url: &str) -> Result<Launch, String> {
    if cfg!(windows) {
        let root = std::env::var("SystemRoot").unwrap_or_else(|_| "C:\\Windows".into());
        windows_launch(browser, url, &root)
    } else {
        Ok(unix_launch(browser, url))
    }
}

/// A command for `launch`, stdio closed: a child never writes to our
/// stdout, which is git's protocol channel.
pub fn command(launch: &Launch) -> std::process::Command {
    use std::process::Stdio;
    let mut cmd = std::process::Command::new(&launch.program);
    cmd.args(&launch.args);
    if let Some(tail) = &launch.raw_tail {
        #[cfg(windows)]
        std::os::windows::process::CommandExt::raw_arg(&mut cmd, tail);
        #[cfg(not(windows))]
        cmd.arg(tail);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

pub fn spawn_browser(browser: &Browser, url: &str) -> std::io::Result<std::process::Child> {
    let l = launch(browser, url).map_err(std::io::Error::other)?;
    command(&l).spawn()
}

/// Git for Windows' system config file, from the `GIT_EXEC_PATH` git
/// exports to every helper it runs (`<install>/<arch prefix>/libexec/git-core`
/// → `<install>/etc/gitconfig`, the one system file Git for Windows reads
/// since 2.24). `None` when that path has another shape (another git, or
/// none told us): the caller then asks git.
#[cfg(any(windows, test))]
pub fn windows_system_gitconfig(exec_path: &str) -> Option<String> {
    let p = exec_path.replace('\\', "/");
    let p = p.trim_end_matches('/');
    let cut = p.len().checked_sub("/libexec/git-core".len())?;
    if !p.is_char_boundary(cut) || !p[cut..].eq_ignore_ascii_case("/libexec/git-core") {
        return None;
    }
    let (install, _arch_prefix) = p[..cut].rsplit_once('/')?;
    if install.is_empty() {
        return None;
    }
    Some(format!("{install}/etc/gitconfig"))
}

/// The directory Git for Windows calls HOME: `HOME` when set, else
/// `%HOMEDRIVE%%HOMEPATH%` when that is a directory, else `%USERPROFILE%`
/// (git sets HOME so for its children, so a helper run by git sees HOME).
#[cfg(any(windows, test))]
pub fn windows_git_home(
    var: &dyn Fn(&str) -> Option<String>,
    is_dir: &dyn Fn(&Path) -> bool,
) -> Option<PathBuf> {
    let set = |k: &str| var(k).filter(|v| !v.is_empty());
    if let Some(h) = set("HOME") {
        return Some(PathBuf::from(h));
    }
    if let (Some(drive), Some(path)) = (set("HOMEDRIVE"), set("HOMEPATH")) {
        let p = PathBuf::from(format!("{drive}{path}"));
        if is_dir(&p) {
            return Some(p);
        }
    }
    set("USERPROFILE").map(PathBuf::from)
}

/// Whether `path` lies inside `profile`, both already canonical (Windows
/// compares paths case-insensitively).
#[cfg(any(windows, test))]
pub fn inside_profile(path: &Path, profile: &Path) -> bool {
    let norm = |p: &Path| {
        p.to_string_lossy()
            .replace('\\', "/")
            .trim_end_matches('/')
            .to_lowercase()
    };
    let (p, root) = (norm(path), norm(profile));
    !root.is_empty() && (p == root || p.starts_with(&format!("{root}/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A URL with every character a shell or cmd.exe would take apart.
    const URL: &str = "https://bitbucket.org/site/oauth2/authorize?client_id=a%20b&state=x=y&redirect_uri=http%3A%2F%2F127.0.0.1%3A34107%2F";

    #[test]
    fn the_windows_opener_gets_the_url_verbatim_with_no_shell() {
        let l = windows_launch(&Browser::Program(WINDOWS_OPENER.into()), URL, "C:\\Windows")
            .expect("launch");
        assert_eq!(l.program, "C:\\Windows\\System32\\rundll32.exe");
        assert_eq!(l.args, ["url.dll,FileProtocolHandler"]);
        assert_eq!(l.raw_tail.as_deref(), Some(URL));
    }

    #[test]
    fn a_windows_browser_command_is_split_and_gets_the_url_as_its_own_argument() {
        let cmd = r#""C:\Program Files\Mozilla Firefox\firefox.exe" -private-window"#;
        let l = windows_launch(&Browser::Shell(cmd.into()), URL, "C:\\Windows").expect("launch");
        assert_eq!(l.program, r"C:\Program Files\Mozilla Firefox\firefox.exe");
        assert_eq!(l.args, ["-private-window", URL]);
        assert_eq!(l.raw_tail, None);
        // A URL with spaces stays one argument too.
        let spaced = "https://h/a b?x=1&y=%41";
        let l =
            windows_launch(&Browser::Shell("browser.exe".into()), spaced, "C:\\W").expect("launch");
        assert_eq!(l.args, [spaced]);
    }

    #[test]
    fn over_ssh_windows_has_no_browser_of_its_own() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let opener = Some(Browser::Program(WINDOWS_OPENER.into()));
        assert_eq!(windows_default_browser(&env(&[])), opener);
        assert_eq!(
            windows_default_browser(&env(&[("SSH_CONNECTION", "")])),
            opener
        );
        for var in ["SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY"] {
            let pairs: &'static [(&'static str, &'static str)] = match var {
                "SSH_CONNECTION" => &[("SSH_CONNECTION", "10.0.0.2 50022 10.0.0.1 22")],
                "SSH_CLIENT" => &[("SSH_CLIENT", "10.0.0.2 50022 22")],
                _ => &[("SSH_TTY", "windows-pty")],
            };
            assert_eq!(windows_default_browser(&env(pairs)), None, "{var}");
        }
    }

    #[test]
    fn splitting_a_browser_command() {
        assert_eq!(
            split_command(r#"  a   "b c"d  e\f "" "#).expect("splits"),
            ["a", "b cd", r"e\f", ""]
        );
        assert!(split_command(r#"a "b"#).is_err());
        let err = windows_launch(&Browser::Shell("  ".into()), URL, "C:\\W").expect_err("empty");
        assert!(err.contains("empty"), "{err}");
    }

    #[test]
    fn a_unix_browser_command_runs_through_sh_with_the_url_as_a_parameter() {
        let l = unix_launch(&Browser::Shell("firefox --new-window".into()), URL);
        assert_eq!(l.program, "/bin/sh");
        assert_eq!(l.args, ["-c", "firefox --new-window \"$@\"", "sh", URL]);
        let l = unix_launch(&Browser::Program("xdg-open".into()), URL);
        assert_eq!(l.program, "xdg-open");
        assert_eq!(l.args, [URL]);
    }

    /// Not a test on its own (ignored): the program the next test starts
    /// as a browser (this test binary, filtered down to this function),
    /// which writes the arguments it was given to a file.
    #[test]
    #[ignore = "run only as the browser of the next test"]
    fn records_its_arguments_when_run_as_a_browser() {
        if let Some(out) = std::env::var_os("GCB_TEST_RECORD_ARGS_TO") {
            let args: Vec<String> = std::env::args().skip(1).collect();
            std::fs::write(out, args.join("\n")).expect("record");
        }
    }

    /// The real proof: start the browser command this platform builds
    /// (through `/bin/sh` on Unix, directly on Windows) and read back what
    /// the browser received. Under Wine this runs the Windows rules.
    #[test]
    fn a_url_with_ampersand_percent_equals_and_spaces_reaches_the_browser_intact() {
        let me = std::env::current_exe().expect("test binary");
        let out = std::env::temp_dir().join(format!("gcb-browser-args-{}", std::process::id()));
        let filter = "platform::tests::records_its_arguments_when_run_as_a_browser";
        let cmd = if cfg!(windows) {
            format!("\"{}\" --exact --ignored {filter}", me.display())
        } else {
            format!("'{}' --exact --ignored {filter}", me.display())
        };
        let url = "https://h.example/a b?x=1&y=%41%PATH%&z==";
        let l = launch(&Browser::Shell(cmd), url).expect("launch");
        let status = command(&l)
            .env("GCB_TEST_RECORD_ARGS_TO", &out)
            .status()
            .expect("runs");
        assert!(status.success(), "{status:?}");
        let got = std::fs::read_to_string(&out).expect("recorded");
        let _ = std::fs::remove_file(&out);
        assert_eq!(got.lines().last(), Some(url), "{got}");
    }

    #[test]
    fn git_for_windows_system_config_from_its_exec_path() {
        assert_eq!(
            windows_system_gitconfig("C:/Program Files/Git/mingw64/libexec/git-core").as_deref(),
            Some("C:/Program Files/Git/etc/gitconfig")
        );
        assert_eq!(
            windows_system_gitconfig(r"D:\PortableGit\clangarm64\libexec\git-core\").as_deref(),
            Some("D:/PortableGit/etc/gitconfig")
        );
        // Debian's layout, or nothing recognisable: ask git.
        assert_eq!(windows_system_gitconfig("/usr/lib/git-core"), None);
        assert_eq!(windows_system_gitconfig("/libexec/git-core"), None);
        assert_eq!(windows_system_gitconfig(""), None);
    }

    #[test]
    fn git_for_windows_home() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let yes = |_: &Path| true;
        let no = |_: &Path| false;
        let all = env(&[
            ("HOME", "H:/home"),
            ("HOMEDRIVE", "N:"),
            ("HOMEPATH", "\\me"),
            ("USERPROFILE", "C:\\Users\\me"),
        ]);
        assert_eq!(windows_git_home(&all, &yes), Some(PathBuf::from("H:/home")));
        let no_home = env(&[
            ("HOME", ""),
            ("HOMEDRIVE", "N:"),
            ("HOMEPATH", "\\me"),
            ("USERPROFILE", "C:\\Users\\me"),
        ]);
        assert_eq!(
            windows_git_home(&no_home, &yes),
            Some(PathBuf::from("N:\\me"))
        );
        assert_eq!(
            windows_git_home(&no_home, &no),
            Some(PathBuf::from("C:\\Users\\me"))
        );
        assert_eq!(windows_git_home(&env(&[]), &yes), None);
    }

    #[test]
    fn inside_the_profile() {
        let profile = Path::new(r"\\?\C:\Users\Me");
        assert!(inside_profile(
            Path::new(r"\\?\C:\Users\me\src\repo\.git"),
            profile
        ));
        assert!(inside_profile(Path::new(r"\\?\C:\Users\Me"), profile));
        assert!(!inside_profile(
            Path::new(r"\\?\C:\Users\Meg\.git"),
            profile
        ));
        assert!(!inside_profile(Path::new(r"\\?\C:\.git"), profile));
        assert!(!inside_profile(Path::new(r"C:\x"), Path::new("")));
    }
}
