//! The sign-in's loopback listener against a hostile browser (contract.md
//! §6): other paths and methods get 404, bad callbacks end the sign-in
//! without a token request, the failure page escapes what it shows.
//!
//! As in `cloud`, every assertion rests on evidence from outside the
//! helper: the hostile browser's log and pages, the fake's
//! request log, git's exit status and output, and sockets.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::common::env::TestEnv;
use crate::common::fake::{FakeBitbucket, FakeOptions, Kind};
use crate::common::{assert_success, describe, stderr, stdout};

use crate::common::steps::{get_input, hostile_env, wait_for, PAUSE_ENV, TRACE_ENV};

/// The port of the loopback redirect the helper sent at authorize.
fn redirect_port(fake: &FakeBitbucket) -> u16 {
    let requests = fake.requests();
    let authorize = requests
        .iter()
        .find(|r| r.kind == Kind::Authorize)
        .expect("an authorize request");
    let uri = authorize.param("redirect_uri").expect("a redirect_uri");
    uri.trim_start_matches("http://127.0.0.1:")
        .split('/')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {uri}"))
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
fn listening(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
}

/// The hostile browser's `request METHOD TARGET STATUS` lines.
fn listener_requests(env: &TestEnv) -> Vec<(String, String, u16)> {
    env.browser_log()
        .lines()
        .filter_map(|l| l.strip_prefix("request "))
        .map(|l| {
            let mut parts = l.split(' ');
            let method = parts.next().unwrap_or_default().to_string();
            let target = parts.next().unwrap_or_default().to_string();
            let status = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
            (method, target, status)
        })
        .collect()
}

/// contract.md §6: other paths and methods get 404 and the wait goes on; the
/// real callback then succeeds; the listener is closed right after the
/// callback, while the helper is still running.
#[test]
fn loopback_answers_404_to_other_paths_and_methods_then_takes_the_callback_and_closes() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let env = hostile_env(&fake, "probe-then-callback");
    let trace = env.root().join("trace.log");
    env.use_test_hooks();
    let mut cmd = env.helper_command(&["get"]);
    // The store write after the sign-in pauses 1.5 s: the helper is still
    // alive then, so a closed port shows the listener itself was closed.
    cmd.env(PAUSE_ENV, "1500").env(TRACE_ENV, &trace);
    let input = get_input(&fake);

    let (out, port_open_while_paused) = std::thread::scope(|s| {
        let helper = s.spawn(|| env.run(cmd, Some(input.as_bytes())));
        let paused = || std::fs::read_to_string(&trace).is_ok_and(|t| t.contains("pausing"));
        wait_for(
            "the helper to reach the store write or end",
            Duration::from_secs(30),
            || paused() || helper.is_finished(),
        );
        // `None`: the helper never got as far as storing a token; the
        // assertions below say why.
        let open = paused().then(|| listening(redirect_port(&fake)));
        (helper.join().expect("the helper runner"), open)
    });

    assert_success(&out, "helper get");
    assert!(
        stdout(&out).contains("password=at."),
        "a token after the probes: {}",
        describe(&out)
    );
    env.wait_for_browsers();
    let requests = listener_requests(&env);
    let statuses: Vec<(&str, u16)> = requests.iter().map(|(m, _, s)| (m.as_str(), *s)).collect();
    assert_eq!(
        statuses,
        [("GET", 404), ("GET", 404), ("POST", 404), ("GET", 200)],
        "browser log:\n{}",
        env.browser_log()
    );
    assert!(requests[0].1 == "/favicon.ico" && requests[1].1.starts_with("/elsewhere?code="));
    let page = env.last_browser_page().expect("the callback page");
    assert!(page.contains("Signed in"), "{page}");
    let exchanges = fake.token_requests("authorization_code");
    assert_eq!(exchanges.len(), 1, "{:#?}", fake.requests());
    assert_eq!(exchanges[0].status, 200);
    assert_eq!(fake.count(&Kind::Authorize), 1);
    assert_eq!(
        port_open_while_paused,
        Some(false),
        "the loopback port still accepted connections after the callback"
    );
    // Control: the probe does see a port that is open.
    let open = TcpListener::bind("127.0.0.1:0").expect("bind");
    assert!(listening(open.local_addr().expect("addr").port()));
}

/// contract.md §6: a callback with a wrong or missing `state`, or without a
/// code, ends the sign-in at once with a message and no token request.
#[test]
fn loopback_callbacks_with_a_bad_state_or_no_code_end_the_sign_in_without_a_token_request() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    for (mode, says) in [
        ("bad-state", "state"),
        ("missing-state", "state"),
        ("no-code", "no authorization code"),
    ] {
        let env = hostile_env(&fake, mode);
        fake.clear_log();
        let started = Instant::now();
        let out = env.helper(&["get"], &get_input(&fake));
        let took = started.elapsed();

        assert_eq!(stdout(&out), "quit=1\n", "{mode}: {}", describe(&out));
        assert!(
            took < Duration::from_secs(20),
            "{mode}: ended at once, not at the login timeout: {took:?}"
        );
        assert!(
            stderr(&out).contains(says),
            "{mode}: stderr says why:\n{}",
            stderr(&out)
        );
        env.wait_for_browsers();
        let requests = listener_requests(&env);
        assert_eq!(requests.len(), 1, "{mode}: {}", env.browser_log());
        let page = env.last_browser_page().expect("a page");
        assert!(page.contains("Sign-in failed"), "{mode}: {page}");
        assert_eq!(fake.count(&Kind::Authorize), 1, "{mode}");
        assert!(
            fake.all_token_requests().is_empty(),
            "{mode}: {:#?}",
            fake.requests()
        );
        assert!(!listening(redirect_port(&fake)), "{mode}: port closed");
        assert!(
            !env.data_dir().join("tokens.json").exists(),
            "{mode}: nothing stored"
        );
    }
}

/// contract.md §6: the failure page echoes no input unescaped.
#[test]
fn loopback_failure_page_escapes_the_error_description() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let env = hostile_env(&fake, "error-xss");

    let out = env.helper(&["get"], &get_input(&fake));

    assert_eq!(stdout(&out), "quit=1\n", "{}", describe(&out));
    assert!(stderr(&out).contains("access_denied"), "{}", stderr(&out));
    let page = env.last_browser_page().expect("the failure page");
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the description is shown, escaped:\n{page}"
    );
    assert!(!page.contains("<script"), "unescaped markup:\n{page}");
    assert!(
        fake.all_token_requests().is_empty(),
        "{:#?}",
        fake.requests()
    );
    assert!(!listening(redirect_port(&fake)));
}
