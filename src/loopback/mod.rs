//! The loopback listener that receives the OAuth redirect (contract.md §6).
//!
//! It is bound before the browser opens, answers only a GET on the
//! redirect path (anything else gets 404 and the wait goes on), checks
//! `state` in constant time, answers the browser with a small page, and
//! closes. It also serves a one-time start page that redirects to the
//! authorize URL, so the browser's command line (readable by every local
//! user) never holds `state` (docs/security.md). The callback parser is a
//! pure function, fuzzed by the tests.

use crate::secret::Secret;
use crate::url::{parse_query, HttpUrl};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

/// What ends a sign-in's wait: the authorization code from the callback
/// (or a paste), or why there is none.
pub type Callback = Result<Secret, CallbackError>;

/// Why a callback (or a pasted redirect URL) ends the sign-in. The
/// messages say what happened; the caller adds what to run next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// Bitbucket redirected with `error=` and our `state` (the user
    /// denied, or the consumer is misconfigured).
    #[error(
        "Bitbucket refused the sign-in: {error}{}; nothing was saved. If you chose Grant access, \
         check the OAuth consumer's permissions (Account: Read, Repositories: Write)",
        description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default()
    )]
    Refused {
        /// OAuth error code, e.g. `access_denied`, made printable.
        error: String,
        /// Its description, made printable.
        description: Option<String>,
    },
    /// No `state`, or not ours: whatever else the request says, it did not
    /// come from Bitbucket, so none of it is shown.
    #[error(
        "a request that did not come from Bitbucket reached the sign-in listener (its state was \
         missing or wrong: another program on this machine, or an old or altered redirect), so \
         the sign-in was ended; nothing was exchanged or saved"
    )]
    BadState,
    #[error("the sign-in redirect carried no authorization code; nothing was saved")]
    MissingCode,
    /// The one-time start page was asked for a second time: someone else
    /// may have fetched it first, so the sign-in is not trusted.
    #[error(
        "the one-time sign-in link was opened twice (another program on this machine may have \
         taken it first), so the sign-in was ended to be safe; nothing was exchanged or saved"
    )]
    StartReused,
}

/// Checks a callback query string: the authorization code, or why not.
/// `state` is checked first: without it, nothing else in the request
/// (an `error_description`, say) is trusted or shown.
pub fn parse_callback(query: &str, state: &Secret) -> Result<Secret, CallbackError> {
    let pairs = parse_query(query);
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    match get("state") {
        Some(s) if state.ct_eq(s) => {}
        _ => return Err(CallbackError::BadState),
    }
    if let Some(error) = get("error") {
        return Err(CallbackError::Refused {
            error: crate::text::printable(error),
            description: get("error_description").map(crate::text::printable),
        });
    }
    match get("code") {
        Some(code) if !code.is_empty() => Ok(Secret::new(code)),
        _ => Err(CallbackError::MissingCode),
    }
}

/// What a pasted line means: a full redirect URL (state checked) or a bare
/// code.
pub fn parse_paste(line: &str, state: &Secret) -> Option<Result<Secret, CallbackError>> {
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    if let Some((_, query)) = line.split_once('?') {
        let query = query.split('#').next().unwrap_or("");
        return Some(parse_callback(query, state));
    }
    let bare = line
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    bare.then(|| Ok(Secret::new(line)))
}

/// The listener failed to start.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot listen on {addr} for the sign-in redirect ({reason}){}. Choose another port in \
     credential.{url}.bitbucketRedirectUri and make it the OAuth consumer's Callback URL too",
    if *in_use {
        format!(
            "; another program holds port {port}, perhaps another user's, and it would receive \
             the sign-in: stop it or wait for it to end"
        )
    } else {
        String::new()
    }
)]
pub struct BindError {
    pub addr: String,
    pub port: u16,
    pub reason: String,
    /// Whether the address is taken (rather than unusable).
    pub in_use: bool,
    /// The remote's base URL, for the config key to change.
    pub url: String,
}

pub struct Listener {
    servers: Vec<TcpListener>,
    path: String,
    redirect_uri: String,
    origin: String,
}

/// The one-time page the browser is opened on: it redirects to the
/// authorize URL, so that URL (and its `state`) never sits on a command
/// line other local users can read.
pub struct StartPage {
    /// The random part of the path.
    nonce: Secret,
    /// Where it redirects.
    location: String,
}

impl StartPage {
    /// A page at `/start/<nonce>` redirecting to `location`.
    pub fn new(nonce: Secret, location: String) -> StartPage {
        StartPage { nonce, location }
    }
}

/// Whether binding `::1` failed because the machine has no usable IPv6
/// (then 127.0.0.1 alone serves), rather than because someone holds it.
fn ipv6_unavailable(e: &std::io::Error) -> bool {
    // EAFNOSUPPORT: Linux 97, macOS and the BSDs 47, Windows 10047.
    e.kind() == std::io::ErrorKind::AddrNotAvailable
        || matches!(e.raw_os_error(), Some(97) if cfg!(target_os = "linux"))
        || matches!(e.raw_os_error(), Some(47) if cfg!(any(target_os = "macos", target_os = "freebsd", target_os = "openbsd", target_os = "netbsd")))
        || matches!(e.raw_os_error(), Some(10047) if cfg!(windows))
}

impl Listener {
    /// Binds the configured redirect: its port, or any free port when it
    /// has none. `raw` is the configured string, sent as is when it has a
    /// port; `url` is the remote, named in errors. A literal loopback IP is
    /// bound as written; `localhost` binds 127.0.0.1 and ::1 on the same
    /// port, since a browser may resolve it either way (Data Center
    /// requires `localhost`). A machine without IPv6 gets 127.0.0.1 alone;
    /// a ::1 port held by someone else is an error, or that program would
    /// receive the code.
    pub fn bind(redirect: &HttpUrl, raw: &str, url: &str) -> Result<Listener, BindError> {
        let literal = redirect
            .host
            .parse::<IpAddr>()
            .ok()
            .filter(IpAddr::is_loopback);
        let first_ip = literal.unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let first_addr = SocketAddr::new(first_ip, redirect.port.unwrap_or(0));
        let first = bind_one(first_addr).map_err(|e| bind_error(first_addr, &e, url))?;
        let port = first
            .local_addr()
            .map_err(|e| bind_error(first_addr, &e, url))?
            .port();
        let mut servers = vec![first];
        if literal.is_none() {
            let v6 = SocketAddr::new(IpAddr::from(std::net::Ipv6Addr::LOCALHOST), port);
            match bind_one(v6) {
                Ok(v6) => servers.push(v6),
                Err(e) if ipv6_unavailable(&e) => {
                    crate::trace!("loopback: no ::1 on this machine ({e}); IPv4 only");
                }
                Err(e) => return Err(bind_error(v6, &e, url)),
            }
        }
        let path = redirect
            .path
            .split(['?', '#'])
            .next()
            .unwrap_or("/")
            .to_owned();
        let redirect_uri = match redirect.port {
            Some(_) => raw.to_owned(),
            None => format!("http://{}:{port}{}", redirect.host_for_url(), redirect.path),
        };
        let origin = match first_ip {
            IpAddr::V6(ip) => format!("http://[{ip}]:{port}"),
            IpAddr::V4(ip) => format!("http://{ip}:{port}"),
        };
        Ok(Listener {
            servers,
            path,
            redirect_uri,
            origin,
        })
    }

    /// The redirect URI to send (with the real port).
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The address of `page` on this listener, to open in the browser.
    pub fn start_url(&self, page: &StartPage) -> String {
        format!("{}/start/{}", self.origin, page.nonce.expose())
    }

    /// Serves requests, one thread per bound address, until one callback
    /// arrives or `stop` is set; the callback's outcome goes to `tx`.
    /// `start`, if any, is served once. Join the handles to be sure the
    /// sockets are closed.
    pub fn spawn(
        self,
        state: Secret,
        start: Option<StartPage>,
        tx: Sender<Callback>,
        stop: Arc<AtomicBool>,
    ) -> Vec<std::thread::JoinHandle<()>> {
        let shared = Arc::new(Shared {
            redirect_path: self.path,
            state,
            start,
            started: AtomicBool::new(false),
            stop,
        });
        self.servers
            .into_iter()
            .map(|server| {
                let (shared, tx) = (shared.clone(), tx.clone());
                std::thread::spawn(move || serve(&server, &shared, &tx))
            })
            .collect()
    }
}

/// What every connection of one sign-in needs.
struct Shared {
    redirect_path: String,
    state: Secret,
    start: Option<StartPage>,
    started: AtomicBool,
    stop: Arc<AtomicBool>,
}

fn bind_error(addr: SocketAddr, e: &std::io::Error, url: &str) -> BindError {
    BindError {
        addr: addr.to_string(),
        port: addr.port(),
        reason: e.to_string(),
        in_use: e.kind() == std::io::ErrorKind::AddrInUse,
        url: crate::text::plain(url),
    }
}

fn bind_one(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr)?;
    // Polled, so the wait can end (timeout, paste, the other listener).
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Accepts connections until the sign-in ends. Each connection gets its
/// own thread and one answer (`Connection: close`): an idle connection a
/// browser opens ahead of time can never hold up the callback.
fn serve(listener: &TcpListener, shared: &Arc<Shared>, tx: &Sender<Callback>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let (shared, tx) = (shared.clone(), tx.clone());
                std::thread::spawn(move || answer(stream, &shared, &tx));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                crate::trace!("loopback: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    // Returning drops the listener: the port closes (contract.md §6).
}

/// Reads one request from `stream` and answers it.
fn answer(mut stream: TcpStream, shared: &Shared, tx: &Sender<Callback>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let Some((method, target)) = read_request_line(&mut stream) else {
        return;
    };
    if let Some(uid) = foreign_peer(&stream) {
        // Another user's program: it may neither take the start page nor
        // end the sign-in; the wait goes on.
        crate::trace!("loopback: refused a request from uid {uid}");
        respond(
            &mut stream,
            403,
            &[],
            "text/plain; charset=utf-8",
            "This sign-in belongs to another user of this machine.\n",
        );
        return;
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    if method == "GET" && path != shared.redirect_path {
        if let Some(start) = &shared.start {
            if path
                .strip_prefix("/start/")
                .is_some_and(|n| start.nonce.ct_eq(n))
            {
                answer_start(&mut stream, shared, start, tx);
                return;
            }
        }
    }
    if method != "GET" || path != shared.redirect_path {
        crate::trace!("loopback: {method} {} -> 404", crate::text::printable(path));
        respond(
            &mut stream,
            404,
            &[],
            "text/plain; charset=utf-8",
            "Not found\n",
        );
        return;
    }
    // The first callback wins; the sign-in is over for any later one.
    if shared.stop.swap(true, Ordering::SeqCst) {
        respond(
            &mut stream,
            404,
            &[],
            "text/plain; charset=utf-8",
            "This sign-in has already ended.\n",
        );
        return;
    }
    let result = parse_callback(query, &shared.state);
    crate::trace!("loopback: callback received, ok={}", result.is_ok());
    let page = match &result {
        Ok(_) => success_page(),
        Err(e) => failure_page(&e.to_string()),
    };
    respond(&mut stream, 200, &[], "text/html; charset=utf-8", &page);
    let _ = tx.send(result);
}

/// The start page: the first GET is redirected to the authorize URL; a
/// second one means two parties hold the link, so the sign-in ends.
fn answer_start(stream: &mut TcpStream, shared: &Shared, start: &StartPage, tx: &Sender<Callback>) {
    if !shared.started.swap(true, Ordering::SeqCst) {
        crate::trace!("loopback: start page -> authorize URL");
        respond(
            stream,
            302,
            &[("Location", &start.location)],
            "text/plain; charset=utf-8",
            "Continuing to Bitbucket.\n",
        );
        return;
    }
    crate::trace!("loopback: start page asked for twice; ending the sign-in");
    let first_to_end = !shared.stop.swap(true, Ordering::SeqCst);
    let page = failure_page(&CallbackError::StartReused.to_string());
    respond(stream, 200, &[], "text/html; charset=utf-8", &page);
    if first_to_end {
        let _ = tx.send(Err(CallbackError::StartReused));
    }
}

/// The uid of the program at the other end of `stream` when it is another
/// user's (not ours, not root's); `None` when it is ours or cannot be
/// told. Linux lists every TCP socket with its owner in /proc/net/tcp{,6};
/// a peer missing there (say a browser on the Windows side of WSL, through
/// the localhost relay) is let through, as on other systems.
fn foreign_peer(stream: &TcpStream) -> Option<u32> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let (peer, local) = (stream.peer_addr().ok()?, stream.local_addr().ok()?);
    let table = if peer.is_ipv4() {
        "/proc/net/tcp"
    } else {
        "/proc/net/tcp6"
    };
    let uid = socket_owner(&std::fs::read_to_string(table).ok()?, peer, local)?;
    let ours = std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .parse::<u32>()
        .ok()?;
    (uid != ours && uid != 0).then_some(uid)
}

/// In a /proc/net/tcp{,6} table, the owner of the socket whose local end
/// is `peer` and remote end `local`.
fn socket_owner(table: &str, peer: SocketAddr, local: SocketAddr) -> Option<u32> {
    let (want_local, want_remote) = (proc_net_addr(peer), proc_net_addr(local));
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() > 7
            && f[1].eq_ignore_ascii_case(&want_local)
            && f[2].eq_ignore_ascii_case(&want_remote))
        .then(|| f[7].parse().ok())
        .flatten()
    })
}

/// An address as /proc/net/tcp{,6} writes it: each 32-bit word of the
/// address in the machine's byte order, in hex, then `:` and the port.
fn proc_net_addr(addr: SocketAddr) -> String {
    let words: Vec<u32> = match addr.ip() {
        IpAddr::V4(ip) => vec![u32::from_ne_bytes(ip.octets())],
        IpAddr::V6(ip) => ip
            .octets()
            .chunks_exact(4)
            .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    };
    let hex: String = words.iter().map(|w| format!("{w:08X}")).collect();
    format!("{hex}:{:04X}", addr.port())
}

/// Reads the request line and skips the headers (nothing in them
/// matters); `None` for anything that is not HTTP.
fn read_request_line(stream: &mut TcpStream) -> Option<(String, String)> {
    // At most 16 KiB of head: the callback URL is a few hundred bytes.
    let mut head = Vec::with_capacity(1024);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && !head.ends_with(b"\n\n") {
        if head.len() > 16 * 1024 || stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head);
    let mut parts = text.lines().next()?.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    parts.next().filter(|v| v.starts_with("HTTP/"))?;
    Some((method, target))
}

fn respond(
    stream: &mut TcpStream,
    status: u16,
    extra: &[(&str, &str)],
    content_type: &str,
    body: &str,
) {
    let reason = match status {
        200 => "OK",
        302 => "Found",
        403 => "Forbidden",
        _ => "Not Found",
    };
    // A header value never carries a line break (it would add headers).
    let extra: String = extra
        .iter()
        .filter(|(_, v)| !v.contains(['\r', '\n']))
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\n\
         {extra}\
         Content-Type: {content_type}\r\n\
         Content-Length: {}\r\n\
         Cache-Control: no-store\r\n\
         Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n\
         Referrer-Policy: no-referrer\r\n\
         X-Content-Type-Options: nosniff\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
    let _ = stream.flush();
}

pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, heading: &str, body: &str, color: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>\
         body{{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;background:#f4f5f7;color:#172b4d;\
         display:flex;align-items:center;justify-content:center;min-height:100vh;margin:0}}\
         main{{background:#fff;border-radius:8px;box-shadow:0 1px 4px rgba(9,30,66,.25);padding:2rem 2.5rem;max-width:34rem}}\
         h1{{font-size:1.4rem;margin:0 0 .75rem;color:{color}}}p{{line-height:1.5;margin:.5rem 0}}\
         </style></head><body><main><h1>{heading}</h1>{body}</main></body></html>\n"
    )
}

/// The page shown after a successful sign-in.
pub fn success_page() -> String {
    page(
        "Signed in to Bitbucket",
        "Signed in to Bitbucket",
        "<p>git-credential-bitbucket received your sign-in. You can close this tab and \
         return to your terminal; git carries on by itself.</p>",
        "#006644",
    )
}

/// The page shown when the sign-in failed; `reason` is escaped.
pub fn failure_page(reason: &str) -> String {
    page(
        "Bitbucket sign-in failed",
        "Sign-in failed",
        &format!(
            "<p>{}</p><p>Nothing was saved. Return to your terminal for details, then run the \
             git command again or <code>git credential-bitbucket login</code>.</p>",
            escape_html(reason)
        ),
        "#bf2600",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn callback_outcomes() {
        let state = Secret::new("st4te");
        assert_eq!(
            parse_callback("code=abc&state=st4te", &state).map(|c| c.expose().to_owned()),
            Ok("abc".into())
        );
        assert_eq!(
            parse_callback("code=abc&state=other", &state),
            Err(CallbackError::BadState)
        );
        assert_eq!(
            parse_callback("code=abc", &state),
            Err(CallbackError::BadState)
        );
        assert_eq!(
            parse_callback("state=st4te", &state),
            Err(CallbackError::MissingCode)
        );
        assert!(matches!(
            parse_callback("error=access_denied&error_description=no+way&state=st4te", &state),
            Err(CallbackError::Refused { ref error, .. }) if error == "access_denied"
        ));
    }

    #[test]
    fn an_error_callback_without_our_state_is_not_believed() {
        let state = Secret::new("st4te");
        for query in [
            "error=access_denied&error_description=%1b%5d0%3bpwned%07Call+0800",
            "error=access_denied&error_description=x&state=other",
            "state=&error=server_error",
        ] {
            let err = parse_callback(query, &state).expect_err(query);
            assert_eq!(err, CallbackError::BadState, "{query}");
            assert!(err.to_string().contains("did not come from Bitbucket"));
        }
        // With our state, Bitbucket's words are shown, made printable.
        let err = parse_callback(
            "error=x%1b%5b2J&error_description=a%07b&state=st4te",
            &state,
        )
        .expect_err("refused");
        assert!(!err.to_string().contains(['\x1b', '\x07']), "{err}");
        assert!(err.to_string().contains("x [2J (a b)"), "{err}");
    }

    fn url_of(addr: &str) -> HttpUrl {
        HttpUrl::parse(addr).expect("a redirect URL")
    }

    #[test]
    fn a_held_ipv6_loopback_port_fails_the_bind_naming_port_and_key() {
        // Someone else holds [::1]:PORT (skipped where ::1 cannot be bound:
        // then the squatting cannot happen either).
        let Ok(squatter) = TcpListener::bind("[::1]:0") else {
            eprintln!("skipped: no ::1 here");
            return;
        };
        let port = squatter.local_addr().expect("addr").port();
        if TcpListener::bind(("127.0.0.1", port)).is_err() {
            eprintln!("skipped: 127.0.0.1:{port} is taken too");
            return;
        }
        let raw = format!("http://localhost:{port}/");
        let err = Listener::bind(&url_of(&raw), &raw, "https://bb.example")
            .err()
            .expect("a held ::1 port is an error");
        assert!(err.in_use, "{err}");
        let text = err.to_string();
        assert!(text.contains(&format!("[::1]:{port}")), "{text}");
        assert!(
            text.contains("credential.https://bb.example.bitbucketRedirectUri"),
            "{text}"
        );
        drop(squatter);
        // Free again: both addresses are bound.
        let ok = Listener::bind(&url_of(&raw), &raw, "https://bb.example").expect("bind");
        assert_eq!(ok.servers.len(), 2);
    }

    #[test]
    fn the_owner_of_a_loopback_peer_is_read_from_the_socket_table() {
        let v4 = |s: &str| s.parse::<SocketAddr>().expect("addr");
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
            0: 0100007F:91AD 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n\
            1: 0100007F:D431 0100007F:91AD 01 00000000:00000000 00:00000000 00000000  1001        0 2 1 0 20 4 30 10 -1\n";
        if cfg!(target_endian = "little") {
            let (peer, ours) = (v4("127.0.0.1:54321"), v4("127.0.0.1:37293"));
            assert_eq!(socket_owner(table, peer, ours), Some(1001));
            assert_eq!(socket_owner(table, v4("127.0.0.1:1"), ours), None);
            let v6: SocketAddr = "[::1]:80".parse().expect("addr");
            assert_eq!(proc_net_addr(v6), "00000000000000000000000001000000:0050");
        }
    }

    #[test]
    fn our_own_connections_are_not_foreign() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server_side, _) = listener.accept().expect("accept");
        assert_eq!(foreign_peer(&server_side), None);
        drop(client);
    }

    #[test]
    fn only_a_missing_ipv6_is_tolerated() {
        let unavailable = std::io::Error::from(std::io::ErrorKind::AddrNotAvailable);
        assert!(ipv6_unavailable(&unavailable));
        for kind in [
            std::io::ErrorKind::AddrInUse,
            std::io::ErrorKind::PermissionDenied,
        ] {
            assert!(!ipv6_unavailable(&std::io::Error::from(kind)), "{kind:?}");
        }
    }

    #[test]
    fn pasted_lines() {
        let state = Secret::new("s");
        let ok = parse_paste("  http://127.0.0.1:5/?code=c1&state=s \n", &state);
        assert_eq!(
            ok.map(|r| r.map(|c| c.expose().to_owned())),
            Some(Ok("c1".into()))
        );
        assert_eq!(
            parse_paste("http://127.0.0.1:5/?code=c1&state=x", &state),
            Some(Err(CallbackError::BadState))
        );
        assert_eq!(
            parse_paste("bare-code_1", &state).map(|r| r.is_ok()),
            Some(true)
        );
        assert_eq!(parse_paste("not a code", &state), None);
        assert_eq!(parse_paste("", &state), None);
    }

    #[test]
    fn failure_page_escapes_input() {
        let p = failure_page("<script>alert(1)</script>&");
        assert!(!p.contains("<script>"));
        assert!(p.contains("&lt;script&gt;") && p.contains("&amp;"));
    }

    proptest! {
        #[test]
        fn callback_and_paste_parsers_never_panic(s in "\\PC{0,80}", raw in proptest::collection::vec(any::<u8>(), 0..80)) {
            let state = Secret::new("s");
            let _ = parse_callback(&s, &state);
            let _ = parse_paste(&s, &state);
            let lossy = String::from_utf8_lossy(&raw);
            let _ = parse_callback(&lossy, &state);
        }

        #[test]
        fn no_input_ever_gets_into_the_page_unescaped(s in "\\PC{0,80}") {
            let p = failure_page(&s);
            let body = p.split("<main>").nth(1).expect("has main");
            prop_assert!(!escape_html(&s).contains('<'));
            prop_assert_eq!(body.matches('<').count(), failure_page("").split("<main>").nth(1).expect("main").matches('<').count());
        }
    }
}
