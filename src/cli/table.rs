//! The command table: every command and flag a person types, with its
//! one-line help. The parser, the help texts and the completion scripts
//! are all written from it, so none can name a flag another does not know.

use crate::bitbucket::facts::Kind;
use crate::config::Flow;
use crate::store::choice::StoreChoice;
use crate::store::GivenToken;

/// What follows a flag on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    /// Nothing: a switch.
    None,
    /// Free text, named by the placeholder: nothing to complete.
    Text(&'static str),
    /// A file name.
    File,
    /// One of these words; the placeholder names them in help.
    OneOf(&'static str, &'static [&'static str]),
}

/// One flag. The parser asks only for flags listed here (checked in debug
/// builds), and the completion scripts are written from the same list, so
/// neither can name a flag the other does not know.
#[derive(Debug)]
pub struct Opt {
    /// The long form, with its dashes.
    pub long: &'static str,
    /// The one-letter form, if any.
    pub short: Option<&'static str>,
    /// What follows it.
    pub arg: Arg,
    /// One line for completion menus.
    pub about: &'static str,
}

/// One command a person types.
#[derive(Debug)]
pub struct Cmd {
    pub name: &'static str,
    /// What follows the word in the overview help.
    pub synopsis: &'static str,
    /// What it does, for the overview help and completion menus.
    pub about: &'static str,
    /// Its flags; each command also takes `-h`/`--help`. The one
    /// positional argument of every command is a URL.
    pub opts: &'static [Opt],
}

const fn switch(long: &'static str, about: &'static str) -> Opt {
    Opt {
        long,
        short: None,
        arg: Arg::None,
        about,
    }
}

const fn with(long: &'static str, arg: Arg, about: &'static str) -> Opt {
    Opt {
        long,
        short: None,
        arg,
        about,
    }
}

const GLOBAL_SCOPE: Opt = switch("--global", "write your ~/.gitconfig (the default)");
const SYSTEM_SCOPE: Opt = switch("--system", "write the system-wide git config");
const LOCAL_SCOPE: Opt = switch("--local", "write this repository's config");
const FILE_SCOPE: Opt = with("--file", Arg::File, "write this config file");
/// The flows `configure --flow` offers: the token flow comes with
/// `--api-token`, which stores the token.
const CONFIGURE_FLOWS: &[&str] = &[Flow::Browser.as_str(), Flow::ClientCredentials.as_str()];

/// The commands for people, in the order of the help and the manual.
pub const COMMANDS: &[Cmd] = &[
    Cmd {
        name: "login",
        synopsis: "[URL] [--no-browser]",
        about: "sign in now",
        opts: &[switch(
            "--no-browser",
            "print the sign-in URL instead of opening a browser",
        )],
    },
    Cmd {
        name: "logout",
        synopsis: "[URL] [--account NAME | --all]",
        about: "delete saved tokens",
        opts: &[
            with("--account", Arg::Text("NAME"), "the account to sign out"),
            switch("--all", "every account of the host"),
        ],
    },
    Cmd {
        name: "status",
        synopsis: "[URL] [--json]",
        about: "hosts, sign-ins, and the account git gets",
        opts: &[switch("--json", "machine-readable output on stdout")],
    },
    Cmd {
        name: "switch",
        synopsis: "[URL] [ACCOUNT]",
        about: "change the host's default account (none named: list them)",
        opts: &[],
    },
    Cmd {
        name: "token",
        synopsis: "[URL] [--account NAME]",
        about: "print a fresh access token (for scripts)",
        opts: &[with(
            "--account",
            Arg::Text("NAME"),
            "the account whose token",
        )],
    },
    Cmd {
        name: "doctor",
        synopsis: "[URL] [--json]",
        about: "check the setup and say what to fix",
        opts: &[switch("--json", "machine-readable output on stdout")],
    },
    Cmd {
        name: "configure",
        synopsis: "[URL] [--client-id ID ...]",
        about: "set up git to use this helper for URL",
        opts: &[
            with("--client-id", Arg::Text("ID"), "the OAuth consumer key"),
            switch(
                "--client-secret-stdin",
                "read the consumer secret from stdin",
            ),
            with(
                "--kind",
                Arg::OneOf("KIND", Kind::ACCEPTED),
                "Bitbucket Cloud or Data Center",
            ),
            with(
                "--redirect-uri",
                Arg::Text("URI"),
                "the consumer's callback URL",
            ),
            with(
                "--flow",
                Arg::OneOf("FLOW", CONFIGURE_FLOWS),
                "how to get tokens",
            ),
            with("--username", Arg::Text("NAME"), "the account for this host"),
            with(
                "--authorize-url",
                Arg::Text("URL"),
                "the authorize endpoint",
            ),
            with("--token-url", Arg::Text("URL"), "the token endpoint"),
            with("--api-url", Arg::Text("URL"), "the REST API base"),
            switch(
                "--move-secret",
                "move a consumer secret from gitconfig into the token store",
            ),
            switch(
                "--api-token",
                "store a token read from stdin instead of OAuth",
            ),
            with(
                "--token-kind",
                Arg::OneOf("KIND", GivenToken::ACCEPTED),
                "the kind of token --api-token stores",
            ),
            with(
                "--store",
                Arg::OneOf("STORE", StoreChoice::ACCEPTED),
                "where --api-token keeps the token",
            ),
            GLOBAL_SCOPE,
            SYSTEM_SCOPE,
            LOCAL_SCOPE,
            FILE_SCOPE,
        ],
    },
    Cmd {
        name: "unconfigure",
        synopsis: "[URL]",
        about: "undo configure",
        opts: &[GLOBAL_SCOPE, SYSTEM_SCOPE, LOCAL_SCOPE, FILE_SCOPE],
    },
    Cmd {
        name: "install",
        synopsis: "[--yes]",
        about: "Windows: copy this .exe into your profile, put it on your Path, offer configure",
        opts: &[switch("--yes", "run configure without asking")],
    },
    Cmd {
        name: "uninstall",
        synopsis: "[--yes]",
        about: "Windows: undo install (offers logout --all and unconfigure first)",
        opts: &[switch("--yes", "sign out and unconfigure without asking")],
    },
];

/// `-h`/`--help`, which every command takes too.
pub const HELP: Opt = Opt {
    long: "--help",
    short: Some("-h"),
    arg: Arg::None,
    about: "show the help",
};

/// The options of the program itself.
pub const GLOBAL: &[Opt] = &[
    HELP,
    Opt {
        long: "--version",
        short: Some("-V"),
        arg: Arg::None,
        about: "print the version",
    },
    switch("--man", "print the manual page (roff)"),
    with(
        "--completions",
        Arg::OneOf("SHELL", &["bash", "zsh", "fish"]),
        "print the completion script for a shell",
    ),
];

pub(super) fn command(name: &str) -> Option<&'static Cmd> {
    COMMANDS.iter().find(|c| c.name == name)
}
