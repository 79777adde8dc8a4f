//! The listener against programs of another local user (docs/security.md,
//! "Other local users watching a sign-in"): a dual-stack client on the
//! IPv4-mapped address, a client that resets its connection right after
//! its request, and a flood of idle connections. Each is played by a real
//! program running as uid 65534 (`setpriv`; the tests run as root), which
//! the helper's browser command starts just before the real (test)
//! browser, and the sign-in must end with the real browser's account.
//!
//! Evidence: the helper's stdout, its trace (which names refused
//! connections), the fake's code exchanges, the attacker's own report.

use std::process::Output;

use crate::common::env::{cloud_setup as setup, key, python3, shell_quote, TestEnv, FAKE_BROWSER};
use crate::common::fake::FakeBitbucket;
use crate::common::steps::{get_input, TRACE_ENV};
use crate::common::{assert_success, describe, stdout};
use crate::signin_safety::as_another_user;

/// The start page's URL with `127.0.0.1` written as the IPv4-mapped IPv6
/// address, as a dual-stack program (Java's sockets) connects: `$u`.
const MAPPED_URL: &str = "u=$(printf %s \"$1\" | sed 's#//127.0.0.1:#//[::ffff:127.0.0.1]:#')";

/// Sets the browser to run `attack` (shell, with the start page's URL in
/// `$1`) and then the test browser on `$url_expr`; returns the trace path.
fn browser_after(
    env: &TestEnv,
    fake: &FakeBitbucket,
    attack: &str,
    url_expr: &str,
) -> std::path::PathBuf {
    let trace = env.root().join("trace.log");
    env.set_env(TRACE_ENV, &trace);
    let browser = format!(
        "f() {{ {MAPPED_URL}; {attack}; {} {} {url_expr}; }}; f",
        shell_quote(&python3()),
        shell_quote(FAKE_BROWSER),
    );
    env.set_config(&key(fake, "bitbucketBrowser"), &browser);
    env.set_config(&key(fake, "bitbucketLoginTimeout"), "40");
    trace
}

/// A python program run as another user with the start page's URL.
fn as_other(other_user: &str, script: &str, url_expr: &str) -> String {
    format!(
        "{other_user} /usr/bin/python3 -c {} {url_expr}",
        shell_quote(script)
    )
}

/// The sign-in went through with the real browser's code, once.
#[track_caller]
fn assert_signed_in(fake: &FakeBitbucket, env: &TestEnv, out: &Output, trace: &std::path::Path) {
    let traced = std::fs::read_to_string(trace).unwrap_or_default();
    assert_success(out, "get");
    assert!(
        stdout(out).contains("password="),
        "{}\nbrowser log:\n{}\ntrace:\n{traced}",
        describe(out),
        env.browser_log()
    );
    assert_eq!(fake.token_requests("authorization_code").len(), 1);
}

/// Item 1 of issue 21: another user's program connects to the 127.0.0.1
/// listener through the IPv4-mapped address (`::ffff:127.0.0.1`), which
/// Linux lists only in `/proc/net/tcp6`. It was let through as "not
/// found", took the start page (and with it `state`), and the real
/// browser's fetch then ended the sign-in. It is refused now.
#[test]
fn another_users_fetch_through_the_ipv4_mapped_address_is_refused() {
    let Some(other_user) = as_another_user() else {
        eprintln!("skipped: cannot run a program as another user here (needs root and setpriv)");
        return;
    };
    let (fake, env) = setup();
    let steal = "import sys, urllib.request as u\n\
                 class N(u.HTTPRedirectHandler):\n    \
                 def redirect_request(self, *a): return None\n\
                 try:\n    \
                 r = u.build_opener(u.ProxyHandler({}), N()).open(sys.argv[1], timeout=10)\n    \
                 print('stole', r.status)\n\
                 except Exception as e: print('refused', e)";
    let trace = browser_after(
        &env,
        &fake,
        &as_other(&other_user, steal, "\"$u\""),
        "\"$1\"",
    );

    let out = env.helper(&["get"], &get_input(&fake));

    assert_signed_in(&fake, &env, &out, &trace);
    let traced = std::fs::read_to_string(&trace).unwrap_or_default();
    assert!(
        traced.contains("refused a connection from uid 65534"),
        "the other user's mapped connection reached the listener and was refused:\n{traced}"
    );
}

/// The other side of item 1: our own dual-stack browser, on the same
/// mapped address, is found in `tcp6` and served (failing closed must not
/// refuse it).
#[test]
fn our_own_browser_through_the_ipv4_mapped_address_signs_in() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: no IPv6 sockets here");
        return;
    }
    let (fake, env) = setup();
    let trace = browser_after(&env, &fake, "true", "\"$u\"");

    let out = env.helper(&["get"], &get_input(&fake));

    assert_signed_in(&fake, &env, &out, &trace);
    assert!(
        env.browser_log().contains("\nstart 302 "),
        "the mapped fetch got the start page:\n{}",
        env.browser_log()
    );
}

/// Item 2 of issue 21: another user's program sends `GET /start/<nonce>`
/// and resets the connection at once (`SO_LINGER` 0). Its socket is gone
/// from the table by the time the request was read, so it was let
/// through, took the start page, and the sign-in ended "opened twice".
/// The peer is checked at `accept` now, and a peer already gone is
/// refused.
#[test]
fn another_users_request_that_resets_the_connection_cannot_end_the_sign_in() {
    let Some(other_user) = as_another_user() else {
        eprintln!("skipped: cannot run a program as another user here (needs root and setpriv)");
        return;
    };
    let (fake, env) = setup();
    let reset = "import socket, struct, sys, urllib.parse as p\n\
                 u = p.urlsplit(sys.argv[1])\n\
                 s = socket.create_connection((u.hostname, u.port))\n\
                 s.sendall(b'GET ' + u.path.encode() + b' HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')\n\
                 s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))\n\
                 s.close()";
    let attack = format!("{}; sleep 0.5", as_other(&other_user, reset, "\"$1\""));
    let trace = browser_after(&env, &fake, &attack, "\"$1\"");

    let out = env.helper(&["get"], &get_input(&fake));

    assert!(
        !crate::common::stderr(&out).contains("opened twice"),
        "the reset request ended the sign-in: {}",
        describe(&out)
    );
    assert_signed_in(&fake, &env, &out, &trace);
    let traced = std::fs::read_to_string(&trace).unwrap_or_default();
    assert!(
        traced.contains("loopback: refused a connection"),
        "{traced}"
    );
}

/// Item 3 of issue 21: another user holds 1,100 idle connections to the
/// listener (a byte every two seconds, never a whole request). With one
/// thread and one descriptor per connection, a helper at the usual soft
/// limit of 1,024 descriptors could accept no more, and the browser was
/// never served. They are refused at `accept` now, and the browser is.
#[test]
fn a_flood_of_idle_connections_from_another_user_does_not_keep_the_browser_out() {
    let Some(other_user) = as_another_user() else {
        eprintln!("skipped: cannot run a program as another user here (needs root and setpriv)");
        return;
    };
    let (fake, env) = setup();
    let ready = env.root().join("flood").join("ready");
    let flood = "import resource, socket, sys, time, urllib.parse as p\n\
                 u = p.urlsplit(sys.argv[1])\n\
                 soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n\
                 resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))\n\
                 socks = []\n\
                 for i in range(1100):\n    \
                 try:\n        \
                 s = socket.socket(); s.settimeout(2); s.connect((u.hostname, u.port)); socks.append(s)\n    \
                 except OSError: pass\n\
                 open(sys.argv[2], 'w').write('%d\\n' % len(socks))\n\
                 end = time.time() + 30\n\
                 while time.time() < end:\n    \
                 for s in socks:\n        \
                 try: s.send(b'G')\n        \
                 except OSError: pass\n    \
                 time.sleep(2)";
    // The flood runs in the background for 30 s; the real browser starts
    // once its connections are open.
    let attack = format!(
        "( {} \"$1\" {} >/dev/null 2>&1 & ); \
         i=0; while [ ! -s {} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done",
        as_other(&other_user, flood, ""),
        shell_quote(ready.to_str().expect("UTF-8 path")),
        shell_quote(ready.to_str().expect("UTF-8 path")),
    );
    // The attacker (uid 65534) writes its report there.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path, m| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod")
        };
        mode(env.root(), 0o711);
        std::fs::create_dir(ready.parent().expect("a parent")).expect("mkdir");
        mode(ready.parent().expect("a parent"), 0o777);
    }
    let trace = browser_after(&env, &fake, &attack, "\"$1\"");
    // The helper runs with the usual soft limit of 1,024 descriptors.
    let mut cmd = env.command("prlimit");
    cmd.arg("--nofile=1024:4096")
        .arg(env.helper_bin())
        .arg("get");

    let out = env.run(cmd, Some(get_input(&fake).as_bytes()));

    let opened = std::fs::read_to_string(&ready).unwrap_or_default();
    assert!(
        opened.trim().parse::<u32>().is_ok_and(|n| n >= 1024),
        "the flood opened {opened:?} connections"
    );
    assert_signed_in(&fake, &env, &out, &trace);
}
