//! `doctor [URL] [--json]`: check the setup and say what to fix, one line
//! per check, each failure with its fix. Exit 1 when something is wrong.
//!
//! It may be slow (it is never on git's path): it asks git for every
//! `credential.*` entry with the file it came from, binds the redirect
//! port, and sends one request to each endpoint. It never sends a secret
//! and never prints one, and it decides nothing: a store choice not made
//! yet stays unmade.

use super::{closest, configured_hosts, duration, existing_store};
use crate::app;
use crate::commands::rfc3339;
use crate::config::{self, Env, Flow, GitConfig, HostConfig, Key, Remote};
use crate::error::Error;
use crate::store::{self, now, StoreKey};
use crate::text::NAME;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    /// Worth knowing; not an error.
    Warn,
    /// Wrong: doctor exits 1.
    Fail,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "fail",
        }
    }
}

/// One line of the checklist.
#[derive(Debug, Clone)]
pub struct Check {
    /// Which host, if the check is about one.
    pub host: Option<String>,
    /// A short name: `keys`, `config`, `helpers`, `store`, `redirect`,
    /// `endpoint`, `sign-in`.
    pub check: &'static str,
    pub level: Level,
    /// What was found.
    pub message: String,
    /// What to do about it.
    pub fix: Option<String>,
}

fn check(host: Option<&str>, check: &'static str, level: Level, message: String) -> Check {
    Check {
        host: host.map(str::to_owned),
        check,
        level,
        message,
        fix: None,
    }
}

impl Check {
    fn fix(mut self, fix: String) -> Check {
        self.fix = Some(fix);
        self
    }
}

/// One `credential.*` entry with its origin (`file:/path`, `command line:`).
struct Origin {
    origin: String,
    name: String,
    value: String,
}

/// `git config --show-origin` for every `credential.*` entry, in order.
fn entries_with_origin() -> Result<Vec<Origin>, Error> {
    let out = Command::new("git")
        .args([
            "config",
            "-z",
            "--show-origin",
            "--get-regexp",
            r"^credential\.",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| Error::Failed(format!("could not run git config: {e}")))?;
    if !out.status.success() && out.status.code() != Some(1) {
        return Err(Error::Failed(format!(
            "git config failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    // origin NUL name LF value NUL, per entry.
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = text.split('\0').collect();
    Ok(fields
        .chunks(2)
        .filter_map(|pair| match pair {
            [origin, entry] if !origin.is_empty() => {
                let (name, value) = entry.split_once('\n').unwrap_or((entry, ""));
                Some(Origin {
                    origin: (*origin).to_owned(),
                    name: name.to_owned(),
                    value: value.to_owned(),
                })
            }
            _ => None,
        })
        .collect())
}

/// `file:/home/a/.gitconfig` → `/home/a/.gitconfig`.
fn origin_file(origin: &str) -> Option<&str> {
    origin.strip_prefix("file:")
}

/// (url, key) of `credential.<url>.<key>` / `credential.<key>`.
fn split_name(name: &str) -> Option<(Option<&str>, &str)> {
    let rest = name.strip_prefix("credential.")?;
    Some(match rest.rsplit_once('.') {
        Some((url, key)) => (Some(url), key),
        None => (None, rest),
    })
}

/// Misspelled and unknown `bitbucket*` keys, and consumer secrets kept in
/// a gitconfig file.
fn key_checks(entries: &[Origin]) -> Vec<Check> {
    let known: Vec<&str> = config::known_keys().collect();
    let mut checks = Vec::new();
    let mut bad = 0;
    for e in entries {
        let Some((url, key)) = split_name(&e.name) else {
            continue;
        };
        if !key.to_ascii_lowercase().starts_with("bitbucket") {
            continue;
        }
        let file = origin_file(&e.origin).unwrap_or(&e.origin);
        let scope = match origin_file(&e.origin) {
            Some(f) => format!("--file {}", shell_word(f)),
            None => "--global".into(),
        };
        let prefix = match url {
            Some(u) => format!("credential.{u}."),
            None => "credential.".into(),
        };
        match Key::from_name(key) {
            Some(Key::ClientSecret) => {
                bad += 1;
                let target = url.unwrap_or("https://bitbucket.org");
                checks.push(
                    check(
                        None,
                        "keys",
                        Level::Fail,
                        format!(
                            "the consumer secret is in {file} ({prefix}bitbucketClientSecret); \
                             gitconfig files are often readable by others"
                        ),
                    )
                    .fix(format!(
                        "git credential-bitbucket configure {target} --move-secret {scope} \
                         (moves it into the token store)"
                    )),
                );
            }
            Some(_) => {}
            None => {
                bad += 1;
                let hint = match closest(key, &known, 3) {
                    Some(k) => format!("; did you mean {k}?"),
                    None => String::new(),
                };
                let right = closest(key, &known, 3).unwrap_or("<the right key>");
                checks.push(
                    check(
                        None,
                        "keys",
                        Level::Fail,
                        format!(
                            "{} in {file} is not a key {NAME} knows, so it is ignored{hint}",
                            e.name
                        ),
                    )
                    .fix(format!(
                        "`git config {scope} --unset '{}'`, then `git config {scope} \
                         '{prefix}{right}' <value>`",
                        e.name
                    )),
                );
            }
        }
    }
    if bad == 0 {
        checks.push(check(
            None,
            "keys",
            Level::Ok,
            "every bitbucket* key is known, and no consumer secret is in a gitconfig file".into(),
        ));
    }
    checks
}

fn shell_word(s: &str) -> String {
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-:".contains(&b))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Whether a helper value runs this program.
fn is_us(value: &str) -> bool {
    let first = value.split_whitespace().next().unwrap_or("");
    let base = first.rsplit(['/', '\\']).next().unwrap_or(first);
    first == "bitbucket" || base.starts_with(NAME)
}

/// git calls every helper that applies, in order, an empty value resetting
/// the list; any other helper left beside us would be given our tokens.
fn helper_checks(entries: &[Origin], base: &str) -> Vec<Check> {
    let mut active: Vec<&Origin> = Vec::new();
    for e in entries {
        let Some((url, key)) = split_name(&e.name) else {
            continue;
        };
        if !key.eq_ignore_ascii_case("helper") {
            continue;
        }
        let applies = match url {
            None => true,
            Some(u) => Remote::from_url(u).is_some_and(|r| r.base_url() == base),
        };
        if !applies {
            continue;
        }
        if e.value.is_empty() {
            active.clear();
        } else {
            active.push(e);
        }
    }
    let fix = format!("git credential-bitbucket configure {base}");
    if !active.iter().any(|e| is_us(&e.value)) {
        return vec![check(
            Some(base),
            "helpers",
            Level::Fail,
            format!("git does not call {NAME} for {base}"),
        )
        .fix(fix)];
    }
    let others: Vec<Check> = active
        .iter()
        .filter(|e| !is_us(&e.value))
        .map(|e| {
            let file = origin_file(&e.origin).unwrap_or(&e.origin);
            check(
                Some(base),
                "helpers",
                Level::Fail,
                format!(
                    "`{}={}` ({file}) also applies to {base}: git would give it the Bitbucket \
                     tokens to keep",
                    e.name, e.value
                ),
            )
            .fix(format!(
                "remove it, or scope it to other hosts; `{fix}` puts an empty helper entry first"
            ))
        })
        .collect();
    if others.is_empty() {
        vec![check(
            Some(base),
            "helpers",
            Level::Ok,
            format!("git calls only {NAME} for {base}"),
        )]
    } else {
        others
    }
}

/// The redirect port can be bound now (nothing else holds it).
fn redirect_check(cfg: &HostConfig, base: &str) -> Check {
    let Some(port) = cfg.redirect.port else {
        return check(
            Some(base),
            "redirect",
            Level::Ok,
            format!("{} has no port: any free port is used", cfg.redirect_uri),
        );
    };
    let ip = match cfg.redirect.host.as_str() {
        "localhost" => "127.0.0.1",
        h => h,
    };
    match std::net::TcpListener::bind((ip, port)) {
        Ok(_) => check(
            Some(base),
            "redirect",
            Level::Ok,
            format!("port {port} of {} is free", cfg.redirect_uri),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => check(
            Some(base),
            "redirect",
            Level::Fail,
            format!(
                "port {port} of the redirect {} is in use by another program, so a sign-in \
                 cannot receive Bitbucket's answer",
                cfg.redirect_uri
            ),
        )
        .fix(format!(
            "stop that program (`ss -ltnp 'sport = :{port}'` shows it), or add another callback \
             URL to the consumer and run `git credential-bitbucket configure {base} \
             --redirect-uri http://{}:PORT/`",
            cfg.redirect.host_for_url()
        )),
        Err(e) => check(
            Some(base),
            "redirect",
            Level::Warn,
            format!("could not test port {port} of {}: {e}", cfg.redirect_uri),
        ),
    }
}

/// One plain GET, no credentials, a short timeout: any HTTP answer means
/// the endpoint can be reached.
fn endpoint_checks(cfg: &HostConfig, base: &str) -> Vec<Check> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(5)))
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                .build(),
        )
        .build()
        .new_agent();
    let mut list = vec![("API", "bitbucketApiUrl", &cfg.api_url)];
    if cfg.flow != Flow::Token {
        list.insert(0, ("token endpoint", "bitbucketTokenUrl", &cfg.token_url));
        if cfg.flow == Flow::Browser {
            list.insert(
                0,
                (
                    "authorize endpoint",
                    "bitbucketAuthorizeUrl",
                    &cfg.authorize_url,
                ),
            );
        }
    }
    list.into_iter()
        .map(|(what, key, url)| match agent.get(url.as_str()).call() {
            Ok(resp) => check(
                Some(base),
                "endpoint",
                Level::Ok,
                format!("{what} {url} answers (HTTP {})", resp.status().as_u16()),
            ),
            Err(e) => check(
                Some(base),
                "endpoint",
                Level::Fail,
                format!("{what} {url} cannot be reached: {e}"),
            )
            .fix(format!(
                "check the network and proxy (HTTPS_PROXY), or credential.{base}.{key}"
            )),
        })
        .collect()
}

/// The checks of one host: its configuration, the other helpers git
/// calls for it, its store, redirect port, endpoints and sign-in.
fn host_checks(git: &GitConfig, env: &dyn Env, entries: &[Origin], remote: &Remote) -> Vec<Check> {
    let base = remote.base_url();
    let mut checks = Vec::new();
    let cfg = match config::resolve(git, env, remote) {
        Ok(Some(cfg)) => {
            checks.push(check(
                Some(&base),
                "config",
                Level::Ok,
                "every bitbucket* value is valid".into(),
            ));
            cfg
        }
        Ok(None) => {
            checks.push(
                check(
                    Some(&base),
                    "config",
                    Level::Fail,
                    format!("{base} is not set up for {NAME}"),
                )
                .fix(format!("git credential-bitbucket configure {base}")),
            );
            return checks;
        }
        Err(e) => {
            checks.push(
                check(Some(&base), "config", Level::Fail, e.to_string())
                    .fix("set the key as the message says, or rerun `git credential-bitbucket configure`".into()),
            );
            checks.extend(helper_checks(entries, &base));
            return checks;
        }
    };
    checks.extend(helper_checks(entries, &base));
    let host = cfg.remote.store_key();
    let dir = match store::data_dir() {
        Ok(d) => d,
        Err(e) => {
            checks.push(check(Some(&base), "store", Level::Fail, e.to_string()));
            return checks;
        }
    };
    let (store_check, store) = store_check(&cfg, &dir, &host, &base);
    checks.push(store_check);
    if cfg.flow == Flow::Browser {
        checks.push(redirect_check(&cfg, &base));
    }
    checks.extend(endpoint_checks(&cfg, &base));
    if let Some(store) = store {
        checks.push(sign_in_check(&cfg, store.as_ref(), &host, &base));
    }
    checks
}

/// Whether the host's store can be read, and the store when it can.
fn store_check(
    cfg: &HostConfig,
    dir: &std::path::Path,
    host: &StoreKey,
    base: &str,
) -> (Check, Option<Box<dyn store::Store>>) {
    let store = existing_store(dir, cfg.store, host).and_then(|s| s.records(host).map(|_| s));
    match store {
        Ok(s) => {
            // stores.json names the hosts whose `auto` is decided.
            let remembered = store::private::read_private(&dir.join("stores.json"))
                .ok()
                .flatten()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .is_some_and(|v| v["hosts"].get(host.as_str()).is_some());
            let undecided = cfg.store == config::StoreChoice::Auto && !remembered;
            let ok = check(
                Some(base),
                "store",
                Level::Ok,
                match undecided {
                    true => format!(
                        "the {} store can be read (bitbucketStore=auto: the first sign-in \
                         chooses the keyring if one answers, else the file)",
                        s.name()
                    ),
                    false => format!("the {} store can be read", s.name()),
                },
            );
            (ok, Some(s))
        }
        Err(e) => {
            let fail = check(Some(base), "store", Level::Fail, e.to_string()).fix(
                "the message says how; or choose the file store with bitbucketStore=file".into(),
            );
            (fail, None)
        }
    }
}

fn sign_in_check(cfg: &HostConfig, store: &dyn store::Store, host: &StoreKey, base: &str) -> Check {
    let asked = match cfg.flow {
        Flow::ClientCredentials => Some(format!("consumer:{}", cfg.client_id)),
        _ => None,
    };
    match app::find(store, host, asked.as_deref(), cfg) {
        Err(e) => check(Some(base), "sign-in", Level::Fail, e.to_string()),
        Ok(None) => check(
            Some(base),
            "sign-in",
            Level::Warn,
            match cfg.flow {
                Flow::Token => "no token is stored yet".into(),
                Flow::ClientCredentials => "no client_credentials token yet".into(),
                Flow::Browser => "nobody is signed in yet".into(),
            },
        )
        .fix(match cfg.flow {
            Flow::Token => format!("git credential-bitbucket configure {base} --api-token"),
            _ => format!("git credential-bitbucket login {base}"),
        }),
        Ok(Some(r)) => {
            let t = now();
            let who = &r.account.username;
            let expiry = match (&r.access_token, r.kind.is_stored_token()) {
                (Some(_), true) => "a stored token, no expiry known".to_owned(),
                (Some(_), false) if r.expires_at > t => format!(
                    "the access token is valid for {} (until {})",
                    duration(r.expires_at - t),
                    rfc3339(r.expires_at)
                ),
                _ => "the access token has expired".to_owned(),
            };
            let renewable = r.kind.is_stored_token()
                || r.refresh_token.is_some()
                || cfg.flow == Flow::ClientCredentials;
            if renewable || r.expires_at > t {
                check(
                    Some(base),
                    "sign-in",
                    Level::Ok,
                    format!("{who} is signed in; {expiry}"),
                )
            } else {
                check(
                    Some(base),
                    "sign-in",
                    Level::Warn,
                    format!("{who}: {expiry} and there is no refresh token"),
                )
                .fix(format!("git credential-bitbucket login {base}"))
            }
        }
    }
}

pub fn run(
    url: Option<&str>,
    json: bool,
    out: &mut impl Write,
    env: &dyn Env,
) -> Result<(), Error> {
    let entries = entries_with_origin()?;
    let git = GitConfig::load()?;
    let mut checks = key_checks(&entries);
    let hosts: Vec<Remote> = match url {
        Some(u) => vec![app::keyed_remote(&git, Some(u))?],
        None => configured_hosts(&git)
            .iter()
            .filter_map(|b| app::keyed_remote(&git, Some(b)).ok())
            .collect(),
    };
    if hosts.is_empty() {
        checks.push(
            check(
                None,
                "config",
                Level::Fail,
                format!("no host is set up for {NAME}"),
            )
            .fix("git credential-bitbucket configure [URL]".into()),
        );
    }
    for remote in &hosts {
        checks.extend(host_checks(&git, env, &entries, remote));
    }
    let failures = checks.iter().filter(|c| c.level == Level::Fail).count();
    let written = if json {
        let doc = serde_json::json!({
            "version": 1,
            "ok": failures == 0,
            "checks": checks.iter().map(|c| serde_json::json!({
                "host": c.host,
                "check": c.check,
                "status": c.level.name(),
                "message": c.message,
                "fix": c.fix,
            })).collect::<Vec<_>>(),
        });
        let text = serde_json::to_string_pretty(&doc).expect("BUG: a JSON value always serializes");
        writeln!(out, "{text}")
    } else {
        print_text(out, &checks)
    };
    written.map_err(|e| Error::Write(e.into()))?;
    match failures {
        0 => Ok(()),
        n => Err(Error::Failed(format!(
            "doctor found {n} problem{}; each has its fix above",
            if n == 1 { "" } else { "s" }
        ))),
    }
}

fn print_text(out: &mut impl Write, checks: &[Check]) -> std::io::Result<()> {
    let mut host: Option<&str> = None;
    for c in checks {
        if c.host.as_deref() != host {
            host = c.host.as_deref();
            if let Some(h) = host {
                writeln!(out, "{h}:")?;
            }
        }
        let mark = match c.level {
            Level::Ok => "ok  ",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        writeln!(out, "  [{mark}] {}: {}", c.check, c.message)?;
        if let Some(fix) = &c.fix {
            if c.level != Level::Ok {
                writeln!(out, "         fix: {fix}")?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(name: &str, value: &str) -> Origin {
        Origin {
            origin: "file:/home/a/.gitconfig".into(),
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn a_misspelled_key_is_named_with_its_file_and_the_right_spelling() {
        let checks = key_checks(&[origin(
            "credential.https://bitbucket.org.bitbucketstor",
            "file",
        )]);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].level, Level::Fail);
        assert!(
            checks[0].message.contains("did you mean bitbucketStore"),
            "{:?}",
            checks[0]
        );
        assert!(
            checks[0].message.contains("/home/a/.gitconfig"),
            "{:?}",
            checks[0]
        );
    }

    #[test]
    fn a_secret_in_gitconfig_is_a_failure_that_never_shows_the_value() {
        let checks = key_checks(&[origin(
            "credential.https://bitbucket.org.bitbucketclientsecret",
            "hush",
        )]);
        assert_eq!(checks[0].level, Level::Fail);
        let text = format!("{} {:?}", checks[0].message, checks[0].fix);
        assert!(
            text.contains("--move-secret") && !text.contains("hush"),
            "{text}"
        );
    }

    #[test]
    fn helpers_after_ours_or_without_a_reset_are_reported() {
        let base = "https://bitbucket.org";
        let ok = [
            origin("credential.helper", "store"),
            origin("credential.https://bitbucket.org.helper", ""),
            origin(
                "credential.https://bitbucket.org.helper",
                "/usr/bin/git-credential-bitbucket",
            ),
        ];
        assert!(helper_checks(&ok, base)
            .iter()
            .all(|c| c.level == Level::Ok));
        let late = [
            origin("credential.https://bitbucket.org.helper", ""),
            origin(
                "credential.https://bitbucket.org.helper",
                "/usr/bin/git-credential-bitbucket",
            ),
            origin("credential.helper", "store"),
        ];
        let checks = helper_checks(&late, base);
        assert!(checks
            .iter()
            .any(|c| c.level == Level::Fail && c.message.contains("store")));
        let absent = [origin("credential.helper", "store")];
        assert!(helper_checks(&absent, base)[0]
            .message
            .contains("does not call"));
    }
}
