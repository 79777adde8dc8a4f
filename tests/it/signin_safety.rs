//! The sign-in against other programs and users on the same machine, and
//! what it prints: a forged error callback, a squatted `[::1]` port, the
//! authorize URL kept off the browser's command line behind a one-time
//! local page, terminal escapes in outside text, parallel first sign-ins
//! on one callback port, and lean, exact messages.
//!
//! Evidence: the helper's stdout and stderr, the fake's request log, and the
//! test browsers' logs (`open <url>` is the browser's command line).

use std::io::BufRead;
use std::net::TcpListener;
use std::process::{Output, Stdio};

use crate::common::env::{cloud_setup as setup, helper_path, key, python3, shell_quote, TestEnv};
use crate::common::fake::{FakeBitbucket, FakeOptions, Kind};
use crate::common::steps::hostile_env;
use crate::common::{assert_success, describe, stderr, stdout};
use crate::headless::{spawn_login_without_terminal, unset_config};

/// Runs a command on a pseudo-terminal and plays its user.
const PTY_LOGIN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pty-login.py");

/// What git sends the helper for the fake's host, with `username` if any.
fn get_input(fake: &FakeBitbucket, username: Option<&str>) -> String {
    let user = username
        .map(|u| format!("username={u}\n"))
        .unwrap_or_default();
    format!("protocol=http\nhost={}\n{user}\n", fake.host())
}

/// A loopback port nobody holds right now.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("its address").port()
}

#[track_caller]
fn assert_no_terminal_controls(text: &str, what: &str) {
    assert!(
        !text.contains(['\x1b', '\x07', '\u{9b}', '\u{202e}']),
        "{what} carries terminal controls: {text:?}"
    );
}

#[track_caller]
fn assert_quit(out: &Output) -> String {
    assert_success(out, "get (protocol actions exit 0)");
    assert_eq!(stdout(out), "quit=1\n", "{}", describe(out));
    stderr(out)
}

/// Another local program, which cannot know `state`, sends
/// `error=…&error_description=<escapes and a lure>` to the callback port.
/// It ends the sign-in, as any callback without `state` does, but is called
/// what it is, and none of its text reaches the terminal or the page.
#[test]
fn a_forged_error_callback_without_state_is_not_shown_as_bitbuckets_words() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let env = hostile_env(&fake, "forged-error");

    let out = env.helper(&["get"], &get_input(&fake, None));

    let err = assert_quit(&out);
    assert!(err.contains("did not come from Bitbucket"), "{err}");
    assert!(!err.contains("refused the sign-in"), "{err}");
    assert!(!err.contains("pwned") && !err.contains("555-0100"), "{err}");
    assert!(!err.contains("access_denied"), "{err}");
    assert_no_terminal_controls(&err, "stderr");
    let page = env.last_browser_page().expect("the failure page");
    assert!(page.contains("Sign-in failed"), "{page}");
    assert!(
        !page.contains("pwned") && !page.contains("555-0100"),
        "{page}"
    );
    assert!(
        fake.all_token_requests().is_empty(),
        "{:#?}",
        fake.requests()
    );
    assert!(
        !env.data_dir().join("tokens.json").exists(),
        "nothing stored"
    );
}

/// Someone else holds `[::1]:PORT` of a `localhost` redirect.
/// A browser resolving `localhost` to ::1 would hand them the code, so the
/// sign-in fails before any browser opens, naming the address and the key.
#[test]
fn a_held_ipv6_loopback_port_fails_the_sign_in_naming_the_port_and_the_key() {
    let Ok(squatter) = TcpListener::bind("[::1]:0") else {
        // No ::1 here: nobody can squat it either.
        eprintln!("skipped: ::1 cannot be bound on this machine");
        return;
    };
    let port = squatter.local_addr().expect("its address").port();
    let (fake, env) = setup();
    env.set_config(
        &key(&fake, "bitbucketRedirectUri"),
        &format!("http://localhost:{port}/"),
    );

    let out = env.helper(&["get"], &get_input(&fake, None));

    let err = assert_quit(&out);
    assert!(err.contains(&format!("[::1]:{port}")), "{err}");
    assert!(
        err.contains(&format!(
            "credential.{}.bitbucketRedirectUri",
            fake.base_url()
        )),
        "{err}"
    );
    assert_eq!(env.browser_opens(), 0, "{}", env.browser_log());
    assert!(fake.requests().is_empty(), "{:#?}", fake.requests());
    drop(squatter);
}

/// The message for a busy port names the real config key.
#[test]
fn a_busy_redirect_port_names_the_real_config_key() {
    let (fake, env) = setup();
    let busy = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = busy.local_addr().expect("its address").port();
    env.set_config(
        &key(&fake, "bitbucketRedirectUri"),
        &format!("http://127.0.0.1:{port}/"),
    );

    let err = assert_quit(&env.helper(&["get"], &get_input(&fake, None)));

    assert!(
        err.contains(&format!(
            "credential.{}.bitbucketRedirectUri",
            fake.base_url()
        )),
        "{err}"
    );
    assert!(!err.contains("credential.<url>"), "{err}");
    drop(busy);
}

/// The browser's command line (readable by every local user
/// in /proc) holds a one-time page of our own listener, not the authorize
/// URL with its `state`; the full URL is still printed on stderr, alone on
/// its line.
#[test]
fn the_browser_command_line_holds_no_state_and_stderr_still_has_the_url() {
    let (fake, env) = setup();

    let out = env.helper(&["get"], &get_input(&fake, None));

    assert_success(&out, "get");
    assert!(stdout(&out).contains("password="), "{}", describe(&out));
    let requests = fake.requests();
    let authorize = requests
        .iter()
        .find(|r| r.kind == Kind::Authorize)
        .expect("an authorize request");
    let state = authorize.param("state").expect("a state").to_owned();
    let opened = env.browser_urls();
    assert_eq!(opened.len(), 1, "{}", env.browser_log());
    assert!(
        !opened[0].contains(&state) && !opened[0].contains("state="),
        "the browser's argument carries the state: {}",
        opened[0]
    );
    assert!(
        opened[0].starts_with("http://127.0.0.1:") && opened[0].contains("/start/"),
        "{}",
        opened[0]
    );
    let prefix = format!("{}?", fake.authorize_url());
    let url_line = stderr(&out)
        .lines()
        .find(|l| l.starts_with(&prefix))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no authorize URL line: {}", describe(&out)));
    assert!(url_line.contains(&format!("state={state}")), "{url_line}");
    assert!(!url_line.contains(' '), "alone on its line: {url_line:?}");
}

/// Another user who read the start page's address and fetched
/// it first got the authorize URL; the real browser then finds the page
/// used, and the sign-in ends: the other user's callback is not taken.
#[test]
fn a_start_page_fetched_twice_ends_the_sign_in_and_takes_no_code() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let env = hostile_env(&fake, "start-twice");

    let out = env.helper(&["get"], &get_input(&fake, None));

    let err = assert_quit(&out);
    assert!(err.contains("opened twice"), "{err}");
    env.wait_for_browsers();
    let log = env.browser_log();
    assert!(
        log.contains("\nstart 302 "),
        "the first fetch redirected:\n{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.starts_with("request GET /start/") && l.ends_with(" 200")),
        "the second fetch got the page saying so:\n{log}"
    );
    assert_eq!(fake.count(&Kind::Authorize), 1, "{:#?}", fake.requests());
    assert!(
        fake.token_requests("authorization_code").is_empty(),
        "the code was exchanged: {:#?}",
        fake.requests()
    );
    assert!(
        !env.data_dir().join("tokens.json").exists(),
        "nothing stored"
    );
}

/// An account name from the remote URL with ESC and BEL in
/// it reaches the account-mismatch message as plain text.
#[test]
fn the_account_mismatch_message_carries_no_terminal_escapes() {
    let (fake, env) = setup();
    fake.set_browser_user("alice");

    let out = env.helper(
        &["get"],
        &get_input(&fake, Some("\x1b]0;owned\x07\x1b[2Jbob")),
    );

    let err = assert_quit(&out);
    assert!(err.contains("signed in to Bitbucket as alice"), "{err}");
    assert!(
        err.contains("]0;owned"),
        "the name is shown, made plain: {err}"
    );
    assert_no_terminal_controls(&err, "stderr");
}

/// Scopes the server chose are shown by `status` as plain
/// text.
#[test]
fn status_shows_server_scopes_without_terminal_escapes() {
    let fake = FakeBitbucket::start(FakeOptions {
        // Only what an HTTP header can carry (the fake sends the scopes in
        // one too): a C1 CSI and a right-to-left override.
        scopes: "account \u{9b}2J\u{202e}repository:write".into(),
        ..FakeOptions::default()
    });
    let env = TestEnv::new();
    env.configure_cloud(&fake);
    let out = env.helper(&["get"], &get_input(&fake, None));
    assert!(stdout(&out).contains("password="), "{}", describe(&out));

    let out = env.helper(&["status"], "");

    assert_success(&out, "status");
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains("repository:write"), "{text}");
    assert_no_terminal_controls(&text, "status");
}

/// Eight first clones at once on one fixed callback port,
/// half of them naming the account (`alice@`): all succeed, and the one
/// account signs in once, in one browser.
#[test]
fn parallel_first_clones_with_and_without_user_share_the_callback_port() {
    let (fake, env) = setup();
    fake.set_browser_user("alice");
    let port = free_port();
    env.set_config(
        &key(&fake, "bitbucketRedirectUri"),
        &format!("http://127.0.0.1:{port}/"),
    );

    let outs: Vec<Output> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..8)
            .map(|i| {
                let env = &env;
                let url = if i % 2 == 0 {
                    fake.repo_url()
                } else {
                    format!("http://alice@{}/ws/repo.git", fake.host())
                };
                s.spawn(move || env.git(&["ls-remote", &url]))
            })
            .collect();
        runs.into_iter()
            .map(|r| r.join().expect("a git runner"))
            .collect()
    });

    for (i, out) in outs.iter().enumerate() {
        assert!(out.status.success(), "git #{i}: {}", describe(out));
    }
    assert_eq!(env.browser_opens(), 1, "{}", env.browser_log());
    assert_eq!(fake.token_requests("authorization_code").len(), 1);
}

/// `login` with neither a browser nor a terminal fails at
/// once, naming the ways that do work, instead of waiting for a redirect
/// nobody was told to make.
#[test]
fn login_with_neither_browser_nor_terminal_fails_at_once_naming_what_works() {
    let (fake, env) = setup();
    unset_config(&env, &key(&fake, "bitbucketBrowser"));
    // Long enough that a wait would end in the timeout message instead.
    env.set_config(&key(&fake, "bitbucketLoginTimeout"), "300");
    // Over SSH: the port forwarding is one of the ways (guidance.rs checks
    // it is named only there).
    env.set_env("SSH_CONNECTION", "192.0.2.1 50000 192.0.2.2 22");

    let out = env.helper(&["login", &fake.base_url()], "");

    assert!(!out.status.success(), "{}", describe(&out));
    let err = stderr(&out);
    for phrase in [
        "ssh -L",
        &format!(
            "git credential-bitbucket login --no-browser {}",
            fake.base_url()
        ),
        "--api-token",
    ] {
        assert!(err.contains(phrase), "stderr lacks {phrase:?}:\n{err}");
    }
    assert!(!err.contains("timed out"), "{err}");
    assert!(fake.requests().is_empty(), "{:#?}", fake.requests());
}

/// The timeout says that a Bitbucket error page means the consumer
/// settings, naming both keys for this remote; a sign-in that ends within
/// seconds does not hear it while waiting (first_day.rs: after 20 s it
/// does).
#[test]
fn the_waiting_and_timeout_messages_name_the_consumer_keys() {
    let (fake, env) = setup();
    env.set_config(&key(&fake, "bitbucketLoginTimeout"), "1");
    // A browser that opens nothing, as with an unknown client id: Bitbucket
    // shows an error page and never redirects back.
    env.set_config(&key(&fake, "bitbucketBrowser"), "true");

    let err = assert_quit(&env.helper(&["get"], &get_input(&fake, None)));

    let before = err
        .split("timed out")
        .next()
        .expect("split yields a first part");
    let after = err
        .split("timed out")
        .nth(1)
        .unwrap_or_else(|| panic!("no timeout: {err}"));
    assert!(!before.contains("error page"), "{before}");
    for k in ["bitbucketClientId", "bitbucketRedirectUri"] {
        assert!(
            after.contains(&format!("credential.{}.{k}", fake.base_url())),
            "lacks {k}:\n{after}"
        );
    }
    assert!(after.contains("error page"), "{after}");
}

/// A wrong `state` keeps the remote's URL in the command it
/// suggests.
#[test]
fn a_wrong_state_suggests_login_with_the_url() {
    let (fake, env) = setup();
    env.set_env("FAKE_BROWSER_TAMPER_STATE", "1");

    let err = assert_quit(&env.helper(&["get"], &get_input(&fake, None)));

    assert!(
        err.contains(&format!(
            "`git credential-bitbucket login {}`",
            fake.base_url()
        )),
        "{err}"
    );
}

/// `login --no-browser` says to open the URL, not that a
/// browser will open; the URL is alone on its line.
#[test]
fn login_no_browser_does_not_talk_about_a_browser_opening() {
    let (fake, env) = setup();
    let mut child = spawn_login_without_terminal(&env, &fake);
    let lines = std::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    let prefix = format!("{}?", fake.authorize_url());
    let mut before = Vec::new();
    let mut url = None;
    for line in lines.map_while(Result::ok) {
        if line.starts_with(&prefix) {
            url = Some(line);
            break;
        }
        before.push(line);
    }
    // Done with it: it would wait for a redirect.
    let _ = child.kill();
    let _ = child.wait();

    let url = url.unwrap_or_else(|| panic!("no URL line after {before:#?}"));
    assert!(!url.contains(' '), "{url:?}");
    let said = crate::common::unwrapped(&before.join("\n"));
    assert!(!said.contains("in your browser"), "{said}");
    assert!(!said.contains("If no browser opens"), "{said}");
    assert!(said.contains("open this URL"), "{said}");
    // The test browsers were never run.
    assert_eq!(env.browser_opens(), 0);
}

/// When the sign-in ends through the callback while the paste
/// prompt waits on the terminal, the prompt's line is ended: the next
/// message starts on a line of its own.
#[test]
fn the_paste_prompt_is_ended_before_the_next_message() {
    let (fake, env) = setup();
    let mut cmd = env.command(python3());
    cmd.env("PTY_LOGIN_VIA", "callback")
        .arg(PTY_LOGIN)
        .arg(fake.authorize_url())
        .arg(helper_path())
        .args(["login", "--no-browser", &fake.base_url()]);

    let out = env.run(cmd, None);

    assert_success(&out, "login --no-browser on a pseudo-terminal");
    let pty = stdout(&out).replace('\r', "");
    let prompt = "Paste the redirect URL or code: ";
    let after = pty
        .split_once(prompt)
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no paste prompt: {}", describe(&out)));
    assert!(
        after.starts_with('\n'),
        "the prompt's line was not ended: {pty:?}"
    );
    assert!(after.contains("signed in"), "{}", describe(&out));
    assert_eq!(fake.token_requests("authorization_code").len(), 1);
}

/// A shell prefix that runs a command as another user (nobody), if this
/// test process may do so (it runs as root) and `/usr/bin/python3` is
/// usable there; else `None`.
pub(crate) fn as_another_user() -> Option<String> {
    let prefix = "setpriv --reuid=65534 --regid=65534 --clear-groups";
    let ok = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{prefix} /usr/bin/python3 -c 'import os; assert os.getuid() == 65534'"
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| prefix.to_owned())
}

/// Linux: another user's program that read the start page's
/// address from the browser's command line and fetched it first is refused
/// (the kernel's socket table names its owner); it cannot end the sign-in
/// either, and the real browser's sign-in goes on.
#[test]
fn another_users_fetch_of_the_start_page_is_refused_and_the_sign_in_goes_on() {
    let Some(other_user) = as_another_user() else {
        eprintln!("skipped: cannot run a program as another user here (needs root and setpriv)");
        return;
    };
    let (fake, env) = setup();
    let trace = env.root().join("trace.log");
    env.set_env("GIT_CREDENTIAL_BITBUCKET_TRACE", &trace);
    // The other user fetches the page, as a stealing program would (no
    // redirect followed), then the real browser (ours) opens it.
    let steal = "import sys, urllib.request as u\n\
                 class N(u.HTTPRedirectHandler):\n    \
                 def redirect_request(self, *a): return None\n\
                 try: u.build_opener(u.ProxyHandler({}), N()).open(sys.argv[1], timeout=10)\n\
                 except Exception as e: print(e)";
    let browser = format!(
        "f() {{ {other_user} /usr/bin/python3 -c {} \"$1\"; {} {} \"$1\"; }}; f",
        shell_quote(steal),
        shell_quote(&python3()),
        shell_quote(crate::common::env::FAKE_BROWSER),
    );
    env.set_config(&key(&fake, "bitbucketBrowser"), &browser);

    let out = env.helper(&["get"], &get_input(&fake, None));

    assert_success(&out, "get");
    assert!(stdout(&out).contains("password="), "{}", describe(&out));
    let traced = std::fs::read_to_string(&trace).unwrap_or_default();
    assert!(
        traced.contains("refused a connection from uid 65534"),
        "the other user's request reached the listener and was refused:\n{traced}"
    );
    env.wait_for_browsers();
    assert!(
        env.browser_log().contains("\nstart 302 "),
        "{}",
        env.browser_log()
    );
    assert_eq!(fake.token_requests("authorization_code").len(), 1);
}
