//! `configure` and `unconfigure` (SPEC §2, §3): the gitconfig entries that
//! make a host use this helper alone.
//!
//! For the URL's host scope, `configure` writes an empty
//! `credential.<url>.helper=` (so no other helper, e.g. `store`, keeps
//! copies of short-lived tokens), then the absolute path of this binary
//! (IDEs and cron often run without `~/.local/bin` on PATH), then our keys.
//! Running it twice changes nothing; `unconfigure` removes exactly that.

use crate::app::NAME;
use crate::config::{Kind, Remote, StoreChoice, CLOUD_HOST};
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
    /// `--store` for the token.
    pub store: Option<String>,
    /// Where.
    pub scope: Scope,
}

/// Keys `configure` may write under `credential.<url>.`, helper aside.
const OUR_KEYS: &[&str] = &[
    "bitbucketKind",
    "bitbucketClientId",
    "bitbucketClientSecret",
    "bitbucketRedirectUri",
    "bitbucketFlow",
    "bitbucketStore",
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
pub fn configure(mut s: Settings) -> Result<(), Error> {
    let (remote, base) = host_scope(s.url.as_deref())?;
    let is_cloud = remote.hostname() == CLOUD_HOST;
    let kind = match s.kind.as_deref() {
        None if is_cloud => Kind::Cloud,
        None => Kind::DataCenter,
        Some("cloud") => Kind::Cloud,
        Some("datacenter") => Kind::DataCenter,
        Some(other) => {
            return Err(Error::Usage(format!(
                "--kind {other:?}: accepted values are cloud, datacenter"
            )))
        }
    };
    if s.api_token {
        s.flow = Some("token".into());
    }
    match (s.flow.as_deref(), kind) {
        (None | Some("browser"), _) | (Some("client_credentials"), Kind::Cloud) => {}
        (Some("token"), _) if s.api_token => {}
        (Some("token"), _) => {
            return Err(Error::Usage(
                "--flow token goes with --api-token, which stores the token".into(),
            ))
        }
        (Some("client_credentials"), Kind::DataCenter) => return Err(Error::Usage(
            "--flow client_credentials: Data Center has no such grant; use browser or --api-token"
                .into(),
        )),
        (Some(other), _) => {
            return Err(Error::Usage(format!(
                "--flow {other:?}: accepted values are browser, client_credentials, token"
            )))
        }
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
    let ci = s.flow.as_deref() == Some("client_credentials");
    let mut secret = None;
    let consumer_from_env = ci && s.client_id.is_none();
    let needs_consumer = !(s.api_token || consumer_from_env);
    if needs_consumer && s.client_id.is_none() {
        let (id, sec) = guided(&base, kind)?;
        s.client_id = Some(id);
        secret = Some(sec);
    } else if needs_consumer && s.client_secret_stdin {
        secret = Some(read_secret("the consumer secret")?);
    }
    let token = match s.api_token {
        true => Some(read_secret("the token")?),
        false => None,
    };
    let exe = std::env::current_exe()
        .map_err(|e| Error::Failed(format!("cannot find this program's own path: {e}")))?;
    let exe = exe.to_string_lossy().into_owned();

    // The token first: if the store fails (a locked keyring), the git
    // config is left as it was.
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
    let key = |k: &str| format!("credential.{base}.{k}");
    let scope = &s.scope;
    // Already the reset and us, in that order: leave the file as it is.
    let helpers = git_config(scope, &["-z", "--get-all", &key("helper")])?;
    if helpers.stdout != format!("\0{exe}\0").into_bytes() {
        unset_all(scope, &key("helper"))?;
        git_config_ok(scope, &["--add", &key("helper"), ""])?;
        git_config_ok(scope, &["--add", &key("helper"), &exe])?;
    }
    let kind_name = match kind {
        Kind::Cloud => "cloud",
        Kind::DataCenter => "datacenter",
    };
    git_config_ok(scope, &[&key("bitbucketKind"), kind_name])?;
    if let Some(client_id) = s.client_id.as_deref() {
        git_config_ok(scope, &[&key("bitbucketClientId"), client_id])?;
    }
    if let Some(sec) = &secret {
        // git config takes the value only on its command line (docs/security.md).
        git_config_ok(scope, &[&key("bitbucketClientSecret"), sec.expose()])?;
    }
    for (k, v) in [
        ("bitbucketRedirectUri", &s.redirect_uri),
        ("bitbucketFlow", &s.flow),
        // Where the token went is where `get` must look.
        ("bitbucketStore", &s.store),
    ] {
        if let Some(v) = v {
            git_config_ok(scope, &[&key(k), v])?;
        }
    }
    if s.flow.is_none() {
        // Setting up OAuth again after a token flow: back to the default.
        unset_all(scope, &key("bitbucketFlow"))?;
    }
    if let (Some(user), false) = (&s.username, s.api_token) {
        git_config_ok(scope, &[&key("username"), user])?;
    }
    eprintln!("{NAME}: configured {base} to use {exe}.");
    warn_about_later_helpers(&base, &exe);
    if let Some(where_) = stored_in {
        eprintln!(
            "{NAME}: stored the token for {base} in the {where_} store; git uses it from now on."
        );
        return Ok(());
    }
    if secret.is_none() && !ci {
        eprintln!(
            "{NAME}: no consumer secret was written; give it with --client-secret-stdin, or set \
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

/// The token kind and the username git must send with it (FACTS A.9, B.8).
fn token_kind(
    flag: Option<&str>,
    kind: Kind,
    username: Option<&str>,
) -> Result<(TokenKind, String), Error> {
    match (flag, kind) {
        (None | Some("api-token"), Kind::Cloud) => Ok((
            TokenKind::ApiToken,
            username.unwrap_or("x-bitbucket-api-token-auth").to_owned(),
        )),
        (Some("access-token"), Kind::Cloud) => {
            Ok((TokenKind::AccessToken, "x-token-auth".to_owned()))
        }
        (None | Some("personal"), Kind::DataCenter) => match username {
            Some(u) => Ok((TokenKind::PersonalToken, u.to_owned())),
            None => Err(Error::Usage(
                "--api-token on Data Center: a personal token needs --username NAME \
                 (or --token-kind project for a project or repository token)"
                    .into(),
            )),
        },
        (Some("project"), Kind::DataCenter) => {
            Ok((TokenKind::ProjectToken, "x-token-auth".to_owned()))
        }
        (Some(other), Kind::Cloud) => Err(Error::Usage(format!(
            "--token-kind {other:?}: on Bitbucket Cloud, api-token or access-token"
        ))),
        (Some(other), Kind::DataCenter) => Err(Error::Usage(format!(
            "--token-kind {other:?}: on Data Center, personal or project"
        ))),
    }
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

/// Saves a token-flow record where `get` will look for it.
fn store_token(
    remote: &Remote,
    store_choice: Option<&str>,
    token: Secret,
    kind: TokenKind,
    username: &str,
) -> Result<&'static str, Error> {
    let choice = match store_choice {
        None | Some("auto") => StoreChoice::Auto,
        Some("keyring") => StoreChoice::Keyring,
        Some("file") => StoreChoice::File,
        Some(other) => {
            return Err(Error::Usage(format!(
                "--store {other:?}: accepted values are auto, keyring, file"
            )))
        }
    };
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

/// Asks for the consumer key and secret on the terminal.
fn guided(base: &str, kind: Kind) -> Result<(String, Secret), Error> {
    let (tty, mut out) = crate::platform::open_terminal().map_err(|_| {
        Error::Usage(
            "configure needs --client-id (and --client-secret-stdin) when there is no terminal"
                .into(),
        )
    })?;
    let mut input = std::io::BufReader::new(tty);
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
    let _ = writeln!(out, "Set up {base} for {NAME}.\n\n{steps}");
    if kind == Kind::Cloud {
        // Offer to open the workspace's OAuth consumers page.
        let _ = write!(
            out,
            "Workspace ID, to open its OAuth consumers page (Enter to skip): "
        );
        let _ = out.flush();
        let mut ws = String::new();
        let _ = input.read_line(&mut ws);
        let ws = ws.trim();
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
    let mut ask = |prompt: &str, hidden: bool| -> Result<String, Error> {
        let mut line = String::new();
        let read = if hidden {
            // Echo off before the prompt appears: a fast paste must not show.
            crate::platform::prompt_hidden(&mut input, &mut out, prompt).map(|l| line = l)
        } else {
            let _ = write!(out, "{prompt}");
            let _ = out.flush();
            input.read_line(&mut line).map(drop)
        };
        read.map_err(|e| Error::Failed(format!("could not read from the terminal: {e}")))?;
        let v = line.trim().to_owned();
        if v.is_empty() {
            return Err(Error::Failed(
                "nothing entered; nothing was configured".into(),
            ));
        }
        Ok(v)
    };
    let id = ask(
        match kind {
            Kind::Cloud => "Consumer key: ",
            Kind::DataCenter => "Client ID: ",
        },
        false,
    )?;
    let secret = ask(
        match kind {
            Kind::Cloud => "Consumer secret (not shown): ",
            Kind::DataCenter => "Client secret (not shown): ",
        },
        true,
    )?;
    Ok((id, Secret::new(secret)))
}

/// `unconfigure`: removes what `configure` wrote, and the section when
/// nothing else is left in it.
pub fn unconfigure(url: Option<&str>, scope: &Scope) -> Result<(), Error> {
    let (_, base) = host_scope(url)?;
    let section = format!("credential.{base}");
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
    eprintln!("{NAME}: removed the {NAME} settings for {base}.");
    Ok(())
}
