//! Finds the repository, and so its config file, exactly as git's
//! discovery does, or says "ask git" where it cannot tell.

use super::{parse_bool, syntax::parse_section};
use std::path::{Path, PathBuf};

/// The repository's own config file, if `cwd` is in a repository.
/// `Some(None)`: no repository; `None`: ask git.
///
/// git's discovery is followed exactly where it is modelled (which
/// directories count as a repository, the ownership check, the filesystem
/// boundary, the repository format); anything else asks git. That matters
/// for safety, not only for fidelity: a directory in `/tmp` that git does
/// not call a repository must not point our token URL anywhere.
pub(super) fn local_config(
    var: &dyn Fn(&str) -> Option<String>,
    cwd: &Path,
) -> Option<Option<PathBuf>> {
    if [
        "GIT_CEILING_DIRECTORIES",
        "GIT_COMMON_DIR",
        "GIT_OBJECT_DIRECTORY",
        "GIT_TEST_ASSUME_DIFFERENT_OWNER",
    ]
    .iter()
    .any(|k| var(k).is_some())
    {
        return None;
    }
    let git_dir = match var("GIT_DIR") {
        // Named explicitly: git uses it if it is a repository (no
        // ownership check, and safe.bareRepository allows it).
        Some(d) => match looks_like_git_dir(&cwd.join(&d)) {
            Looks::Yes => Some(cwd.join(d)),
            Looks::No | Looks::Unsure => return None,
        },
        None => discover(var, cwd)?,
    };
    let Some(git_dir) = git_dir else {
        return Some(None);
    };
    if git_dir.join("config.worktree").exists() {
        return None;
    }
    let config = git_dir.join("config");
    // git uses a repository only in a format it knows (version 0, or 1
    // without extensions it does not know): leave anything else to git.
    match std::fs::read_to_string(&config) {
        Ok(text) => {
            let lower = text.to_ascii_lowercase();
            if lower.contains("[include") || lower.contains("extensions") {
                return None;
            }
            let version = parse_section(&text, "core")?
                .into_iter()
                .rfind(|(k, _)| k == "core.repositoryformatversion");
            // Version 1 with no extensions (any `extensions` text went to
            // git above) is what git clone writes while it fetches.
            if version.is_some_and(|(_, v)| !matches!(v.trim(), "0" | "1")) {
                return None;
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(_) => return None,
    }
    Some(Some(config))
}

/// git's upward search from `cwd` (setup.c): at each level `.git`, then
/// the directory itself as a bare repository; it stops at a filesystem
/// boundary. `Some(None)`: no repository; `None`: ask git.
fn discover(var: &dyn Fn(&str) -> Option<String>, cwd: &Path) -> Option<Option<PathBuf>> {
    let across = match var("GIT_DISCOVERY_ACROSS_FILESYSTEM") {
        None => false,
        Some(v) => parse_bool(&v)?,
    };
    let device = device_of(cwd)?;
    for dir in cwd.ancestors() {
        if !across && dir != cwd && device_of(dir)? != device {
            return Some(None);
        }
        let dot_git = dir.join(".git");
        if dot_git.is_file() {
            // A worktree or submodule: git's pointer rules apply.
            return None;
        }
        if dot_git.is_dir() {
            match looks_like_git_dir(&dot_git) {
                // git checks the working tree's owner and the
                // repository's ("dubious ownership", safe.directory): a
                // directory planted above the working directory must not
                // feed us config. Another owner: let git decide.
                Looks::Yes if owned_by_me(dir) && owned_by_me(&dot_git) => {
                    return Some(Some(dot_git))
                }
                Looks::Yes | Looks::Unsure => return None,
                // Not a repository: git looks at the directory itself.
                Looks::No => {}
            }
        }
        match looks_like_git_dir(dir) {
            // A bare repository (mirrors fetch too). Whether git uses one
            // it found by searching depends on safe.bareRepository in the
            // system, global or command-line config, which this reader
            // does not model: git decides.
            Looks::Yes | Looks::Unsure => return None,
            Looks::No => {}
        }
    }
    Some(None)
}

/// The device a directory is on, for git's filesystem boundary; `None`
/// (ask git) where it cannot be told.
fn device_of(dir: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(dir).ok().map(|m| m.dev())
    }
    // Git for Windows' stat() reports device 0 for every file, so git
    // there never stops at a filesystem boundary: neither do we (asking
    // git instead would start a child process on every `get`).
    #[cfg(windows)]
    {
        let _ = dir;
        Some(0)
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = dir;
        None
    }
}

/// Whether a directory is a repository as git's `is_git_directory` decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Looks {
    /// git would call it a repository.
    Yes,
    /// git would not.
    No,
    /// Cannot be told here without git.
    Unsure,
}

/// git's `is_git_directory`: a valid `HEAD` (git's `validate_headref`),
/// and `objects/` and `refs/` it can enter. A `commondir` file (a linked
/// worktree's) moves the last two elsewhere: git decides.
fn looks_like_git_dir(dir: &Path) -> Looks {
    let parts = [
        valid_head(&dir.join("HEAD")),
        enterable(&dir.join("objects")),
        enterable(&dir.join("refs")),
    ];
    if parts.contains(&Looks::No) {
        return Looks::No;
    }
    if parts.contains(&Looks::Unsure) || dir.join("commondir").exists() {
        return Looks::Unsure;
    }
    Looks::Yes
}

/// git's `validate_headref`: a symbolic link into `refs/`, or a file that
/// starts with `ref:`, blanks and `refs/`, or with a full hex object id
/// (40 digits; a SHA-256 id starts with 40 too).
fn valid_head(head: &Path) -> Looks {
    let meta = match std::fs::symlink_metadata(head) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Looks::No,
        Err(_) => return Looks::Unsure,
    };
    if meta.file_type().is_symlink() {
        return match std::fs::read_link(head) {
            Ok(target) if target.to_string_lossy().starts_with("refs/") => Looks::Yes,
            Ok(_) => Looks::No,
            Err(_) => Looks::Unsure,
        };
    }
    if meta.is_dir() {
        return Looks::No;
    }
    if !meta.is_file() {
        return Looks::Unsure;
    }
    let mut buf = Vec::with_capacity(255);
    let read = std::fs::File::open(head).and_then(|f| {
        use std::io::Read;
        f.take(255).read_to_end(&mut buf)
    });
    if read.is_err() {
        return Looks::Unsure;
    }
    // git reads it as a C string.
    if let Some(nul) = buf.iter().position(|&b| b == 0) {
        buf.truncate(nul);
    }
    if let Some(rest) = buf.strip_prefix(b"ref:") {
        // git's isspace: space, tab, LF, CR.
        let start = rest
            .iter()
            .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
            .unwrap_or(rest.len());
        if rest[start..].starts_with(b"refs/") {
            return Looks::Yes;
        }
    }
    if buf.len() >= 40 && buf[..40].iter().all(u8::is_ascii_hexdigit) {
        return Looks::Yes;
    }
    Looks::No
}

/// git's `access(path, X_OK)` for `objects/` and `refs/`: a directory of
/// ours with its search bit set. Missing: no; anything else (a file,
/// another owner's directory, no permission bits): git decides.
fn enterable(path: &Path) -> Looks {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Looks::No,
        Err(_) => Looks::Unsure,
        Ok(m) if m.is_dir() && owned_by_me(path) && searchable_by_owner(&m) => Looks::Yes,
        Ok(_) => Looks::Unsure,
    }
}

fn searchable_by_owner(meta: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o100 != 0
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        true
    }
}

/// Whether `dir` belongs to the user running us; "no" means "ask git".
/// Unix: its owner is our uid; Windows: it is inside the user's profile
/// (src/platform/ says why).
fn owned_by_me(dir: &Path) -> bool {
    crate::platform::owned_by_me(dir)
}

#[cfg(test)]
mod tests {
    use super::super::{credential_entries, Pair};
    use super::*;
    use std::process::Command;

    /// A repository of another user above the working directory must not
    /// feed us config (git ignores it too): we ask git instead.
    #[cfg(target_os = "linux")]
    #[test]
    fn another_users_repository_config_is_never_read() {
        let root = std::env::temp_dir().join(format!("gcb-gitconfig-own-{}", std::process::id()));
        let git_dir = root.join("repo").join(".git");
        for sub in ["objects", "refs"] {
            std::fs::create_dir_all(git_dir.join(sub)).expect("dirs");
        }
        std::fs::write(git_dir.join("HEAD"), "ref: refs/heads/main\n").expect("HEAD");
        std::fs::write(
            git_dir.join("config"),
            "[credential \"https://bitbucket.org\"]\n\tbitbucketTokenUrl = https://evil.example/t\n",
        )
        .expect("config");
        let global = root.join("global");
        std::fs::write(&global, "").expect("global");
        let g = global.to_string_lossy().into_owned();
        let var = move |k: &str| match k {
            "GIT_CONFIG_GLOBAL" => Some(g.clone()),
            "GIT_CONFIG_NOSYSTEM" => Some("1".into()),
            _ => None,
        };
        let cwd = root.join("repo");
        let ours = credential_entries(&var, &cwd).expect("our own repository is read");
        assert_eq!(ours.len(), 1, "{ours:?}");
        // Hand the repository to `nobody` (possible as root, as in CI).
        if std::os::unix::fs::chown(&git_dir, Some(65534), Some(65534)).is_ok() {
            assert_eq!(
                credential_entries(&var, &cwd),
                None,
                "another user's repo: ask git"
            );
        }
        let _ = std::fs::remove_dir_all(&root);
    }

    /// One repository layout for the differential test below.
    struct Layout {
        name: &'static str,
        /// Builds it under `root`; returns the working directory.
        build: fn(&Path) -> PathBuf,
        /// `GIT_DIR`, relative to the working directory.
        git_dir: Option<&'static str>,
        global: &'static str,
        /// This reader must answer in-process (not "ask git").
        modelled: bool,
    }

    impl Layout {
        /// A layout this reader must answer in-process, without `GIT_DIR`
        /// and with an empty global config.
        fn in_process(name: &'static str, build: fn(&Path) -> PathBuf) -> Layout {
            Layout {
                name,
                build,
                git_dir: None,
                global: "",
                modelled: true,
            }
        }

        /// A layout this reader may hand to git ("ask git").
        fn may_ask_git(name: &'static str, build: fn(&Path) -> PathBuf) -> Layout {
            Layout {
                modelled: false,
                ..Layout::in_process(name, build)
            }
        }

        /// With `GIT_DIR` set to `dir`.
        fn git_dir(self, dir: &'static str) -> Layout {
            Layout {
                git_dir: Some(dir),
                ..self
            }
        }

        fn global(self, text: &'static str) -> Layout {
            Layout {
                global: text,
                ..self
            }
        }
    }

    /// A repository directory at `dir` with this HEAD (`None`: a symbolic
    /// link to `refs/heads/main`) and a local config naming `mark`.
    fn repo_dir(dir: &Path, head: Option<&[u8]>, mark: &str) {
        for sub in ["objects", "refs/heads"] {
            std::fs::create_dir_all(dir.join(sub)).expect("dirs");
        }
        match head {
            Some(h) => std::fs::write(dir.join("HEAD"), h).expect("HEAD"),
            None =>
            {
                #[cfg(unix)]
                std::os::unix::fs::symlink("refs/heads/main", dir.join("HEAD")).expect("link")
            }
        }
        std::fs::write(
            dir.join("config"),
            format!(
                "[core]\n\trepositoryformatversion = 0\n[credential \"https://bitbucket.org\"]\n\
                 \tbitbucketTokenUrl = https://evil.example/{mark}\n"
            ),
        )
        .expect("config");
    }

    /// A working tree `work` whose `.git` has this HEAD.
    fn work_with_head(root: &Path, head: Option<&[u8]>) -> PathBuf {
        let work = root.join("work");
        repo_dir(&work.join(".git"), head, "local");
        work
    }

    /// `git config --get-regexp` and `git rev-parse --git-dir` in `cwd`:
    /// (config exit status 0 or 1, its entries, rev-parse succeeded).
    fn git_in(cwd: &Path, global: &Path, git_dir: Option<&str>) -> (bool, Vec<Pair>, bool) {
        let run = |args: &[&str]| {
            let mut cmd = Command::new("git");
            cmd.current_dir(cwd)
                .args(args)
                .env("GIT_CONFIG_GLOBAL", global)
                .env("GIT_CONFIG_NOSYSTEM", "1");
            for k in [
                "GIT_DIR",
                "GIT_CEILING_DIRECTORIES",
                "GIT_CONFIG_PARAMETERS",
                "GIT_CONFIG_COUNT",
                "GIT_DISCOVERY_ACROSS_FILESYSTEM",
                "GIT_WORK_TREE",
                "GIT_COMMON_DIR",
                "GIT_OBJECT_DIRECTORY",
            ] {
                cmd.env_remove(k);
            }
            if let Some(d) = git_dir {
                cmd.env("GIT_DIR", d);
            }
            cmd.output().expect("run git")
        };
        let config = run(&["config", "-z", "--get-regexp", r"^credential\."]);
        let entries = String::from_utf8_lossy(&config.stdout)
            .split('\0')
            .filter(|s| !s.is_empty())
            .map(|item| {
                let (k, v) = item.split_once('\n').unwrap_or((item, "true"));
                (k.to_owned(), v.to_owned())
            })
            .collect();
        let ok = matches!(config.status.code(), Some(0 | 1));
        let repo = run(&["rev-parse", "--git-dir"]).status.success();
        (ok, entries, repo)
    }

    /// Every layout the differential test builds: a table, one entry a
    /// layout.
    fn layouts() -> Vec<Layout> {
        vec![
            Layout::in_process("a working tree", |r| {
                work_with_head(r, Some(b"ref: refs/heads/main\n"))
            }),
            Layout::in_process("a planted directory with an empty HEAD", |r| {
                let d = r.join("planted");
                repo_dir(&d, Some(b""), "planted");
                d
            }),
            Layout::in_process("a planted directory with an empty HEAD, below it", |r| {
                let d = r.join("planted");
                repo_dir(&d, Some(b""), "planted");
                std::fs::create_dir_all(d.join("sub")).expect("sub");
                d.join("sub")
            }),
            Layout::may_ask_git(
                "a bare repository under safe.bareRepository=explicit",
                |r| {
                    let d = r.join("bare.git");
                    repo_dir(&d, Some(b"ref: refs/heads/main\n"), "bare");
                    d
                },
            )
            .global("[safe]\n\tbareRepository = explicit\n"),
            Layout::may_ask_git("a bare repository", |r| {
                let d = r.join("bare.git");
                repo_dir(&d, Some(b"ref: refs/heads/main\n"), "bare");
                d
            }),
            Layout::may_ask_git("GIT_DIR naming a planted directory", |r| {
                repo_dir(&r.join("planted"), Some(b""), "planted");
                r.to_path_buf()
            })
            .git_dir("planted"),
            Layout::in_process(
                "GIT_DIR naming a bare repository under safe.bareRepository=explicit",
                |r| {
                    repo_dir(&r.join("bare.git"), Some(b"ref: refs/heads/main\n"), "bare");
                    r.to_path_buf()
                },
            )
            .git_dir("bare.git")
            .global("[safe]\n\tbareRepository = explicit\n"),
            Layout::in_process("HEAD ref: without a blank", |r| {
                work_with_head(r, Some(b"ref:refs/heads/x"))
            }),
            Layout::in_process("HEAD ref: with blanks", |r| {
                work_with_head(r, Some(b"ref: \t refs/heads/main\n"))
            }),
            Layout::in_process("a detached HEAD", |r| {
                work_with_head(r, Some(b"0123456789abcdef0123456789ABCDEF01234567\n"))
            }),
            Layout::in_process("a HEAD one digit short", |r| {
                work_with_head(r, Some(b"0123456789abcdef0123456789abcdef0123456\n"))
            }),
            Layout::in_process("HEAD ref: outside refs/", |r| {
                work_with_head(r, Some(b"ref: heads/main\n"))
            }),
            Layout::in_process("HEAD naming a ref without ref:", |r| {
                work_with_head(r, Some(b"refs/heads/main\n"))
            }),
            Layout::in_process("HEAD a symbolic link into refs/", |r| {
                work_with_head(r, None)
            }),
            Layout::in_process("an invalid .git inside a repository", |r| {
                let outer = work_with_head(r, Some(b"ref: refs/heads/main\n"));
                let inner = outer.join("inner");
                repo_dir(&inner.join(".git"), Some(b""), "inner");
                inner
            }),
            // What git clone leaves while it fetches (and runs us):
            // format 1, no extensions, HEAD not yet a real branch.
            Layout::in_process(
                "a clone in progress (format 1, HEAD refs/heads/.invalid)",
                |r| {
                    let w = work_with_head(r, Some(b"ref: refs/heads/.invalid\n"));
                    let config = w.join(".git").join("config");
                    let text = std::fs::read_to_string(&config).expect("config");
                    std::fs::write(&config, text.replace("= 0", "= 1")).expect("config");
                    r.to_path_buf()
                },
            )
            .git_dir("work/.git"),
            Layout::may_ask_git("a repository format git does not know", |r| {
                let w = work_with_head(r, Some(b"ref: refs/heads/main\n"));
                let config = w.join(".git").join("config");
                let text = std::fs::read_to_string(&config).expect("config");
                let text = text.replace("= 0", "= 9");
                std::fs::write(&config, text).expect("config");
                w
            }),
        ]
    }

    /// Builds `layout` under `root` and reads the credential entries both
    /// ways: whenever we answer in-process, git must agree, local config
    /// included exactly when git finds a repository.
    fn agrees_with_git(layout: &Layout, root: &Path) {
        std::fs::create_dir_all(root).expect("root");
        let cwd = (layout.build)(root);
        let global = root.join("global");
        std::fs::write(&global, layout.global).expect("global");
        let g = global.to_string_lossy().into_owned();
        let git_dir = layout.git_dir;
        let var = move |k: &str| match k {
            "GIT_CONFIG_GLOBAL" => Some(g.clone()),
            "GIT_CONFIG_NOSYSTEM" => Some("1".into()),
            "GIT_DIR" => git_dir.map(str::to_owned),
            _ => None,
        };
        let ours = credential_entries(&var, &cwd);
        let (git_ok, git, is_repo) = git_in(&cwd, &global, layout.git_dir);
        let name = layout.name;
        if layout.modelled {
            assert!(ours.is_some(), "{name}: answered in-process");
        }
        if let Some(ours) = ours {
            assert!(git_ok, "{name}: git failed, we did not ask it");
            assert_eq!(ours, git, "{name}: as git reads it");
            let local = ours
                .iter()
                .any(|(_, v)| v.starts_with("https://evil.example/"));
            assert_eq!(
                local, is_repo,
                "{name}: local config iff git finds a repository"
            );
        }
    }

    /// Whatever this reader answers in-process is what git answers, for
    /// layouts git accepts and layouts it refuses (a planted `/tmp`
    /// directory with an empty HEAD, a bare repository under
    /// safe.bareRepository=explicit, a HEAD that is no ref): the local
    /// config counts exactly when `git rev-parse --git-dir` finds a
    /// repository.
    #[test]
    #[cfg_attr(windows, ignore = "needs git's output; see docs/platforms.md")]
    fn finds_exactly_the_repositories_git_finds() {
        let base = std::env::temp_dir().join(format!("gcb-gitconfig-diff-{}", std::process::id()));
        for (i, layout) in layouts().iter().enumerate() {
            agrees_with_git(layout, &base.join(i.to_string()));
        }
        let _ = std::fs::remove_dir_all(&base);
    }
}
