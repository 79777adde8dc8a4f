//! Command-line parsing: argv into plain data, no I/O. Hand-written: the
//! grammar is a handful of words and flags, not worth a parser crate.

use crate::error::Error;
use std::ffi::OsString;

/// What to run.
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
        cmd @ ("login" | "logout" | "status" | "configure" | "unconfigure") if wants_help => {
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
pub const COMMANDS: [&str; 5] = ["login", "logout", "status", "configure", "unconfigure"];

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
    out.push_str(
        ".SH FILES\n.nf\n$XDG_DATA_HOME/git-credential-bitbucket/tokens.json  the file store (0600)\n\
         $XDG_DATA_HOME/git-credential-bitbucket/stores.json  which store each host uses\n\
         $XDG_DATA_HOME/git-credential-bitbucket/locks/       lock files\n.fi\n\
         .SH SEE ALSO\ngitcredentials(7), git-credential(1)\n",
    );
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

List saved sign-ins: host, account, store, access-token expiry, refresh-token
age and scopes. Never shows a secret. The text goes to stderr; --json prints a
stable JSON document on stdout (see docs/configuration.md).

Options:
  --json   machine-readable output on stdout

Example:
  git credential-bitbucket status --json
"
        .into(),
        Some("configure") => "\
git credential-bitbucket configure [URL] [options]

Write the git config that makes URL (default https://bitbucket.org) use this
helper alone: an empty credential.<url>.helper entry, this binary's absolute
path, and the consumer's key and secret. On a terminal without --client-id it
walks you through creating the OAuth consumer and asks for the key and the
secret (not echoed). Running it twice changes nothing.

Options:
  --client-id ID           the consumer key
  --client-secret-stdin    read the consumer secret from stdin
  --kind cloud|datacenter  default: cloud for bitbucket.org, else datacenter
  --redirect-uri URI       the consumer's callback (default: Cloud
                           http://127.0.0.1:34107/, Data Center http://localhost:34107/)
  --flow FLOW              browser (default) or client_credentials (CI, private
                           consumer; key and secret may come from the environment)
  --username NAME          the account to use for this host (with --api-token:
                           the username git sends with the token)
  --api-token              store an API token or access token instead of OAuth;
                           the token is read from stdin (hidden on a terminal)
  --token-kind KIND        Cloud: api-token (default) or access-token
                           (repository/project/workspace); Data Center:
                           personal (default, needs --username) or project
  --store auto|keyring|file  where --api-token keeps the token (default auto)
  --global | --system | --local | --file F   where to write (default --global)

Example:
  printf '%s\\n' \"$SECRET\" | git credential-bitbucket configure --client-id KEY --client-secret-stdin
"
        .into(),
        Some("unconfigure") => "\
git credential-bitbucket unconfigure [URL] [--global|--system|--local|--file F]

Remove exactly what `configure` wrote for URL (default https://bitbucket.org).
Saved tokens stay; `logout --all` deletes them.

Example:
  git credential-bitbucket unconfigure https://bitbucket.org
"
        .into(),
        _ => format!(
            "\
git-credential-bitbucket {} — a git credential helper for Bitbucket

Signs you in to Bitbucket once with OAuth in the browser, keeps the tokens
private, and answers git at once from then on, refreshing silently.

Usage:
  git credential-bitbucket <command> [options]

Commands for you:
  login [URL] [--no-browser]              sign in now
  logout [URL] [--account NAME | --all]   delete saved tokens
  status [URL] [--json]                   show saved sign-ins (never secrets)
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

Trace: GIT_CREDENTIAL_BITBUCKET_TRACE=1 (secrets are never shown).
",
            env!("CARGO_PKG_VERSION")
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
}
