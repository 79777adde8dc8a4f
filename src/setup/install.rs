//! `install` and `uninstall` for the Windows zip (docs/platforms.md): the
//! .exe copied into the user's profile and its folder on the **user**
//! `Path`, no administrator rights, then `configure` offered; `uninstall`
//! undoes it, offering `logout --all` and `unconfigure` first as
//! `install.sh --uninstall` does. Also what a double-click on the .exe
//! shows. On other systems these point to install.sh.
//!
//! The rules (where the folder is, how a `Path` entry is added or removed
//! without touching the others) are pure functions, tested on every
//! platform; only the file copy and the registry are behind `cfg(windows)`.

use crate::error::Error;
use crate::text::NAME;

/// `install [--yes]` or `uninstall [--yes]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Install {
    Install,
    Uninstall,
}

#[cfg(any(windows, test))]
/// Where the user's programs go, under `%LOCALAPPDATA%` (per user, no
/// administrator rights, not roaming): `Programs\git-credential-bitbucket`.
pub fn install_dir(local_app_data: &str) -> String {
    format!(
        "{}\\Programs\\{NAME}",
        local_app_data.trim_end_matches(['\\', '/'])
    )
}

#[cfg(any(windows, test))]
/// One `Path` entry as Windows compares it: `%VAR%` expanded (through
/// `var`), quotes and trailing separators dropped, `/` as `\`, any case.
fn path_key(entry: &str, var: &dyn Fn(&str) -> Option<String>) -> String {
    let entry = entry.trim().trim_matches('"');
    let mut out = String::new();
    let mut rest = entry;
    while let Some(start) = rest.find('%') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('%') {
            Some(end) if end > 0 => match var(&after[..end]) {
                Some(v) => {
                    out.push_str(&v);
                    rest = &after[end + 1..];
                }
                None => {
                    out.push_str(&rest[start..start + end + 2]);
                    rest = &after[end + 1..];
                }
            },
            _ => {
                out.push('%');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.replace('/', "\\").trim_end_matches('\\').to_lowercase()
}

#[cfg(any(windows, test))]
/// `path` (a `;`-separated list) with `dir` appended, or `None` when an
/// entry already names `dir` (so a second install adds nothing). The other
/// entries stay exactly as they were, their order and `%VAR%`s included.
pub fn path_with(path: &str, dir: &str, var: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let key = path_key(dir, var);
    if path.split(';').any(|e| path_key(e, var) == key) {
        return None;
    }
    Some(match path {
        "" => dir.to_owned(),
        p if p.ends_with(';') => format!("{p}{dir}"),
        p => format!("{p};{dir}"),
    })
}

#[cfg(any(windows, test))]
/// `path` without any entry that names `dir`, or `None` when none does.
pub fn path_without(path: &str, dir: &str, var: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let key = path_key(dir, var);
    let entries: Vec<&str> = path.split(';').collect();
    let kept: Vec<&str> = entries
        .iter()
        .copied()
        .filter(|e| path_key(e, var) != key)
        .collect();
    (kept.len() != entries.len()).then(|| kept.join(";"))
}

/// Whether a run with no arguments came from a double-click in Explorer:
/// Windows, a console of its own on stdin, and none of the variables a
/// shell or git sets for what it starts (`PROMPT` by cmd, `MSYSTEM` by Git
/// Bash, `TERM` by git and most terminals). Such a window closes when we
/// exit, so we say what this is and wait for Enter.
pub fn double_clicked(console: bool, var: &dyn Fn(&str) -> Option<String>) -> bool {
    cfg!(windows)
        && console
        && ["PROMPT", "MSYSTEM", "TERM"]
            .iter()
            .all(|v| var(v).is_none())
}

/// What a double-click shows: what this program is, and the two lines
/// that install it.
pub fn double_click_text() -> String {
    format!(
        "{NAME} is a git credential helper for Bitbucket: git runs it, you do not need to.\n\
         \n\
         To install it for your Windows user (no administrator rights needed), open a terminal\n\
         (PowerShell, cmd or Git Bash) in this folder and type:\n\
         \n\
         \x20   .\\{NAME}.exe install\n\
         \x20   git credential-bitbucket configure\n\
         \n\
         `install` copies it to %LOCALAPPDATA%\\Programs\\{NAME} and puts that folder on your\n\
         Path; `configure` sets git up for https://bitbucket.org (add a URL for Data Center).\n\
         Coming from Git Credential Manager? Read from-gcm.md in this folder.\n"
    )
}

/// Shows [`double_click_text`] and waits for Enter, so the window does
/// not vanish before it can be read.
pub fn explain_and_wait() -> Result<(), Error> {
    print!("{}", double_click_text());
    println!("\nPress Enter to close this window.");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    Ok(())
}

/// `install` or `uninstall`; `yes` answers every question with yes.
pub fn run(what: Install, yes: bool) -> Result<(), Error> {
    #[cfg(windows)]
    {
        match what {
            Install::Install => windows::install(yes),
            Install::Uninstall => windows::uninstall(yes),
        }
    }
    #[cfg(not(windows))]
    {
        let _ = yes;
        let word = match what {
            Install::Install => "install",
            Install::Uninstall => "uninstall",
        };
        Err(Error::Usage(format!(
            "`{word}` is for the Windows build (the .exe from the zip); here use install.sh \
             (`./install.sh` or `./install.sh --uninstall`) or your package manager"
        )))
    }
}

#[cfg(windows)]
mod windows {
    use super::{install_dir, path_with, path_without};
    use crate::error::Error;
    use crate::platform::user_path;
    use crate::text::NAME;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    fn var(name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }

    fn dir() -> Result<PathBuf, Error> {
        let local = var("LOCALAPPDATA").ok_or_else(|| {
            Error::Failed("%LOCALAPPDATA% is not set, so there is nowhere to install to".into())
        })?;
        Ok(PathBuf::from(install_dir(&local)))
    }

    fn failed(what: &str, e: impl std::fmt::Display) -> Error {
        Error::Failed(format!("{what}: {e}"))
    }

    /// Asks `question` on the console; yes unless the answer starts with
    /// n. With `yes`, yes; without a console on stdin, `None` (a script:
    /// not asked).
    fn ask(question: &str, yes: bool) -> Option<bool> {
        if yes {
            return Some(true);
        }
        if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            return None;
        }
        eprint!("{question} [Y/n] ");
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).ok()?;
        Some(!line.trim_start().to_ascii_lowercase().starts_with('n'))
    }

    /// Runs `exe` with `args`, its output on ours; whether it succeeded.
    fn run_child(exe: &Path, args: &[&str]) -> bool {
        Command::new(exe)
            .args(args)
            .status()
            .is_ok_and(|s| s.success())
    }

    pub(super) fn install(yes: bool) -> Result<(), Error> {
        let dir = dir()?;
        let target = dir.join(format!("{NAME}.exe"));
        let me = std::env::current_exe().map_err(|e| failed("cannot find this program", e))?;
        let same = matches!(
            (std::fs::canonicalize(&me), std::fs::canonicalize(&target)),
            (Ok(a), Ok(b)) if a == b
        );
        if same {
            crate::say!("{} is already the installed copy.", target.display());
        } else {
            std::fs::create_dir_all(&dir)
                .map_err(|e| failed(&format!("cannot create {}", dir.display()), e))?;
            // Beside it first, then renamed over: a half-copied .exe is
            // never what git runs.
            let part = dir.join(format!("{NAME}.exe.new"));
            std::fs::copy(&me, &part)
                .map_err(|e| failed(&format!("cannot copy to {}", part.display()), e))?;
            if let Err(e) = std::fs::rename(&part, &target) {
                let _ = std::fs::remove_file(&part);
                return Err(failed(
                    &format!(
                        "cannot replace {} (is a git command using it? close it and try again)",
                        target.display()
                    ),
                    e,
                ));
            }
            crate::say!("installed {}", target.display());
        }
        let dir_text = dir.to_string_lossy().into_owned();
        let path = user_path::read().map_err(|e| failed("cannot read your user Path", e))?;
        match path_with(&path.value, &dir_text, &var) {
            None => crate::say!("{dir_text} is on your user Path already."),
            Some(value) => {
                user_path::write(&user_path::UserPath { value, ..path })
                    .map_err(|e| failed("cannot change your user Path", e))?;
                user_path::announce();
                crate::say!(
                    "added {dir_text} to your user Path (HKCU\\Environment). New terminals see \
                     it; this one keeps its old Path, so open a new one."
                );
            }
        }
        let base = "https://bitbucket.org";
        match ask(&format!("Run `{NAME} configure` for {base} now?"), yes) {
            Some(true) => {
                if !run_child(&target, &["configure"]) {
                    return Err(Error::Failed(format!(
                        "installed, but configure failed (its message is above); run `git \
                         credential-bitbucket configure` in a new terminal to try again"
                    )));
                }
            }
            _ => {
                crate::say!(
                    "next, in a new terminal: git credential-bitbucket configure (for {base}; \
                     add a URL for Data Center)"
                );
                // configure says this itself when it runs.
                crate::gcm::say_what_happens(base, crate::bitbucket::facts::CLOUD_HOST);
            }
        }
        Ok(())
    }

    /// The URLs whose helper entry (any config git reads) runs `exe`.
    fn configured_urls(exe: &Path) -> Vec<String> {
        let Ok(git) = crate::config::GitConfig::load() else {
            return Vec::new();
        };
        let norm = |p: &str| p.trim_matches('"').replace('/', "\\").to_lowercase();
        let exe = norm(&exe.to_string_lossy());
        let mut urls: Vec<String> = git
            .entries()
            .iter()
            .filter(|e| e.key == "helper" && norm(&e.value) == exe)
            .filter_map(|e| e.url.clone())
            .collect();
        urls.sort_unstable();
        urls.dedup();
        urls
    }

    pub(super) fn uninstall(yes: bool) -> Result<(), Error> {
        let dir = dir()?;
        let target = dir.join(format!("{NAME}.exe"));
        let urls = configured_urls(&target);
        for url in &urls {
            match ask(
                &format!("Sign out of {url} (delete its saved tokens) and remove its git config?"),
                yes,
            ) {
                Some(true) => {
                    let me = std::env::current_exe()
                        .map_err(|e| failed("cannot find this program", e))?;
                    if !run_child(&me, &["logout", url, "--all"]) {
                        crate::say!("logout {url} failed; continuing");
                    }
                    if !run_child(&me, &["unconfigure", url]) {
                        crate::say!("unconfigure {url} failed; continuing");
                    }
                }
                Some(false) => crate::say!(
                    "kept the config for {url}; git fails for it until you run `git config \
                     --global --remove-section credential.{url}`"
                ),
                None => {
                    return Err(Error::Usage(format!(
                        "your git config uses {} for: {}. Run `uninstall --yes` to sign out of \
                         and unconfigure them first, or `unconfigure` them yourself",
                        target.display(),
                        urls.join(", ")
                    )))
                }
            }
        }
        let dir_text = dir.to_string_lossy().into_owned();
        let path = user_path::read().map_err(|e| failed("cannot read your user Path", e))?;
        if let Some(value) = path_without(&path.value, &dir_text, &var) {
            user_path::write(&user_path::UserPath { value, ..path })
                .map_err(|e| failed("cannot change your user Path", e))?;
            user_path::announce();
            crate::say!("removed {dir_text} from your user Path.");
        }
        if dir.exists() {
            remove_dir(&dir)?;
            crate::say!("removed {dir_text}.");
        } else {
            crate::say!("{dir_text} was not there.");
        }
        Ok(())
    }

    /// Removes the install folder. Windows refuses to delete a running
    /// .exe (this one, when it is the installed copy) but lets it be
    /// renamed: on refusal the .exe moves to %TEMP% (same volume, cleaned
    /// with the temp files) and the folder goes.
    fn remove_dir(dir: &Path) -> Result<(), Error> {
        if std::fs::remove_dir_all(dir).is_ok() {
            return Ok(());
        }
        let exe = dir.join(format!("{NAME}.exe"));
        let aside =
            std::env::temp_dir().join(format!("{NAME}-uninstalled-{}.exe", std::process::id()));
        if std::fs::rename(&exe, &aside).is_ok() {
            crate::say!(
                "the running program was moved to {} (Windows removes it with the temp files)",
                aside.display()
            );
        }
        std::fs::remove_dir_all(dir)
            .map_err(|e| failed(&format!("cannot remove {}", dir.display()), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name.to_ascii_uppercase().as_str() {
            "LOCALAPPDATA" => Some(r"C:\Users\me\AppData\Local".into()),
            "USERPROFILE" => Some(r"C:\Users\me".into()),
            _ => None,
        }
    }

    const DIR: &str = r"C:\Users\me\AppData\Local\Programs\git-credential-bitbucket";

    #[test]
    fn the_install_folder_is_under_local_app_data() {
        assert_eq!(install_dir(r"C:\Users\me\AppData\Local\"), DIR);
    }

    #[test]
    fn install_appends_its_folder_once_and_keeps_every_other_entry_as_it_was() {
        let path = r"%USERPROFILE%\AppData\Local\Microsoft\WindowsApps;C:\tools";
        let added = path_with(path, DIR, &vars).expect("added");
        assert_eq!(added, format!("{path};{DIR}"));
        assert_eq!(path_with(&added, DIR, &vars), None, "no duplicate");
        assert_eq!(path_with("", DIR, &vars).as_deref(), Some(DIR));
        assert_eq!(
            path_with(r"C:\a;", DIR, &vars),
            Some(format!(r"C:\a;{DIR}"))
        );
        // The same folder, written another way, is the same entry.
        for same in [
            r"%LOCALAPPDATA%\Programs\git-credential-bitbucket",
            r"c:/users/ME/appdata/local/programs/git-credential-bitbucket/",
            "\"C:\\Users\\me\\AppData\\Local\\Programs\\git-credential-bitbucket\\\"",
        ] {
            assert_eq!(
                path_with(&format!(r"C:\a;{same}"), DIR, &vars),
                None,
                "{same}"
            );
        }
    }

    #[test]
    fn uninstall_removes_every_entry_of_its_folder_and_nothing_else() {
        let path = format!(
            r"C:\a;{DIR};%UNKNOWN%\x;%LOCALAPPDATA%\Programs\git-credential-bitbucket;C:\b"
        );
        assert_eq!(
            path_without(&path, DIR, &vars).as_deref(),
            Some(r"C:\a;%UNKNOWN%\x;C:\b")
        );
        assert_eq!(path_without(r"C:\a;C:\b", DIR, &vars), None);
        assert_eq!(path_without(DIR, DIR, &vars).as_deref(), Some(""));
    }

    #[test]
    fn a_double_click_is_a_console_without_a_shell_around_it() {
        let none = |_: &str| None;
        let cmd = |n: &str| (n == "PROMPT").then(|| "$P$G".to_owned());
        let git = |n: &str| (n == "TERM").then(|| "cygwin".to_owned());
        assert_eq!(double_clicked(true, &none), cfg!(windows));
        assert!(!double_clicked(false, &none));
        assert!(!double_clicked(true, &cmd));
        assert!(!double_clicked(true, &git));
        let text = double_click_text();
        assert!(
            text.contains("git-credential-bitbucket.exe install"),
            "{text}"
        );
        assert!(
            text.contains("git credential-bitbucket configure"),
            "{text}"
        );
    }
}
