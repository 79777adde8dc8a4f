//! `resolve`: one host's configuration, validated, from git config, the
//! environment and the Cloud or Data Center defaults.

use super::lookup::Lookup;
use super::{
    AuthType, ConfigError, Flow, GitConfig, Key, Remote, BUILTIN_CLIENT_ID, BUILTIN_CLIENT_SECRET,
};
use crate::bitbucket::facts::Kind;
use crate::bitbucket::{self, facts};
use crate::env::Env;
use crate::gitconfig::parse_bool;
use crate::secret::Secret;
use crate::store::choice::StoreChoice;
use crate::url::{is_loopback_host, HttpUrl, Scheme};
use std::time::Duration;

/// Everything a command needs to know about one of our hosts.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The remote.
    pub remote: Remote,
    /// Cloud or Data Center.
    pub kind: Kind,
    /// OAuth consumer key.
    pub client_id: String,
    /// Whose consumer that is.
    pub consumer: ConsumerOwner,
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

/// Whose OAuth consumer a host uses (contract.md §1, §4): one the user
/// configured always wins over one built in at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerOwner {
    /// The user's: git config or the environment names its key.
    Yours,
    /// Built in at compile time; bitbucket.org only.
    BuiltIn,
    /// None: the token flow needs no consumer.
    NoConsumer,
}

impl HostConfig {
    /// Whose consumer this host uses, as `doctor` and `--version` say it:
    /// "built in", or "yours (KEY)".
    pub fn consumer_label(&self) -> String {
        match self.consumer {
            ConsumerOwner::BuiltIn => "built in".into(),
            ConsumerOwner::Yours => format!("yours ({})", crate::text::plain(&self.client_id)),
            ConsumerOwner::NoConsumer => "none (the token flow needs none)".into(),
        }
    }

    /// The host's endpoints and consumer, as the Bitbucket client and the
    /// authorize URL take them.
    pub fn endpoints(&self) -> bitbucket::Endpoints<'_> {
        bitbucket::Endpoints {
            kind: self.kind,
            authorize: &self.authorize_url,
            token: &self.token_url,
            api: &self.api_url,
            consumer: bitbucket::Consumer {
                id: &self.client_id,
                secret: self.client_secret.as_ref(),
                scopes: &self.scopes,
            },
        }
    }
}

/// Resolves the configuration for `remote`: `Ok(None)` when the host is not
/// ours (contract.md §4: print nothing, touch nothing). Values are checked
/// in a fixed order, so the first bad one is the one reported.
pub fn resolve(
    git: &GitConfig,
    env: &dyn Env,
    remote: &Remote,
) -> Result<Option<HostConfig>, ConfigError> {
    if !is_ours(git, remote) {
        return Ok(None);
    }
    let l = Lookup::new(git, env, remote);
    no_control_characters(&l)?;
    let c = choices(&l)?;
    let (client_id, consumer_owner, client_secret) = consumer(&l, c.flow)?;
    // contract.md §4, §7: tokens only over https, loopback and the explicit
    // opt-in excepted.
    if remote.protocol != Scheme::Https && !(is_loopback_host(&remote.hostname()) || c.allow_http) {
        return Err(ConfigError::InsecureHttp { url: l.url });
    }
    let e = endpoints(&l, remote, c.kind)?;
    Ok(Some(HostConfig {
        remote: remote.clone().keyed(c.kind),
        kind: c.kind,
        client_id,
        consumer: consumer_owner,
        client_secret,
        authorize_url: e.authorize_url,
        token_url: e.token_url,
        api_url: e.api_url,
        redirect_uri: e.redirect_uri,
        redirect: e.redirect,
        store: c.store,
        browser: l.value(Key::Browser).filter(|b| !b.trim().is_empty()),
        flow: c.flow,
        auth_type: c.auth_type,
        scopes: e.scopes,
        login_timeout: c.login_timeout,
        refresh_margin: c.refresh_margin,
        interactive: interactive(git, remote),
    }))
}

/// The kind configured for `remote` (`bitbucketKind`, else Cloud for
/// bitbucket.org and Data Center elsewhere); an invalid value counts as
/// the default here, and is reported where the host is resolved.
pub fn kind(git: &GitConfig, env: &dyn Env, remote: &Remote) -> Kind {
    let l = Lookup::new(git, env, remote);
    let default = if l.is_cloud_host {
        Kind::Cloud
    } else {
        Kind::DataCenter
    };
    l.one_of(Key::Kind, default).unwrap_or(default)
}

/// Which hosts are ours (contract.md §4): a marker key set for the URL, or
/// for bitbucket.org also one without a URL, or a built-in consumer. The
/// environment never makes a host ours.
fn is_ours(git: &GitConfig, remote: &Remote) -> bool {
    let markers = || Key::ALL.into_iter().filter(|k| k.marks_ours());
    let scoped = markers().any(|k| git.scoped(remote, k.name()).is_some());
    let global = remote.is_cloud()
        && (markers().any(|k| git.global(k.name()).is_some()) || BUILTIN_CLIENT_ID.is_some());
    scoped || global
}

/// No value of ours may hold a control character (an ESC in a URL would
/// be printed to the terminal by every message that names the URL). The
/// one exception: `bitbucketBrowser` is a shell command, which may span
/// lines and hold tabs as any script does (it is never printed).
fn no_control_characters(l: &Lookup) -> Result<(), ConfigError> {
    for key in Key::ALL {
        let clean = |v: String| {
            let v = match key {
                Key::Browser => v.replace(['\n', '\t'], " "),
                _ => v,
            };
            crate::text::plain(&v) == v
        };
        if l.value(key).is_some_and(|v| !clean(v)) {
            return Err(ConfigError::ControlCharacter {
                name: l.name_of(key),
            });
        }
    }
    Ok(())
}

/// The keys that choose among fixed values.
struct Choices {
    kind: Kind,
    flow: Flow,
    store: StoreChoice,
    auth_type: AuthType,
    allow_http: bool,
    login_timeout: Duration,
    refresh_margin: Duration,
}

fn choices(l: &Lookup) -> Result<Choices, ConfigError> {
    let kind_default = if l.is_cloud_host {
        Kind::Cloud
    } else {
        Kind::DataCenter
    };
    let kind = l.one_of(Key::Kind, kind_default)?;
    let flow = l.one_of(Key::Flow, Flow::Browser)?;
    if flow == Flow::ClientCredentials && kind == Kind::DataCenter {
        return Err(l.invalid(
            Key::Flow,
            Flow::ClientCredentials.as_str().into(),
            format!(
                "{}, {} (Data Center has no client_credentials grant)",
                Flow::Browser,
                Flow::Token
            ),
        ));
    }
    Ok(Choices {
        kind,
        flow,
        store: l.one_of(Key::Store, StoreChoice::Auto)?,
        auth_type: l.one_of(Key::AuthType, AuthType::Basic)?,
        allow_http: l.boolean(Key::AllowHttp)?,
        login_timeout: l.seconds(Key::LoginTimeout, 300)?,
        refresh_margin: l.seconds(Key::RefreshMargin, 600)?,
    })
}

/// The OAuth consumer's key and, when configured, its secret; the token
/// flow needs none. A built-in consumer counts for bitbucket.org only.
fn consumer(
    l: &Lookup,
    flow: Flow,
) -> Result<(String, ConsumerOwner, Option<Secret>), ConfigError> {
    let yours = l.value(Key::ClientId).filter(|v| !v.is_empty());
    let built_in = BUILTIN_CLIENT_ID
        .filter(|v| l.is_cloud_host && !v.is_empty())
        .map(str::to_owned);
    let (client_id, owner) = match (yours, built_in, flow) {
        (Some(id), _, _) => (id, ConsumerOwner::Yours),
        (None, Some(id), _) => (id, ConsumerOwner::BuiltIn),
        (None, None, Flow::Token) => (String::new(), ConsumerOwner::NoConsumer),
        (None, None, _) => return Err(ConfigError::MissingClientId { url: l.url.clone() }),
    };
    let owner = match flow {
        Flow::Token => ConsumerOwner::NoConsumer,
        _ => owner,
    };
    let client_secret = l
        .value(Key::ClientSecret)
        .or_else(|| {
            // The built-in secret only goes with the built-in consumer.
            (owner == ConsumerOwner::BuiltIn)
                .then_some(BUILTIN_CLIENT_SECRET)
                .flatten()
                .map(str::to_owned)
        })
        .filter(|v| !v.is_empty())
        .map(Secret::new);
    // A secret `configure` kept in our store is read only when a request
    // needs it (`with_client_secret`): a fresh `get` must not pay a second
    // keyring lookup for a secret it does not send.
    Ok((client_id, owner, client_secret))
}

/// Where sign-in and the API are, and what is asked for.
struct Endpoints {
    authorize_url: String,
    token_url: String,
    api_url: String,
    redirect_uri: String,
    redirect: HttpUrl,
    scopes: Vec<String>,
}

/// The kind's defaults, each overridable by its key.
fn endpoints(l: &Lookup, remote: &Remote, kind: Kind) -> Result<Endpoints, ConfigError> {
    // Data Center's endpoints hang off protocol://host[:port] of the
    // remote; a context path needs the endpoint keys (contract.md §3).
    // With credential.useHttpPath, git sends the path, and the server's
    // context path (before `/scm/`) is part of the base.
    let dc = format!("{}/rest", remote.store_key());
    let (authorize_default, token_default, api_default, redirect_default, scopes_default) =
        match kind {
            Kind::Cloud => (
                facts::cloud_authorize_url(),
                facts::cloud_token_url(),
                facts::cloud_api_url(),
                // Any free port (bitbucket-facts.md A.2).
                facts::CLOUD_REDIRECT_URI,
                "",
            ),
            Kind::DataCenter => (
                facts::dc_authorize_url(&dc),
                facts::dc_token_url(&dc),
                facts::dc_api_url(&dc),
                // DC allows plain http only for `localhost`, and compares
                // the redirect exactly (bitbucket-facts.md B.3).
                facts::DC_REDIRECT_URI,
                // Push needs REPO_WRITE; send scopes on DC (bitbucket-facts.md B.3).
                facts::DC_SCOPES,
            ),
        };
    let authorize_url = l.endpoint(Key::AuthorizeUrl, &authorize_default)?;
    let token_url = l.endpoint(Key::TokenUrl, &token_default)?;
    let api_url = l.endpoint(Key::ApiUrl, &api_default)?;
    let (redirect_uri, redirect) = redirect(l, kind, redirect_default)?;
    let scopes = l
        .value(Key::Scopes)
        .unwrap_or_else(|| scopes_default.into())
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    Ok(Endpoints {
        authorize_url,
        token_url,
        api_url,
        redirect_uri,
        redirect,
        scopes,
    })
}

/// The loopback redirect, as written and parsed.
fn redirect(l: &Lookup, kind: Kind, default: &str) -> Result<(String, HttpUrl), ConfigError> {
    let raw = l.value(Key::RedirectUri).unwrap_or_else(|| default.into());
    let parsed = HttpUrl::parse(&raw)
        .filter(|u| u.scheme == Scheme::Http && u.is_loopback())
        .ok_or_else(|| ConfigError::BadUrl {
            name: l.name_of(Key::RedirectUri),
            value: raw.clone(),
            why: "must be a loopback http URL such as http://127.0.0.1 (any free port) or \
                  http://127.0.0.1:34107/ (that port)",
        })?;
    // Data Center compares the redirect exactly: "any free port" cannot
    // work there.
    if kind == Kind::DataCenter && parsed.port.is_none() {
        return Err(ConfigError::BadUrl {
            name: l.name_of(Key::RedirectUri),
            value: raw,
            why: "Data Center needs the exact registered redirect, with its port, e.g. http://localhost:34107/",
        });
    }
    Ok((raw, parsed))
}

/// `credential.interactive`: only a git false (or git's `never`) turns
/// prompting off; anything else leaves it on.
fn interactive(git: &GitConfig, remote: &Remote) -> bool {
    git.get(remote, "interactive")
        .is_none_or(|v| !(v.eq_ignore_ascii_case("never") || parse_bool(v) == Some(false)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::*;
    use std::collections::HashMap;

    #[test]
    fn a_control_character_is_refused_and_never_printed_back() {
        let git = cfg(&[
            ("credential.https://bitbucket.org.bitbucketclientid", "id"),
            (
                "credential.https://bitbucket.org.bitbucketTokenUrl",
                "https://evil.example/\x1b]0;pwned\x07",
            ),
        ]);
        let err = resolve(&git, &no_env(), &remote("https", "bitbucket.org"))
            .expect_err("an ESC is not a URL");
        let text = err.to_string();
        assert!(
            text.contains("credential.https://bitbucket.org.bitbucketTokenUrl")
                && !text.contains('\x1b')
                && !text.contains("evil"),
            "{text}"
        );
    }

    #[test]
    fn a_browser_command_may_span_lines_but_holds_no_escape() {
        let with = |browser: &str| {
            let git = cfg(&[
                ("credential.https://bitbucket.org.bitbucketclientid", "id"),
                ("credential.https://bitbucket.org.bitbucketBrowser", browser),
            ]);
            resolve(&git, &no_env(), &remote("https", "bitbucket.org"))
        };
        assert!(with("f() {\n\topen \"$1\"\n}; f").is_ok());
        assert!(with("open\x1b[2J").is_err());
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
    fn cloud_takes_any_free_port_data_center_its_fixed_one() {
        let cloud = cfg(&[
            ("credential.https://bitbucket.org.bitbucketclientid", "id"),
            ("credential.https://bb.example.bitbucketclientid", "id"),
        ]);
        let c = resolve(&cloud, &no_env(), &remote("https", "bitbucket.org"))
            .expect("valid")
            .expect("ours");
        // The consumer's Callback URL exactly: no port, no trailing slash
        // (bitbucket-facts.md A.2).
        assert_eq!(c.redirect_uri, "http://127.0.0.1");
        assert_eq!(c.redirect.port, None);
        assert_eq!(c.consumer_label(), "yours (id)");
        let dc = resolve(&cloud, &no_env(), &remote("https", "bb.example"))
            .expect("valid")
            .expect("ours");
        assert_eq!(dc.redirect_uri, "http://localhost:34107/");
        // A port pins it; port 0 is no port to register.
        let pinned = cfg(&[
            ("credential.https://bitbucket.org.bitbucketclientid", "id"),
            (
                "credential.https://bitbucket.org.bitbucketredirecturi",
                "http://127.0.0.1:34999/",
            ),
            ("credential.https://bb.example.bitbucketclientid", "id"),
            (
                "credential.https://bb.example.bitbucketredirecturi",
                "http://localhost:0/",
            ),
        ]);
        let c = resolve(&pinned, &no_env(), &remote("https", "bitbucket.org"))
            .expect("valid")
            .expect("ours");
        assert_eq!(
            (c.redirect_uri.as_str(), c.redirect.port),
            ("http://127.0.0.1:34999/", Some(34999))
        );
        let err = resolve(&pinned, &no_env(), &remote("https", "bb.example"))
            .expect_err("port 0")
            .to_string();
        assert!(err.contains("bitbucketRedirectUri"), "{err}");
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
}
