//! The help texts, from the command table and the configuration's keys
//! and values; `man.rs` lays the same texts out as the manual page.

use super::table::{Arg, COMMANDS, GLOBAL};
use crate::config::Key;
use crate::protocol::Action;

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

/// Exit statuses for the manual: (status, meaning), as
/// docs/configuration.md#exit-status and contract.md §2 give them.
pub const EXIT_STATUS: &[(&str, &str)] = &[
    (
        "0",
        "success. git's own commands (get, store, erase, capability) exit 0 whatever \
         happened: git reads quit=1, not the status",
    ),
    (
        "1",
        "a command you ran failed; stderr says why and what to do (doctor: a check \
         failed; status: a host's configuration cannot be used)",
    ),
    (
        "2",
        "a usage error (an unknown option, a bad URL, configure without --client-id and \
         without a terminal), or input from git that cannot be parsed (a NUL, a lone CR, \
         a line over 65535 bytes or without =, more than 1 MiB)",
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
    ("install", INSTALL_HELP),
    ("uninstall", UNINSTALL_HELP),
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
credential helpers that would keep copies of the tokens, the consumer secret,
whether the store can be read, whether the redirect port is free, whether
each endpoint answers as Bitbucket's does (one request each, no credentials
sent), and the sign-in and its expiry, or whether one can happen. Exits 1
exactly when the next git command would fail; the rest are warnings.

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
  --redirect-uri URI       the loopback redirect; a port pins it (default:
                           Cloud http://127.0.0.1, a free port per sign-in,
                           which is also the consumer's Callback URL; Data
                           Center http://localhost:34107/, registered exactly)
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

const INSTALL_HELP: &str = "\
git credential-bitbucket install [--yes]

Windows (the .exe from the zip): copy this program to
%LOCALAPPDATA%\\Programs\\git-credential-bitbucket and add that folder to your
user Path (HKCU\\Environment; no administrator rights, the system Path is not
touched, an entry already there is not added again). New terminals see it.
Then offers to run `configure` for https://bitbucket.org. Elsewhere, use
install.sh or a package.

Options:
  --yes   run configure without asking (for scripts)

Example:
  .\\git-credential-bitbucket.exe install
";

const UNINSTALL_HELP: &str = "\
git credential-bitbucket uninstall [--yes]

Windows: undo `install`. For each host your git config points at the
installed program, first offers `logout --all` and `unconfigure`; then removes
the folder and its user Path entry.

Options:
  --yes   sign out of and unconfigure those hosts without asking
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
Commands for git (credential.<url>.helper = this binary's absolute path):
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

    #[test]
    fn help_config_documents_every_key_the_configuration_reads() {
        let text = help(Some("config"));
        for key in Key::ALL {
            let entry = format!("  {}\n      {} (default: ", key.name(), key.help());
            assert!(text.contains(&entry), "{key:?} missing:\n{text}");
        }
        assert_eq!(crate::config::known_keys().count(), Key::ALL.len());
    }

    /// git runs the helper by its absolute path, which is what `configure`
    /// writes (docs/bitbucket-consumer.md says why): the help says so, and
    /// never `credential.helper=bitbucket`.
    #[test]
    fn the_overview_names_the_helper_entry_configure_writes() {
        let text = help(None);
        assert!(!text.contains("helper=bitbucket"), "{text}");
        assert!(
            text.contains("credential.<url>.helper = this binary's absolute path"),
            "{text}"
        );
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
}
