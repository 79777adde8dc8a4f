//! The pages the loopback listener answers the browser with (contract.md §6):
//! rendered by a real headless Chromium (the failure page here; the
//! success page in `headless`), and, as served, self-contained
//! (no request for anything outside the page) under a
//! `Content-Security-Policy: default-src 'none'`.
//!
//! The served bytes and headers come from the fake browser, which saves
//! every page it ends on with its response headers.

use std::path::PathBuf;

use crate::common::env::{cloud_setup as setup, key, TestEnv};
use crate::common::fake::Kind;
use crate::common::{assert_failure, stderr};
use crate::headless::{chromium_available, chromium_browser, chromium_dom};

/// The last page the fake browser ended on: its status, body and headers.
fn served_page(env: &TestEnv) -> (u16, String, Vec<(String, String)>) {
    env.wait_for_browsers();
    let log = env.browser_log();
    let line = log
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("page "))
        .unwrap_or_else(|| panic!("the browser saved no page:\n{log}"));
    let (status, path) = line.split_once(' ').expect("page <status> <path>");
    let body = std::fs::read_to_string(path).expect("read the saved page");
    let headers_path = PathBuf::from(format!(
        "{}.headers",
        path.strip_suffix(".html").expect("a .html page")
    ));
    let headers = std::fs::read_to_string(headers_path)
        .expect("read the saved headers")
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
        .collect();
    (status.parse().expect("a status"), body, headers)
}

/// Asserts the page loads nothing from anywhere: no URL of any scheme,
/// no `src`/`href`, no CSS import or `url(...)`, no script, and that it
/// is served as HTML under a CSP whose default is `'none'`.
#[track_caller]
fn assert_self_contained(body: &str, headers: &[(String, String)]) {
    let lower = body.to_ascii_lowercase();
    for needle in [
        "http:", "https:", "//", "src=", "href=", "@import", "url(", "<script", "<link", "<img",
        "<iframe", "<object", "<embed",
    ] {
        assert!(
            !lower.contains(needle),
            "the page holds {needle:?}:\n{body}"
        );
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let csp = header("content-security-policy")
        .unwrap_or_else(|| panic!("no Content-Security-Policy: {headers:?}"));
    assert!(
        csp.split(';').any(|d| d.trim() == "default-src 'none'"),
        "CSP: {csp}"
    );
    assert!(
        header("content-type").is_some_and(|t| t.starts_with("text/html")),
        "{headers:?}"
    );
}

#[test]
fn the_success_page_as_served_is_self_contained_under_a_strict_csp() {
    let (fake, env) = setup();
    env.git_ok(&["ls-remote", &fake.repo_url()]);

    let (status, body, headers) = served_page(&env);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Signed in to Bitbucket"), "{body}");
    assert_self_contained(&body, &headers);
}

#[test]
fn the_failure_page_as_served_is_self_contained_under_a_strict_csp() {
    let (fake, env) = setup();
    fake.set_deny(true);
    let out = env.git(&["ls-remote", &fake.repo_url()]);
    assert_failure(&out, "ls-remote after a denied sign-in");

    let (_, body, headers) = served_page(&env);
    assert!(body.contains("Sign-in failed"), "{body}");
    assert!(body.contains("access_denied"), "{body}");
    assert_self_contained(&body, &headers);
}

#[test]
fn real_headless_chromium_shows_the_failure_page_with_the_reason() {
    if !chromium_available("real_headless_chromium_shows_the_failure_page") {
        return;
    }
    let (fake, env) = setup();
    fake.set_deny(true);
    let dir = env.root().join("chromium");
    env.set_config(&key(&fake, "bitbucketBrowser"), &chromium_browser(&dir));

    let out = env.git(&["ls-remote", &fake.repo_url()]);

    assert_failure(&out, "ls-remote after a denied sign-in");
    assert!(stderr(&out).contains("access_denied"), "{}", stderr(&out));
    let dom = chromium_dom(&dir);
    assert!(dom.contains("Sign-in failed"), "{dom}");
    assert!(dom.contains("access_denied"), "the reason is shown:\n{dom}");
    assert!(
        dom.contains("The user denied access to the consumer."),
        "the description is shown:\n{dom}"
    );
    assert_eq!(fake.count(&Kind::Authorize), 1);
    assert_eq!(fake.all_token_requests().len(), 0, "{:#?}", fake.requests());
}
