//! `configure` and `unconfigure` (SPEC §2, §3): the gitconfig entries that
//! make a host use this helper alone.
//!
//! For the URL's host scope, `configure` writes an empty
//! `credential.<url>.helper=` (so no other helper, e.g. `store`, keeps
//! copies of short-lived tokens), then the absolute path of this binary
//! (IDEs and cron often run without `~/.local/bin` on PATH), then our keys.
//! Running it twice changes nothing; `unconfigure` removes exactly that.

use crate::app::NAME;
use crate::config::{Remote, CLOUD_HOST};
use crate::error::Error;
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
    let kind = s
        .kind
        .clone()
        .unwrap_or_else(|| if is_cloud { "cloud" } else { "datacenter" }.to_owned());
    match kind.as_str() {
        "cloud" => {}
        "datacenter" => {
            return Err(Error::Failed(
                "Bitbucket Data Center is not supported yet by this version; only --kind cloud"
                    .into(),
            ))
        }
        other => {
            return Err(Error::Usage(format!(
                "--kind {other:?}: accepted values are cloud, datacenter"
            )))
        }
    }
    match s.flow.as_deref() {
        None | Some("browser") => {}
        Some("client_credentials") => {}
        Some("token") => {
            return Err(Error::Failed(
                "--flow token is not supported yet by this version; browser and \
                 client_credentials are"
                    .into(),
            ))
        }
        Some(other) => {
            return Err(Error::Usage(format!(
                "--flow {other:?}: accepted values are browser, client_credentials, token"
            )))
        }
    }
    let mut secret = None;
    // CI with client_credentials may give the key and secret through
    // GIT_CREDENTIAL_BITBUCKET_CLIENT_ID/_SECRET: the flow key alone makes
    // the host ours.
    let ci = s.flow.as_deref() == Some("client_credentials");
    if s.client_id.is_none() && !ci {
        let (id, sec) = guided(&base)?;
        s.client_id = Some(id);
        secret = Some(sec);
    } else if s.client_secret_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Error::Failed(format!("could not read the secret from stdin: {e}")))?;
        secret = Some(line.trim().to_owned()).filter(|l| !l.is_empty());
        if secret.is_none() && !ci {
            return Err(Error::Usage(
                "--client-secret-stdin: stdin was empty".into(),
            ));
        }
    }
    let exe = std::env::current_exe()
        .map_err(|e| Error::Failed(format!("cannot find this program's own path: {e}")))?;
    let exe = exe.to_string_lossy().into_owned();

    let key = |k: &str| format!("credential.{base}.{k}");
    let scope = &s.scope;
    // Already the reset and us, in that order: leave the file as it is.
    let helpers = git_config(scope, &["-z", "--get-all", &key("helper")])?;
    if helpers.stdout != format!("\0{exe}\0").into_bytes() {
        unset_all(scope, &key("helper"))?;
        git_config_ok(scope, &["--add", &key("helper"), ""])?;
        git_config_ok(scope, &["--add", &key("helper"), &exe])?;
    }
    git_config_ok(scope, &[&key("bitbucketKind"), &kind])?;
    if let Some(client_id) = s.client_id.as_deref() {
        git_config_ok(scope, &[&key("bitbucketClientId"), client_id])?;
    }
    if let Some(sec) = &secret {
        git_config_ok(scope, &[&key("bitbucketClientSecret"), sec])?;
    }
    for (k, v) in [
        ("bitbucketRedirectUri", &s.redirect_uri),
        ("bitbucketFlow", &s.flow),
        ("username", &s.username),
    ] {
        if let Some(v) = v {
            git_config_ok(scope, &[&key(k), v])?;
        }
    }
    eprintln!("{NAME}: configured {base} to use {exe}.");
    if secret.is_none() {
        eprintln!(
            "{NAME}: no consumer secret was written; give it with --client-secret-stdin, or set \
             GIT_CREDENTIAL_BITBUCKET_CLIENT_SECRET in the environment."
        );
    }
    eprintln!("{NAME}: the next git command for {base} opens the browser once to sign in (or run `git credential-bitbucket login {base}`).");
    Ok(())
}

/// Asks for the consumer key and secret on the terminal.
fn guided(base: &str) -> Result<(String, String), Error> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| {
            Error::Usage(
                "configure needs --client-id (and --client-secret-stdin) when there is no terminal"
                    .into(),
            )
        })?;
    let mut out = tty
        .try_clone()
        .map_err(|e| Error::Failed(format!("cannot use the terminal: {e}")))?;
    let mut input = std::io::BufReader::new(tty);
    let _ = writeln!(
        out,
        "Set up {base} for {NAME}.\n\n\
         1. In Bitbucket open Workspace settings > OAuth consumers > Add consumer\n\
         \x20  (https://bitbucket.org/<workspace>/workspace/settings/oauth-consumers/new).\n\
         2. Callback URL: http://127.0.0.1:34107/\n\
         3. Permissions: Account: Read, Repositories: Write. Leave \"This is a private consumer\" unticked.\n\
         4. Save, then open the consumer to see its Key and Secret.\n"
    );
    let mut ask = |prompt: &str, hidden: bool| -> Result<String, Error> {
        let _ = write!(out, "{prompt}");
        let _ = out.flush();
        if hidden {
            set_echo(false);
        }
        let mut line = String::new();
        let read = input.read_line(&mut line);
        if hidden {
            set_echo(true);
            let _ = writeln!(out);
        }
        read.map_err(|e| Error::Failed(format!("could not read from the terminal: {e}")))?;
        let v = line.trim().to_owned();
        if v.is_empty() {
            return Err(Error::Failed(
                "nothing entered; nothing was configured".into(),
            ));
        }
        Ok(v)
    };
    let id = ask("Consumer key: ", false)?;
    let secret = ask("Consumer secret (not shown): ", true)?;
    Ok((id, secret))
}

/// Turns terminal echo off or on with `stty` (no libc binding needed).
fn set_echo(on: bool) {
    if let Ok(tty) = std::fs::File::open("/dev/tty") {
        let _ = Command::new("stty")
            .arg(if on { "echo" } else { "-echo" })
            .stdin(tty)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
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
