//! Command-line parsing: argv into plain data, no I/O. Hand-written: the
//! grammar is a handful of words and flags, not worth a parser crate.

use crate::config::{Flow, Key, Kind, StoreChoice};
use crate::error::Error;
use crate::protocol::Action;
use crate::store::TokenKind;
use std::ffi::OsString;

pub mod completions;

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
    /// `switch [URL] ACCOUNT`.
    Switch {
        url: Option<String>,
        /// The account to make the default.
        account: String,
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
        synopsis: "[URL] ACCOUNT",
        about: "change the host's default account",
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
                Arg::OneOf("KIND", &TokenKind::GIVEN_WORDS),
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

fn command(name: &str) -> Option<&'static Cmd> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, Error> {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| {
            a.into_string()
                .map_err(|a| Error::Usage(format!("argument {a:?} is not valid UTF-8")))
        })
        .collect::<Result<_, _>>()?;
    // git appends the action last, after any words in credential.helper.
    if let Some(action) = args.last().and_then(|a| Action::try_from(a.as_str()).ok()) {
        return Ok(Command::Protocol(action));
    }
    let Some((first, rest)) = args.split_first() else {
        return Ok(Command::Help(None));
    };
    let wants_help = rest.iter().any(|a| a == "--help" || a == "-h");
    match first.as_str() {
        "-h" | "--help" | "help" => Ok(Command::Help(rest.first().cloned())),
        "-V" | "--version" | "version" => Ok(Command::Version),
        "--man" => Ok(Command::Man),
        "--completions" => parse_completions(rest),
        cmd if wants_help && command(cmd).is_some() => Ok(Command::Help(Some(cmd.to_owned()))),
        cmd => parse_command(cmd, rest),
    }
}

/// `--completions SHELL`.
fn parse_completions(rest: &[String]) -> Result<Command, Error> {
    let usage = || Error::Usage("--completions needs one of: bash, zsh, fish".into());
    match rest {
        [shell] => Shell::ALL
            .into_iter()
            .find(|s| s.name() == shell)
            .map(Command::Completions)
            .ok_or_else(usage),
        _ => Err(usage()),
    }
}

/// A command word (`cmd`) and its arguments (`rest`).
fn parse_command(cmd: &str, rest: &[String]) -> Result<Command, Error> {
    match cmd {
        "login" => {
            let mut p = Flags::new("login", rest);
            let no_browser = p.flag("--no-browser");
            let url = p.positional()?;
            p.finish()?;
            Ok(Command::Login { url, no_browser })
        }
        "logout" => parse_logout(rest),
        "status" => {
            let mut p = Flags::new("status", rest);
            let json = p.flag("--json");
            let url = p.positional()?;
            p.finish()?;
            Ok(Command::Status { url, json })
        }
        "switch" => parse_switch(rest),
        "token" => {
            let mut p = Flags::new("token", rest);
            let account = p.value("--account")?;
            let url = p.positional()?;
            p.finish()?;
            Ok(Command::Token { url, account })
        }
        "doctor" => {
            let mut p = Flags::new("doctor", rest);
            let json = p.flag("--json");
            let url = p.positional()?;
            p.finish()?;
            Ok(Command::Doctor { url, json })
        }
        "configure" => parse_configure(rest),
        "unconfigure" => {
            let mut p = Flags::new("unconfigure", rest);
            let scope = p.scope()?;
            let url = p.positional()?;
            p.finish()?;
            Ok(Command::Unconfigure { url, scope })
        }
        // Any other word: git's rule is to ignore unknown operations.
        other => Ok(Command::Unknown(other.to_owned())),
    }
}

/// `logout [URL] [--account NAME | --all]`.
fn parse_logout(rest: &[String]) -> Result<Command, Error> {
    let mut p = Flags::new("logout", rest);
    let all = p.flag("--all");
    let account = p.value("--account")?;
    let url = p.positional()?;
    p.finish()?;
    if all && account.is_some() {
        return Err(Error::Usage(
            "logout: --account and --all exclude each other".into(),
        ));
    }
    Ok(Command::Logout { url, account, all })
}

/// `switch [URL] ACCOUNT`: one word is the account.
fn parse_switch(rest: &[String]) -> Result<Command, Error> {
    let mut p = Flags::new("switch", rest);
    let first = p.positional()?;
    let second = p.positional()?;
    p.finish()?;
    let (url, account) = match (first, second) {
        (Some(url), Some(account)) => (Some(url), account),
        (Some(account), None) => (None, account),
        _ => {
            return Err(Error::Usage(
                "switch: name the ACCOUNT to make the default".into(),
            ))
        }
    };
    Ok(Command::Switch { url, account })
}

/// `configure [URL] [options]`.
fn parse_configure(rest: &[String]) -> Result<Command, Error> {
    let mut p = Flags::new("configure", rest);
    let scope = p.scope()?;
    let settings = crate::setup::Settings {
        kind: p.value("--kind")?,
        client_id: p.value("--client-id")?,
        client_secret_stdin: p.flag("--client-secret-stdin"),
        redirect_uri: p.value("--redirect-uri")?,
        flow: p.value("--flow")?,
        username: p.value("--username")?,
        api_token: p.flag("--api-token"),
        token_kind: p.value("--token-kind")?,
        store: p.value("--store")?,
        authorize_url: p.value("--authorize-url")?,
        token_url: p.value("--token-url")?,
        api_url: p.value("--api-url")?,
        move_secret: p.flag("--move-secret"),
        url: p.positional()?,
        scope,
    };
    p.finish()?;
    Ok(Command::Configure(settings))
}

struct Flags<'a> {
    cmd: &'static str,
    args: Vec<&'a str>,
}

impl<'a> Flags<'a> {
    fn new(cmd: &'static str, args: &'a [String]) -> Flags<'a> {
        Flags {
            cmd,
            args: args.iter().map(String::as_str).collect(),
        }
    }

    /// The table lists every flag the parser asks for: a debug build
    /// panics here otherwise, and the tests parse every command.
    fn known(&self, name: &str) {
        debug_assert!(
            command(self.cmd).is_some_and(|c| c.opts.iter().any(|o| o.long == name)),
            "{} {name} is missing from cli::COMMANDS",
            self.cmd
        );
    }

    fn flag(&mut self, name: &str) -> bool {
        self.known(name);
        let before = self.args.len();
        self.args.retain(|a| *a != name);
        self.args.len() != before
    }

    fn value(&mut self, name: &str) -> Result<Option<String>, Error> {
        self.known(name);
        let prefix = format!("{name}=");
        if let Some(i) = self.args.iter().position(|a| a.starts_with(&prefix)) {
            let v = self.args.remove(i)[prefix.len()..].to_owned();
            return Ok(Some(v));
        }
        match self.args.iter().position(|a| *a == name) {
            None => Ok(None),
            Some(i) if i + 1 < self.args.len() => {
                let v = self.args.remove(i + 1).to_owned();
                self.args.remove(i);
                Ok(Some(v))
            }
            Some(_) => Err(Error::Usage(format!("{}: {name} needs a value", self.cmd))),
        }
    }

    fn scope(&mut self) -> Result<crate::setup::Scope, Error> {
        use crate::setup::Scope;
        let mut found = Vec::new();
        if self.flag("--global") {
            found.push(Scope::Global);
        }
        if self.flag("--system") {
            found.push(Scope::System);
        }
        if self.flag("--local") {
            found.push(Scope::Local);
        }
        if let Some(f) = self.value("--file")? {
            found.push(Scope::File(f));
        }
        match found.len() {
            0 => Ok(Scope::Global),
            1 => Ok(found.remove(0)),
            _ => Err(Error::Usage(format!(
                "{}: choose one of --global, --system, --local, --file",
                self.cmd
            ))),
        }
    }

    fn positional(&mut self) -> Result<Option<String>, Error> {
        match self.args.iter().position(|a| !a.starts_with('-')) {
            Some(i) => Ok(Some(self.args.remove(i).to_owned())),
            None => Ok(None),
        }
    }

    fn finish(self) -> Result<(), Error> {
        match self.args.first() {
            None => Ok(()),
            Some(a) => Err(Error::Usage(format!(
                "{}: unexpected argument {a:?}",
                self.cmd
            ))),
        }
    }
}

/// A user command within a typo's reach of `word` (at most two edits),
/// for a mistyped word that git's rule otherwise leaves unanswered.
pub fn suggestion(word: &str) -> Option<&'static str> {
    if word.len() < 3 || Action::try_from(word).is_ok() {
        return None;
    }
    let names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
    crate::commands::closest(word, &names, 2)
}

/// What the tool is, for `--help` and the manual's DESCRIPTION.
pub const DESCRIPTION: &str = "\
Signs you in to Bitbucket (Cloud or Data Center) once with OAuth in the
browser, keeps the tokens private (OS keyring, or a file only you can read),
and answers git at once from then on, refreshing silently. git runs it as a
credential helper (credential.<url>.helper); you run it for the commands
below. A stored API token or access token can be used instead of OAuth.
";

/// Environment variables: (name, meaning).
pub const ENVIRONMENT: &[(&str, &str)] = &[
    ("GIT_CREDENTIAL_BITBUCKET_<KEY>", "overrides credential.<url>.bitbucket<Key> for a host that is ours, e.g. GIT_CREDENTIAL_BITBUCKET_CLIENT_ID; never makes a host ours"),
    ("GIT_CREDENTIAL_BITBUCKET_TRACE", "1 (or a file path) traces what the helper does; secrets are never shown"),
    ("BROWSER", "the browser command when bitbucketBrowser is not set"),
    ("XDG_DATA_HOME", "where the data directory is (default ~/.local/share)"),
    ("HTTPS_PROXY, NO_PROXY", "the proxy for requests to Bitbucket"),
    ("DBUS_SESSION_BUS_ADDRESS", "the session bus of the Secret Service (the keyring)"),
];

/// Files in the data directory: (path, meaning).
pub const FILES: &[(&str, &str)] = &[
    (
        "$XDG_DATA_HOME/git-credential-bitbucket/tokens.json",
        "the file store (mode 0600)",
    ),
    (
        "$XDG_DATA_HOME/git-credential-bitbucket/secrets.json",
        "consumer secrets kept by configure with the file store (mode 0600)",
    ),
    (
        "$XDG_DATA_HOME/git-credential-bitbucket/stores.json",
        "which store each host uses (no secret)",
    ),
    (
        "$XDG_DATA_HOME/git-credential-bitbucket/locks/",
        "lock files",
    ),
];

/// `help config`: the three tables as text.
fn reference() -> String {
    let mut out = String::from("Configuration keys, under credential.<url>. (git config):\n");
    // From the key table itself, so no key goes undocumented.
    for key in Key::ALL {
        out.push_str(&format!(
            "  {}\n      {} (default: {})\n",
            key.name(),
            key.help(),
            key.default_text()
        ));
    }
    out.push_str("\nEnvironment:\n");
    for (name, meaning) in ENVIRONMENT {
        out.push_str(&format!("  {name}\n      {meaning}\n"));
    }
    out.push_str("\nFiles:\n");
    for (path, meaning) in FILES {
        out.push_str(&format!("  {path}\n      {meaning}\n"));
    }
    out
}

/// The manual page (roff), from the same help texts as `--help`, so the two
/// never disagree. `install.sh` writes it to `share/man/man1`.
pub fn man_page() -> String {
    // Escape what roff would interpret: backslashes, and a leading `.` or
    // `'` (control lines).
    let verbatim = |text: &str| -> String {
        text.lines()
            .map(|l| {
                let l = l.replace('\\', "\\e");
                if l.starts_with(['.', '\'']) {
                    format!("\\&{l}\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect()
    };
    let mut out = format!(
        ".TH GIT-CREDENTIAL-BITBUCKET 1 \"\" \"git-credential-bitbucket {}\" \"User Commands\"\n\
         .SH NAME\ngit-credential-bitbucket \\- a git credential helper for Bitbucket\n\
         .SH SYNOPSIS\n.nf\n{}.fi\n",
        env!("CARGO_PKG_VERSION"),
        verbatim(&help(None))
    );
    for cmd in COMMANDS {
        out.push_str(&format!(
            ".SH {}\n.nf\n{}.fi\n",
            cmd.name.to_uppercase(),
            verbatim(&help(Some(cmd.name)))
        ));
    }
    let para = |text: &str| -> String { text.split_whitespace().collect::<Vec<_>>().join(" ") };
    let tagged = |title: &str, rows: &mut dyn Iterator<Item = (String, String)>| -> String {
        let mut s = format!(".SH {title}\n");
        for (tag, body) in rows {
            s.push_str(&format!(
                ".TP\n.B {}\n{}",
                tag.replace('\\', "\\e"),
                verbatim(&para(&body))
            ));
        }
        s
    };
    // DESCRIPTION goes right after the synopsis.
    let synopsis_end = out.find(".SH LOGIN").unwrap_or(out.len());
    out.insert_str(
        synopsis_end,
        &format!(".SH DESCRIPTION\n{}", verbatim(&para(DESCRIPTION))),
    );
    out.push_str(&tagged(
        "CONFIGURATION",
        &mut Key::ALL.iter().map(|k| {
            (
                format!("credential.<url>.{}", k.name()),
                format!("{} (default: {})", k.help(), k.default_text()),
            )
        }),
    ));
    out.push_str(&tagged(
        "ENVIRONMENT",
        &mut ENVIRONMENT
            .iter()
            .map(|(n, m)| (n.to_string(), m.to_string())),
    ));
    out.push_str(&tagged(
        "FILES",
        &mut FILES.iter().map(|(p, m)| (p.to_string(), m.to_string())),
    ));
    out.push_str(".SH SEE ALSO\ngitcredentials(7), git-credential(1)\n");
    out
}

/// Help text for the tool or one command.
pub fn help(command: Option<&str>) -> String {
    match command {
        Some("config") => reference(),
        Some(name) => COMMAND_HELP
            .iter()
            .find(|(n, _)| *n == name)
            .map_or_else(overview, |(_, text)| (*text).to_owned()),
        None => overview(),
    }
}

/// Each command's `--help`, by name.
const COMMAND_HELP: &[(&str, &str)] = &[
    ("login", LOGIN_HELP),
    ("logout", LOGOUT_HELP),
    ("status", STATUS_HELP),
    ("switch", SWITCH_HELP),
    ("token", TOKEN_HELP),
    ("doctor", DOCTOR_HELP),
    ("configure", CONFIGURE_HELP),
    ("unconfigure", UNCONFIGURE_HELP),
];

const LOGIN_HELP: &str = "\
git credential-bitbucket login [URL] [--no-browser]

Sign in to Bitbucket now, in the browser, and save the tokens; git then never
asks. URL defaults to https://bitbucket.org; a user in it (https://alice@host)
picks the account. Any saved sign-in of that account is replaced.

Options:
  --no-browser   print the sign-in URL and wait for the redirect, or for the
                 redirect URL (or code) pasted on this terminal

Example:
  git credential-bitbucket login https://alice@bitbucket.org
";

const LOGOUT_HELP: &str = "\
git credential-bitbucket logout [URL] [--account NAME | --all]

Delete saved tokens for a host: the account named by --account or by a user in
the URL, else the host's only account. With several accounts and no name,
nothing is deleted.

Options:
  --account NAME   the account to sign out
  --all            every account of the host

Example:
  git credential-bitbucket logout https://bitbucket.org --account bob
";

const STATUS_HELP: &str = "\
git credential-bitbucket status [URL] [--json]

Show the hosts set up for this helper, signed in or not, and their saved
sign-ins: account, store, access-token expiry, refresh-token age, scopes.
With a URL, also which account git will be given for it (a user in the URL,
https://alice@host, picks that account) and from which store. Never shows a
secret. Output on stdout; exits 1 when a host's configuration cannot be used.

Options:
  --json   the same facts as a stable JSON document (see docs/configuration.md)

Example:
  git credential-bitbucket status https://alice@bitbucket.org
";

const SWITCH_HELP: &str = "\
git credential-bitbucket switch [URL] ACCOUNT

Make ACCOUNT, already signed in, the default for URL (default
https://bitbucket.org): the account git gets when the remote URL names none.
Says which account was the default before.

Example:
  git credential-bitbucket switch https://bitbucket.org alice
";

const TOKEN_HELP: &str = "\
git credential-bitbucket token [URL] [--account NAME]

Print a fresh access token for URL (default https://bitbucket.org) on stdout,
and nothing else, for scripts calling Bitbucket's REST API. A token near its
expiry is refreshed first, once, as git's own requests would; without a
sign-in, one is started as for git.

Options:
  --account NAME   the account (default: the host's default account)

Example:
  curl -H \"Authorization: Bearer $(git credential-bitbucket token)\" https://api.bitbucket.org/2.0/user
";

const DOCTOR_HELP: &str = "\
git credential-bitbucket doctor [URL] [--json]

Check the setup of URL (default: every host set up for this helper) and say
what to fix: unknown or misspelled bitbucket* keys (with the file they are
in), invalid values, a consumer secret left in a gitconfig file, other
credential helpers that would keep copies of the tokens, whether the store can
be read, whether the redirect port is free, whether each endpoint answers (one
request each, no credentials sent), and the sign-in and its expiry. Exits 1
when something is wrong.

Options:
  --json   the checklist as JSON on stdout

Example:
  git credential-bitbucket doctor https://bitbucket.org
";

const CONFIGURE_HELP: &str = "\
git credential-bitbucket configure [URL] [options]

Write the git config that makes URL (default https://bitbucket.org) use this
helper alone: an empty credential.<url>.helper entry, this binary's absolute
path, and the consumer's key. The consumer secret is kept in the token store
(keyring or private file), not in gitconfig. On a terminal without options it
walks you through it, offering both ways in (an OAuth consumer, or an API
token) and showing what is set now as the defaults. Running it again keeps
what is set unless an option changes it, and prints what changed.

Options:
  --client-id ID           the consumer key
  --client-secret-stdin    read the consumer secret from stdin
  --move-secret            move a consumer secret found in the gitconfig file
                           into the token store
  --kind cloud|datacenter  default: what is set, else cloud for bitbucket.org,
                           else datacenter
  --redirect-uri URI       the consumer's callback (default: Cloud
                           http://127.0.0.1:34107/, Data Center http://localhost:34107/)
  --authorize-url URL      the authorize endpoint (default: from the kind)
  --token-url URL          the token endpoint (default: from the kind)
  --api-url URL            the REST API base (default: from the kind)
  --flow FLOW              browser (default) or client_credentials (CI, private
                           consumer; key and secret may come from the environment)
  --username NAME          the account to use for this host (with --api-token:
                           the username git sends with the token)
  --api-token              store an API token or access token instead of OAuth;
                           the token is read from stdin (hidden on a terminal)
  --token-kind KIND        Cloud: api-token (default) or access-token
                           (repository/project/workspace); Data Center:
                           personal (default, needs --username) or project
  --store auto|keyring|file  where tokens and the secret are kept (default auto)
  --global | --system | --local | --file F   where to write (default --global)

Example:
  printf '%s\\n' \"$SECRET\" | git credential-bitbucket configure --client-id KEY --client-secret-stdin
";

const UNCONFIGURE_HELP: &str = "\
git credential-bitbucket unconfigure [URL] [--global|--system|--local|--file F]

Remove exactly what `configure` wrote for URL (default https://bitbucket.org),
including the consumer secret it kept in the token store; says so when there
is nothing to remove. Saved tokens stay; `logout --all` deletes them.

Example:
  git credential-bitbucket unconfigure https://bitbucket.org
";

/// The overview help: the command and option lists come from [`COMMANDS`]
/// and [`GLOBAL`], the tables the completion scripts are written from.
fn overview() -> String {
    let mut commands = String::new();
    for c in COMMANDS {
        let usage = format!("{} {}", c.name, c.synopsis);
        commands.push_str(&format!("  {usage:<40}{}\n", c.about));
    }
    let mut options = String::new();
    for o in GLOBAL {
        let mut names = o.short.map(|s| format!("{s}, ")).unwrap_or_default();
        names.push_str(o.long);
        match o.arg {
            Arg::None => {}
            Arg::Text(p) | Arg::OneOf(p, _) => names.push_str(&format!(" {p}")),
            Arg::File => names.push_str(" FILE"),
        }
        options.push_str(&format!("  {names:<22}{}\n", o.about));
    }
    format!(
        "\
git-credential-bitbucket {} — a git credential helper for Bitbucket

{}
Usage:
  git credential-bitbucket <command> [options]

Commands for you:
{commands}
Commands for git (credential.helper=bitbucket):
  {:<40}git's credential protocol on stdin/stdout

Options:
{options}  (`COMMAND --help` shows a command's options)

Setup: `git credential-bitbucket configure` walks you through it
(docs/bitbucket-consumer.md explains the OAuth consumer).

Configuration keys, environment and files: `git credential-bitbucket help config`.
Trace: GIT_CREDENTIAL_BITBUCKET_TRACE=1 (secrets are never shown).
",
        env!("CARGO_PKG_VERSION"),
        DESCRIPTION,
        Action::ALL.map(Action::as_str).join(", "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, Error> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn protocol_actions_are_taken_from_the_last_word() {
        assert_eq!(p(&["get"]).expect("ok"), Command::Protocol(Action::Get));
        assert_eq!(
            p(&["--x", "erase"]).expect("ok"),
            Command::Protocol(Action::Erase)
        );
        assert_eq!(
            p(&["frobnicate"]).expect("ok"),
            Command::Unknown("frobnicate".into())
        );
    }

    #[test]
    fn user_commands_and_flags() {
        assert_eq!(
            p(&["login", "--no-browser", "https://alice@bitbucket.org"]).expect("ok"),
            Command::Login {
                url: Some("https://alice@bitbucket.org".into()),
                no_browser: true
            }
        );
        assert_eq!(
            p(&["logout", "--account", "bob"]).expect("ok"),
            Command::Logout {
                url: None,
                account: Some("bob".into()),
                all: false
            }
        );
        assert_eq!(
            p(&["status", "--json"]).expect("ok"),
            Command::Status {
                url: None,
                json: true
            }
        );
        assert_eq!(
            p(&["status", "--help"]).expect("ok"),
            Command::Help(Some("status".into()))
        );
        assert!(p(&["logout", "--account"]).is_err());
        assert!(p(&["logout", "--all", "--account", "x"]).is_err());
        assert!(p(&["status", "--bogus"]).is_err());
    }

    #[test]
    fn switch_token_and_doctor_parse() {
        assert_eq!(
            p(&["switch", "alice"]).expect("ok"),
            Command::Switch {
                url: None,
                account: "alice".into()
            }
        );
        assert_eq!(
            p(&["switch", "https://bitbucket.org", "bob"]).expect("ok"),
            Command::Switch {
                url: Some("https://bitbucket.org".into()),
                account: "bob".into()
            }
        );
        assert!(p(&["switch"]).is_err());
        assert_eq!(
            p(&["token", "--account", "bob"]).expect("ok"),
            Command::Token {
                url: None,
                account: Some("bob".into())
            }
        );
        assert_eq!(
            p(&["doctor", "--json", "https://x.example"]).expect("ok"),
            Command::Doctor {
                url: Some("https://x.example".into()),
                json: true
            }
        );
        assert_eq!(
            p(&["doctor", "--help"]).expect("ok"),
            Command::Help(Some("doctor".into()))
        );
    }

    #[test]
    fn typos_of_our_commands_get_a_suggestion_and_git_words_do_not() {
        assert_eq!(suggestion("stauts"), Some("status"));
        assert_eq!(suggestion("logni"), Some("login"));
        assert_eq!(suggestion("get"), None);
        assert_eq!(suggestion("store"), None);
        assert_eq!(suggestion("frobnicate"), None);
        assert_eq!(suggestion("ab"), None);
    }

    #[test]
    fn help_config_documents_every_key_the_configuration_reads() {
        let text = help(Some("config"));
        for key in Key::ALL {
            let entry = format!("  {}\n      {} (default: ", key.name(), key.help());
            assert!(text.contains(&entry), "{key:?} missing:\n{text}");
        }
        assert_eq!(crate::config::known_keys().count(), Key::ALL.len());
    }

    #[test]
    fn the_manual_has_description_configuration_environment_and_files() {
        let man = man_page();
        for section in [
            ".SH DESCRIPTION",
            ".SH CONFIGURATION",
            ".SH ENVIRONMENT",
            ".SH FILES",
            ".SH DOCTOR",
        ] {
            assert!(man.contains(section), "{section} missing");
        }
        assert!(man.find(".SH DESCRIPTION") < man.find(".SH LOGIN"));
        for key in crate::config::known_keys() {
            assert!(man.contains(key), "{key} missing");
        }
        assert!(man.contains("secrets.json") && man.contains("GIT_CREDENTIAL_BITBUCKET_TRACE"));
    }

    /// The table is what the parser takes: every flag of every command
    /// parses (and the parser's debug check proves it asks for no flag the
    /// table lacks), with a value where the table says one follows.
    #[test]
    fn every_flag_of_the_table_parses() {
        for cmd in COMMANDS {
            for opt in cmd.opts {
                let mut args = vec![cmd.name, opt.long];
                match opt.arg {
                    Arg::None => {}
                    Arg::Text(_) | Arg::File => args.push("x"),
                    Arg::OneOf(_, values) => args.push(values[0]),
                }
                assert!(p(&args).is_ok(), "{args:?}: {:?}", p(&args));
                if opt.arg != Arg::None {
                    assert!(
                        p(&[cmd.name, opt.long]).is_err(),
                        "{args:?} without a value"
                    );
                }
            }
            assert_eq!(
                p(&[cmd.name, "--help"]).expect("ok"),
                Command::Help(Some(cmd.name.into()))
            );
            assert!(p(&[cmd.name, "--no-such-flag"]).is_err());
        }
        for shell in Shell::ALL {
            assert_eq!(
                p(&["--completions", shell.name()]).expect("ok"),
                Command::Completions(shell)
            );
        }
        let listed = GLOBAL.iter().find(|o| o.long == "--completions");
        let names: Vec<&str> = Shell::ALL.iter().map(|s| s.name()).collect();
        match listed.map(|o| o.arg) {
            Some(Arg::OneOf(_, values)) => assert_eq!(values, &names[..]),
            other => panic!("--completions takes {other:?}"),
        }
        assert!(p(&["--completions"]).is_err());
        assert!(p(&["--completions", "tcsh"]).is_err());
    }

    /// Each command's help names exactly the flags of its table entry, and
    /// the overview names every command and global option.
    #[test]
    fn help_texts_and_the_table_agree() {
        let flags_in = |text: &str| -> Vec<String> {
            // Backticks quote other commands (`logout --all`): not ours.
            let own: String = text.split('`').step_by(2).collect::<Vec<_>>().join(" ");
            let mut found: Vec<String> = own
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .filter(|w| w.starts_with("--") && w.len() > 2)
                .map(str::to_owned)
                .collect();
            found.sort();
            found.dedup();
            found
        };
        for cmd in COMMANDS {
            let mut table: Vec<String> = cmd.opts.iter().map(|o| o.long.to_owned()).collect();
            table.sort();
            let mut shown = flags_in(&help(Some(cmd.name)));
            // `--help` appears in prose only.
            shown.retain(|f| f != "--help");
            assert_eq!(shown, table, "{} --help", cmd.name);
        }
        let overview = help(None);
        for cmd in COMMANDS {
            assert!(overview.contains(&format!("  {} {}", cmd.name, cmd.synopsis)));
        }
        for opt in GLOBAL {
            assert!(overview.contains(opt.long), "{}", opt.long);
        }
    }

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
