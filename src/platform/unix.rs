//! Linux, macOS and the BSDs: the terminal is `/dev/tty`, echo is turned
//! off through termios (rustix's safe API), ownership is the file's uid.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

const TTY: &str = "/dev/tty";

/// Whether the controlling terminal can be opened.
pub fn terminal_available() -> bool {
    open_terminal().is_ok()
}

/// The terminal for reading a paste or an answer, and for prompts.
pub fn open_terminal() -> std::io::Result<(File, File)> {
    let tty = OpenOptions::new().read(true).write(true).open(TTY)?;
    let out = tty.try_clone()?;
    Ok((tty, out))
}

/// Terminal echo off until dropped, then the settings as they were.
struct EchoOff {
    tty: File,
    saved: rustix::termios::Termios,
}

impl EchoOff {
    fn new() -> std::io::Result<EchoOff> {
        use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions};
        let tty = OpenOptions::new().read(true).write(true).open(TTY)?;
        let saved = tcgetattr(&tty)?;
        let mut quiet = saved.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        tcsetattr(&tty, OptionalActions::Now, &quiet)?;
        Ok(EchoOff { tty, saved })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(
            &self.tty,
            rustix::termios::OptionalActions::Now,
            &self.saved,
        );
    }
}

/// Shows `prompt` on `out` and reads one line from `input` with the
/// terminal's echo off. Echo goes off before the prompt appears, so a
/// paste that arrives the moment it shows is not echoed either. When
/// echo cannot be turned off nothing is read: the secret would show.
pub fn prompt_hidden(
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    prompt: &str,
) -> std::io::Result<String> {
    let quiet = EchoOff::new().map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot hide the input on this terminal ({e})"),
        )
    })?;
    write!(out, "{prompt}")?;
    out.flush()?;
    let mut line = String::new();
    let read = input.read_line(&mut line);
    drop(quiet);
    let _ = writeln!(out);
    read?;
    Ok(line)
}

/// Whether `dir` belongs to the user running us (its owner is our
/// effective uid), as git's ownership check asks.
pub fn owned_by_me(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir).is_ok_and(|m| m.uid() == rustix::process::geteuid().as_raw())
}

/// The system config files to read in-process (`GIT_CONFIG_SYSTEM` and
/// `GIT_CONFIG_NOSYSTEM` are the caller's). Which git runs us decides
/// between `/etc/gitconfig` and `/usr/local/etc/gitconfig` (and
/// Homebrew's); if any of them could matter, `None`: ask git.
pub fn git_system_files(_var: &dyn Fn(&str) -> Option<String>) -> Option<Vec<PathBuf>> {
    let candidates: &[&str] = if cfg!(target_os = "macos") {
        &[
            "/etc/gitconfig",
            "/usr/local/etc/gitconfig",
            "/opt/homebrew/etc/gitconfig",
            "/Library/Developer/CommandLineTools/usr/share/git-core/gitconfig",
            "/Applications/Xcode.app/Contents/Developer/usr/share/git-core/gitconfig",
        ]
    } else {
        &["/etc/gitconfig", "/usr/local/etc/gitconfig"]
    };
    for candidate in candidates {
        if let Ok(t) = std::fs::read_to_string(candidate) {
            let t = t.to_ascii_lowercase();
            if t.contains("credential") || t.contains("[include") {
                return None;
            }
        }
    }
    Some(Vec::new())
}

/// `$HOME`, where git looks for `.gitconfig`.
pub fn git_home(var: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    var("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_of_ours_is_ours() {
        let dir = std::env::temp_dir().join(format!("gcb-own-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        assert!(owned_by_me(&dir));
        assert!(!owned_by_me(&dir.join("missing")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
