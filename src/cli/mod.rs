//! The command line: what one run was asked to do ([`Command`]), from
//! argv (`parse.rs`) by the command table (`table.rs`), with the help texts
//! (`help.rs`), the manual (`man.rs`) and completion scripts
//! (`completions.rs`) written from the same table. No I/O.

use crate::protocol::Action;

pub mod completions;
mod help;
mod man;
mod parse;
mod table;

pub use help::help;
pub use man::man_page;
pub use parse::{parse, suggestion};
pub use table::{Arg, Cmd, Opt, COMMANDS, GLOBAL, HELP};

/// `--version`: the crate version, and the commit when the build knew it
/// (build.rs: a git checkout, a packaged crate's VCS info, or
/// `GCB_BUILD_COMMIT`). Fixed at compile time: costs `get` nothing.
pub fn version() -> String {
    let name = env!("CARGO_PKG_NAME");
    let version = env!("CARGO_PKG_VERSION");
    match option_env!("GCB_GIT_COMMIT") {
        Some(commit) if !commit.is_empty() => format!("{name} {version} ({commit})"),
        _ => format!("{name} {version}"),
    }
}

// Parsed once per run: the size of the `configure` variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A protocol action from git.
    Protocol(Action),
    /// A word that is neither a command nor an action: git's rule says a
    /// newer git may send operations we do not know, so it is ignored
    /// (dispatch.rs decides how loudly).
    Unknown(String),
    /// `login [URL] [--no-browser]`.
    Login {
        url: Option<String>,
        /// Print the URL and wait for a paste instead of opening a browser.
        no_browser: bool,
    },
    /// `logout [URL] [--account NAME | --all]`.
    Logout {
        url: Option<String>,
        account: Option<String>,
        /// Every account of the host.
        all: bool,
    },
    /// `status [URL] [--json]`.
    Status {
        /// Only this host.
        url: Option<String>,
        /// JSON on stdout.
        json: bool,
    },
    /// `switch [URL] [ACCOUNT]`.
    Switch {
        url: Option<String>,
        /// The account to make the default; none: list them, or with a
        /// URL toggle between two.
        account: Option<String>,
    },
    /// `token [URL] [--account NAME]`.
    Token {
        url: Option<String>,
        account: Option<String>,
    },
    /// `doctor [URL] [--json]`.
    Doctor {
        /// Only this host.
        url: Option<String>,
        /// JSON on stdout.
        json: bool,
    },
    /// `configure [URL] …`.
    Configure(crate::setup::Settings),
    /// `unconfigure [URL] [--global|--system|--local|--file F]`.
    Unconfigure {
        url: Option<String>,
        /// Which file.
        scope: crate::setup::Scope,
    },
    /// `install [--yes]` or `uninstall [--yes]` (Windows).
    Install {
        what: crate::setup::Install,
        /// Answer every question with yes.
        yes: bool,
    },
    /// `--help`, or `COMMAND --help`.
    Help(Option<String>),
    /// `--version`.
    Version,
    /// `--man`: the manual page in roff, built from the help texts.
    Man,
    /// `--completions SHELL`: a completion script built from [`COMMANDS`].
    Completions(Shell),
}

/// A shell `--completions` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    /// bash, for both `git-credential-bitbucket` and `git credential-bitbucket`.
    Bash,
    /// zsh (compsys).
    Zsh,
    Fish,
}

impl Shell {
    /// Every shell, in the order the help names them.
    pub const ALL: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Shell::Bash => "bash",
            Shell::Zsh => "zsh",
            Shell::Fish => "fish",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_the_crate_version_then_the_commit_if_known() {
        let v = version();
        let plain = format!("git-credential-bitbucket {}", env!("CARGO_PKG_VERSION"));
        match option_env!("GCB_GIT_COMMIT") {
            Some(c) if !c.is_empty() => assert_eq!(v, format!("{plain} ({c})")),
            _ => assert_eq!(v, plain),
        }
    }
}
