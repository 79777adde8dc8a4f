//! `configure` and `unconfigure` (contract.md §2, §3): the gitconfig entries that
//! make a host use this helper alone.
//!
//! For the URL's host scope, `configure` writes an empty
//! `credential.<url>.helper=` (so no other helper, e.g. `store`, keeps
//! copies of short-lived tokens), then the absolute path of this binary
//! (IDEs and cron often run without `~/.local/bin` on PATH), then our keys.
//! Running it twice changes nothing; `unconfigure` removes exactly that.

use crate::app::NAME;
use crate::config::{ConfigError, Flow, Key, Kind, NotAccepted, Remote, StoreChoice, CLOUD_HOST};
use crate::error::Error;
use crate::secret::Secret;
use crate::store::{Account, Record, TokenKind, SCHEMA_VERSION};
use std::io::{BufRead, Write};
use std::process::{Command, Stdio};

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
    pub kind: Option<String>,
    /// `--client-id`.
    pub client_id: Option<String>,
    /// `--client-secret-stdin`.
    pub client_secret_stdin: bool,
    /// `--redirect-uri`.
    pub redirect_uri: Option<String>,
    /// `--flow`.
    pub flow: Option<String>,
    /// `--username`.
    pub username: Option<String>,
    /// `--api-token`: store a token read from stdin (token flow).
    pub api_token: bool,
    /// `--token-kind`.
    pub token_kind: Option<String>,
    /// `--store` for the token and the consumer secret.
    pub store: Option<String>,
    /// `--authorize-url`.
    pub authorize_url: Option<String>,
    /// `--token-url`.
    pub token_url: Option<String>,
    /// `--api-url`.
    pub api_url: Option<String>,
    /// `--move-secret`: move a gitconfig consumer secret into the store.
    pub move_secret: bool,
    /// Where.
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

fn git_config(scope: &Scope, args: &[&str]) -> Result<std::process::Output, Error> {
    Command::new("git")
        .arg("config")
        .args(scope.args())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Failed(format!("could not run git config: {e}")))
}

fn git_config_ok(scope: &Scope, args: &[&str]) -> Result<(), Error> {
    let out = git_config(scope, args)?;
    if out.status.success() {
        return Ok(());
    }
    Err(Error::Failed(format!(
        "git config {} failed: {}",
        args.first().copied().unwrap_or(""),
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

/// `--unset-all`; exit 5 means there was nothing to unset.
fn unset_all(scope: &Scope, key: &str) -> Result<(), Error> {
    let out = git_config(scope, &["--unset-all", key])?;
    match out.status.code() {
        Some(0) | Some(5) => Ok(()),
        _ => Err(Error::Failed(format!(
            "git config --unset-all {key} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
    }
}

fn host_scope(url: Option<&str>) -> Result<(Remote, String), Error> {
    let url = url.unwrap_or("https://bitbucket.org");
    let remote = Remote::from_url(url)
        .ok_or_else(|| Error::Usage(format!("{url:?} is not an https:// or http:// URL")))?;
    let base = remote.base_url();
    Ok((remote, base))
}

/// `configure`.
///
/// A re-run keeps what is set in the chosen file unless an option changes
/// it, and ends with what changed (or "nothing changed"). The consumer
/// secret goes into the token store, never into the gitconfig file.
pub fn configure(mut s: Settings) -> Result<(), Error> {
    let (remote, base) = host_scope(s.url.as_deref())?;
    let no_options = s
        == Settings {
            url: s.url.clone(),
            scope: s.scope.clone(),
            ..Settings::default()
        };
    let key = |k: &str| format!("credential.{base}.{k}");
    let scope = s.scope.clone();
    let before = snapshot(&scope, &base)?;
    let set = |k: &str| before.get(k).cloned().flatten();
    let is_cloud = remote.hostname() == CLOUD_HOST;
    let kind = match (s.kind.as_deref(), set(Key::Kind.name())) {
        (Some(given), _) => given.parse().map_err(|e: NotAccepted| {
            Error::Usage(format!(
                "--kind {given:?}: accepted values are {}",
                e.list()
            ))
        })?,
        // Keep what is set: a host's kind never flips on a re-run.
        (None, Some(now)) => now.parse().map_err(|e: NotAccepted| {
            Error::Usage(format!(
                "{} is {now:?}, which is not {}; give --kind",
                key(Key::Kind.name()),
                e.0.join(" or ")
            ))
        })?,
        (None, None) if is_cloud => Kind::Cloud,
        (None, None) => Kind::DataCenter,
    };
    let store_choice = match (&s.store, set(Key::Store.name())) {
        (Some(given), _) => store_flag(Some(given))?,
        (None, Some(now)) => now.parse().map_err(|e: NotAccepted| {
            Error::Usage(format!(
                "{} {now:?}: accepted values are {}",
                key(Key::Store.name()),
                e.list()
            ))
        })?,
        (None, None) => StoreChoice::Auto,
    };

    // On a terminal, without a consumer given: the guided mode, with what
    // is set now as the defaults. A re-run with options keeps the consumer.
    let mut secret = None;
    let wants_consumer =
        !s.api_token && s.flow.as_deref() != Some(Flow::ClientCredentials.as_str());
    if wants_consumer
        && s.client_id.is_none()
        && (set(Key::ClientId.name()).is_none() || no_options)
    {
        match guided(&base, kind, &before, store_choice) {
            Ok(Way::Consumer { id, secret: given }) => {
                s.client_id = Some(id);
                secret = given;
            }
            Ok(Way::ApiToken { username }) => {
                s.api_token = true;
                s.username = username;
            }
            // No terminal, but a consumer is set: keep it.
            Err(_) if set(Key::ClientId.name()).is_some() => {}
            Err(e) => return Err(e),
        }
    }
    if s.api_token {
        s.flow = Some(Flow::Token.as_str().into());
    }
    // Giving a consumer again after a token flow means OAuth again.
    let flow = match (&s.flow, &s.client_id, set(Key::Flow.name())) {
        (Some(f), _, _) => Some(f.clone()),
        (None, Some(_), Some(f)) if f == Flow::ClientCredentials.as_str() => Some(f),
        (None, Some(_), _) => None,
        (None, None, f) => f,
    };
    let flow: Option<Flow> = match flow.as_deref() {
        None => None,
        Some(f) => Some(f.parse().map_err(|e: NotAccepted| {
            Error::Usage(format!("--flow {f:?}: accepted values are {}", e.list()))
        })?),
    };
    match (flow, kind) {
        (None | Some(Flow::Browser), _) | (Some(Flow::ClientCredentials), Kind::Cloud) => {}
        (Some(Flow::Token), _) if s.api_token || s.flow.is_none() => {}
        (Some(Flow::Token), _) => {
            return Err(Error::Usage(
                "--flow token goes with --api-token, which stores the token".into(),
            ))
        }
        (Some(Flow::ClientCredentials), Kind::DataCenter) => return Err(Error::Usage(
            "--flow client_credentials: Data Center has no such grant; use browser or --api-token"
                .into(),
        )),
    }
    let token_kind = match s.api_token {
        true => Some(token_kind(
            s.token_kind.as_deref(),
            kind,
            s.username.as_deref(),
        )?),
        false => None,
    };
    // The OAuth consumer: none for the token flow; CI with
    // client_credentials may give it through GIT_CREDENTIAL_BITBUCKET_*.
    let ci = flow == Some(Flow::ClientCredentials);
    let flow = flow.map(|f| f.as_str().to_owned());
    let client_id = s.client_id.clone().or(set(Key::ClientId.name()));
    if !s.api_token && !ci && client_id.is_none() {
        return Err(Error::Usage(
            "configure needs --client-id (and --client-secret-stdin) when there is no terminal"
                .into(),
        ));
    }
    if secret.is_none() && s.client_secret_stdin && !s.api_token {
        if client_id.is_none() {
            return Err(Error::Usage(
                "--client-secret-stdin: give --client-id too; the secret is kept for that consumer"
                    .into(),
            ));
        }
        secret = Some(read_secret("the consumer secret")?);
    }
    // A secret left in this gitconfig file: moved on request, or when a
    // new one is given (the old one would win over the stored one).
    let in_gitconfig = set(Key::ClientSecret.name()).filter(|v| !v.is_empty());
    let moving = secret.is_none() && s.move_secret && in_gitconfig.is_some();
    if s.move_secret && in_gitconfig.is_none() {
        eprintln!(
            "{NAME}: no consumer secret is set in {}; nothing to move",
            scope_name(&scope)
        );
    }
    if moving {
        secret = in_gitconfig.clone().map(Secret::new);
    }
    let token = match s.api_token {
        true => Some(read_secret("the token")?),
        false => None,
    };
    if token.as_ref().is_some_and(is_app_password) {
        return Err(Error::Failed(app_password_message("this token", &base)));
    }
    let exe = std::env::current_exe()
        .map_err(|e| Error::Failed(format!("cannot find this program's own path: {e}")))?;
    let exe = exe.to_string_lossy().into_owned();

    // The store first: if it fails (a locked keyring), the git config is
    // left as it was.
    let stored_in = match (token, token_kind) {
        (Some(token), Some((token_kind, user))) => Some(store_token(
            &remote,
            s.store.as_deref(),
            token,
            token_kind,
            &user,
        )?),
        _ => None,
    };
    let mut notes: Vec<String> = Vec::new();
    if let (Some(sec), Some(id)) = (&secret, &client_id) {
        let dir = crate::store::data_dir()?;
        let old = crate::store::secrets::load(&dir, store_choice, &base, id)?;
        let place = crate::store::secrets::save(&dir, store_choice, &base, id, sec)?;
        if old.as_ref() != Some(sec) || moving {
            notes.push(format!(
                "the consumer secret is kept in the {} store, not in gitconfig",
                place.name()
            ));
        }
    }
    let scope = &s.scope;
    // Already the reset and us, in that order: leave the file as it is.
    let helpers = git_config(scope, &["-z", "--get-all", &key("helper")])?;
    if helpers.stdout != format!("\0{exe}\0").into_bytes() {
        unset_all(scope, &key("helper"))?;
        git_config_ok(scope, &["--add", &key("helper"), ""])?;
        git_config_ok(scope, &["--add", &key("helper"), &exe])?;
    }
    git_config_ok(scope, &[&key(Key::Kind.name()), kind.as_str()])?;
    if let Some(client_id) = s.client_id.as_deref() {
        git_config_ok(scope, &[&key(Key::ClientId.name()), client_id])?;
    }
    if secret.is_some() && in_gitconfig.is_some() {
        unset_all(scope, &key(Key::ClientSecret.name()))?;
    }
    for (k, v) in [
        (Key::RedirectUri.name(), &s.redirect_uri),
        (Key::AuthorizeUrl.name(), &s.authorize_url),
        (Key::TokenUrl.name(), &s.token_url),
        (Key::ApiUrl.name(), &s.api_url),
        (Key::Flow.name(), &flow),
        // Where the token went is where `get` must look.
        (Key::Store.name(), &s.store),
    ] {
        if let Some(v) = v {
            git_config_ok(scope, &[&key(k), v])?;
        }
    }
    if flow.is_none() {
        // Setting up OAuth again after a token flow: back to the default.
        unset_all(scope, &key(Key::Flow.name()))?;
    }
    if let (Some(user), false) = (&s.username, s.api_token) {
        git_config_ok(scope, &[&key("username"), user])?;
    }
    let after = snapshot(scope, &base)?;
    eprintln!("{NAME}: configured {base} to use {exe}.");
    let changes = changes(&before, &after);
    if changes.is_empty() && notes.is_empty() && stored_in.is_none() {
        eprintln!("{NAME}: nothing changed in {}.", scope_name(scope));
    }
    for c in changes.iter().chain(&notes) {
        eprintln!("{NAME}: {c}");
    }
    warn_about_later_helpers(&base, &exe);
    if secret.is_none() && in_gitconfig.is_some() {
        eprintln!(
            "{NAME}: the consumer secret is still in {}, which others can often read; `git \
             credential-bitbucket configure {base} --move-secret` moves it into the token store.",
            scope_name(scope)
        );
    }
    check_usable(scope, &remote)?;
    if let Some(where_) = stored_in {
        eprintln!(
            "{NAME}: stored the token for {base} in the {where_} store; git uses it from now on."
        );
        return Ok(());
    }
    let has_secret = secret.is_some()
        || in_gitconfig.is_some()
        || client_id.as_deref().is_some_and(|id| {
            crate::store::data_dir()
                .ok()
                .and_then(|d| crate::store::secrets::load(&d, store_choice, &base, id).ok())
                .flatten()
                .is_some()
        });
    if !has_secret && !ci {
        eprintln!(
            "{NAME}: no consumer secret is set; give it with --client-secret-stdin, or set \
             GIT_CREDENTIAL_BITBUCKET_CLIENT_SECRET in the environment."
        );
    }
    if ci {
        eprintln!("{NAME}: git now gets a client_credentials token for {base} by itself; no browser is involved.");
    } else {
        eprintln!("{NAME}: the next git command for {base} opens the browser once to sign in (or run `git credential-bitbucket login {base}`).");
    }
    Ok(())
}

fn scope_name(scope: &Scope) -> String {
    match scope {
        Scope::Global => "the global git config".into(),
        Scope::System => "the system git config".into(),
        Scope::Local => "this repository's git config".into(),
        Scope::File(f) => f.clone(),
    }
}

/// The values of our keys in the chosen file, before or after.
type Snapshot = std::collections::BTreeMap<&'static str, Option<String>>;

fn snapshot(scope: &Scope, base: &str) -> Result<Snapshot, Error> {
    let mut snap = Snapshot::new();
    for k in OUR_KEYS.iter().copied().chain(["helper"]) {
        let out = git_config(scope, &["--get-all", &format!("credential.{base}.{k}")])?;
        let value = out.status.success().then(|| {
            String::from_utf8_lossy(&out.stdout)
                .trim_end_matches('\n')
                .to_owned()
        });
        snap.insert(k, value);
    }
    Ok(snap)
}

/// What changed, one line per key; secrets are named, never shown.
fn changes(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let mut lines = Vec::new();
    for (k, new) in after {
        let old = before.get(k).cloned().flatten();
        if old == *new {
            continue;
        }
        let show = |v: &Option<String>| match (v, *k) {
            (None, _) => "(unset)".to_owned(),
            (Some(_), SECRET) => "(a secret)".to_owned(),
            (Some(v), "helper") => v
                .split('\n')
                .filter(|h| !h.is_empty())
                .collect::<Vec<_>>()
                .join(", "),
            (Some(v), _) => v.clone(),
        };
        lines.push(match (&old, *k) {
            (Some(_), SECRET) if new.is_none() => {
                "removed bitbucketClientSecret from the git config".to_owned()
            }
            (None, _) => format!("set {k} = {}", show(new)),
            _ => format!("changed {k}: {} -> {}", show(&old), show(new)),
        });
    }
    lines
}

/// A configuration that git would then refuse is reported now, not at
/// the next git command. Only the files git reads count.
fn check_usable(scope: &Scope, remote: &Remote) -> Result<(), Error> {
    if matches!(scope, Scope::File(_)) {
        return Ok(());
    }
    let git = crate::config::GitConfig::load()?;
    let keyed = crate::app::keyed_remote(&git, Some(&remote.url()))?;
    match crate::config::resolve(&git, &crate::config::ProcessEnv, &keyed) {
        Ok(_)
        | Err(ConfigError::MissingClientId { .. })
        | Err(ConfigError::MissingClientSecret { .. }) => Ok(()),
        Err(e) => Err(Error::Failed(format!(
            "configured, but git could not use it: {e}"
        ))),
    }
}

/// The token kinds a user can give for `kind`, the default first.
fn given_kinds(kind: Kind) -> [TokenKind; 2] {
    match kind {
        Kind::Cloud => [TokenKind::ApiToken, TokenKind::AccessToken],
        Kind::DataCenter => [TokenKind::PersonalToken, TokenKind::ProjectToken],
    }
}

/// The token kind and the username git must send with it (bitbucket-facts.md A.9, B.8).
fn token_kind(
    flag: Option<&str>,
    kind: Kind,
    username: Option<&str>,
) -> Result<(TokenKind, String), Error> {
    let allowed = given_kinds(kind);
    let chosen = match flag {
        None => allowed[0],
        Some(word) => TokenKind::from_given_word(word)
            .filter(|k| allowed.contains(k))
            .ok_or_else(|| {
                let [a, b] = allowed.map(|k| k.given_word().unwrap_or_default());
                let host = match kind {
                    Kind::Cloud => "on Bitbucket Cloud",
                    Kind::DataCenter => "on Data Center",
                };
                Error::Usage(format!("--token-kind {word:?}: {host}, {a} or {b}"))
            })?,
    };
    match chosen {
        TokenKind::ApiToken => Ok((
            chosen,
            username.unwrap_or("x-bitbucket-api-token-auth").to_owned(),
        )),
        TokenKind::PersonalToken => match username {
            Some(u) => Ok((chosen, u.to_owned())),
            None => Err(Error::Usage(
                "--api-token on Data Center: a personal token needs --username NAME \
                 (or --token-kind project for a project or repository token)"
                    .into(),
            )),
        },
        _ => Ok((chosen, "x-token-auth".to_owned())),
    }
}

/// Bitbucket app passwords start with `ATBB`; API tokens with `ATATT`.
/// App passwords stopped working on 2026-07-28, so one is never stored
/// or handed to git.
pub(crate) fn is_app_password(token: &Secret) -> bool {
    token.expose().starts_with("ATBB")
}

/// What to do instead of an app password; `what` names the token.
pub(crate) fn app_password_message(what: &str, base: &str) -> String {
    format!(
        "{what} is a Bitbucket app password (it starts with ATBB); app passwords \
         stopped working on 2026-07-28. Create an API token instead (it starts with ATATT; give it \
         the repository read and write scopes) and store it with `git credential-bitbucket \
         configure {base} --api-token`, or sign in with OAuth: `git credential-bitbucket \
         configure {base}`"
    )
}

/// Reads a secret: a line on stdin, or a hidden prompt on the terminal
/// when stdin is one.
fn read_secret(what: &str) -> Result<Secret, Error> {
    use std::io::IsTerminal;
    let mut line = String::new();
    if std::io::stdin().is_terminal() {
        let (_, mut tty) = crate::platform::open_terminal()
            .map_err(|e| Error::Failed(format!("cannot use the terminal: {e}")))?;
        line = crate::platform::prompt_hidden(
            &mut std::io::stdin().lock(),
            &mut tty,
            &format!("Paste {what} (not shown): "),
        )
        .map_err(|e| Error::Failed(format!("could not read {what}: {e}")))?;
    } else {
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Error::Failed(format!("could not read {what} from stdin: {e}")))?;
    }
    let v = line.trim().to_owned();
    if v.is_empty() {
        return Err(Error::Usage(format!("{what}: nothing was given on stdin")));
    }
    Ok(Secret::new(v))
}

/// `--store`, `auto` when not given.
fn store_flag(given: Option<&str>) -> Result<StoreChoice, Error> {
    match given {
        None => Ok(StoreChoice::Auto),
        Some(v) => v.parse().map_err(|e: NotAccepted| {
            Error::Usage(format!("--store {v:?}: accepted values are {}", e.list()))
        }),
    }
}

/// Saves a token-flow record where `get` will look for it.
fn store_token(
    remote: &Remote,
    store_choice: Option<&str>,
    token: Secret,
    kind: TokenKind,
    username: &str,
) -> Result<&'static str, Error> {
    let choice = store_flag(store_choice)?;
    // Keyed exactly as `get` will look it up (useHttpPath decides whether
    // the path counts).
    let git = crate::config::GitConfig::load()?;
    let host = crate::app::keyed_remote(&git, Some(&remote.url()))?.store_key();
    let store = crate::store::choice::open(&crate::store::data_dir()?, choice, &host)?;
    let t = crate::store::now();
    store.put(&Record {
        version: SCHEMA_VERSION,
        host,
        account: Account {
            username: username.to_owned(),
            uuid: None,
            display_name: None,
            nickname: None,
        },
        access_token: Some(token),
        expires_at: 0,
        refresh_token: None,
        refresh_issued_at: t,
        scopes: String::new(),
        kind,
        client_id: String::new(),
        obtained_at: t,
        signed_in_at: t,
    })?;
    Ok(store.name())
}

/// git runs every `credential.helper` that applies, in config order; our
/// empty entry resets the list only for what came before it. A helper
/// configured after ours (e.g. `credential.helper=store` in a repository's
/// config) would still be handed our short-lived tokens on `store`: say so.
fn warn_about_later_helpers(base: &str, exe: &str) {
    let Ok(out) = Command::new("git")
        .args([
            "config",
            "-z",
            "--show-origin",
            "--get-regexp",
            r"^credential\..*helper$",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    else {
        return;
    };
    // Entries: origin NUL name LF value NUL.
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = text.split('\0').collect();
    let ours = format!("credential.{}.helper", base.to_ascii_lowercase());
    let mut seen_ours = false;
    for pair in fields.chunks(2) {
        let [origin, entry] = pair else { continue };
        let (name, value) = entry.split_once('\n').unwrap_or((entry, ""));
        let name_lc = name.to_ascii_lowercase();
        if name_lc == ours && value == exe {
            seen_ours = true;
            continue;
        }
        let applies = name_lc == "credential.helper" || name_lc == ours;
        if seen_ours && applies && !value.is_empty() {
            eprintln!(
                "{NAME}: warning: `{name}={value}` ({origin}) comes after this helper, so git also \
                 gives it the Bitbucket tokens to keep; remove it, or scope it to other hosts"
            );
        }
    }
}

/// What the guided mode settled on.
enum Way {
    /// An OAuth consumer; `secret` is `None` when the one set is kept.
    Consumer { id: String, secret: Option<Secret> },
    /// A stored API token (or access token), read next by `read_secret`.
    ApiToken { username: Option<String> },
}

/// The guided mode on the terminal: which way in, then the consumer's key
/// and secret, with what is set now as the defaults (Enter keeps them).
fn guided(base: &str, kind: Kind, set: &Snapshot, store: StoreChoice) -> Result<Way, Error> {
    let (tty, mut out) = crate::platform::open_terminal().map_err(|_| {
        Error::Usage(
            "configure needs --client-id (and --client-secret-stdin) when there is no terminal"
                .into(),
        )
    })?;
    let mut input = std::io::BufReader::new(tty);
    let current = |k: &str| set.get(k).cloned().flatten().filter(|v| !v.is_empty());
    let mut line = |out: &mut std::fs::File, prompt: &str| -> Result<String, Error> {
        let _ = write!(out, "{prompt}");
        let _ = out.flush();
        let mut l = String::new();
        match input.read_line(&mut l) {
            Ok(0) => Err(Error::Failed(
                "the terminal closed; nothing was configured".into(),
            )),
            Ok(_) => Ok(l.trim().to_owned()),
            Err(e) => Err(Error::Failed(format!(
                "could not read from the terminal: {e}"
            ))),
        }
    };

    let _ = writeln!(out, "Set up {base} for {NAME}.\n");
    let token_now = current(Key::Flow.name()).as_deref() == Some(Flow::Token.as_str());
    let (consumer_who, token_what) = match kind {
        Kind::Cloud => (
            "a workspace admin creates it once, in the workspace settings",
            "an API token with the repository scopes, which any user\n\
             \x20    creates in their Atlassian account settings",
        ),
        Kind::DataCenter => (
            "a Bitbucket administrator creates it once (an application link)",
            "a personal HTTP access token, which any user creates in\n\
             \x20    their Bitbucket profile",
        ),
    };
    // One write: a reader of the terminal (a person, or a test driving
    // it) never sees half the menu ending in ": " as if it were a prompt.
    let menu = format!(
        "Two ways in:\n\
         \x20 1. An OAuth consumer: you sign in in the browser and tokens renew by themselves;\n\
         \x20    {consumer_who}.\n\
         \x20    Pick this when you are that admin, or one will create it for you.\n\
         \x20 2. A token you create: {token_what}.\n\
         \x20    No admin needed; it is used as is until you replace it. Pick this when no\n\
         \x20    consumer can be had.\n\n"
    );
    let _ = out.write_all(menu.as_bytes());
    let default_way = if token_now { "2" } else { "1" };
    let mut way = None;
    for _ in 0..3 {
        let answer = line(&mut out, &format!("Choose 1 or 2 [{default_way}]: "))?;
        let answer = if answer.is_empty() {
            default_way.to_owned()
        } else {
            answer
        };
        match answer.as_str() {
            "1" => way = Some(1),
            "2" => way = Some(2),
            _ => {
                let _ = writeln!(out, "Please type 1 or 2.");
                continue;
            }
        }
        break;
    }
    let way = way.ok_or_else(|| Error::Failed("no choice made; nothing was configured".into()))?;
    if way == 2 {
        let default_user = current("username");
        let prompt = match (kind, &default_user) {
            (_, Some(u)) => format!("Your Bitbucket username [{u}]: "),
            // With an API token git needs the username (the email fails),
            // or the fixed x-bitbucket-api-token-auth.
            (Kind::Cloud, None) => {
                "Your Bitbucket username, not your email (Enter to use x-bitbucket-api-token-auth): "
                    .to_owned()
            }
            (Kind::DataCenter, None) => "Your Bitbucket username: ".to_owned(),
        };
        let answer = line(&mut out, &prompt)?;
        let username = match answer.is_empty() {
            true => default_user,
            false => Some(answer),
        };
        if kind == Kind::DataCenter && username.is_none() {
            return Err(Error::Failed(
                "a Data Center personal token needs your username; nothing was configured".into(),
            ));
        }
        return Ok(Way::ApiToken { username });
    }

    let steps = match kind {
        Kind::Cloud => "\
         1. In Bitbucket open your workspace's Settings > OAuth consumers > Add consumer.\n\
         2. Callback URL: http://127.0.0.1:34107/\n\
         3. Permissions: Account: Read, Repositories: Write. Leave \"This is a private consumer\" unticked.\n\
         4. Save, then open the consumer to see its Key and Secret.\n",
        Kind::DataCenter => "\
         1. A Bitbucket administrator opens Administration > Application Links > Create link >\n\
         \x20  External application > Incoming (see docs/datacenter.md).\n\
         2. Redirect URL: http://localhost:34107/ (exactly).\n\
         3. Permissions: Repositories: Write (includes Read).\n\
         4. Save; the link shows the Client ID and Client secret.\n",
    };
    let id_now = current(Key::ClientId.name());
    let _ = writeln!(out, "{steps}");
    if kind == Kind::Cloud && id_now.is_none() {
        // Offer to open the workspace's OAuth consumers page.
        let ws = line(
            &mut out,
            "Workspace ID, to open its OAuth consumers page (Enter to skip): ",
        )?;
        if !ws.is_empty()
            && ws
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            let page = format!("https://bitbucket.org/{ws}/workspace/settings/api");
            let _ = writeln!(out, "{page}");
            match crate::signin::find_browser(None, &crate::config::ProcessEnv) {
                Some(b) => crate::signin::open_browser(&b, &page),
                None => {
                    let _ = writeln!(out, "(no browser here: open it on any machine)");
                }
            }
        }
    }
    let label = match kind {
        Kind::Cloud => ("Consumer key", "Consumer secret"),
        Kind::DataCenter => ("Client ID", "Client secret"),
    };
    let id = match &id_now {
        Some(now) => {
            let answer = line(&mut out, &format!("{} [{now}]: ", label.0))?;
            if answer.is_empty() {
                now.clone()
            } else {
                answer
            }
        }
        None => line(&mut out, &format!("{}: ", label.0))?,
    };
    if id.is_empty() {
        return Err(Error::Failed(
            "nothing entered; nothing was configured".into(),
        ));
    }
    // A secret is known when it is in this file or in our store for this
    // consumer: then Enter keeps it (moved out of the file, if it was there).
    let in_file = current(Key::ClientSecret.name());
    let stored = crate::store::data_dir()
        .ok()
        .and_then(|d| crate::store::secrets::load(&d, store, base, &id).ok())
        .flatten();
    let keep_hint = match (&in_file, &stored) {
        (Some(_), _) => "; Enter keeps the one set now and moves it into the token store",
        (None, Some(_)) => "; Enter keeps the one stored now",
        (None, None) => "",
    };
    // Echo off before the prompt appears: a fast paste must not show.
    let answer = crate::platform::prompt_hidden(
        &mut input,
        &mut out,
        &format!("{} (not shown{keep_hint}): ", label.1),
    )
    .map(|l| l.trim().to_owned())
    .map_err(|e| Error::Failed(format!("could not read from the terminal: {e}")))?;
    let secret = match (answer.is_empty(), in_file, stored) {
        (false, _, _) => Some(Secret::new(answer)),
        (true, Some(v), _) => Some(Secret::new(v)),
        (true, None, Some(_)) => None,
        (true, None, None) => {
            return Err(Error::Failed(
                "nothing entered; nothing was configured".into(),
            ))
        }
    };
    Ok(Way::Consumer { id, secret })
}

/// `unconfigure`: removes what `configure` wrote, the consumer secret it
/// kept in our store included, and the section when nothing else is left
/// in it. With nothing to remove, it says so and changes nothing.
pub fn unconfigure(url: Option<&str>, scope: &Scope) -> Result<(), Error> {
    let (_, base) = host_scope(url)?;
    let section = format!("credential.{base}");
    let before = snapshot(scope, &base)?;
    let client_id = before.get(Key::ClientId.name()).cloned().flatten();
    // Leniently: a bad value must not keep the rest from going.
    let store_choice = before
        .get(Key::Store.name())
        .cloned()
        .flatten()
        .and_then(|v| v.parse().ok())
        .unwrap_or(StoreChoice::Auto);
    let mut removed_secret = false;
    if let Some(id) = &client_id {
        let dir = crate::store::data_dir()?;
        removed_secret = crate::store::secrets::remove(&dir, store_choice, &base, id)?;
    }
    if before.values().all(Option::is_none) {
        if removed_secret {
            eprintln!("{NAME}: removed the stored consumer secret for {base}.");
        } else {
            eprintln!(
                "{NAME}: nothing to remove: {} has no {NAME} settings for {base}.",
                scope_name(scope)
            );
        }
        return Ok(());
    }
    unset_all(scope, &format!("{section}.helper"))?;
    for k in OUR_KEYS {
        unset_all(scope, &format!("{section}.{k}"))?;
    }
    let listed = git_config(scope, &["-z", "--list"])?;
    let prefix = format!("{}.", section.to_ascii_lowercase());
    let left = String::from_utf8_lossy(&listed.stdout)
        .split('\0')
        .any(|e| e.to_ascii_lowercase().starts_with(&prefix));
    if !left {
        // Nothing of the user's left: drop the empty section header too.
        let _ = git_config(scope, &["--remove-section", &section]);
    }
    eprintln!(
        "{NAME}: removed the {NAME} settings for {base} from {}{}.",
        scope_name(scope),
        if removed_secret {
            ", and the consumer secret from the token store"
        } else {
            ""
        }
    );
    Ok(())
}
