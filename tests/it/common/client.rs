//! A plain HTTP client for driving the fakes by hand (no helper involved):
//! no proxy, no redirects followed, every status an answer.

use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use super::{param, query_params};

/// What came back from one hand-made request.
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// `Location`, if sent.
    pub location: Option<String>,
    /// `WWW-Authenticate`, if sent.
    pub www_authenticate: Option<String>,
    /// `Content-Type`, `""` if not sent.
    pub content_type: String,
    /// Every header, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl Answer {
    /// The first value of a header (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics, showing it, if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    /// The OAuth `error` of a JSON body, `""` if none.
    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or("").to_string()
    }

    /// A query parameter of the `Location` redirected to.
    pub fn location_param(&self, key: &str) -> Option<String> {
        let location = self.location.as_deref()?;
        param(&query_params(location), key).map(str::to_string)
    }
}

/// An agent that takes every status as an answer, follows no redirect,
/// uses no proxy and gives up after 30 s.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .new_agent()
}

/// Reads a response whole; panics if there is none.
pub fn answer(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut response = result.expect("the fake answers");
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let first = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let (location, www_authenticate) = (first("location"), first("www-authenticate"));
    let content_type = first("content-type").unwrap_or_default();
    Answer {
        status: response.status().as_u16(),
        location,
        www_authenticate,
        content_type,
        headers,
        body: response.body_mut().read_to_string().expect("a text body"),
    }
}

/// GETs `url` with an optional `Authorization` value.
pub fn get(url: &str, authorization: Option<&str>) -> Answer {
    let mut request = agent().get(url);
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    answer(request.call())
}

/// POSTs `form` to `url` with an optional `Authorization` value.
pub fn post_form(url: &str, authorization: Option<&str>, form: &[(&str, &str)]) -> Answer {
    let mut request = agent().post(url);
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    answer(request.send_form(form.iter().copied()))
}

/// An `Authorization` value for HTTP Basic.
pub fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

/// An `Authorization` value for a Bearer token.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}
