//! argv into a [`Command`](super::Command), by the command table; no I/O.
//! Hand-written: the grammar is a handful of words and flags, not worth a
//! parser crate.

use super::table::{command, COMMANDS};
use super::{Command, Shell};
use crate::error::Error;
use crate::protocol::Action;
use crate::spelled::NotAccepted;
use std::ffi::OsString;

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
        // `gh auth login` style: kept whole, for the suggestion.
        "auth" if !rest.is_empty() => Ok(Command::Unknown(format!("auth {}", rest[0]))),
        "install" | "uninstall" => {
            let (name, what) = match cmd {
                "install" => ("install", crate::setup::Install::Install),
                _ => ("uninstall", crate::setup::Install::Uninstall),
            };
            let mut p = Flags::new(name, rest);
            let yes = p.flag("--yes");
            p.finish()?;
            Ok(Command::Install { what, yes })
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

/// `switch [URL] [ACCOUNT]`: one word is the URL when it has a scheme
/// (no account name has `://`), else the account.
fn parse_switch(rest: &[String]) -> Result<Command, Error> {
    let mut p = Flags::new("switch", rest);
    let first = p.positional()?;
    let second = p.positional()?;
    p.finish()?;
    let (url, account) = match (first, second) {
        (Some(one), None) if one.contains("://") => (Some(one), None),
        (Some(account), None) => (None, Some(account)),
        (url, account) => (url, account),
    };
    Ok(Command::Switch { url, account })
}

/// `configure [URL] [options]`.
fn parse_configure(rest: &[String]) -> Result<Command, Error> {
    let mut p = Flags::new("configure", rest);
    let scope = p.scope()?;
    let settings = crate::setup::Settings {
        kind: p.one_of("--kind")?,
        client_id: p.value("--client-id")?,
        client_secret_stdin: p.flag("--client-secret-stdin"),
        redirect_uri: p.value("--redirect-uri")?,
        flow: p.one_of("--flow")?,
        username: p.value("--username")?,
        api_token: p.flag("--api-token"),
        token_kind: p.one_of("--token-kind")?,
        store: p.one_of("--store")?,
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

    /// A flag whose value is one of a value enum's spellings.
    fn one_of<T>(&mut self, name: &str) -> Result<Option<T>, Error>
    where
        T: std::str::FromStr<Err = NotAccepted>,
    {
        match self.value(name)? {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|e: NotAccepted| {
                Error::Usage(format!("{name} {v:?}: accepted values are {}", e.list()))
            }),
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

/// Words other tools use for our commands (`gh auth login`, `glab auth
/// status`, `sign in`): a person who types them means ours.
const OTHER_NAMES: &[(&str, &str)] = &[
    ("signin", "login"),
    ("sign-in", "login"),
    ("auth", "login"),
    ("authenticate", "login"),
    ("signout", "logout"),
    ("sign-out", "logout"),
    ("list", "status"),
    ("ls", "status"),
    ("accounts", "status"),
    ("whoami", "status"),
    ("setup", "configure"),
    ("init", "configure"),
    ("use", "switch"),
];

/// The options a command line may start with.
const LEADING_OPTIONS: &[&str] = &["--help", "--version", "--man", "--completions"];

/// A user command (or leading option) within a typo's reach of `word` (at
/// most two edits) or another tool's name for it, for a mistyped word that
/// git's rule otherwise leaves unanswered. `auth login` and the like name
/// the command after `auth`.
pub fn suggestion(word: &str) -> Option<&'static str> {
    let names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
    if let Some(("auth", cmd)) = word.split_once(' ') {
        return names.iter().copied().find(|n| *n == cmd).or(Some("login"));
    }
    if word.starts_with('-') {
        return crate::human::closest(word, LEADING_OPTIONS, 2);
    }
    if word.len() < 3 || Action::try_from(word).is_ok() {
        return None;
    }
    let lower = word.to_ascii_lowercase();
    OTHER_NAMES
        .iter()
        .find(|(other, _)| *other == lower)
        .map(|(_, ours)| *ours)
        .or_else(|| crate::human::closest(word, &names, 2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Arg, GLOBAL};

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
                account: Some("alice".into())
            }
        );
        assert_eq!(
            p(&["switch", "https://bitbucket.org", "bob"]).expect("ok"),
            Command::Switch {
                url: Some("https://bitbucket.org".into()),
                account: Some("bob".into())
            }
        );
        // A URL alone is the host, never the account.
        assert_eq!(
            p(&["switch", "https://bb.example"]).expect("ok"),
            Command::Switch {
                url: Some("https://bb.example".into()),
                account: None
            }
        );
        assert_eq!(
            p(&["switch"]).expect("ok"),
            Command::Switch {
                url: None,
                account: None
            }
        );
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

    /// The value flags of `configure` are parsed into their enums here;
    /// a word that is none of the spellings is a usage error listing them.
    #[test]
    fn configure_values_are_typed_or_refused_with_the_accepted_words() {
        use crate::bitbucket::facts::Kind;
        use crate::config::Flow;
        use crate::store::choice::StoreChoice;
        use crate::store::GivenToken;
        let Ok(Command::Configure(s)) = p(&[
            "configure",
            "--kind=datacenter",
            "--flow",
            "token",
            "--store",
            "file",
            "--token-kind",
            "project",
        ]) else {
            panic!("configure parses");
        };
        assert_eq!(
            (s.kind, s.flow, s.store, s.token_kind),
            (
                Some(Kind::DataCenter),
                Some(Flow::Token),
                Some(StoreChoice::File),
                Some(GivenToken::Project)
            )
        );
        let refused = |args: &[&str]| p(args).expect_err("refused").to_string();
        assert!(refused(&["configure", "--store", "vault"])
            .contains("--store \"vault\": accepted values are auto, keyring, file"));
        assert!(refused(&["configure", "--kind", "Cloud"])
            .contains("--kind \"Cloud\": accepted values are cloud, datacenter"));
        assert!(refused(&["configure", "--flow", "device"])
            .contains("--flow \"device\": accepted values are browser, client_credentials, token"));
        assert!(refused(&["configure", "--token-kind", "oauth"]).contains(
            "--token-kind \"oauth\": accepted values are api-token, access-token, personal, project"
        ));
    }

    #[test]
    fn typos_of_our_commands_get_a_suggestion_and_git_words_do_not() {
        assert_eq!(suggestion("stauts"), Some("status"));
        assert_eq!(suggestion("logni"), Some("login"));
        assert_eq!(suggestion("get"), None);
        assert_eq!(suggestion("store"), None);
        assert_eq!(suggestion("frobnicate"), None);
        assert_eq!(suggestion("ab"), None);
        // Other tools' words for ours.
        assert_eq!(suggestion("signin"), Some("login"));
        assert_eq!(suggestion("list"), Some("status"));
        assert_eq!(suggestion("auth login"), Some("login"));
        assert_eq!(suggestion("auth status"), Some("status"));
        assert_eq!(suggestion("--hlep"), Some("--help"));
        assert_eq!(suggestion("--bogus"), None);
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
}
