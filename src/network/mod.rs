//! Company networks: git's own proxy, trust and client-certificate settings
//! (`http.proxy`, `http.sslCAInfo`, `http.sslVerify`, `http.sslCert`… and
//! their `http.<url>.*` forms and environment variables), read only when a
//! request is about to be sent, so the helper reaches Bitbucket wherever
//! git does (docs/configuration.md, "Network settings git already has").
//!
//! This file says which setting wins, as git does; tls.rs turns the trust
//! and certificate settings into the HTTP client's TLS configuration.

mod tls;

use crate::config::{url_match, Remote};
use crate::gitconfig::parse_bool;
use crate::secret::Secret;
use std::path::PathBuf;

pub use tls::SetupError;

/// A value and the setting it came from (`http.proxy`,
/// `http.https://host.proxy`, `HTTPS_PROXY`…), for messages and `doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    pub value: T,
    pub from: String,
}

/// The proxy requests go through. Its URL may hold `user:password@`: it is
/// a `Secret`, and only `shown` (without the password) is ever printed.
#[derive(Debug, Clone)]
pub struct Proxy {
    url: Secret,
    /// `scheme://[user@]host:port`, never the password.
    pub shown: String,
    /// The setting it came from.
    pub from: String,
}

/// The network settings for one remote.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The proxy, when one is set and not turned off by an empty value.
    pub proxy: Option<Proxy>,
    /// `NO_PROXY`'s hosts and domains.
    no_proxy: Vec<String>,
    /// A PEM bundle added to the OS trust store.
    pub ca_file: Option<Sourced<PathBuf>>,
    /// A directory of PEM certificates added to the OS trust store.
    pub ca_path: Option<Sourced<PathBuf>>,
    /// The setting that turned certificate verification off, if any.
    pub no_verify: Option<String>,
    /// A PEM client certificate (mutual TLS).
    pub cert: Option<Sourced<PathBuf>>,
    /// Its PEM key (else the key is looked for in the certificate file).
    pub key: Option<Sourced<PathBuf>>,
    /// The setting that says the key is encrypted, if any.
    pub key_encrypted: Option<String>,
    /// A setting that cannot be followed, said as the message to print.
    pub problem: Option<SetupError>,
}

/// The keys git reads, spelled as its documentation spells them, with
/// the environment variable that overrides each (git's http.c reads the
/// variable after the config, so it wins).
const CA_INFO: (&str, &str) = ("sslCAInfo", "GIT_SSL_CAINFO");
const CA_PATH: (&str, &str) = ("sslCAPath", "GIT_SSL_CAPATH");
const CERT: (&str, &str) = ("sslCert", "GIT_SSL_CERT");
const KEY: (&str, &str) = ("sslKey", "GIT_SSL_KEY");
const CERT_PROTECTED: (&str, &str) = (
    "sslCertPasswordProtected",
    "GIT_SSL_CERT_PASSWORD_PROTECTED",
);

impl Settings {
    /// Reads git's `http.*` keys (in-process when the files are plain,
    /// else through `git config`) and the environment, for `remote`.
    pub fn for_remote(remote: &Remote) -> Settings {
        let var = |k: &str| std::env::var(k).ok();
        let cwd = std::env::current_dir().unwrap_or_default();
        let entries = crate::gitconfig::http_entries(&var, &cwd).or_else(http_entries_from_git);
        match entries {
            Some(entries) => Settings::from_sources(&entries, &var, remote),
            None => Settings {
                problem: Some(SetupError::Tls(
                    "could not read git's http.* settings (`git config --get-regexp ^http\\.` \
                     failed): run it to see why"
                        .into(),
                )),
                ..Settings::default()
            },
        }
    }

    /// Decides every setting from git's `http.*` entries (in git's order,
    /// keys lower case as `gitconfig` returns them) and the environment.
    pub fn from_sources(
        entries: &[(String, String)],
        var: &dyn Fn(&str) -> Option<String>,
        remote: &Remote,
    ) -> Settings {
        let http = HttpKeys { entries, remote };
        let mut s = Settings::default();
        let path = |(key, env): (&str, &str)| -> Option<Sourced<PathBuf>> {
            let (value, from) = match var(env) {
                Some(v) => (v, env.to_owned()),
                None => http.get(key)?,
            };
            (!value.is_empty()).then(|| Sourced {
                value: expand_home(&value, var),
                from,
            })
        };
        s.ca_file = path(CA_INFO);
        // git with the schannel backend (Git for Windows' choice) trusts the
        // Windows store and drops sslCAInfo unless told to use it; the
        // platform verifier already is the Windows store (git's http.c).
        let schannel = http
            .get("sslBackend")
            .is_some_and(|(b, _)| b.eq_ignore_ascii_case("schannel"));
        let use_ca_info = http
            .get("schannelUseSSLCAInfo")
            .is_some_and(|(v, _)| parse_bool(&v) == Some(true));
        if schannel && !use_ca_info {
            s.ca_file = None;
        }
        s.ca_path = path(CA_PATH);
        s.cert = path(CERT);
        s.key = path(KEY);
        // git: GIT_SSL_NO_VERIFY set at all turns verification off.
        if var("GIT_SSL_NO_VERIFY").is_some() {
            s.no_verify = Some("GIT_SSL_NO_VERIFY".into());
        } else if let Some((v, from)) = http.get("sslVerify") {
            match parse_bool(&v) {
                Some(true) => {}
                Some(false) => s.no_verify = Some(from),
                None => {
                    s.problem = Some(SetupError::Tls(format!(
                        "{from} is `{v}`, not true or false"
                    )))
                }
            }
        }
        let protected = match var(CERT_PROTECTED.1) {
            Some(v) => Some((v, CERT_PROTECTED.1.to_owned())),
            None => http.get(CERT_PROTECTED.0),
        };
        if let Some((v, from)) = protected {
            if parse_bool(&v) != Some(false) {
                s.key_encrypted = Some(from);
            }
        }
        let (proxy, from) = match http.get("proxy") {
            Some(found) => (Some(found.0), found.1),
            None => match proxy_from_env(remote.protocol, var) {
                Some(found) => (Some(found.0), found.1),
                None => (None, String::new()),
            },
        };
        // An empty value turns the proxy off, as in git.
        if let Some(url) = proxy.filter(|u| !u.trim().is_empty()) {
            match shown(&url) {
                Some(shown) => {
                    s.proxy = Some(Proxy {
                        url: Secret::new(url),
                        shown,
                        from,
                    })
                }
                None => {
                    s.problem = Some(SetupError::Proxy(format!(
                        "{from} is not a proxy URL the helper can use (it takes \
                         http://[user:password@]host:port or https://…; SOCKS is not supported)"
                    )))
                }
            }
        }
        // curl's rule, which git keeps: the lower-case name wins.
        if let Some(list) = var("no_proxy").or_else(|| var("NO_PROXY")) {
            s.no_proxy = list
                .split([',', ' '])
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(str::to_ascii_lowercase)
                .collect();
        }
        s
    }

    /// The proxy a request to `url` goes through: none when `NO_PROXY`
    /// names its host or a domain above it (curl's rule).
    pub fn proxy_for(&self, url: &str) -> Option<&Proxy> {
        let proxy = self.proxy.as_ref()?;
        let host = host_of(url).to_ascii_lowercase();
        let skipped = self.no_proxy.iter().any(|e| {
            let domain = e.trim_start_matches("*.").trim_start_matches('.');
            e == "*" || host == domain || host.ends_with(&format!(".{domain}"))
        });
        (!skipped).then_some(proxy)
    }

    /// The HTTP client's proxy, `NO_PROXY` included.
    pub fn ureq_proxy(&self) -> Result<Option<ureq::Proxy>, SetupError> {
        let Some(proxy) = &self.proxy else {
            return Ok(None);
        };
        let bad = || SetupError::Proxy(format!("{} is not a proxy URL", proxy.from));
        let parsed = ureq::Proxy::new(proxy.url.expose()).map_err(|_| bad())?;
        let mut builder = ureq::Proxy::builder(parsed.protocol())
            .host(parsed.host())
            .port(parsed.port());
        if let Some(user) = parsed.username() {
            builder = builder.username(user);
        }
        if let Some(password) = parsed.password() {
            builder = builder.password(password);
        }
        for e in &self.no_proxy {
            let domain = e.trim_start_matches("*.").trim_start_matches('.');
            if e == "*" {
                builder = builder.no_proxy("*");
            } else {
                builder = builder.no_proxy(domain).no_proxy(&format!(".{domain}"));
            }
        }
        builder.build().map(Some).map_err(|_| bad())
    }

    /// The HTTP client's TLS configuration (tls.rs).
    pub fn tls_config(&self) -> Result<ureq::tls::TlsConfig, SetupError> {
        if let Some(problem) = &self.problem {
            return Err(problem.clone());
        }
        tls::config(self)
    }

    /// A plain agent for `doctor`'s probes of the endpoints: through the
    /// same proxy and trust as the helper's requests, no redirects, 4xx
    /// handed back. A setting that cannot be used leaves the defaults
    /// (`doctor_lines` reports it).
    pub fn probe_agent(&self, timeout: std::time::Duration) -> ureq::Agent {
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(timeout))
            .proxy(self.ureq_proxy().ok().flatten());
        if let Ok(tls) = self.tls_config() {
            config = config.tls_config(tls);
        }
        config.build().new_agent()
    }

    /// What `doctor` and traces say about the network for one host, one
    /// line each; never a password.
    pub fn describe(&self) -> Vec<String> {
        self.lines().into_iter().map(|(_, l)| l).collect()
    }

    /// As `describe`, each line with whether it is worth a warning.
    fn lines(&self) -> Vec<(bool, String)> {
        let mut lines = vec![match &self.proxy {
            Some(p) => format!("proxy: {} (from {})", p.shown, p.from),
            None => "proxy: none".to_owned(),
        }];
        if !self.no_proxy.is_empty() {
            lines.push(format!("no proxy for: {}", self.no_proxy.join(", ")));
        }
        lines.push(match (&self.ca_file, &self.ca_path) {
            (None, None) => "trust: the OS trust store".to_owned(),
            (file, path) => {
                let parts: Vec<String> = [file, path]
                    .into_iter()
                    .flatten()
                    .map(|s| format!("{} (from {})", s.value.display(), s.from))
                    .collect();
                format!("trust: the OS trust store and {}", parts.join(" and "))
            }
        });
        let mut lines: Vec<(bool, String)> = lines.into_iter().map(|l| (false, l)).collect();
        if let Some(from) = &self.no_verify {
            lines.push((
                true,
                format!("certificate verification: OFF ({from}); every request warns"),
            ));
        }
        if let Some(cert) = &self.cert {
            lines.push((
                false,
                format!(
                    "client certificate: {} (from {})",
                    cert.value.display(),
                    cert.from
                ),
            ));
        }
        if let Some(problem) = &self.problem {
            lines.push((true, format!("cannot be used: {problem}")));
        }
        lines
    }

    /// The network lines `doctor` prints, each with whether it is worth a
    /// warning (verification off, a setting that cannot be used).
    pub fn doctor_lines(&self) -> Vec<(bool, String)> {
        let mut lines = self.lines();
        if self.problem.is_none() {
            if let Err(e) = self.ureq_proxy().and_then(|_| self.tls_config()) {
                lines.push((true, format!("cannot be used: {e}")));
            }
        }
        lines
    }

    /// The proxy and CA file as `status --json` shows them (no password).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "proxy": self.proxy.as_ref().map(|p| &p.shown),
            "proxy_from": self.proxy.as_ref().map(|p| &p.from),
            "ca_file": self.ca_file.as_ref().map(|c| c.value.display().to_string()),
            "ca_path": self.ca_path.as_ref().map(|c| c.value.display().to_string()),
            "verify": self.no_verify.is_none(),
            "client_cert": self.cert.as_ref().map(|c| c.value.display().to_string()),
        })
    }
}

/// git's `http.*` entries matched against one remote.
struct HttpKeys<'a> {
    entries: &'a [(String, String)],
    remote: &'a Remote,
}

impl HttpKeys<'_> {
    /// `http.<url>.<key>` with git's URL matching (as for
    /// `credential.<url>.*`), else the last `http.<key>`; with the setting's
    /// name as the user wrote it.
    fn get(&self, key: &str) -> Option<(String, String)> {
        let lower = key.to_ascii_lowercase();
        let mut best: Option<((usize, usize, bool), &str, &str)> = None;
        let mut plain: Option<&str> = None;
        for (name, value) in self.entries {
            let Some(rest) = name.strip_prefix("http.") else {
                continue;
            };
            match rest.rsplit_once('.') {
                Some((url, k)) if k == lower => {
                    if let Some(score) = url_match(url, self.remote) {
                        if best.is_none_or(|(b, _, _)| score >= b) {
                            best = Some((score, url, value));
                        }
                    }
                }
                None if rest == lower => plain = Some(value),
                _ => {}
            }
        }
        match best {
            Some((_, url, value)) => Some((value.to_owned(), format!("http.{url}.{key}"))),
            None => plain.map(|v| (v.to_owned(), format!("http.{key}"))),
        }
    }
}

/// The proxy variables git reads when no `http.proxy` applies: for https,
/// `https_proxy` then `HTTPS_PROXY`; for http, `http_proxy` only; then
/// `all_proxy`, `ALL_PROXY` (git's http.c, lower case first as curl).
fn proxy_from_env(
    protocol: crate::url::Scheme,
    var: &dyn Fn(&str) -> Option<String>,
) -> Option<(String, String)> {
    let names: &[&str] = match protocol {
        crate::url::Scheme::Https => &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"],
        crate::url::Scheme::Http => &["http_proxy", "all_proxy", "ALL_PROXY"],
    };
    names
        .iter()
        .find_map(|n| var(n).map(|v| (v, (*n).to_owned())))
}

/// `scheme://[user@]host:port` of a proxy URL (git's default scheme is
/// http); `None` when it is not one the client can use.
fn shown(url: &str) -> Option<String> {
    let parsed = ureq::Proxy::new(url).ok()?;
    let scheme = match parsed.protocol() {
        ureq::ProxyProtocol::Http => "http",
        ureq::ProxyProtocol::Https => "https",
        _ => return None,
    };
    let user = parsed
        .username()
        .map(|u| format!("{}@", crate::text::printable(u)))
        .unwrap_or_default();
    Some(format!(
        "{scheme}://{user}{}:{}",
        parsed.host(),
        parsed.port()
    ))
}

/// The host of `scheme://host[:port]/…`.
pub fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = hostport.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    hostport.split(':').next().unwrap_or(hostport)
}

/// git expands a leading `~/` in path settings.
fn expand_home(value: &str, var: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    match value.strip_prefix("~/") {
        Some(rest) => match crate::platform::git_home(var) {
            Some(home) => home.join(rest),
            None => PathBuf::from(value),
        },
        None => PathBuf::from(value),
    }
}

/// `git config -z --get-regexp ^http\.`, for config files the in-process
/// reader leaves to git (includes and the like).
fn http_entries_from_git() -> Option<Vec<(String, String)>> {
    let out = std::process::Command::new("git")
        .args(["config", "-z", "--get-regexp", r"^http\."])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    match out.status.code() {
        Some(0) => {}
        Some(1) => return Some(Vec::new()),
        _ => return None,
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Some(
        text.split('\0')
            .filter(|s| !s.is_empty())
            .map(|item| {
                let (name, value) = item.split_once('\n').unwrap_or((item, "true"));
                // git prints section and key lower case, the URL as written.
                (name.to_owned(), value.to_owned())
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests;
