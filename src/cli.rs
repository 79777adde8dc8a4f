//! Command-line parsing: argv into plain data, no I/O. Hand-written: the
//! grammar is a handful of words and flags, not worth a parser crate.

use crate::error::Error;
use std::ffi::OsString;

/// What to run.
// Parsed once per run: the size of the `configure` variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A protocol action from git: `get`, `store`, `erase`, `capability`,
    /// or any other word (ignored).
    Protocol(String),
    /// `login [URL] [--no-browser]`.
    Login {
        /// The remote.
        url: Option<String>,
        /// Print the URL and wait for a paste instead of opening a browser.
        no_browser: bool,
    },
    /// `logout [URL] [--account NAME | --all]`.
    Logout {
        /// The remote.
        url: Option<String>,
        /// The account.
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
        /// The remote.
        url: Option<String>,
        /// The account to make the default.
        account: String,
    },
    /// `token [URL] [--account NAME]`.
    Token {
        /// The remote.
        url: Option<String>,
        /// The account.
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
        /// The remote.
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
}

const PROTOCOL: [&str; 4] = ["get", "store", "erase", "capability"];

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
    if let Some(last) = args.last().filter(|a| PROTOCOL.contains(&a.as_str())) {
        return Ok(Command::Protocol(last.clone()));
    }
    let Some((first, rest)) = args.split_first() else {
        return Ok(Command::Help(None));
    };
    let wants_help = rest.iter().any(|a| a == "--help" || a == "-h");
    match first.as_str() {
        "-h" | "--help" | "help" => Ok(Command::Help(rest.first().cloned())),
        "-V" | "--version" | "version" => Ok(Command::Version),
        "--man" => Ok(Command::Man),
        cmd @ ("login" | "logout" | "status" | "switch" | "token" | "doctor" | "configure"
        | "unconfigure")
            if wants_help =>
        {
            Ok(Command::Help(Some(cmd.to_owned())))
        }
        "login" => {
            let mut p = Flags::new("login", rest);
            let no_browser = p.flag("--no-browser");
            let url = p.positional()?;
            p.finish()?;
            Ok(Command::Login { url, no_browser })
        }
        "logout" => {
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
        "status" => {
            let mut p = Flags::new("status", rest);
            let json = p.flag("--json");
            let url = p.positional()?;
            p.finish()?;
            Ok(Command::Status { url, json })
        }
        "switch" => {
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
        "configure" => {
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
        "unconfigure" => {
            let mut p = Flags::new("unconfigure", rest);
            let scope = p.scope()?;
            let url = p.positional()?;
            p.finish()?;
            Ok(Command::Unconfigure { url, scope })
        }
        // Any other word: git's rule is to ignore unknown operations.
        other => Ok(Command::Protocol(other.to_owned())),
    }
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

    fn flag(&mut self, name: &str) -> bool {
        let before = self.args.len();
        self.args.retain(|a| *a != name);
        self.args.len() != before
    }

    fn value(&mut self, name: &str) -> Result<Option<String>, Error> {
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

/// The commands that have their own help, in manual order.
pub const COMMANDS: [&str; 8] = [
    "login",
    "logout",
    "status",
    "switch",
    "token",
    "doctor",
    "configure",
    "unconfigure",
];

/// A user command within a typo's reach of `word` (at most two edits),
/// for a mistyped word that git's rule otherwise leaves unanswered.
pub fn suggestion(word: &str) -> Option<&'static str> {
    if word.len() < 3 || PROTOCOL.contains(&word) {
        return None;
    }
    crate::commands::closest(word, &COMMANDS, 2)
}

/// What the tool is, for `--help` and the manual's DESCRIPTION.
pub const DESCRIPTION: &str = "\
Signs you in to Bitbucket (Cloud or Data Center) once with OAuth in the
browser, keeps the tokens private (OS keyring, or a file only you can read),
and answers git at once from then on, refreshing silently. git runs it as a
credential helper (credential.<url>.helper); you run it for the commands
below. A stored API token or access token can be used instead of OAuth.
";

/// The keys under `credential.<url>.`: (name, default, meaning). The
/// manual and `help config` are made from this table; a unit test keeps it
/// equal to the keys the configuration reads.
pub const CONFIG_KEYS: &[(&str, &str, &str)] = &[
    ("bitbucketKind", "cloud for bitbucket.org, else datacenter", "cloud or datacenter"),
    ("bitbucketClientId", "none", "the OAuth consumer key (Cloud) or client id (Data Center)"),
    ("bitbucketClientSecret", "none", "the consumer secret; `configure` keeps it in the token store instead, which this key overrides"),
    ("bitbucketAuthorizeUrl", "from the kind", "the authorize endpoint"),
    ("bitbucketTokenUrl", "from the kind", "the token endpoint"),
    ("bitbucketApiUrl", "from the kind", "the REST API base"),
    ("bitbucketRedirectUri", "Cloud http://127.0.0.1:34107/, DC http://localhost:34107/", "the loopback callback registered on the consumer"),
    ("bitbucketStore", "auto", "auto, keyring or file: where tokens and the consumer secret are kept"),
    ("bitbucketBrowser", "$BROWSER, then the platform opener", "the command that opens the sign-in URL (given as one argument)"),
    ("bitbucketFlow", "browser", "browser, client_credentials (Cloud) or token (a stored API token)"),
    ("bitbucketScopes", "Cloud none, DC REPO_READ REPO_WRITE", "scopes asked for at sign-in, space separated"),
    ("bitbucketLoginTimeout", "300", "seconds to wait for the browser sign-in"),
    ("bitbucketRefreshMargin", "600", "seconds before expiry to refresh (at most a quarter of the lifetime)"),
    ("bitbucketAuthType", "basic", "basic or bearer (bearer only when git offers it)"),
    ("bitbucketAllowHttp", "false", "allow plain http to a host that is not loopback"),
];

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
    for (key, default, meaning) in CONFIG_KEYS {
        out.push_str(&format!("  {key}\n      {meaning} (default: {default})\n"));
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
            cmd.to_uppercase(),
            verbatim(&help(Some(cmd)))
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
        &mut CONFIG_KEYS.iter().map(|(k, d, m)| {
            (
                format!("credential.<url>.{k}"),
                format!("{m} (default: {d})"),
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
        Some("login") => "\
git credential-bitbucket login [URL] [--no-browser]

Sign in to Bitbucket now, in the browser, and save the tokens; git then never
asks. URL defaults to https://bitbucket.org; a user in it (https://alice@host)
picks the account. Any saved sign-in of that account is replaced.

Options:
  --no-browser   print the sign-in URL and wait for the redirect, or for the
                 redirect URL (or code) pasted on this terminal

Example:
  git credential-bitbucket login https://alice@bitbucket.org
"
        .into(),
        Some("logout") => "\
git credential-bitbucket logout [URL] [--account NAME | --all]

Delete saved tokens for a host: the account named by --account or by a user in
the URL, else the host's only account. With several accounts and no name,
nothing is deleted.

Options:
  --account NAME   the account to sign out
  --all            every account of the host

Example:
  git credential-bitbucket logout https://bitbucket.org --account bob
"
        .into(),
        Some("status") => "\
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
"
        .into(),
        Some("switch") => "\
git credential-bitbucket switch [URL] ACCOUNT

Make ACCOUNT, already signed in, the default for URL (default
https://bitbucket.org): the account git gets when the remote URL names none.
Says which account was the default before.

Example:
  git credential-bitbucket switch https://bitbucket.org alice
"
        .into(),
        Some("token") => "\
git credential-bitbucket token [URL] [--account NAME]

Print a fresh access token for URL (default https://bitbucket.org) on stdout,
and nothing else, for scripts calling Bitbucket's REST API. A token near its
expiry is refreshed first, once, as git's own requests would; without a
sign-in, one is started as for git.

Options:
  --account NAME   the account (default: the host's default account)

Example:
  curl -H \"Authorization: Bearer $(git credential-bitbucket token)\" https://api.bitbucket.org/2.0/user
"
        .into(),
        Some("doctor") => "\
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
"
        .into(),
        Some("configure") => "\
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
"
        .into(),
        Some("unconfigure") => "\
git credential-bitbucket unconfigure [URL] [--global|--system|--local|--file F]

Remove exactly what `configure` wrote for URL (default https://bitbucket.org),
including the consumer secret it kept in the token store; says so when there
is nothing to remove. Saved tokens stay; `logout --all` deletes them.

Example:
  git credential-bitbucket unconfigure https://bitbucket.org
"
        .into(),
        Some("config") => reference(),
        _ => format!(
            "\
git-credential-bitbucket {} — a git credential helper for Bitbucket

{}
Usage:
  git credential-bitbucket <command> [options]

Commands for you:
  login [URL] [--no-browser]              sign in now
  logout [URL] [--account NAME | --all]   delete saved tokens
  status [URL] [--json]                   hosts, sign-ins, and the account git gets
  switch [URL] ACCOUNT                    change the host's default account
  token [URL] [--account NAME]            print a fresh access token (for scripts)
  doctor [URL] [--json]                   check the setup and say what to fix
  configure [URL] [--client-id ID ...]    set up git to use this helper for URL
  unconfigure [URL]                       undo configure

Commands for git (credential.helper=bitbucket):
  get, store, erase, capability           git's credential protocol on stdin/stdout

Options:
  -h, --help      this help; `COMMAND --help` for a command's
  -V, --version   the version
  --man           print the manual page (roff)

Setup: `git credential-bitbucket configure` walks you through it
(docs/bitbucket-consumer.md explains the OAuth consumer).

Configuration keys, environment and files: `git credential-bitbucket help config`.
Trace: GIT_CREDENTIAL_BITBUCKET_TRACE=1 (secrets are never shown).
",
            env!("CARGO_PKG_VERSION"),
            DESCRIPTION
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, Error> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn protocol_actions_are_taken_from_the_last_word() {
        assert_eq!(p(&["get"]).expect("ok"), Command::Protocol("get".into()));
        assert_eq!(
            p(&["--x", "erase"]).expect("ok"),
            Command::Protocol("erase".into())
        );
        assert_eq!(
            p(&["frobnicate"]).expect("ok"),
            Command::Protocol("frobnicate".into())
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
    fn the_key_table_is_exactly_the_keys_the_configuration_reads() {
        let documented: Vec<&str> = CONFIG_KEYS.iter().map(|(k, ..)| *k).collect();
        let read: Vec<&str> = crate::config::known_keys().collect();
        assert_eq!(documented, read);
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
        for (key, ..) in CONFIG_KEYS {
            assert!(man.contains(key), "{key} missing");
        }
        assert!(man.contains("secrets.json") && man.contains("GIT_CREDENTIAL_BITBUCKET_TRACE"));
    }
}
