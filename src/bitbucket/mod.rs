//! Bitbucket's HTTP endpoints: the token endpoint (code exchange, refresh)
//! and the current-user lookup (contract.md §6, bitbucket-facts.md A.4, A.8).
//!
//! One request per call, never retried automatically (contract.md §6): with
//! rotating refresh tokens a blind retry could spend a token twice. Every
//! request has timeouts (connect 10 s, whole request 30 s, contract.md §7).

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

    /// Bitbucket could not be reached or answered nonsense: nothing is
    /// wrong with our tokens, so nothing may be deleted (contract.md §4 step 6).
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

/// What a lifetime defaults to when the answer has none we can use:
/// Data Center's one hour, the shortest either side uses, so we refresh
/// early rather than late.
const DEFAULT_LIFETIME: u64 = 3600;

/// The longest lifetime we believe: a year keeps every time sum far from
/// overflow and still outlives any real access token.
const MAX_LIFETIME: u64 = 365 * 86_400;

/// Why a token answer cannot be used.
#[doc(hidden)]
#[derive(Debug, PartialEq, Eq)]
pub enum BadAnswer {
    /// Not JSON, or JSON that is not an object.
    NotJson,
    /// No usable `access_token`.
    NoAccessToken,
    /// A token git's credential protocol cannot carry.
    Unprintable(&'static str),
}

/// Reads a 200 answer of the token endpoint, as forgiving as is safe.
///
/// By the time this answer arrives the server may already have rotated the
/// refresh token, so throwing the answer away can cost the sign-in: a
/// lifetime we cannot read falls back to a default, unknown fields are
/// ignored, a repeated key counts by its last value, and bytes after the
/// first JSON object are ignored. What cannot be forgiven is a missing
/// access token, or a token git could never be handed.
#[doc(hidden)]
pub fn parse_token_answer(body: &[u8]) -> Result<TokenSet, BadAnswer> {
    let first = serde_json::Deserializer::from_slice(body)
        .into_iter::<serde_json::Value>()
        .next();
    let Some(Ok(serde_json::Value::Object(json))) = first else {
        return Err(BadAnswer::NotJson);
    };
    let text = |key: &str| json.get(key).and_then(serde_json::Value::as_str);
    let access_token = text("access_token")
        .filter(|t| !t.is_empty())
        .ok_or(BadAnswer::NoAccessToken)?;
    check_token(access_token, "access token")?;
    // A refresh token of the wrong type counts as absent (the old one is
    // kept), but a string must be one git's protocol could carry later.
    let refresh_token = text("refresh_token").filter(|t| !t.is_empty());
    if let Some(t) = refresh_token {
        check_token(t, "refresh token")?;
    }
    // Cloud said `scopes` until 2026 and `scope` after (bitbucket-facts.md A.4).
    let scopes = ["scope", "scopes"]
        .iter()
        .filter_map(|k| json.get(*k))
        .find_map(scope_text)
        .unwrap_or_default();
    Ok(TokenSet {
        access_token: Secret::new(access_token.to_owned()),
        refresh_token: refresh_token.map(|t| Secret::new(t.to_owned())),
        expires_in: json.get("expires_in").map_or(DEFAULT_LIFETIME, lifetime),
        scopes,
    })
}

/// `expires_in` as the server wrote it: a whole number, a fraction or a
/// numeric string. Zero, negative or unreadable: the default; huge: a year.
fn lifetime(v: &serde_json::Value) -> u64 {
    let seconds = match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match seconds {
        Some(s) if s.is_finite() && s >= 1.0 => (s.min(MAX_LIFETIME as f64)) as u64,
        _ => DEFAULT_LIFETIME,
    }
}

/// Scopes as a space-separated string or a list of strings.
fn scope_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(printable_scopes(s)),
        serde_json::Value::Array(list) => Some(printable_scopes(
            &list
                .iter()
                .filter_map(serde_json::Value::as_str)
                .collect::<Vec<_>>()
                .join(" "),
        )),
        _ => None,
    }
}

/// Scopes are shown by `status`: no control characters, single spaces.
fn printable_scopes(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// git's credential protocol is line based and NUL-terminated: a token
/// holding a line break, CR, NUL or any other control character could be
/// stored but never handed to git.
fn check_token(token: &str, what: &'static str) -> Result<(), BadAnswer> {
    if token.chars().any(char::is_control) {
        return Err(BadAnswer::Unprintable(what));
    }
    Ok(())
}

#[derive(Deserialize)]
struct ErrorJson {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// Cloud's `GET /2.0/user`, as far as we use it. Since 2026 it may come
/// without `username` (bitbucket-facts.md, 2026 changes).
#[derive(Deserialize)]
struct UserJson {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    uuid: Option<String>,
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    nickname: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
}

impl UserJson {
    /// The account: keyed by its username, or where the server sent none,
    /// by its `uuid` (else `account_id`), with the nickname kept so that
    /// people see a name and git's `user@` can still find the record.
    fn into_account(self) -> Option<Account> {
        let clean = |v: Option<String>| {
            v.map(|s| printable(s.trim()))
                .filter(|s| !s.trim().is_empty())
        };
        let (username, uuid, account_id) = (
            clean(self.username),
            clean(self.uuid),
            clean(self.account_id),
        );
        let display_name = clean(self.display_name);
        match username {
            Some(username) => Some(Account {
                username,
                uuid,
                display_name,
                nickname: None,
            }),
            None => Some(Account {
                username: uuid.clone().or(account_id)?,
                uuid,
                display_name,
                nickname: clean(self.nickname),
            }),
        }
    }
}

/// How to name an account to people: its username, or for an account
/// Bitbucket gave no username, its nickname or display name.
pub fn account_label(account: &Account) -> String {
    match (&account.nickname, &account.display_name) {
        (Some(nick), _) => nick.clone(),
        (None, Some(name)) if account.uuid.as_deref() == Some(&account.username) => name.clone(),
        _ => account.username.clone(),
    }
}

/// A client for one host's endpoints.
pub struct Client<'a> {
    cfg: &'a HostConfig,
    agent: ureq::Agent,
}

impl<'a> Client<'a> {
    /// An agent with contract.md §7's timeouts, the platform trust store, no
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
            // (bitbucket-facts.md B.4).
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
            return parse_token_answer(&body).map_err(|bad| match bad {
                BadAnswer::NotJson => trouble(describe_body(&resp, &body)),
                BadAnswer::NoAccessToken => ApiError::Unexpected {
                    url: url.clone(),
                    status,
                    what: "no access_token in the answer".into(),
                },
                BadAnswer::Unprintable(what) => ApiError::Unexpected {
                    url: url.clone(),
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
        parse_user_answer(&body).map_err(|what| ApiError::Unexpected {
            url,
            status,
            what: what.into(),
        })
    }

    /// Data Center has no "who am I": an authenticated request answers
    /// with the `X-AUSERNAME` header (bitbucket-facts.md B.6).
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

/// The account in Cloud's `/2.0/user` answer, or what is wrong with it.
/// Public for the fuzz target `user_json`.
#[doc(hidden)]
pub fn parse_user_answer(body: &[u8]) -> Result<Account, &'static str> {
    // Read as a value first: a repeated key then counts by its last
    // value instead of failing, and bytes after the object are ignored.
    let user = serde_json::Deserializer::from_slice(body)
        .into_iter::<serde_json::Value>()
        .next()
        .and_then(Result::ok)
        .and_then(|v| serde_json::from_value::<UserJson>(v).ok())
        .ok_or("not a user object")?;
    user.into_account()
        .ok_or("the user object has no username, uuid or account_id")
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
/// terminal (moved to [`crate::text`]; kept here for its callers).
pub use crate::text::printable;

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

    fn answer(body: &str) -> Result<TokenSet, BadAnswer> {
        parse_token_answer(body.as_bytes())
    }

    #[test]
    fn odd_but_valid_token_answers_keep_the_tokens() {
        let lifetime = |expires: &str| {
            let body = format!(
                r#"{{"access_token":"a","refresh_token":"r","expires_in":{expires},"scope":"x"}}"#
            );
            let t = answer(&body).unwrap_or_else(|e| panic!("{expires}: {e:?}"));
            assert_eq!(t.refresh_token.as_ref().map(Secret::expose), Some("r"));
            t.expires_in
        };
        assert_eq!(lifetime("7200"), 7200);
        assert_eq!(lifetime("3600.5"), 3600);
        assert_eq!(lifetime(r#""3600""#), 3600);
        assert_eq!(lifetime("-5"), DEFAULT_LIFETIME);
        assert_eq!(lifetime("0"), DEFAULT_LIFETIME);
        assert_eq!(lifetime("1e30"), MAX_LIFETIME);
        assert_eq!(lifetime("18446744073709551616"), MAX_LIFETIME);
        assert_eq!(lifetime("null"), DEFAULT_LIFETIME);
        assert_eq!(lifetime(r#""soon""#), DEFAULT_LIFETIME);
        assert_eq!(lifetime("{}"), DEFAULT_LIFETIME);

        // A repeated key counts by its last value; bytes after the object
        // and unknown fields are ignored; `scope` or `scopes`.
        let t = answer(
            r#"{"access_token":"old","access_token":"new","refresh_token":"r","scopes":"a b",
               "token_type":"bearer","state":"refresh_token","extra":{"x":[1]}} trailing <html>"#,
        )
        .expect("usable");
        assert_eq!(t.access_token.expose(), "new");
        assert_eq!(t.scopes, "a b");
        assert_eq!(t.expires_in, DEFAULT_LIFETIME);
        let t = answer(r#"{"access_token":"a","scope":["repository", "account"]}"#).expect("ok");
        assert_eq!(t.scopes, "repository account");
        assert!(t.refresh_token.is_none());
        let t = answer(r#"{"access_token":"a","refresh_token":"","scope":"x\u001b[31m y"}"#)
            .expect("ok");
        assert!(t.refresh_token.is_none(), "empty: the old one is kept");
        assert_eq!(t.scopes, "x [31m y");
    }

    #[test]
    fn token_answers_without_a_usable_access_token_are_refused() {
        assert_eq!(answer("").err(), Some(BadAnswer::NotJson));
        assert_eq!(
            answer("{\"access_token\": \"at-trunc").err(),
            Some(BadAnswer::NotJson)
        );
        assert_eq!(answer("<html></html>").err(), Some(BadAnswer::NotJson));
        assert_eq!(
            answer(r#"["access_token"]"#).err(),
            Some(BadAnswer::NotJson)
        );
        assert_eq!(
            answer(r#"{"refresh_token":"r"}"#).err(),
            Some(BadAnswer::NoAccessToken)
        );
        assert_eq!(
            answer(r#"{"access_token":""}"#).err(),
            Some(BadAnswer::NoAccessToken)
        );
        assert_eq!(
            answer(r#"{"access_token":42}"#).err(),
            Some(BadAnswer::NoAccessToken)
        );
    }

    #[test]
    fn tokens_git_cannot_carry_are_refused() {
        for bad in [r"a\nb", r"a\r", r"\u0000a", r"a\tb", r"\u007f"] {
            let body = format!(r#"{{"access_token":"{bad}","refresh_token":"r"}}"#);
            assert_eq!(
                answer(&body).err(),
                Some(BadAnswer::Unprintable("access token")),
                "{bad}"
            );
            let body = format!(r#"{{"access_token":"a","refresh_token":"{bad}"}}"#);
            assert_eq!(
                answer(&body).err(),
                Some(BadAnswer::Unprintable("refresh token")),
                "{bad}"
            );
        }
        let long = "x".repeat(6000);
        let body = format!(r#"{{"access_token":"{long}","refresh_token":"{long}"}}"#);
        assert_eq!(
            answer(&body)
                .expect("long tokens are fine")
                .access_token
                .expose()
                .len(),
            6000
        );
    }

    fn user(body: &str) -> Option<Account> {
        let v: serde_json::Value = serde_json::from_str(body).expect("JSON");
        serde_json::from_value::<UserJson>(v).ok()?.into_account()
    }

    #[test]
    fn a_user_object_without_username_is_known_by_its_uuid() {
        let a =
            user(r#"{"username":"alice","uuid":"{u-1}","display_name":"Alice A","nickname":"al"}"#)
                .expect("account");
        assert_eq!(a.username, "alice");
        assert_eq!(a.nickname, None);
        assert_eq!(account_label(&a), "alice");
        let a = user(
            r#"{"uuid":"{u-1}","account_id":"557058:1","display_name":"Alice A","nickname":"al"}"#,
        )
        .expect("account");
        assert_eq!(a.username, "{u-1}");
        assert_eq!(a.nickname.as_deref(), Some("al"));
        assert_eq!(account_label(&a), "al");
        let a = user(r#"{"account_id":"557058:1","display_name":"Alice A"}"#).expect("account");
        assert_eq!(a.username, "557058:1");
        let a = user(r#"{"uuid":"{u-1}","display_name":"Alice A","username":null}"#).expect("ok");
        assert_eq!(account_label(&a), "Alice A");
        assert_eq!(user(r#"{"display_name":"Nobody"}"#), None);
        assert_eq!(user(r#"{"username":"","uuid":""}"#), None);
    }

    #[test]
    fn printable_strips_control_characters_and_truncates() {
        assert_eq!(printable("a\x1b[31mb\nc"), "a [31mb c");
        assert_eq!(printable(&"x".repeat(300)).chars().count(), 201);
    }
}
