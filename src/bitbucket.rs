//! Bitbucket's HTTP endpoints: the token endpoint (code exchange, refresh)
//! and the current-user lookup (SPEC §6, FACTS A.4, A.8).
//!
//! One request per call, never retried automatically (SPEC §6): with
//! rotating refresh tokens a blind retry could spend a token twice. Every
//! request has timeouts (connect 10 s, whole request 30 s, SPEC §7).

use crate::config::{HostConfig, Kind};
use crate::secret::Secret;
use crate::store::Account;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use std::time::Duration;

/// Largest response body we read.
const MAX_BODY: u64 = 1 << 20;

/// What a call to Bitbucket can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No answer: DNS, refused, timeout, TLS.
    #[error("could not reach {url}: {reason}")]
    Network {
        /// The endpoint.
        url: String,
        /// What went wrong.
        reason: String,
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
    /// (SPEC §4 step 4): `invalid_grant`, or Cloud's `invalid_request`
    /// "Invalid refresh_token".
    pub fn is_dead_refresh_token(&self) -> bool {
        match self {
            ApiError::OAuth {
                error, description, ..
            } => {
                // Cloud also says invalid_grant "Unsupported grant type"
                // to a request that arrived mangled: that is no verdict on
                // the refresh token (FACTS A.4).
                (error == "invalid_grant"
                    && !description
                        .as_deref()
                        .is_some_and(|d| d.to_ascii_lowercase().contains("grant type")))
                    || (error == "invalid_request"
                        && description
                            .as_deref()
                            .is_some_and(|d| d.to_ascii_lowercase().contains("refresh_token")))
            }
            _ => false,
        }
    }

    /// Bitbucket could not be reached or answered nonsense: nothing is
    /// wrong with our tokens, so nothing may be deleted (SPEC §4 step 6).
    pub fn is_transient(&self) -> bool {
        matches!(self, ApiError::Network { .. } | ApiError::Unexpected { .. })
    }
}

/// Tokens from a successful grant.
#[derive(Debug)]
pub struct TokenSet {
    /// The access token.
    pub access_token: Secret,
    /// The refresh token, when one was issued (rotated on every refresh).
    pub refresh_token: Option<Secret>,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// Granted scopes, space separated.
    pub scopes: String,
}

#[derive(Deserialize)]
struct TokenJson {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    // Cloud said `scopes` until May 2026 and `scope` after (FACTS A.4).
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    scopes: Option<String>,
}

#[derive(Deserialize)]
struct ErrorJson {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct UserJson {
    username: Option<String>,
    #[serde(default)]
    uuid: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
}

/// A client for one host's endpoints.
pub struct Client<'a> {
    cfg: &'a HostConfig,
    agent: ureq::Agent,
}

impl<'a> Client<'a> {
    /// An agent with SPEC §7's timeouts, the platform trust store, no
    /// redirects, and 4xx answers handed to us instead of turned into
    /// errors (OAuth errors come as 400 JSON).
    pub fn new(cfg: &'a HostConfig) -> Client<'a> {
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::PlatformVerifier)
            .build();
        let agent = ureq::Agent::config_builder()
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
        Client { cfg, agent }
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
        let url = &self.cfg.token_url;
        let secret = self.client_secret();
        crate::trace!("POST {url} grant_type={}", form[0].1);
        let request = self.agent.post(url).header("Accept", "application/json");
        let sent = match self.cfg.kind {
            // Cloud: HTTP Basic, id and secret form-encoded first
            // (RFC 6749 §2.3.1).
            Kind::Cloud => {
                let basic = STANDARD.encode(format!(
                    "{}:{}",
                    crate::url::encode(&self.cfg.client_id),
                    crate::url::encode(secret)
                ));
                request
                    .header("Authorization", format!("Basic {basic}"))
                    .send_form(form.iter().copied())
            }
            // Data Center reads client credentials from the body only
            // (FACTS B.4).
            Kind::DataCenter => {
                let mut body = form.to_vec();
                body.push(("client_id", &self.cfg.client_id));
                body.push(("client_secret", secret));
                request.send_form(body)
            }
        };
        let mut resp = sent.map_err(|e| network(url, e))?;
        let status = resp.status().as_u16();
        let body = read_body(url, &mut resp)?;
        crate::trace!("token endpoint answered HTTP {status}");
        let trouble = |what: String| ApiError::Unexpected {
            url: url.clone(),
            status,
            what: format!("{what}; Bitbucket may be having trouble, try again later"),
        };
        if status == 200 {
            return parse_token_body(&body).map_err(|e| match e {
                BodyError::NotJson => trouble(describe_body(&resp, &body)),
                BodyError::Missing(what) => ApiError::Unexpected {
                    url: url.clone(),
                    status,
                    what: what.into(),
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
                url: url.clone(),
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
        let url = format!("{}/user", self.cfg.api_url);
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
                    "the new access token was refused; run `git credential-bitbucket login` to \
                     sign in again"
                        .into()
                },
            });
        }
        parse_user_body(&body).map_err(|e| ApiError::Unexpected {
            url,
            status,
            what: match e {
                BodyError::NotJson => "not a user object",
                BodyError::Missing(what) => what,
            }
            .into(),
        })
    }

    /// Data Center has no "who am I": an authenticated request answers
    /// with the `X-AUSERNAME` header (FACTS B.6).
    fn dc_user(&self, access_token: &Secret) -> Result<Account, ApiError> {
        let url = format!("{}/application-properties", self.cfg.api_url);
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
            uuid: None,
            display_name: None,
        })
    }

    /// Revokes a token where the server offers it (Data Center's
    /// `/rest/oauth2/latest/revoke`, beside the token endpoint). Cloud has
    /// no revocation endpoint: `Ok(false)`.
    pub fn revoke(&self, token: &Secret, hint: &str) -> Result<bool, ApiError> {
        if self.cfg.kind != Kind::DataCenter {
            return Ok(false);
        }
        let base = self
            .cfg
            .token_url
            .strip_suffix("/token")
            .unwrap_or(&self.cfg.token_url);
        let url = format!("{base}/revoke");
        let secret = self.client_secret();
        crate::trace!("POST {url} ({hint})");
        let resp = self
            .agent
            .post(&url)
            .send_form([
                ("token", token.expose()),
                ("token_type_hint", hint),
                ("client_id", self.cfg.client_id.as_str()),
                ("client_secret", secret),
            ])
            .map_err(|e| network(&url, e))?;
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
    /// The consumer secret, empty when none is configured.
    fn client_secret(&self) -> &str {
        self.cfg
            .client_secret
            .as_ref()
            .map(Secret::expose)
            .unwrap_or("")
    }

    /// GET with the access token as Bearer.
    fn get_with_token(
        &self,
        url: &str,
        token: &Secret,
    ) -> Result<ureq::http::Response<ureq::Body>, ApiError> {
        crate::trace!("GET {url}");
        let resp = self
            .agent
            .get(url)
            .header("Authorization", format!("Bearer {}", token.expose()))
            .header("Accept", "application/json")
            .call()
            .map_err(|e| network(url, e))?;
        crate::trace!("{url} answered HTTP {}", resp.status().as_u16());
        Ok(resp)
    }
}

/// Why a 200 answer's body gave us nothing to use.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Not the JSON object we expect.
    NotJson,
    /// JSON, but this required part is missing or empty.
    Missing(&'static str),
}

/// The tokens in the token endpoint's 200 answer. Pure, apart from the
/// HTTP call, so the fuzz target `token_json` can reach it.
#[doc(hidden)]
pub fn parse_token_body(body: &[u8]) -> Result<TokenSet, BodyError> {
    let json: TokenJson = serde_json::from_slice(body).map_err(|_| BodyError::NotJson)?;
    if json.access_token.is_empty() {
        return Err(BodyError::Missing("no access_token in the answer"));
    }
    Ok(TokenSet {
        access_token: Secret::new(json.access_token),
        refresh_token: json
            .refresh_token
            .filter(|t| !t.is_empty())
            .map(Secret::new),
        // Missing lifetime: assume Data Center's one hour, the
        // shortest either side uses, so we refresh early not late.
        expires_in: json.expires_in.unwrap_or(3600),
        scopes: json.scope.or(json.scopes).unwrap_or_default(),
    })
}

/// The account in Cloud's `/2.0/user` answer. Pure, so the fuzz target
/// `user_json` can reach it.
#[doc(hidden)]
pub fn parse_user_body(body: &[u8]) -> Result<Account, BodyError> {
    let user: UserJson = serde_json::from_slice(body).map_err(|_| BodyError::NotJson)?;
    let username = user
        .username
        .filter(|u| !u.is_empty())
        .ok_or(BodyError::Missing("the user object has no username"))?;
    Ok(Account {
        username,
        uuid: user.uuid,
        display_name: user.display_name,
    })
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
    let reason = match &e {
        ureq::Error::Timeout(_) => "timed out".to_owned(),
        ureq::Error::ConnectionFailed => "connection failed".to_owned(),
        ureq::Error::HostNotFound => "host not found".to_owned(),
        ureq::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    };
    ApiError::Network {
        url: url.to_owned(),
        reason,
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

/// Keeps server-provided text printable and short before it reaches a
/// terminal.
pub fn printable(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    if s.chars().count() > 200 {
        out.push('…');
    }
    out
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
        assert!(!oauth("unauthorized_client", None).is_transient());
    }

    #[test]
    fn token_bodies_parse_without_a_server() {
        let t = parse_token_body(
            br#"{"access_token":"at","refresh_token":"","expires_in":7200,"scope":"account"}"#,
        )
        .expect("a token answer");
        assert_eq!(
            (t.access_token.expose(), t.refresh_token, t.expires_in),
            ("at", None, 7200)
        );
        assert_eq!(t.scopes, "account");
        assert_eq!(
            parse_token_body(br#"{"access_token":""}"#).unwrap_err(),
            BodyError::Missing("no access_token in the answer")
        );
        assert_eq!(parse_token_body(b"<html>").unwrap_err(), BodyError::NotJson);
        let user = parse_user_body(br#"{"username":"alice","uuid":"{u}"}"#).expect("a user");
        assert_eq!(
            (user.username.as_str(), user.uuid.as_deref()),
            ("alice", Some("{u}"))
        );
        assert_eq!(parse_user_body(b"[]").unwrap_err(), BodyError::NotJson);
    }

    #[test]
    fn printable_strips_control_characters_and_truncates() {
        assert_eq!(printable("a\x1b[31mb\nc"), "a [31mb c");
        assert_eq!(printable(&"x".repeat(300)).chars().count(), 201);
    }
}
