//! `configure` and `unconfigure` (contract.md §2, §3): the gitconfig entries that
//! make a host use this helper alone.
//!
//! For the URL's host scope, `configure` writes an empty
//! `credential.<url>.helper=` (so no other helper, e.g. `store`, keeps
//! copies of short-lived tokens), then the absolute path of this binary
//! (IDEs and cron often run without `~/.local/bin` on PATH), then our keys.
//! Running it twice changes nothing; `unconfigure` removes exactly that.

mod checks;
mod configure;
mod gitfile;
mod guided;
mod install;
mod token;
mod unconfigure;

pub use configure::configure;
pub use install::{double_clicked, explain_and_wait, Install};
pub use unconfigure::unconfigure;

/// `install [--yes]` / `uninstall [--yes]` (the Windows zip).
pub fn install(what: Install, yes: bool) -> Result<(), Error> {
    install::run(what, yes)
}

use crate::bitbucket::facts::Kind;
use crate::config::{Flow, Key, Remote};
use crate::error::Error;
use crate::store::choice::StoreChoice;
use crate::store::GivenToken;

/// Which config file to write.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scope {
    /// `--global` (the default).
    #[default]
    Global,
    /// `--system`.
    System,
    /// `--local`: the current repository.
    Local,
    /// `--file F`.
    File(String),
}

impl Scope {
    fn args(&self) -> Vec<String> {
        match self {
            Scope::Global => vec!["--global".into()],
            Scope::System => vec!["--system".into()],
            Scope::Local => vec!["--local".into()],
            Scope::File(f) => vec!["--file".into(), f.clone()],
        }
    }
}

/// What `configure` was asked to write.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    /// The remote, `https://bitbucket.org` by default.
    pub url: Option<String>,
    /// `--kind`.
    pub kind: Option<Kind>,
    /// `--client-id`.
    pub client_id: Option<String>,
    /// `--client-secret-stdin`.
    pub client_secret_stdin: bool,
    /// `--redirect-uri`.
    pub redirect_uri: Option<String>,
    /// `--flow`.
    pub flow: Option<Flow>,
    /// `--username`.
    pub username: Option<String>,
    /// `--api-token`: store a token read from stdin (token flow).
    pub api_token: bool,
    /// `--token-kind`.
    pub token_kind: Option<GivenToken>,
    /// `--store` for the token and the consumer secret.
    pub store: Option<StoreChoice>,
    /// `--authorize-url`.
    pub authorize_url: Option<String>,
    /// `--token-url`.
    pub token_url: Option<String>,
    /// `--api-url`.
    pub api_url: Option<String>,
    /// `--move-secret`: move a gitconfig consumer secret into the store.
    pub move_secret: bool,
    pub scope: Scope,
}

/// The consumer secret's key, as a pattern.
const SECRET: &str = Key::ClientSecret.name();

/// Keys `configure` may write under `credential.<url>.`, helper aside.
const OUR_KEYS: &[&str] = &[
    Key::Kind.name(),
    Key::ClientId.name(),
    Key::ClientSecret.name(),
    Key::RedirectUri.name(),
    Key::AuthorizeUrl.name(),
    Key::TokenUrl.name(),
    Key::ApiUrl.name(),
    Key::Flow.name(),
    Key::Store.name(),
    "username",
];

fn host_scope(url: Option<&str>) -> Result<(Remote, String), Error> {
    let url = url.unwrap_or("https://bitbucket.org");
    let remote = Remote::from_url(url)
        .ok_or_else(|| Error::Usage(format!("{url:?} is not an https:// or http:// URL")))?;
    let base = remote.base_url();
    Ok((remote, base))
}

fn scope_name(scope: &Scope) -> String {
    match scope {
        Scope::Global => "the global git config".into(),
        Scope::System => "the system git config".into(),
        Scope::Local => "this repository's git config".into(),
        Scope::File(f) => f.clone(),
    }
}
