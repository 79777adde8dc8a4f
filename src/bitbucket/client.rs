//! The HTTP client for one host's endpoints: the token endpoint (code
//! exchange, refresh, `client_credentials`), the account lookup and Data
//! Center's revocation, and `ApiError`, what a call can fail with.
//!
//! One request per call, never retried automatically (contract.md §6): with
//! rotating refresh tokens a blind retry could spend a token twice. Every
//! request has timeouts (connect 10 s, whole request 30 s, contract.md §7),
//! and goes through git's proxy and trust settings (`network`), whose
//! failures are told in words that name the setting to check.

use super::answers::{parse_token_answer, parse_user_answer, BadAnswer, ErrorJson, TokenSet};
use super::facts::Kind;
use super::Account;
use super::Endpoints;
use crate::network::{self, host_of, Settings, SetupError};
use crate::secret::Secret;
use crate::text::printable;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::time::Duration;

/// Largest response body we read.
const MAX_BODY: u64 = 1 << 20;

/// Why a request got no answer. The ladder's retry turns on it
/// (`ApiError::answer_may_be_lost`), never on the words of `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetCause {
    /// A connect or whole-request timeout (contract.md §7).
    Timeout,
    /// The connection was refused: nothing was sent.
    Refused,
    /// The host name did not resolve: nothing was sent.
    NoHost,
    /// The connection broke after it was made (reset, closed early): the
    /// request may have arrived and its answer been lost.
    Dropped,
    /// The TLS handshake failed (an unknown authority, a bad or missing
    /// client certificate): nothing was sent.
    Tls,
    /// The proxy could not be reached, or refused the tunnel.
    Proxy,
    /// Anything else, such as a garbled answer.
    Other,
}

/// What a call to Bitbucket can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No answer: DNS, refused, timeout, TLS, a proxy.
    #[error("could not reach {url}: {reason}")]
    Network {
        /// The endpoint.
        url: String,
        /// What went wrong, in words for people (never compared).
        reason: String,
        /// What went wrong, for the code that reacts to it.
        cause: NetCause,
    },
    /// An OAuth error answer (`{"error": …}`).
    #[error("{url} answered {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    OAuth {
        /// The endpoint.
        url: String,
        /// HTTP status.
        status: u16,
        /// The OAuth error code.
        error: String,
        /// Its description.
        description: Option<String>,
    },
    /// Anything else: a 5xx, an HTML page, JSON of the wrong shape.
    #[error("{url} gave an unexpected answer (HTTP {status}, {what})")]
    Unexpected {
        /// The endpoint.
        url: String,
        /// HTTP status.
        status: u16,
        /// What was wrong with it (never the body: it might hold a token).
        what: String,
    },
}

impl ApiError {
    /// The refresh token itself is dead, so a new sign-in is the cure
    /// (contract.md §4 step 4): `invalid_grant`, or Cloud's `invalid_request`
    /// "Invalid refresh_token".
    pub fn is_dead_refresh_token(&self) -> bool {
        match self {
            ApiError::OAuth {
                error, description, ..
            } => {
                let description = description.as_deref().unwrap_or("").to_ascii_lowercase();
                match error.as_str() {
                    // Cloud also says invalid_grant "Unsupported grant type"
                    // to a request that arrived mangled: that is no verdict
                    // on the refresh token (bitbucket-facts.md A.4).
                    "invalid_grant" => !description.contains("grant type"),
                    // invalid_request is about the request unless it says
                    // the refresh token is bad: "Missing required parameter:
                    // refresh_token" names it too, and says nothing about
                    // whether the token we hold still works.
                    "invalid_request" => {
                        description.contains("refresh")
                            && ["invalid", "expired", "revoked"]
                                .iter()
                                .any(|w| description.contains(w))
                    }
                    _ => false,
                }
            }
            _ => false,
        }
    }

    /// Why no answer came, when none did.
    pub fn net_cause(&self) -> Option<NetCause> {
        match self {
            ApiError::Network { cause, .. } => Some(*cause),
            _ => None,
        }
    }

    /// The request may have reached Bitbucket and its answer been lost on
    /// the way: the connection broke after it was made, or the answer came
    /// garbled. Not a refused connection, an unknown host, a failed TLS
    /// handshake or a proxy's refusal, where nothing was sent, nor a
    /// timeout (the ladder does not double a wait of 30 s; app/renew.rs).
    pub fn answer_may_be_lost(&self) -> bool {
        matches!(self.net_cause(), Some(NetCause::Dropped | NetCause::Other))
    }

    /// Bitbucket could not be reached or answered nonsense: nothing is
    /// wrong with our tokens, so nothing may be deleted (contract.md §4 step 6).
    pub fn is_transient(&self) -> bool {
        matches!(self, ApiError::Network { .. } | ApiError::Unexpected { .. })
    }
}

/// A client for one host's endpoints.
pub struct Client<'a> {
    cfg: Endpoints<'a>,
    agent: ureq::Agent,
    net: Settings,
    /// A network setting that cannot be followed: every call fails with it.
    unusable: Option<SetupError>,
}

impl<'a> Client<'a> {
    /// An agent with contract.md §7's timeouts, git's proxy and trust
    /// settings (`net`; the platform trust store when none is set), no
    /// redirects, and 4xx answers handed to us instead of turned into
    /// errors (OAuth errors come as 400 JSON).
    pub fn new(cfg: Endpoints<'a>, net: Settings) -> Client<'a> {
        crate::trace!("network: {}", net.describe().join("; "));
        let parts = net
            .ureq_proxy()
            .and_then(|proxy| Ok((proxy, net.tls_config()?)));
        let (proxy, tls, unusable) = match parts {
            Ok((proxy, tls)) => (proxy, tls, None),
            Err(e) => (None, ureq::tls::TlsConfig::default(), Some(e)),
        };
        let agent = ureq::Agent::config_builder()
            .proxy(proxy)
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(30)))
            .tls_config(tls)
            .user_agent(concat!(
                "git-credential-bitbucket/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .new_agent();
        Client {
            cfg,
            agent,
            net,
            unusable,
        }
    }

    /// A client for `remote`, with git's network settings for it, read
    /// now: only a command about to send a request builds one.
    pub fn for_remote(cfg: Endpoints<'a>, remote: &crate::config::Remote) -> Client<'a> {
        Client::new(cfg, Settings::for_remote(remote))
    }

    /// Before each request: a setting that cannot be followed fails it;
    /// a request whose certificate is not verified says so, every time.
    fn ready(&self, url: &str) -> Result<(), ApiError> {
        if let Some(e) = &self.unusable {
            return Err(ApiError::Network {
                url: url.to_owned(),
                reason: e.to_string(),
                cause: match e {
                    SetupError::Proxy(_) => NetCause::Proxy,
                    SetupError::Tls(_) => NetCause::Tls,
                },
            });
        }
        if let Some(from) = &self.net.no_verify {
            if url.starts_with("https:") {
                crate::say!(
                    "warning: not verifying the certificate of {}: {from} turns verification \
                     off, for git and for this helper",
                    host_of(url)
                );
            }
        }
        Ok(())
    }

    /// ureq's error in words that name what to check.
    fn network(&self, url: &str, e: ureq::Error) -> ApiError {
        network_via(url, e, self.net.proxy_for(url))
    }

    /// Exchanges an authorization code (one request).
    pub fn exchange_code(
        &self,
        code: &Secret,
        redirect_uri: &str,
        verifier: &Secret,
    ) -> Result<TokenSet, ApiError> {
        self.token_request(&[
            ("grant_type", "authorization_code"),
            ("code", code.expose()),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier.expose()),
        ])
    }

    /// The `client_credentials` grant of a private consumer (Cloud only;
    /// one request, no refresh token).
    pub fn client_credentials(&self) -> Result<TokenSet, ApiError> {
        self.token_request(&[("grant_type", "client_credentials")])
    }

    /// Exchanges a refresh token (one request).
    pub fn refresh(&self, refresh_token: &Secret) -> Result<TokenSet, ApiError> {
        self.token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ])
    }

    /// POSTs a form to the token endpoint. Cloud: client auth by HTTP
    /// Basic, form-encoded id and secret (RFC 6749 §2.3.1).
    fn token_request(&self, form: &[(&str, &str)]) -> Result<TokenSet, ApiError> {
        let url = self.cfg.token;
        let secret = self.cfg.consumer.secret();
        self.ready(url)?;
        crate::trace!("POST {url} grant_type={}", form[0].1);
        let request = self.agent.post(url).header("Accept", "application/json");
        let sent = match self.cfg.kind {
            // Cloud: HTTP Basic, id and secret form-encoded first
            // (RFC 6749 §2.3.1).
            Kind::Cloud => {
                let basic = STANDARD.encode(format!(
                    "{}:{}",
                    crate::url::encode(self.cfg.consumer.id),
                    crate::url::encode(secret)
                ));
                request
                    .header("Authorization", format!("Basic {basic}"))
                    .send_form(form.iter().copied())
            }
            // Data Center reads client credentials from the body only
            // (bitbucket-facts.md B.4).
            Kind::DataCenter => {
                let mut body = form.to_vec();
                body.push(("client_id", self.cfg.consumer.id));
                body.push(("client_secret", secret));
                request.send_form(body)
            }
        };
        let mut resp = sent.map_err(|e| self.network(url, e))?;
        let status = resp.status().as_u16();
        let body = read_body(url, &mut resp)?;
        crate::trace!("token endpoint answered HTTP {status}");
        let trouble = |what: String| ApiError::Unexpected {
            url: url.to_owned(),
            status,
            what: format!("{what}; Bitbucket may be having trouble, try again later"),
        };
        if status == 200 {
            return parse_token_answer(&body).map_err(|bad| match bad {
                BadAnswer::NotJson => trouble(describe_body(&resp, &body)),
                BadAnswer::NoAccessToken => ApiError::Unexpected {
                    url: url.to_owned(),
                    status,
                    what: "no access_token in the answer".into(),
                },
                BadAnswer::Unprintable(what) => ApiError::Unexpected {
                    url: url.to_owned(),
                    status,
                    what: format!(
                        "the {what} in the answer holds a line break or another control \
                         character, which git cannot be handed; nothing was saved. \
                         Bitbucket may be having trouble: try again later"
                    ),
                },
            });
        }
        match serde_json::from_slice::<ErrorJson>(&body) {
            // A server error or throttling says nothing about our tokens or
            // consumer, even with an OAuth-shaped body.
            Ok(e) if status >= 500 || status == 429 => Err(trouble(format!(
                "{} ({})",
                printable(&e.error),
                if status == 429 {
                    "rate limited"
                } else {
                    "server error"
                }
            ))),
            Ok(e) => Err(ApiError::OAuth {
                url: url.to_owned(),
                status,
                error: printable(&e.error),
                description: e.error_description.as_deref().map(printable),
            }),
            Err(_) => Err(trouble(describe_body(&resp, &body))),
        }
    }

    /// Who the token belongs to: Cloud `GET /2.0/user` (needs the
    /// `account` permission on the consumer).
    pub fn current_user(&self, access_token: &Secret) -> Result<Account, ApiError> {
        if self.cfg.kind == Kind::DataCenter {
            return self.dc_user(access_token);
        }
        let url = format!("{}/user", self.cfg.api);
        let mut resp = self.get_with_token(&url, access_token)?;
        let status = resp.status().as_u16();
        let body = read_body(&url, &mut resp)?;
        if status != 200 {
            return Err(ApiError::Unexpected {
                url,
                status,
                what: if status == 403 {
                    "the OAuth consumer lacks the Account: Read permission; tick it in the \
                     consumer's settings in Bitbucket, then sign in again"
                        .into()
                } else {
                    // A token just issued: a refusal or a missing page here
                    // means the wrong address, which a new sign-in does not
                    // fix. The caller names the key.
                    "the new access token was not accepted there".into()
                },
            });
        }
        parse_user_answer(&body).map_err(|what| ApiError::Unexpected {
            url,
            status,
            what: what.into(),
        })
    }

    /// Data Center has no "who am I": an authenticated request answers
    /// with the `X-AUSERNAME` header (bitbucket-facts.md B.6).
    fn dc_user(&self, access_token: &Secret) -> Result<Account, ApiError> {
        let url = format!("{}/application-properties", self.cfg.api);
        let resp = self.get_with_token(&url, access_token)?;
        let status = resp.status().as_u16();
        let username = resp
            .headers()
            .get("x-ausername")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|u| !u.is_empty() && status == 200)
            .ok_or(ApiError::Unexpected {
                url,
                status,
                what: "no X-AUSERNAME header, so the token did not authenticate".into(),
            })?;
        Ok(Account {
            username: printable(username),
            ..Account::default()
        })
    }

    /// Revokes a token where the server offers it (Data Center's
    /// `/rest/oauth2/latest/revoke`, beside the token endpoint). Cloud has
    /// no revocation endpoint: `Ok(false)`.
    pub fn revoke(&self, token: &Secret, hint: &str) -> Result<bool, ApiError> {
        if self.cfg.kind != Kind::DataCenter {
            return Ok(false);
        }
        let url = super::facts::dc_revoke_url(self.cfg.token);
        let secret = self.cfg.consumer.secret();
        self.ready(&url)?;
        crate::trace!("POST {url} ({hint})");
        let resp = self
            .agent
            .post(&url)
            .send_form([
                ("token", token.expose()),
                ("token_type_hint", hint),
                ("client_id", self.cfg.consumer.id),
                ("client_secret", secret),
            ])
            .map_err(|e| self.network(&url, e))?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            Ok(true)
        } else {
            Err(ApiError::Unexpected {
                url,
                status,
                what: "the token was not revoked".into(),
            })
        }
    }
}

impl Client<'_> {
    /// GET with the access token as Bearer.
    fn get_with_token(
        &self,
        url: &str,
        token: &Secret,
    ) -> Result<ureq::http::Response<ureq::Body>, ApiError> {
        self.ready(url)?;
        crate::trace!("GET {url}");
        let resp = self
            .agent
            .get(url)
            .header("Authorization", format!("Bearer {}", token.expose()))
            .header("Accept", "application/json")
            .call()
            .map_err(|e| self.network(url, e))?;
        crate::trace!("{url} answered HTTP {}", resp.status().as_u16());
        Ok(resp)
    }

    /// One `GET <repo>/info/refs?service=git-upload-pack`, as git's first
    /// authenticated request, with `authorization` (a whole header value,
    /// Basic or Bearer): the HTTP status. A stored token is checked this
    /// way, not with `/2.0/user`, which an API token with git's username
    /// cannot use (bitbucket-facts.md A.9).
    pub fn git_refs_status(&self, repo_url: &str, authorization: &Secret) -> Result<u16, ApiError> {
        let url = format!(
            "{}/info/refs?service=git-upload-pack",
            repo_url.trim_end_matches('/')
        );
        crate::trace!("GET {url}");
        let resp = self
            .agent
            .get(&url)
            .header("Authorization", authorization.expose())
            .call()
            .map_err(|e| network(&url, e))?;
        let status = resp.status().as_u16();
        crate::trace!("{url} answered HTTP {status}");
        Ok(status)
    }
}

/// The body, at most [`MAX_BODY`] bytes.
fn read_body(url: &str, resp: &mut ureq::http::Response<ureq::Body>) -> Result<Vec<u8>, ApiError> {
    resp.body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()
        .map_err(|e| network(url, e))
}

fn network(url: &str, e: ureq::Error) -> ApiError {
    network_via(url, e, None)
}

/// ureq's error sorted into a cause, and said in words that name what to
/// check: the CA setting for an unknown authority, the client-certificate
/// settings for a refused handshake, the proxy setting for a proxy that
/// would not connect (docs/troubleshooting.md, "Behind a company network").
fn network_via(url: &str, e: ureq::Error, proxy: Option<&network::Proxy>) -> ApiError {
    let host = host_of(url);
    let mut cause = cause_of(&e);
    let reason = match (&e, cause) {
        (_, NetCause::Tls) => match rustls_error(&e) {
            Some(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)) => {
                format!(
                    "the certificate of {host} was signed by an unknown authority: git's \
                     http.sslCAInfo (or the OS trust store) must hold it"
                )
            }
            Some(rustls::Error::InvalidCertificate(why)) => format!(
                "the certificate of {host} was refused ({why:?}): check that the URL names \
                 the server its certificate is for, and git's http.sslCAInfo"
            ),
            Some(rustls::Error::AlertReceived(alert)) => format!(
                "{host} refused the TLS handshake ({alert:?}): if it asks for a client \
                 certificate, git's http.sslCert and http.sslKey must name one it accepts"
            ),
            Some(other) => format!("TLS with {host} failed: {other}"),
            None => format!("TLS with {host} failed: {e}"),
        },
        (ureq::Error::ConnectProxyFailed(said), _) => {
            let shown = proxy.map_or("(from the environment)", |p| p.shown.as_str());
            let from = proxy.map_or("http.proxy", |p| p.from.as_str());
            if said.contains("407") {
                format!(
                    "the proxy {shown} refused the connection: it wants a user and password \
                     (HTTP 407); check the user:password@ in {from}"
                )
            } else {
                format!("the proxy {shown} refused the connection ({said}): check {from}")
            }
        }
        (_, NetCause::Refused | NetCause::NoHost | NetCause::Timeout) if proxy.is_some() => {
            let p = proxy.expect("checked");
            let said = match cause {
                NetCause::NoHost => "could not be reached (its host name did not resolve)",
                NetCause::Timeout => "could not be reached (it timed out)",
                _ => "refused the connection",
            };
            cause = NetCause::Proxy;
            format!("the proxy {} {said}: check {}", p.shown, p.from)
        }
        (ureq::Error::Timeout(_), _) => "timed out".to_owned(),
        (ureq::Error::ConnectionFailed, _) => "connection failed".to_owned(),
        (ureq::Error::HostNotFound, _) => "host not found".to_owned(),
        (ureq::Error::Io(io), _) => io.to_string(),
        (other, _) => other.to_string(),
    };
    ApiError::Network {
        url: url.to_owned(),
        reason,
        cause,
    }
}

/// The rustls error inside ureq's, where there is one: ureq hands it
/// over directly, or inside an I/O error from the TLS stream.
fn rustls_error(e: &ureq::Error) -> Option<&rustls::Error> {
    match e {
        ureq::Error::Rustls(r) => Some(r),
        ureq::Error::Io(io) => io.get_ref()?.downcast_ref::<rustls::Error>(),
        _ => None,
    }
}

/// Sorts ureq's error into the causes the ladder tells apart.
fn cause_of(e: &ureq::Error) -> NetCause {
    use std::io::ErrorKind as K;
    match e {
        ureq::Error::Timeout(_) => NetCause::Timeout,
        // ureq's fallback when no address gave a connection.
        ureq::Error::ConnectionFailed => NetCause::Refused,
        ureq::Error::HostNotFound => NetCause::NoHost,
        ureq::Error::ConnectProxyFailed(_) | ureq::Error::InvalidProxyUrl => NetCause::Proxy,
        ureq::Error::Tls(_) | ureq::Error::Pem(_) | ureq::Error::Rustls(_) => NetCause::Tls,
        ureq::Error::Io(_) if rustls_error(e).is_some() => NetCause::Tls,
        ureq::Error::Io(io) => match io.kind() {
            K::ConnectionRefused => NetCause::Refused,
            K::TimedOut | K::WouldBlock => NetCause::Timeout,
            K::ConnectionReset
            | K::ConnectionAborted
            | K::UnexpectedEof
            | K::BrokenPipe
            | K::NotConnected => NetCause::Dropped,
            _ => NetCause::Other,
        },
        _ => NetCause::Other,
    }
}

/// Describes a body we could not use, without quoting it.
fn describe_body(resp: &ureq::http::Response<ureq::Body>, body: &[u8]) -> String {
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("no content type");
    format!(
        "{} bytes of {ctype} that are not the expected JSON",
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oauth(error: &str, description: Option<&str>) -> ApiError {
        ApiError::OAuth {
            url: "u".into(),
            status: 400,
            error: error.into(),
            description: description.map(str::to_owned),
        }
    }

    #[test]
    fn dead_refresh_tokens_are_told_apart_from_configuration_problems() {
        assert!(oauth("invalid_grant", None).is_dead_refresh_token());
        assert!(oauth("invalid_request", Some("Invalid refresh_token")).is_dead_refresh_token());
        assert!(!oauth(
            "invalid_request",
            Some("No callback uri defined for the OAuth client.")
        )
        .is_dead_refresh_token());
        assert!(!oauth("invalid_client", None).is_dead_refresh_token());
        assert!(oauth("invalid_request", Some("Refresh token expired")).is_dead_refresh_token());
        assert!(oauth("invalid_request", Some("refresh_token was revoked")).is_dead_refresh_token());
        // Names the parameter but says nothing about the token we hold.
        assert!(!oauth(
            "invalid_request",
            Some("Missing required parameter: refresh_token")
        )
        .is_dead_refresh_token());
        assert!(
            !oauth("invalid_grant", Some("Unsupported grant type: None")).is_dead_refresh_token()
        );
        assert!(!oauth("unauthorized_client", None).is_transient());
    }

    #[test]
    fn proxy_failures_name_the_proxy_and_its_setting_never_its_password() {
        let net = Settings::from_sources(
            &[("http.proxy".into(), "http://corp:pw-123@127.0.0.1:9".into())],
            &|_| None,
            &crate::config::Remote::from_url("https://bitbucket.example.com").expect("URL"),
        );
        let url = "https://bitbucket.example.com/rest/oauth2/latest/token";
        let proxy = net.proxy_for(url);
        let auth = network_via(
            url,
            ureq::Error::ConnectProxyFailed(
                "proxy server responded 407/Proxy Authentication Required".into(),
            ),
            proxy,
        );
        let refused = network_via(
            url,
            ureq::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
            proxy,
        );
        for (e, says) in [
            (
                &auth,
                "the proxy http://corp@127.0.0.1:9 refused the connection: it wants",
            ),
            (
                &refused,
                "the proxy http://corp@127.0.0.1:9 refused the connection: check http.proxy",
            ),
        ] {
            assert_eq!(e.net_cause(), Some(NetCause::Proxy));
            assert!(!e.answer_may_be_lost());
            let text = format!("{e} {e:?}");
            assert!(text.contains(says), "{text}");
            assert!(!text.contains("pw-123"), "{text}");
        }
    }

    #[test]
    fn ureq_errors_are_sorted_into_causes() {
        use std::io::{Error as Io, ErrorKind as K};
        let cases: Vec<(ureq::Error, NetCause)> = vec![
            (
                ureq::Error::Timeout(ureq::Timeout::Global),
                NetCause::Timeout,
            ),
            (
                ureq::Error::Timeout(ureq::Timeout::Connect),
                NetCause::Timeout,
            ),
            (ureq::Error::Io(Io::from(K::TimedOut)), NetCause::Timeout),
            (ureq::Error::ConnectionFailed, NetCause::Refused),
            (
                ureq::Error::Io(Io::from(K::ConnectionRefused)),
                NetCause::Refused,
            ),
            (ureq::Error::HostNotFound, NetCause::NoHost),
            (
                ureq::Error::Io(Io::from(K::ConnectionReset)),
                NetCause::Dropped,
            ),
            (
                ureq::Error::Io(Io::from(K::UnexpectedEof)),
                NetCause::Dropped,
            ),
            (ureq::Error::Io(Io::from(K::BrokenPipe)), NetCause::Dropped),
            (
                ureq::Error::ConnectProxyFailed("proxy server responded 407".into()),
                NetCause::Proxy,
            ),
            (ureq::Error::InvalidProxyUrl, NetCause::Proxy),
            (ureq::Error::Tls("handshake"), NetCause::Tls),
            (ureq::Error::BodyExceedsLimit(1), NetCause::Other),
            (ureq::Error::Io(Io::from(K::InvalidData)), NetCause::Other),
        ];
        for (e, want) in cases {
            let got = network("https://h/t", e);
            assert_eq!(got.net_cause(), Some(want), "{got}");
            assert!(got.is_transient());
            assert_eq!(
                got.answer_may_be_lost(),
                matches!(want, NetCause::Dropped | NetCause::Other),
                "{got}"
            );
        }
        assert!(!oauth("invalid_grant", None).answer_may_be_lost());
        let unknown = ureq::Error::Rustls(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ));
        assert_eq!(cause_of(&unknown), NetCause::Tls);
        let inside_io = ureq::Error::Io(std::io::Error::new(
            K::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        ));
        let said = network("https://dc.example:8443/rest", inside_io);
        assert_eq!(said.net_cause(), Some(NetCause::Tls));
        assert!(
            said.to_string().contains(
                "the certificate of dc.example was signed by an unknown authority: git's \
                 http.sslCAInfo (or the OS trust store) must hold it"
            ),
            "{said}"
        );
    }
}
