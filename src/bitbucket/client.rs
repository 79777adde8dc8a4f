//! The HTTP client for one host's endpoints: the token endpoint (code
//! exchange, refresh, `client_credentials`), the account lookup and Data
//! Center's revocation, and `ApiError`, what a call can fail with.
//!
//! One request per call, never retried automatically (contract.md §6): with
//! rotating refresh tokens a blind retry could spend a token twice. Every
//! request has timeouts (connect 10 s, whole request 30 s, contract.md §7).

use super::answers::{parse_token_answer, parse_user_answer, BadAnswer, ErrorJson, TokenSet};
use super::facts::Kind;
use super::Account;
use super::Endpoints;
use crate::secret::Secret;
use crate::text::printable;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
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

/// A client for one host's endpoints.
pub struct Client<'a> {
    cfg: Endpoints<'a>,
    agent: ureq::Agent,
}

impl<'a> Client<'a> {
    /// An agent with contract.md §7's timeouts, the platform trust store, no
    /// redirects, and 4xx answers handed to us instead of turned into
    /// errors (OAuth errors come as 400 JSON).
    pub fn new(cfg: Endpoints<'a>) -> Client<'a> {
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
        let url = self.cfg.token;
        let secret = self.cfg.consumer.secret();
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
        let mut resp = sent.map_err(|e| network(url, e))?;
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
}
