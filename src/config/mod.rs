//! Configuration (contract.md §3): git config scoped to the remote's URL, then
//! environment overrides, then defaults.
//!
//! All `credential.*` keys are read with ONE `git config --get-regexp`
//! call, and the URL matching that `git config --get-urlmatch` would do is
//! done here, because we must also know *where* a key came from: a key
//! without a URL counts for bitbucket.org only, so a global client id never
//! makes github.com ours (contract.md §4).

use crate::secret::Secret;
use crate::store::Account;
use crate::url::{is_loopback_host, split_host_port, HttpUrl};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Bitbucket Cloud's host.
pub const CLOUD_HOST: &str = "bitbucket.org";

/// A consumer key baked in by a packager at build time (contract.md §1).
pub const BUILTIN_CLIENT_ID: Option<&str> =
    option_env!("GIT_CREDENTIAL_BITBUCKET_BUILTIN_CLIENT_ID");
/// Its secret.
pub const BUILTIN_CLIENT_SECRET: Option<&str> =
    option_env!("GIT_CREDENTIAL_BITBUCKET_BUILTIN_CLIENT_SECRET");

/// Why the configuration cannot be used. Each message names the key and
/// the command that fixes it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `git config` could not be run or failed.
    #[error("could not read git config: {0}")]
    GitConfig(String),
    /// A value that is not one of the accepted ones.
    #[error("{name} is {value:?}; accepted values: {accepted}")]
    Invalid {
        /// Where the value came from: `credential.<url>.<key>`, or the
        /// environment variable that overrode it.
        name: String,
        /// What was set.
        value: String,
        /// What is accepted.
        accepted: &'static str,
    },
    /// No consumer key.
    #[error(
        "no OAuth consumer is configured for {url}: set credential.{url}.bitbucketClientId \
         and bitbucketClientSecret (run `git credential-bitbucket configure {url}`, \
         see docs/bitbucket-consumer.md), or GIT_CREDENTIAL_BITBUCKET_CLIENT_ID and \
         GIT_CREDENTIAL_BITBUCKET_CLIENT_SECRET in the environment"
    )]
    MissingClientId {
        /// URL scope.
        url: String,
    },
    /// The token endpoint needs the consumer secret.
    #[error(
        "no consumer secret is configured for {url}: set credential.{url}.bitbucketClientSecret \
         (or GIT_CREDENTIAL_BITBUCKET_CLIENT_SECRET); Bitbucket's token endpoint requires it"
    )]
    MissingClientSecret {
        /// URL scope.
        url: String,
    },
    /// A URL-valued key that does not parse, or is not allowed.
    #[error("{name} is {value:?}: {why}")]
    BadUrl {
        /// Where the value came from, as for `Invalid`.
        name: String,
        /// What was set.
        value: String,
        /// What is wrong.
        why: &'static str,
    },
    /// Plain http to a host that is not loopback.
    #[error(
        "refusing to send a Bitbucket token over plain http to {url}; use https, or set \
         credential.{url}.bitbucketAllowHttp=true if you really mean it"
    )]
    InsecureHttp {
        /// The remote.
        url: String,
    },
}

/// Cloud or Data Center.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// bitbucket.org.
    Cloud,
    /// A self-hosted Bitbucket Data Center.
    DataCenter,
}

impl Kind {
    /// Whether `name`, a username git sent, names `account`, compared the
    /// way the server compares usernames: Data Center ignores case (its
    /// user `Alice` signs in as `alice`), Cloud does not. A Cloud account
    /// whose user object had no username answers to its nickname.
    pub fn same_user(self, account: &Account, name: &str) -> bool {
        match self {
            Kind::DataCenter => {
                account.username == name || account.username.to_lowercase() == name.to_lowercase()
            }
            Kind::Cloud => account.username == name || account.nickname.as_deref() == Some(name),
        }
    }
}

/// Where tokens are kept (contract.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreChoice {
    /// The OS keyring when there is one, else the file.
    Auto,
    /// The OS keyring only.
    Keyring,
    /// The private file only.
    File,
}

/// How tokens are obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Authorization code in the browser.
    Browser,
    /// `client_credentials`, Cloud only.
    ClientCredentials,
    /// A stored API token or access token.
    Token,
}

/// How git sends the token (contract.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    /// `Authorization: Basic` with a username.
    Basic,
    /// `Authorization: Bearer`, when git sent `capability[]=authtype`.
    Bearer,
}

/// The request's remote, as git gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// `https` or `http`.
    pub protocol: String,
    /// Host with port if any, lower case.
    pub host: String,
    /// The path, only with `credential.useHttpPath`.
    pub path: Option<String>,
    /// The username from the URL or `credential.username`.
    pub username: Option<String>,
}

impl Remote {
    /// `protocol://host[:port]`: the scope `configure` writes and messages
    /// name. The scheme's default port is left out, as git's urlmatch
    /// treats `https://h:443` and `https://h` as the same, so that both
    /// find one record and one sign-in.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.protocol, self.authority())
    }

    /// `host[:port]` without the scheme's default port.
    fn authority(&self) -> &str {
        let default = match self.protocol.as_str() {
            "https" => 443,
            "http" => 80,
            _ => return &self.host,
        };
        match split_host_port(&self.host) {
            Some((_, Some(port))) if port == default => self
                .host
                .rsplit_once(':')
                .map_or(self.host.as_str(), |(h, _)| h),
            _ => &self.host,
        }
    }

    /// Where records are kept: host plus context path when git sent one
    /// (Data Center under a context path, with `credential.useHttpPath`).
    /// Bitbucket Cloud has no context path: its paths are repositories,
    /// and one sign-in serves them all.
    pub fn store_key(&self) -> String {
        if self.hostname() == CLOUD_HOST {
            return self.base_url();
        }
        // Data Center repositories live at `[/<context>]/scm/<PROJECT>/…`:
        // only the context belongs to the key, so one sign-in serves every
        // repository of the server.
        let path = format!("/{}", self.path.as_deref().unwrap_or("").trim_matches('/'));
        let context = match path.find("/scm/") {
            Some(i) => &path[..i],
            None => path.as_str(),
        }
        .trim_matches('/');
        match context {
            "" => self.base_url(),
            ctx => format!("{}/{ctx}", self.base_url()),
        }
    }

    /// The whole URL again (`protocol://[user@]host[/path]`).
    pub fn url(&self) -> String {
        let user = self
            .username
            .as_deref()
            .map(|u| format!("{}@", crate::url::encode(u)))
            .unwrap_or_default();
        let path = self
            .path
            .as_deref()
            .map(|p| format!("/{}", p.trim_start_matches('/')))
            .unwrap_or_default();
        format!("{}://{user}{}{path}", self.protocol, self.host)
    }

    /// The host without the port, lower case.
    pub fn hostname(&self) -> String {
        split_host_port(&self.host)
            .map(|(h, _)| h)
            .unwrap_or_else(|| self.host.to_ascii_lowercase())
    }

    /// Parses a URL typed by the user (`login URL`): `https://[user@]host[/path]`.
    pub fn from_url(url: &str) -> Option<Remote> {
        let (protocol, rest) = url.split_once("://")?;
        let protocol = protocol.to_ascii_lowercase();
        if protocol != "https" && protocol != "http" {
            return None;
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (username, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(crate::url::decode(u)), h),
            None => (None, authority),
        };
        split_host_port(hostport)?;
        Some(Remote {
            protocol,
            host: hostport.to_ascii_lowercase(),
            path: path.filter(|p| !p.is_empty()).map(str::to_owned),
            username: username.filter(|u| !u.is_empty()),
        })
    }
}

/// Everything a command needs to know about one of our hosts.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The remote.
    pub remote: Remote,
    /// Cloud or Data Center.
    pub kind: Kind,
    /// OAuth consumer key.
    pub client_id: String,
    /// Consumer secret.
    pub client_secret: Option<Secret>,
    /// Authorize endpoint.
    pub authorize_url: String,
    /// Token endpoint.
    pub token_url: String,
    /// REST API base, without a trailing slash.
    pub api_url: String,
    /// Loopback redirect, exactly as configured: it is sent as written
    /// when it has a port (Data Center compares it exactly).
    pub redirect_uri: String,
    /// The same, parsed.
    pub redirect: HttpUrl,
    /// Token store.
    pub store: StoreChoice,
    /// Browser command, if configured.
    pub browser: Option<String>,
    /// Flow.
    pub flow: Flow,
    /// Basic or Bearer toward git.
    pub auth_type: AuthType,
    /// Scopes to ask for.
    pub scopes: Vec<String>,
    /// How long to wait for the browser.
    pub login_timeout: Duration,
    /// Refresh this long before expiry (capped at a quarter of the lifetime).
    pub refresh_margin: Duration,
    /// `credential.interactive`.
    pub interactive: bool,
}

/// One `credential.*` entry as git config lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The URL subsection, if any (`credential.<url>.key`).
    pub url: Option<String>,
    /// The key, lower case as git prints it.
    pub key: String,
    /// The value.
    pub value: String,
}

/// All `credential.*` entries, in git's order (later wins on ties).
#[derive(Debug, Clone, Default)]
pub struct GitConfig {
    entries: Vec<Entry>,
}

impl GitConfig {
    /// Reads the `credential.*` keys: in-process when the config files are
    /// plain (no child process, contract.md §8), else through `git config`.
    pub fn load() -> Result<GitConfig, ConfigError> {
        let var = |k: &str| std::env::var(k).ok();
        let cwd = std::env::current_dir().unwrap_or_default();
        match crate::gitconfig::credential_entries(&var, &cwd) {
            Some(pairs) => {
                crate::trace!(
                    "config: read in-process ({} credential entries)",
                    pairs.len()
                );
                Ok(GitConfig::from_pairs(pairs))
            }
            None => {
                crate::trace!("config: asking git (includes or an unusual layout)");
                GitConfig::load_with_git()
            }
        }
    }

    /// Runs `git config -z --get-regexp ^credential\.` once (contract.md §3).
    pub fn load_with_git() -> Result<GitConfig, ConfigError> {
        let out = Command::new("git")
            .args(["config", "-z", "--get-regexp", r"^credential\."])
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| ConfigError::GitConfig(format!("could not run git: {e}")))?;
        match out.status.code() {
            Some(0) => Ok(GitConfig::parse(&String::from_utf8_lossy(&out.stdout))),
            // 1: no such key at all.
            Some(1) => Ok(GitConfig::default()),
            _ => Err(ConfigError::GitConfig(
                String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            )),
        }
    }

    /// Parses `-z` output: `name\nvalue\0` per entry (`name\0` without a
    /// value for a bare boolean key).
    pub fn parse(text: &str) -> GitConfig {
        GitConfig::from_pairs(text.split('\0').filter(|s| !s.is_empty()).map(|item| {
            let (name, value) = item.split_once('\n').unwrap_or((item, "true"));
            (name.to_owned(), value.to_owned())
        }))
    }

    /// Builds from (`credential.<url>.<key>`, value) pairs in git's order.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> GitConfig {
        let mut entries = Vec::new();
        for (name, value) in pairs {
            let Some(rest) = name.strip_prefix("credential.") else {
                continue;
            };
            let (url, key) = match rest.rsplit_once('.') {
                Some((url, key)) => (Some(url.to_owned()), key),
                None => (None, rest),
            };
            entries.push(Entry {
                url,
                key: key.to_ascii_lowercase(),
                value,
            });
        }
        GitConfig { entries }
    }

    /// The best value for `key` (lower case) among URL-scoped entries that
    /// match `remote`, with git's urlmatch precedence: longer host pattern,
    /// then longer path, then a user match; later entries win ties.
    pub fn scoped(&self, remote: &Remote, key: &str) -> Option<&str> {
        let mut best: Option<((usize, usize, bool), &str)> = None;
        for e in self.entries.iter().filter(|e| e.key == key) {
            let Some(url) = &e.url else { continue };
            if let Some(score) = url_match(url, remote) {
                if best.is_none_or(|(b, _)| score >= b) {
                    best = Some((score, &e.value));
                }
            }
        }
        best.map(|(_, v)| v)
    }

    /// The last value of `credential.KEY` without a URL.
    pub fn global(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.url.is_none() && e.key == key)
            .map(|e| e.value.as_str())
    }

    /// Every entry, in git's order (for `status` and `doctor`).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Scoped, else global.
    pub fn get(&self, remote: &Remote, key: &str) -> Option<&str> {
        self.scoped(remote, key).or_else(|| self.global(key))
    }
}

/// Matches a config URL pattern against the remote the way git's urlmatch
/// does (bitbucket-facts.md C.7); returns the precedence score, or `None`.
fn url_match(pattern: &str, remote: &Remote) -> Option<(usize, usize, bool)> {
    let (scheme, rest) = match pattern.split_once("://") {
        Some((s, r)) => (Some(s.to_ascii_lowercase()), r),
        None => (None, pattern),
    };
    if let Some(s) = &scheme {
        if *s != remote.protocol {
            return None;
        }
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let (user, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(crate::url::decode(u)), h),
        None => (None, authority),
    };
    let (p_host, p_port) = split_host_port(hostport)?;
    let (r_host, r_port) = split_host_port(&remote.host)?;
    let default = |port: Option<u16>| {
        port.or(match remote.protocol.as_str() {
            "https" => Some(443),
            "http" => Some(80),
            _ => None,
        })
    };
    if default(p_port) != default(r_port) {
        return None;
    }
    let p_labels: Vec<&str> = p_host.split('.').collect();
    let r_labels: Vec<&str> = r_host.split('.').collect();
    if p_labels.len() != r_labels.len()
        || !p_labels
            .iter()
            .zip(&r_labels)
            .all(|(p, r)| *p == "*" || p == r)
    {
        return None;
    }
    let user_matched = match &user {
        Some(u) => {
            if remote.username.as_deref() != Some(u.as_str()) {
                return None;
            }
            true
        }
        None => false,
    };
    let p_path = path.trim_matches('/');
    if !p_path.is_empty() {
        let r_path = remote.path.as_deref().unwrap_or("").trim_matches('/');
        let ok = r_path == p_path
            || (r_path.starts_with(p_path) && r_path.as_bytes().get(p_path.len()) == Some(&b'/'));
        if !ok {
            return None;
        }
    }
    Some((hostport.len(), p_path.len(), user_matched))
}

/// Lookup of the environment, injectable for tests.
pub trait Env {
    /// A variable's value, if set and valid UTF-8.
    fn var(&self, name: &str) -> Option<String>;
    /// The consumer secret `configure` kept in our store for (`host`,
    /// `client_id`), read only when gitconfig and the environment have none.
    fn stored_client_secret(
        &self,
        _host: &str,
        _client_id: &str,
        _store: StoreChoice,
    ) -> Option<Secret> {
        None
    }
}

/// `cfg` with its consumer secret, for a command about to talk to the
/// token endpoint: the one from gitconfig or the environment, else the one
/// `configure` kept in our store (looked up now, not on every `get`). Both
/// Cloud and Data Center (by default) require it; the token flow needs none.
pub fn with_client_secret<'a>(
    cfg: &'a HostConfig,
    env: &dyn Env,
) -> Result<std::borrow::Cow<'a, HostConfig>, ConfigError> {
    if cfg.flow == Flow::Token || cfg.client_secret.is_some() {
        return Ok(std::borrow::Cow::Borrowed(cfg));
    }
    let url = cfg.remote.base_url();
    match env.stored_client_secret(&url, &cfg.client_id, cfg.store) {
        Some(secret) => Ok(std::borrow::Cow::Owned(HostConfig {
            client_secret: Some(secret),
            ..cfg.clone()
        })),
        None => Err(ConfigError::MissingClientSecret { url }),
    }
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn stored_client_secret(
        &self,
        host: &str,
        client_id: &str,
        store: StoreChoice,
    ) -> Option<Secret> {
        let dir = crate::store::data_dir().ok()?;
        match crate::store::secrets::load(&dir, store, host, client_id) {
            Ok(found) => found,
            Err(e) => {
                eprintln!("git-credential-bitbucket: warning: could not read the stored consumer secret: {e}");
                None
            }
        }
    }
}

/// The keys of contract.md §3: (camel case, lower case, env suffix, bound to the
/// host). Host-bound keys without a URL count for bitbucket.org only, so a
/// global client id or secret never goes to another server.
const KEYS: &[(&str, &str, &str, bool)] = &[
    ("bitbucketKind", "bitbucketkind", "KIND", true),
    ("bitbucketClientId", "bitbucketclientid", "CLIENT_ID", true),
    (
        "bitbucketClientSecret",
        "bitbucketclientsecret",
        "CLIENT_SECRET",
        true,
    ),
    (
        "bitbucketAuthorizeUrl",
        "bitbucketauthorizeurl",
        "AUTHORIZE_URL",
        true,
    ),
    ("bitbucketTokenUrl", "bitbuckettokenurl", "TOKEN_URL", true),
    ("bitbucketApiUrl", "bitbucketapiurl", "API_URL", true),
    (
        "bitbucketRedirectUri",
        "bitbucketredirecturi",
        "REDIRECT_URI",
        true,
    ),
    ("bitbucketStore", "bitbucketstore", "STORE", false),
    ("bitbucketBrowser", "bitbucketbrowser", "BROWSER", false),
    ("bitbucketFlow", "bitbucketflow", "FLOW", true),
    ("bitbucketScopes", "bitbucketscopes", "SCOPES", true),
    (
        "bitbucketLoginTimeout",
        "bitbucketlogintimeout",
        "LOGIN_TIMEOUT",
        false,
    ),
    (
        "bitbucketRefreshMargin",
        "bitbucketrefreshmargin",
        "REFRESH_MARGIN",
        false,
    ),
    ("bitbucketAuthType", "bitbucketauthtype", "AUTH_TYPE", true),
    (
        "bitbucketAllowHttp",
        "bitbucketallowhttp",
        "ALLOW_HTTP",
        false,
    ),
];

/// The names of every key this helper reads under `credential.<url>.`.
pub fn known_keys() -> impl Iterator<Item = &'static str> {
    KEYS.iter().map(|(camel, ..)| *camel)
}

/// Resolves the configuration for `remote`: `Ok(None)` when the host is not
/// ours (contract.md §4: print nothing, touch nothing).
pub fn resolve(
    git: &GitConfig,
    env: &dyn Env,
    remote: &Remote,
) -> Result<Option<HostConfig>, ConfigError> {
    let is_cloud_host = remote.hostname() == CLOUD_HOST;
    // Which hosts are ours (contract.md §4).
    let scoped_marker = ["bitbucketkind", "bitbucketclientid", "bitbucketflow"]
        .iter()
        .any(|k| git.scoped(remote, k).is_some());
    let global_marker = is_cloud_host
        && (["bitbucketkind", "bitbucketclientid", "bitbucketflow"]
            .iter()
            .any(|k| git.global(k).is_some())
            || BUILTIN_CLIENT_ID.is_some());
    if !scoped_marker && !global_marker {
        return Ok(None);
    }

    let url = remote.base_url();
    let key_of = |camel: &'static str| {
        *KEYS
            .iter()
            .find(|(c, ..)| *c == camel)
            .expect("BUG: every key looked up is listed in KEYS")
    };
    let env_name = |camel: &'static str| format!("GIT_CREDENTIAL_BITBUCKET_{}", key_of(camel).2);
    let value = |camel: &'static str| -> Option<String> {
        let (_, lower, _, bound) = key_of(camel);
        if let Some(v) = env.var(&env_name(camel)) {
            return Some(v);
        }
        let v = if bound && !is_cloud_host {
            git.scoped(remote, lower)
        } else {
            git.get(remote, lower)
        };
        v.map(str::to_owned)
    };
    // A bad value is reported under the name it was given by: the
    // environment variable that overrides the key, else the git key.
    let name_of = |camel: &'static str| match env.var(&env_name(camel)) {
        Some(_) => env_name(camel),
        None => format!("credential.{url}.{camel}"),
    };
    let invalid = |key, value: String, accepted| ConfigError::Invalid {
        name: name_of(key),
        value,
        accepted,
    };

    let kind = match value("bitbucketKind").as_deref() {
        None if is_cloud_host => Kind::Cloud,
        None => Kind::DataCenter,
        Some("cloud") => Kind::Cloud,
        Some("datacenter") => Kind::DataCenter,
        Some(v) => return Err(invalid("bitbucketKind", v.to_owned(), "cloud, datacenter")),
    };
    let flow = match value("bitbucketFlow").as_deref() {
        None | Some("browser") => Flow::Browser,
        Some("client_credentials") => Flow::ClientCredentials,
        Some("token") => Flow::Token,
        Some(v) => {
            return Err(invalid(
                "bitbucketFlow",
                v.to_owned(),
                "browser, client_credentials, token",
            ))
        }
    };
    if flow == Flow::ClientCredentials && kind == Kind::DataCenter {
        return Err(invalid(
            "bitbucketFlow",
            "client_credentials".into(),
            "browser, token (Data Center has no client_credentials grant)",
        ));
    }
    let store = match value("bitbucketStore").as_deref() {
        None | Some("auto") => StoreChoice::Auto,
        Some("keyring") => StoreChoice::Keyring,
        Some("file") => StoreChoice::File,
        Some(v) => {
            return Err(invalid(
                "bitbucketStore",
                v.to_owned(),
                "auto, keyring, file",
            ))
        }
    };
    let auth_type = match value("bitbucketAuthType").as_deref() {
        None | Some("basic") => AuthType::Basic,
        Some("bearer") => AuthType::Bearer,
        Some(v) => return Err(invalid("bitbucketAuthType", v.to_owned(), "basic, bearer")),
    };
    let allow_http = match value("bitbucketAllowHttp") {
        None => false,
        Some(v) => parse_bool(&v).ok_or_else(|| invalid("bitbucketAllowHttp", v, "true, false"))?,
    };
    // Both are bounded: a day is far beyond any sensible wait or margin,
    // and keeps every time sum far from overflow.
    let seconds = |key: &'static str, default: u64| -> Result<Duration, ConfigError> {
        match value(key) {
            None => Ok(Duration::from_secs(default)),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|s| *s <= 86_400)
                .map(Duration::from_secs)
                .ok_or_else(|| invalid(key, v, "a whole number of seconds, at most 86400")),
        }
    };
    let login_timeout = seconds("bitbucketLoginTimeout", 300)?;
    let refresh_margin = seconds("bitbucketRefreshMargin", 600)?;

    let client_id = value("bitbucketClientId")
        .or_else(|| {
            is_cloud_host
                .then_some(BUILTIN_CLIENT_ID)
                .flatten()
                .map(str::to_owned)
        })
        .filter(|v| !v.is_empty());
    // The token flow needs no OAuth consumer at all.
    let client_id = match (client_id, flow) {
        (Some(id), _) => id,
        (None, Flow::Token) => String::new(),
        (None, _) => return Err(ConfigError::MissingClientId { url: url.clone() }),
    };
    let client_secret = value("bitbucketClientSecret")
        .or_else(|| {
            // The built-in secret only goes with the built-in id.
            (Some(client_id.as_str()) == BUILTIN_CLIENT_ID)
                .then_some(BUILTIN_CLIENT_SECRET)
                .flatten()
                .map(str::to_owned)
        })
        .filter(|v| !v.is_empty())
        .map(Secret::new);
    // A secret `configure` kept in our store is read only when a request
    // needs it (`with_client_secret`): a fresh `get` must not pay a second
    // keyring lookup for a secret it does not send.

    // contract.md §4, §7: tokens only over https, loopback and the explicit
    // opt-in excepted.
    if remote.protocol != "https" && !(is_loopback_host(&remote.hostname()) || allow_http) {
        return Err(ConfigError::InsecureHttp { url });
    }
    let endpoint = |key: &'static str, default: &str| -> Result<String, ConfigError> {
        let v = value(key).unwrap_or_else(|| default.to_owned());
        let parsed = HttpUrl::parse(&v).ok_or_else(|| ConfigError::BadUrl {
            name: name_of(key),
            value: v.clone(),
            why: "not an http(s) URL",
        })?;
        // The client secret, codes and tokens go only to https endpoints,
        // whatever the config says (contract.md §7).
        if parsed.scheme != "https" && !parsed.is_loopback() {
            return Err(ConfigError::BadUrl {
                name: name_of(key),
                value: v,
                why: "endpoints must use https (plain http only on loopback)",
            });
        }
        Ok(v.trim_end_matches('/').to_owned())
    };
    // Data Center's endpoints hang off protocol://host[:port] of the
    // remote; a context path needs the endpoint keys (contract.md §3).
    // With credential.useHttpPath, git sends the path, and the server's
    // context path (before `/scm/`) is part of the base.
    let dc = format!("{}/rest", remote.store_key());
    let (authorize_default, token_default, api_default, redirect_default, scopes_default) =
        match kind {
            Kind::Cloud => (
                "https://bitbucket.org/site/oauth2/authorize".to_owned(),
                "https://bitbucket.org/site/oauth2/access_token".to_owned(),
                "https://api.bitbucket.org/2.0".to_owned(),
                "http://127.0.0.1:34107/",
                "",
            ),
            Kind::DataCenter => (
                format!("{dc}/oauth2/latest/authorize"),
                format!("{dc}/oauth2/latest/token"),
                format!("{dc}/api/latest"),
                // DC allows plain http only for `localhost` (bitbucket-facts.md B.3).
                "http://localhost:34107/",
                // Push needs REPO_WRITE; send scopes on DC (bitbucket-facts.md B.3).
                "REPO_READ REPO_WRITE",
            ),
        };
    let authorize_url = endpoint("bitbucketAuthorizeUrl", &authorize_default)?;
    let token_url = endpoint("bitbucketTokenUrl", &token_default)?;
    let api_url = endpoint("bitbucketApiUrl", &api_default)?;
    let redirect_raw = value("bitbucketRedirectUri").unwrap_or_else(|| redirect_default.into());
    let redirect = HttpUrl::parse(&redirect_raw)
        .filter(|u| u.scheme == "http" && u.is_loopback())
        .ok_or_else(|| ConfigError::BadUrl {
            name: name_of("bitbucketRedirectUri"),
            value: redirect_raw.clone(),
            why: "must be a loopback http URL such as http://127.0.0.1:34107/",
        })?;
    // Data Center compares the redirect exactly: "any free port" cannot
    // work there.
    if kind == Kind::DataCenter && redirect.port.is_none() {
        return Err(ConfigError::BadUrl {
            name: name_of("bitbucketRedirectUri"),
            value: redirect_raw,
            why: "Data Center needs the exact registered redirect, with its port, e.g. http://localhost:34107/",
        });
    }
    let scopes = value("bitbucketScopes")
        .unwrap_or_else(|| scopes_default.into())
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let interactive = git
        .get(remote, "interactive")
        .map(|v| {
            !matches!(
                v.to_ascii_lowercase().as_str(),
                "false" | "no" | "off" | "0" | "never"
            )
        })
        .unwrap_or(true);

    Ok(Some(HostConfig {
        remote: remote.clone(),
        kind,
        client_id,
        client_secret,
        authorize_url,
        token_url,
        api_url,
        redirect_uri: redirect_raw,
        redirect,
        store,
        browser: value("bitbucketBrowser").filter(|b| !b.trim().is_empty()),
        flow,
        auth_type,
        scopes,
        login_timeout,
        refresh_margin,
        interactive,
    }))
}

/// git's boolean spellings.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" | "" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct MapEnv(HashMap<String, String>);
    impl Env for MapEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).cloned()
        }
    }
    fn no_env() -> MapEnv {
        MapEnv(HashMap::new())
    }

    fn remote(protocol: &str, host: &str) -> Remote {
        Remote {
            protocol: protocol.into(),
            host: host.into(),
            path: None,
            username: None,
        }
    }

    fn cfg(lines: &[(&str, &str)]) -> GitConfig {
        let text: String = lines.iter().map(|(k, v)| format!("{k}\n{v}\0")).collect();
        GitConfig::parse(&text)
    }

    #[test]
    fn a_global_client_id_makes_only_bitbucket_org_ours() {
        let git = cfg(&[
            ("credential.bitbucketclientid", "id"),
            ("credential.bitbucketclientsecret", "s"),
        ]);
        let ours = resolve(&git, &no_env(), &remote("https", "bitbucket.org")).expect("valid");
        assert_eq!(ours.expect("ours").client_id, "id");
        assert!(resolve(&git, &no_env(), &remote("https", "github.com"))
            .expect("ok")
            .is_none());
    }

    #[test]
    fn environment_never_makes_a_host_ours_but_overrides_for_ours() {
        let env = MapEnv(HashMap::from([
            (
                "GIT_CREDENTIAL_BITBUCKET_CLIENT_ID".to_owned(),
                "env-id".to_owned(),
            ),
            (
                "GIT_CREDENTIAL_BITBUCKET_CLIENT_SECRET".to_owned(),
                "env-s".to_owned(),
            ),
        ]));
        let empty = GitConfig::default();
        assert!(resolve(&empty, &env, &remote("https", "bitbucket.org"))
            .expect("ok")
            .is_none());
        let git = cfg(&[("credential.https://bitbucket.org.bitbucketkind", "cloud")]);
        let c = resolve(&git, &env, &remote("https", "bitbucket.org"))
            .expect("ok")
            .expect("ours");
        assert_eq!(c.client_id, "env-id");
    }

    #[test]
    fn scoped_keys_follow_git_urlmatch_rules() {
        let git = cfg(&[
            ("credential.https://bitbucket.org.bitbucketclientid", "host"),
            (
                "credential.https://bitbucket.org/ws.bitbucketclientid",
                "path",
            ),
            ("credential.https://*.example.com.bitbucketclientid", "wild"),
            ("credential.http://127.0.0.1:8080.bitbucketclientid", "port"),
        ]);
        let mut r = remote("https", "bitbucket.org");
        assert_eq!(git.scoped(&r, "bitbucketclientid"), Some("host"));
        r.path = Some("ws/repo.git".into());
        assert_eq!(git.scoped(&r, "bitbucketclientid"), Some("path"));
        r.path = Some("wsx/repo.git".into());
        assert_eq!(git.scoped(&r, "bitbucketclientid"), Some("host"));
        assert_eq!(
            git.scoped(&remote("https", "a.example.com"), "bitbucketclientid"),
            Some("wild")
        );
        assert_eq!(
            git.scoped(&remote("https", "a.b.example.com"), "bitbucketclientid"),
            None
        );
        assert_eq!(
            git.scoped(&remote("http", "127.0.0.1:8080"), "bitbucketclientid"),
            Some("port")
        );
        assert_eq!(
            git.scoped(&remote("http", "127.0.0.1:8081"), "bitbucketclientid"),
            None
        );
        assert_eq!(
            git.scoped(&remote("https", "bitbucket.org:443"), "bitbucketclientid"),
            Some("host")
        );
        assert_eq!(
            git.scoped(&remote("http", "bitbucket.org"), "bitbucketclientid"),
            None
        );
    }

    #[test]
    fn missing_client_id_names_the_key_and_the_command() {
        let git = cfg(&[("credential.https://bitbucket.org.bitbucketkind", "cloud")]);
        let err = resolve(&git, &no_env(), &remote("https", "bitbucket.org")).expect_err("no id");
        let msg = err.to_string();
        assert!(
            msg.contains("credential.https://bitbucket.org.bitbucketClientId"),
            "{msg}"
        );
        assert!(msg.contains("git credential-bitbucket configure"), "{msg}");
    }

    #[test]
    fn bad_values_name_the_key_and_accepted_values() {
        let git = cfg(&[
            ("credential.https://bitbucket.org.bitbucketclientid", "id"),
            (
                "credential.https://bitbucket.org.bitbucketclientsecret",
                "s",
            ),
            ("credential.https://bitbucket.org.bitbucketstore", "vault"),
        ]);
        let msg = resolve(&git, &no_env(), &remote("https", "bitbucket.org"))
            .expect_err("bad")
            .to_string();
        assert!(
            msg.contains("bitbucketStore") && msg.contains("auto, keyring, file"),
            "{msg}"
        );
    }

    #[test]
    fn plain_http_is_refused_except_on_loopback_or_opt_in() {
        let git = cfg(&[
            ("credential.http://bb.example.bitbucketkind", "cloud"),
            ("credential.http://bb.example.bitbucketclientid", "id"),
            ("credential.http://bb.example.bitbucketclientsecret", "s"),
        ]);
        let err = resolve(&git, &no_env(), &remote("http", "bb.example")).expect_err("http");
        assert!(matches!(err, ConfigError::InsecureHttp { .. }));
        let mut lines = vec![
            ("credential.http://bb.example.bitbucketkind", "cloud"),
            ("credential.http://bb.example.bitbucketclientid", "id"),
            ("credential.http://bb.example.bitbucketclientsecret", "s"),
        ];
        lines.push(("credential.http://bb.example.bitbucketallowhttp", "true"));
        assert!(resolve(&cfg(&lines), &no_env(), &remote("http", "bb.example")).is_ok());
    }

    #[test]
    fn secrets_never_go_to_an_http_token_endpoint() {
        let git = cfg(&[
            ("credential.https://bitbucket.org.bitbucketclientid", "id"),
            (
                "credential.https://bitbucket.org.bitbucketclientsecret",
                "s",
            ),
            (
                "credential.https://bitbucket.org.bitbuckettokenurl",
                "http://evil.example/token",
            ),
        ]);
        let err = resolve(&git, &no_env(), &remote("https", "bitbucket.org")).expect_err("http");
        assert!(err.to_string().contains("bitbucketTokenUrl"));
    }

    #[test]
    fn the_default_port_names_the_same_host() {
        let key = |url: &str| Remote::from_url(url).expect("valid").store_key();
        assert_eq!(key("https://bb.example:443"), "https://bb.example");
        assert_eq!(
            key("https://bb.example:0443/scm/P/r.git"),
            "https://bb.example"
        );
        assert_eq!(key("http://bb.example:80/ctx"), "http://bb.example/ctx");
        assert_eq!(key("https://bb.example:80"), "https://bb.example:80");
        assert_eq!(key("http://bb.example:443"), "http://bb.example:443");
        assert_eq!(key("https://[::1]:443"), "https://[::1]");
        assert_eq!(key("https://[::1]:8443"), "https://[::1]:8443");
        assert_eq!(
            key("https://bitbucket.org:443/ws/r"),
            "https://bitbucket.org"
        );
        assert_eq!(
            remote("https", "bitbucket.org:443").base_url(),
            "https://bitbucket.org"
        );
        // The Data Center endpoints hang off the same base.
        let git = cfg(&[
            ("credential.https://dc.example.bitbucketclientid", "id"),
            ("credential.https://dc.example.bitbucketclientsecret", "s"),
        ]);
        let c = resolve(&git, &no_env(), &remote("https", "dc.example:443"))
            .expect("valid")
            .expect("ours");
        assert_eq!(c.token_url, "https://dc.example/rest/oauth2/latest/token");
    }

    #[test]
    fn a_bad_value_from_the_environment_names_the_variable() {
        let git = cfg(&[
            ("credential.https://bitbucket.org.bitbucketclientid", "id"),
            (
                "credential.https://bitbucket.org.bitbucketclientsecret",
                "s",
            ),
            ("credential.https://bitbucket.org.bitbucketstore", "file"),
        ]);
        let bad = |var: &str, value: &str| {
            let env = MapEnv(HashMap::from([(var.to_owned(), value.to_owned())]));
            resolve(&git, &env, &remote("https", "bitbucket.org"))
                .expect_err("bad")
                .to_string()
        };
        let msg = bad("GIT_CREDENTIAL_BITBUCKET_STORE", "vault");
        assert!(
            msg.starts_with("GIT_CREDENTIAL_BITBUCKET_STORE is \"vault\""),
            "{msg}"
        );
        assert!(!msg.contains("credential.https"), "{msg}");
        let msg = bad("GIT_CREDENTIAL_BITBUCKET_LOGIN_TIMEOUT", "soon");
        assert!(
            msg.starts_with("GIT_CREDENTIAL_BITBUCKET_LOGIN_TIMEOUT "),
            "{msg}"
        );
        let msg = bad(
            "GIT_CREDENTIAL_BITBUCKET_TOKEN_URL",
            "http://evil.example/t",
        );
        assert!(
            msg.starts_with("GIT_CREDENTIAL_BITBUCKET_TOKEN_URL "),
            "{msg}"
        );
        let msg = bad(
            "GIT_CREDENTIAL_BITBUCKET_REDIRECT_URI",
            "https://x.example/",
        );
        assert!(
            msg.starts_with("GIT_CREDENTIAL_BITBUCKET_REDIRECT_URI "),
            "{msg}"
        );
        // From git config: the git key.
        let git = cfg(&[
            ("credential.https://bitbucket.org.bitbucketclientid", "id"),
            (
                "credential.https://bitbucket.org.bitbucketclientsecret",
                "s",
            ),
            (
                "credential.https://bitbucket.org.bitbucketlogintimeout",
                "soon",
            ),
        ]);
        let msg = resolve(&git, &no_env(), &remote("https", "bitbucket.org"))
            .expect_err("bad")
            .to_string();
        assert!(
            msg.starts_with("credential.https://bitbucket.org.bitbucketLoginTimeout is"),
            "{msg}"
        );
    }

    #[test]
    fn data_center_usernames_ignore_case_cloud_ones_do_not() {
        let account = |name: &str| Account {
            username: name.into(),
            ..Account::default()
        };
        assert!(Kind::DataCenter.same_user(&account("alice"), "Alice"));
        assert!(Kind::DataCenter.same_user(&account("ärger"), "ÄRGER"));
        assert!(!Kind::DataCenter.same_user(&account("alice"), "alicia"));
        assert!(!Kind::Cloud.same_user(&account("alice"), "Alice"));
        assert!(Kind::Cloud.same_user(&account("alice"), "alice"));
        // An account Bitbucket gave no username answers to its nickname.
        let no_name = Account {
            username: "{u-1}".into(),
            uuid: Some("{u-1}".into()),
            nickname: Some("al".into()),
            ..Account::default()
        };
        assert!(Kind::Cloud.same_user(&no_name, "al"));
        assert!(Kind::Cloud.same_user(&no_name, "{u-1}"));
        assert!(!Kind::Cloud.same_user(&no_name, "bob"));
    }

    #[test]
    fn remote_from_url() {
        let r = Remote::from_url("https://alice@bitbucket.org/ws/repo.git").expect("valid");
        assert_eq!(r.username.as_deref(), Some("alice"));
        assert_eq!(r.host, "bitbucket.org");
        assert_eq!(r.base_url(), "https://bitbucket.org");
        let r = Remote::from_url("http://127.0.0.1:8080").expect("valid");
        assert_eq!(r.hostname(), "127.0.0.1");
        assert_eq!(r.store_key(), "http://127.0.0.1:8080");
        let key = |url: &str| Remote::from_url(url).expect("valid").store_key();
        assert_eq!(
            key("https://dc.example/bitbucket/scm/P/r.git"),
            "https://dc.example/bitbucket"
        );
        assert_eq!(key("https://dc.example/scm/P/r.git"), "https://dc.example");
        assert_eq!(
            key("https://dc.example/bitbucket"),
            "https://dc.example/bitbucket"
        );
        assert_eq!(
            key("https://bitbucket.org/ws/r.git"),
            "https://bitbucket.org"
        );
        assert!(Remote::from_url("ssh://x").is_none());
    }
}
