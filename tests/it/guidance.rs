//! Messages that must send people the right way (issue #20): each test
//! sets the situation up for real, runs the real binary and reads what
//! the user sees on stderr (and stdout where it shows outside text).
//! Every message must name the fix that works, never one that loops or
//! does not apply, and fit a terminal: no line the helper prints is wider
//! than 100 columns.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Output;

use crate::common::env::{cloud_setup as setup, key, python3, TestEnv};
use crate::common::fake::{FakeBitbucket, FakeOptions, Kind};
use crate::common::{
    assert_failure, assert_success, describe, raw_stderr, stderr, stdout, unwrapped,
};
use crate::headless::unset_config;

/// The widest line a message may have, our name included.
const MAX_COLUMNS: usize = 100;

/// No line of what the helper printed on stderr is wider than
/// [`MAX_COLUMNS`]. A URL alone on its line (the sign-in URL) is the one
/// exception: it must stay whole to be opened.
#[track_caller]
fn assert_narrow(out: &Output) {
    let raw = raw_stderr(out);
    for line in raw.lines() {
        let alone = !line.trim().contains(' ') && line.contains("://");
        assert!(
            alone || line.chars().count() <= MAX_COLUMNS,
            "a line of {} columns:\n{line}\n--- all ---\n{raw}",
            line.chars().count()
        );
    }
}

/// `get` for the fake's host, as git sends it.
fn get(env: &TestEnv, fake: &FakeBitbucket) -> Output {
    env.helper(
        &["get"],
        &format!("protocol=http\nhost={}\n\n", fake.host()),
    )
}

/// `get` answered `quit=1`; returns stderr (unwrapped) after checking
/// its width.
#[track_caller]
fn quit_saying(out: &Output) -> String {
    assert_success(out, "get");
    assert_eq!(stdout(out), "quit=1\n", "{}", describe(out));
    assert_narrow(out);
    stderr(out)
}

/// Signs in with `login` as `user`.
fn login_as(fake: &FakeBitbucket, env: &TestEnv, user: &str) {
    fake.set_browser_user(user);
    let out = env.helper(&["login", &fake.base_url()], "");
    assert_success(&out, &format!("login as {user}"));
}

/// A loopback port with nobody listening.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("its address").port()
}

/// A token endpoint that answers every request with `head` and then
/// `body_len` bytes of `x`: a redirect, or a body too large to read.
/// Returns its URL; the server lives as long as the test process.
fn answering(head: &'static str, body_len: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            // Read the request (headers and a short form body) so the
            // client is not reset before it reads the answer.
            let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(2)));
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = conn.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&seen);
                if let Some((headers, body)) = text.split_once("\r\n\r\n") {
                    let length = headers
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        break;
                    }
                }
            }
            let _ = conn.write_all(head.as_bytes());
            let chunk = vec![b'x'; 64 * 1024];
            let mut left = body_len;
            while left > 0 {
                let n = left.min(chunk.len());
                if conn.write_all(&chunk[..n]).is_err() {
                    break;
                }
                left -= n;
            }
        }
    });
    format!("http://127.0.0.1:{port}/site/oauth2/access_token")
}

/// Runs the helper with `args` on a pseudo-terminal (stdin, stdout and
/// stderr), typing `input` once it has printed something or after a
/// moment; returns what the terminal showed, unwrapped.
fn on_terminal(env: &TestEnv, args: &[&str], input: &str) -> String {
    const DRIVER: &str = r#"
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:2] + sys.argv[3:])
text = sys.argv[2].encode()
out, deadline, typed, start = b"", time.time() + 20, False, time.time()
while time.time() < deadline:
    if not typed and (out or time.time() > start + 3):
        os.write(fd, text)
        typed = True
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
sys.stdout.write(out.decode("utf-8", "replace"))
"#;
    let helper = crate::common::env::helper_path();
    let mut cmd = env.command(python3());
    cmd.args([
        "-c",
        DRIVER,
        helper.to_str().expect("UTF-8 helper path"),
        input,
    ]);
    cmd.args(args);
    unwrapped(&stdout(&env.run(cmd, None)).replace("\r\n", "\n"))
}

// -- the consumer secret ---------------------------------------------------

#[test]
fn a_missing_consumer_secret_names_configure_and_stdin_not_gitconfig() {
    let (fake, env) = setup();
    unset_config(&env, &key(&fake, "bitbucketClientSecret"));

    let out = get(&env, &fake);

    let err = quit_saying(&out);
    let base = fake.base_url();
    for phrase in [
        format!("git credential-bitbucket configure {base}`, which asks"),
        "--client-secret-stdin".to_owned(),
    ] {
        assert!(err.contains(&phrase), "lacks {phrase:?}:\n{err}");
    }
    // gitconfig is where `doctor` says a secret must not be.
    assert!(
        !err.contains(&format!("set credential.{base}.bitbucketClientSecret")),
        "{err}"
    );
    assert!(fake.requests().is_empty(), "{:#?}", fake.requests());
}

// -- signing in ------------------------------------------------------------

#[test]
fn a_wrong_api_url_during_sign_in_names_bitbucket_api_url_not_login() {
    let (fake, env) = setup();
    let wrong = format!("{}/api/v2", fake.base_url());
    env.set_config(&key(&fake, "bitbucketApiUrl"), &wrong);

    let out = get(&env, &fake);

    let err = quit_saying(&out);
    assert!(
        err.contains(&format!("credential.{}.bitbucketApiUrl", fake.base_url())),
        "{err}"
    );
    assert!(err.contains(&wrong), "{err}");
    // Signing in again would only meet the same wrong URL.
    assert!(!err.contains("sign in again"), "{err}");
    assert_eq!(fake.token_requests("authorization_code").len(), 1);
}

#[test]
fn a_network_failure_during_the_code_exchange_gives_no_consumer_advice() {
    let (fake, env) = setup();
    let dead = format!(
        "http://127.0.0.1:{}/site/oauth2/access_token",
        closed_port()
    );
    env.set_config(&key(&fake, "bitbucketTokenUrl"), &dead);

    let out = get(&env, &fake);

    let err = quit_saying(&out);
    assert!(err.contains("could not reach"), "{err}");
    assert!(err.contains("can be reached"), "{err}");
    assert!(!err.contains("Check the consumer"), "{err}");
    assert_eq!(fake.count(&Kind::Authorize), 1);
}

#[test]
fn a_redirect_or_an_oversize_answer_to_the_code_exchange_gives_no_consumer_advice() {
    for (what, url) in [
        (
            "302",
            answering(
                "HTTP/1.1 302 Found\r\nLocation: https://example.invalid/\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n",
                0,
            ),
        ),
        (
            "oversize",
            answering(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                 Content-Length: 3000000\r\nConnection: close\r\n\r\n",
                3_000_000,
            ),
        ),
    ] {
        let (fake, env) = setup();
        env.set_config(&key(&fake, "bitbucketTokenUrl"), &url);

        let out = get(&env, &fake);

        let err = quit_saying(&out);
        assert!(err.contains("could not be completed"), "{what}: {err}");
        assert!(!err.contains("Check the consumer"), "{what}: {err}");
    }
}

#[test]
fn a_refused_consumer_secret_at_the_code_exchange_still_gets_consumer_advice() {
    let (fake, env) = setup();
    env.set_config(&key(&fake, "bitbucketClientSecret"), "not-the-secret");

    let out = get(&env, &fake);

    let err = quit_saying(&out);
    assert!(err.contains("Check the consumer's key and secret"), "{err}");
}

#[test]
fn login_mentions_ssh_port_forwarding_only_over_ssh() {
    let (fake, env) = setup();
    unset_config(&env, &key(&fake, "bitbucketBrowser"));
    env.remove_env("SSH_CONNECTION");

    let out = env.helper(&["login", &fake.base_url()], "");
    assert_failure(&out, "login without browser or terminal");
    assert_narrow(&out);
    let err = stderr(&out);
    assert!(err.contains("--no-browser"), "{err}");
    assert!(!err.contains("ssh -L"), "not over SSH:\n{err}");

    env.set_env("SSH_CONNECTION", "192.0.2.1 50000 192.0.2.2 22");
    let out = env.helper(&["login", &fake.base_url()], "");
    assert_failure(&out, "login over SSH without browser or terminal");
    assert!(stderr(&out).contains("ssh -L"), "{}", describe(&out));
}

#[test]
fn token_for_another_account_names_no_remote_url() {
    let (fake, env) = setup();
    fake.set_browser_user("alice");

    let out = env.helper(&["token", &fake.base_url(), "--account", "bob"], "");

    assert_failure(&out, "token --account bob, signed in as alice");
    assert_eq!(stdout(&out), "");
    assert_narrow(&out);
    let err = stderr(&out);
    assert!(err.contains("alice") && err.contains("bob"), "{err}");
    assert!(!err.contains("remote URL"), "{err}");
}

// -- stored tokens -----------------------------------------------------------

#[test]
fn a_refused_api_token_is_called_an_api_token_not_an_app_password() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let env = TestEnv::new();
    let token = fake.mint_api_token("alice");
    assert!(token.starts_with("ATATT"), "{token}");
    let out = env.helper(
        &[
            "configure",
            &fake.base_url(),
            "--api-token",
            "--kind",
            "cloud",
            "--store",
            "file",
        ],
        &format!("{token}\n"),
    );
    assert_success(&out, "configure --api-token");

    let out = env.helper(
        &["erase"],
        &format!(
            "protocol=http\nhost={}\nusername=x-bitbucket-api-token-auth\npassword={token}\n\n",
            fake.host()
        ),
    );

    assert_success(&out, "erase");
    assert_narrow(&out);
    let err = stderr(&out);
    assert!(err.contains("refused the stored API token"), "{err}");
    assert!(err.contains("--api-token"), "{err}");
    assert!(!err.contains("app password"), "{err}");
}

// -- configure ---------------------------------------------------------------

#[test]
fn configure_run_again_while_signed_in_does_not_promise_a_browser() {
    let (fake, env) = setup();
    login_as(&fake, &env, "alice");

    let out = env.helper(&["configure", &fake.base_url(), "--kind", "cloud"], "");

    assert_success(&out, "configure again");
    assert_narrow(&out);
    let err = stderr(&out);
    assert!(!err.contains("opens the browser"), "{err}");
    assert!(err.contains("alice is signed in"), "{err}");
}

#[test]
fn configure_without_a_secret_says_so_and_promises_no_browser() {
    let env = TestEnv::new();
    let fake = FakeBitbucket::start(FakeOptions::default());

    let out = env.helper(
        &[
            "configure",
            &fake.base_url(),
            "--kind",
            "cloud",
            "--client-id",
            "new-key",
            "--store",
            "file",
        ],
        "",
    );

    assert_success(&out, "configure without a secret");
    assert_narrow(&out);
    let err = stderr(&out);
    assert!(err.contains("no consumer secret is set"), "{err}");
    assert!(!err.contains("opens the browser"), "{err}");
}

// -- switch ------------------------------------------------------------------

#[test]
fn switch_url_with_two_accounts_toggles_and_never_takes_the_url_as_an_account() {
    let (fake, env) = setup();
    login_as(&fake, &env, "alice");
    login_as(&fake, &env, "bob");

    let out = env.helper(&["switch", &fake.base_url()], "");

    assert_success(&out, "switch URL");
    assert_narrow(&out);
    let err = stderr(&out);
    assert!(err.contains("alice is now the default"), "{err}");
    assert!(!err.contains("bitbucket.org"), "{err}");

    let out = env.helper(&["switch", &fake.base_url()], "");
    assert_success(&out, "switch URL again");
    assert!(
        stderr(&out).contains("bob is now the default"),
        "{}",
        describe(&out)
    );
}

#[test]
fn switch_account_means_the_one_host_set_up_and_bare_switch_lists_the_accounts() {
    let (fake, env) = setup();
    login_as(&fake, &env, "alice");
    login_as(&fake, &env, "bob");

    let out = env.helper(&["switch"], "");
    assert_success(&out, "bare switch");
    assert_narrow(&out);
    let err = stderr(&out);
    for phrase in ["alice", "bob (default)", &fake.base_url()] {
        assert!(err.contains(phrase), "lacks {phrase:?}:\n{err}");
    }

    let out = env.helper(&["switch", "alice"], "");
    assert_success(&out, "switch alice");
    let err = stderr(&out);
    assert!(
        err.contains(&format!("alice is now the default for {}", fake.base_url())),
        "{err}"
    );
    assert!(!err.contains("bitbucket.org"), "{err}");

    fake.clear_log();
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    let used: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.kind == Kind::Git && r.status == 200)
        .filter_map(|r| r.account)
        .collect();
    assert!(
        !used.is_empty() && used.iter().all(|a| a == "alice"),
        "{used:?}"
    );
}

// -- unconfigure -------------------------------------------------------------

#[test]
fn unconfigure_removes_the_secrets_of_earlier_consumer_keys_too() {
    let env = TestEnv::new();
    let fake = FakeBitbucket::start(FakeOptions::default());
    let base = fake.base_url();
    for (id, secret) in [("old-key", "old-secret"), ("new-key", "new-secret")] {
        let out = env.helper(
            &[
                "configure",
                &base,
                "--kind",
                "cloud",
                "--store",
                "file",
                "--client-id",
                id,
                "--client-secret-stdin",
            ],
            &format!("{secret}\n"),
        );
        assert_success(&out, &format!("configure --client-id {id}"));
    }
    let secrets = env.data_dir().join("secrets.json");
    let kept = std::fs::read_to_string(&secrets).expect("secrets.json");
    assert!(kept.contains("old-secret") && kept.contains("new-secret"));

    let out = env.helper(&["unconfigure", &base], "");

    assert_success(&out, "unconfigure");
    assert_narrow(&out);
    let left = std::fs::read_to_string(&secrets).unwrap_or_default();
    assert!(
        !left.contains("old-secret") && !left.contains("new-secret"),
        "left: {left}"
    );
    let err = stderr(&out);
    assert!(err.contains("keys new-key, old-key"), "{err}");
}

// -- typed by hand -----------------------------------------------------------

#[test]
fn get_on_a_terminal_says_what_it_reads() {
    let env = TestEnv::new();

    let shown = on_terminal(&env, &["get"], "protocol=https\nhost=example.com\n\n");

    assert!(
        shown.contains("reading a request as git sends it"),
        "{shown}"
    );
    assert!(shown.contains("protocol=https"), "{shown}");
    // Not ours: nothing else is said.
    assert_eq!(
        shown.matches("git-credential-bitbucket:").count(),
        1,
        "{shown}"
    );
}

#[test]
fn get_from_a_pipe_stays_silent() {
    let env = TestEnv::new();
    let out = env.helper(&["get"], "protocol=https\nhost=example.com\n\n");
    assert_success(&out, "get");
    assert_eq!(raw_stderr(&out), "");
    assert_eq!(stdout(&out), "");
}

#[test]
fn other_tools_words_get_a_suggestion_and_an_unknown_option_is_called_one() {
    let env = TestEnv::new();
    for (typed, meant) in [
        (&["signin"][..], "login"),
        (&["auth", "login"][..], "login"),
        (&["list"][..], "status"),
    ] {
        let shown = on_terminal(&env, typed, "");
        assert!(
            shown.contains(&format!("did you mean `{meant}`?")),
            "{typed:?}:\n{shown}"
        );
    }
    let shown = on_terminal(&env, &["--bogus"], "");
    assert!(shown.contains("unknown option \"--bogus\""), "{shown}");
    assert!(!shown.contains("unknown command"), "{shown}");
}

// -- text from outside ---------------------------------------------------------

/// Invisible and reordering characters a server could put in a name or a
/// scope: Arabic letter mark, zero-width space, line separator, soft
/// hyphen, right-to-left override.
const SNEAKY: [char; 5] = ['\u{61c}', '\u{200b}', '\u{2028}', '\u{ad}', '\u{202e}'];

#[track_caller]
fn assert_clean(what: &str, text: &str) {
    for c in SNEAKY {
        assert!(
            !text.contains(c),
            "{what} shows U+{:04X}:\n{text:?}",
            u32::from(c)
        );
    }
}

#[test]
fn sneaky_characters_in_stored_names_and_scopes_never_reach_the_terminal_or_json() {
    let (fake, env) = setup();
    login_as(&fake, &env, "alice");
    login_as(&fake, &env, "bob");
    // A record as a server could have filled it before these characters
    // were cleaned at the door.
    let path = env.data_dir().join("tokens.json");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("tokens.json")).expect("JSON");
    let sneaky_name = "ev\u{61c}e\u{200b}\u{2028}\u{ad}\u{202e}";
    for r in doc["records"].as_array_mut().expect("records") {
        if r["account"]["username"] == "alice" {
            r["account"]["username"] = sneaky_name.into();
            for k in ["nickname", "display_name"] {
                if r["account"].get(k).is_some() {
                    r["account"][k] = sneaky_name.into();
                }
            }
        }
        r["scopes"] = "repository\u{202e}:write account\u{200b}".into();
    }
    std::fs::write(&path, serde_json::to_vec(&doc).expect("JSON")).expect("write");

    let out = env.helper(&["status"], "");
    assert_success(&out, "status");
    assert_clean("status", &format!("{}{}", stdout(&out), raw_stderr(&out)));

    let out = env.helper(&["status", "--json"], "");
    assert_success(&out, "status --json");
    assert_clean("status --json", &stdout(&out));
    // Escaped, not dropped: a program reading the JSON gets the value.
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert!(
        json.to_string().contains('\u{202e}'),
        "the scope was dropped: {json}"
    );

    let out = env.helper(&["doctor", &fake.base_url()], "");
    assert_clean("doctor", &format!("{}{}", stdout(&out), raw_stderr(&out)));
    let out = env.helper(&["doctor", &fake.base_url(), "--json"], "");
    assert_clean("doctor --json", &stdout(&out));

    let out = env.helper(&["switch", &fake.base_url()], "");
    assert_success(&out, "switch");
    assert_clean("switch", &raw_stderr(&out));

    let out = env.helper(&["switch"], "");
    assert_clean("bare switch", &raw_stderr(&out));

    let out = env.helper(&["logout", &fake.base_url(), "--all"], "");
    assert_success(&out, "logout --all");
    assert_clean("logout", &raw_stderr(&out));
}

#[test]
fn sneaky_characters_in_a_granted_scope_are_cleaned_at_the_door() {
    let (fake, env) = setup();
    fake.set_token_answer(Some(|mut answer| {
        answer["scope"] = "repository\u{202e}:write account\u{200b}\u{2028}".into();
        answer.to_string()
    }));
    login_as(&fake, &env, "alice");

    let saved = std::fs::read_to_string(env.data_dir().join("tokens.json")).expect("tokens");
    let doc: serde_json::Value = serde_json::from_str(&saved).expect("JSON");
    let scopes = doc["records"][0]["scopes"].as_str().unwrap_or_default();
    assert_clean("the saved scopes", scopes);
    let out = env.helper(&["status", "--json"], "");
    assert_clean("status --json", &stdout(&out));
}
