//! Shared test machinery: the strict fake Bitbucket Cloud ([`fake`]) and
//! Data Center ([`fake_dc`]) with the server they share ([`fake_core`])
//! and the plumbing under it ([`http`], [`mini`]), a plain client to drive
//! them by hand ([`client`]), the isolated environment that runs git and
//! the helper ([`env`]), a Secret Service for the keyring
//! ([`secret_service`]), the steps and evidence readers the robustness
//! tests share ([`steps`]), a company network's TLS front with a throwaway
//! CA ([`tls_front`]) and forward proxy ([`proxy`]), and small helpers for URLs, time and asserting
//! on a command's outcome.
//!
//! Not every test module uses every helper, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod client;
pub mod env;
pub mod fake;
pub mod fake_core;
pub mod fake_dc;
pub mod http;
pub mod mini;
pub mod proxy;
pub mod secret_service;
pub mod steps;
pub mod tls_front;
pub mod wine;

use std::process::Output;

use self::env::TestEnv;
use self::fake_core::{FakeServer, Flavor};
use self::http::{Kind, LoggedRequest};

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes; a malformed escape is kept as it is.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes one `application/x-www-form-urlencoded` component (`+` is a space).
pub fn form_decode(s: &str) -> String {
    percent_decode(&s.replace('+', " "))
}

/// Parses a query string or form body into ordered pairs.
pub fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|part| !part.is_empty())
        .map(|part| match part.split_once('=') {
            Some((k, v)) => (form_decode(k), form_decode(v)),
            None => (form_decode(part), String::new()),
        })
        .collect()
}

/// The first value of `key` among `pairs`.
pub fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The query parameters of a URL (`?a=b&c=d`), decoded.
pub fn query_params(url: &str) -> Vec<(String, String)> {
    match url.split_once('?') {
        Some((_, q)) => parse_form(q.split('#').next().unwrap_or("")),
        None => Vec::new(),
    }
}

/// Sleeps until `deadline` (no-op if it has passed).
pub fn sleep_until(deadline: std::time::Instant) {
    if let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        std::thread::sleep(left);
    }
}

/// A command's stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A command's stderr as text.
pub fn stderr(out: &Output) -> String {
    unwrapped(&String::from_utf8_lossy(&out.stderr))
}

/// Our messages as written, each on one line: the helper wraps them at
/// 80 columns by turning a space into a line break and two spaces, so
/// phrases are matched as written. The raw lines: [`raw_stderr`].
pub fn unwrapped(text: &str) -> String {
    text.replace("\n  ", " ")
}

/// stderr exactly as the user sees it, wrapped lines and all.
pub fn raw_stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Renders an outcome for a panic message: status, stdout and stderr.
pub fn describe(out: &Output) -> String {
    format!(
        "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        stdout(out),
        stderr(out)
    )
}

/// Panics, showing the output, unless the command succeeded.
#[track_caller]
pub fn assert_success(out: &Output, what: &str) {
    assert!(out.status.success(), "{what} failed\n{}", describe(out));
}

/// Panics, showing the output, unless the command failed.
#[track_caller]
pub fn assert_failure(out: &Output, what: &str) {
    assert!(
        !out.status.success(),
        "{what} unexpectedly succeeded\n{}",
        describe(out)
    );
}

/// Every git request in `log` that `pick` keeps was answered 200 for
/// `account` (and, given a `scheme`, sent with that scheme), and there was
/// at least one (`which` names them in the failure).
#[track_caller]
pub fn assert_git_served_as(
    log: &[LoggedRequest],
    which: &str,
    pick: impl Fn(&LoggedRequest) -> bool,
    account: &str,
    scheme: Option<&str>,
) {
    let picked: Vec<&LoggedRequest> = log
        .iter()
        .filter(|r| r.kind == Kind::Git && pick(r))
        .collect();
    assert!(!picked.is_empty(), "no {which} git request: {log:#?}");
    for r in picked {
        let sent = scheme.and(r.auth_scheme.as_deref());
        assert_eq!(
            (r.status, r.account.as_deref(), sent),
            (200, Some(account), scheme),
            "{r:#?}"
        );
    }
}

/// Clears the fake's log and runs `git ls-remote` of its repository,
/// which must succeed with one token request: a refresh, answered 200.
#[track_caller]
pub fn ls_remote_refreshes_once<F: Flavor>(fake: &FakeServer<F>, env: &TestEnv) {
    fake.clear_log();
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    let refreshes = fake.token_requests("refresh_token");
    assert_eq!(refreshes.len(), 1, "{:#?}", fake.requests());
    assert_eq!(refreshes[0].status, 200);
    assert_eq!(fake.all_token_requests().len(), 1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_round_trips_reserved_characters() {
        let value = "a+b/c=d&e f%g~";
        let encoded = percent_encode(value);
        assert_eq!(encoded, "a%2Bb%2Fc%3Dd%26e%20f%25g~");
        assert_eq!(form_decode(&encoded), value);
        assert_eq!(
            parse_form("x=1&y=a+b&z=%2B&w"),
            vec![
                ("x".into(), "1".into()),
                ("y".into(), "a b".into()),
                ("z".into(), "+".into()),
                ("w".into(), String::new()),
            ]
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }
}
