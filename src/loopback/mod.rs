//! The loopback listener that receives the OAuth redirect (contract.md §6).
//!
//! It is bound before the browser opens, answers only a GET on the
//! redirect path (anything else gets 404 and the wait goes on), checks
//! `state` in constant time, answers the browser with a small page, and
//! closes. It also serves a one-time start page that redirects to the
//! authorize URL, so the browser's command line (readable by every local
//! user) never holds `state` (docs/security.md). The callback parser is a
//! pure function, fuzzed by the tests.

mod pages;
mod peer;
mod redirect;

pub use pages::{failure_page, success_page};
use peer::{PeerCheck, Verdict};
pub use redirect::{parse_callback, parse_paste, Callback, CallbackError};

use crate::secret::Secret;
use crate::url::HttpUrl;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// At most this many connections are served at once; more are answered
/// 503 and closed at once, so a flood of idle connections cannot use up
/// our file descriptors and keep the browser out (docs/security.md).
const MAX_OPEN: usize = 32;
/// The whole request head must arrive within this time, however slowly it
/// trickles in; a browser sends it in one go.
const HEAD_TIME: Duration = Duration::from_secs(5);

/// The listener failed to start.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot listen on {addr} for the sign-in redirect ({reason}){}. On Bitbucket Cloud, \
     leave the port out of credential.{url}.bitbucketRedirectUri (or unset it): each sign-in \
     then takes a free port. On Data Center, choose another port there and make the incoming \
     link's Redirect URL the same",
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
    /// has none, as Cloud's default `http://127.0.0.1` has
    /// (bitbucket-facts.md A.2). `raw` is the configured string, sent as is
    /// when it pins a port; `url` is the remote, named in errors. A literal loopback IP is
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
        let pinned = redirect.port;
        let first_addr = SocketAddr::new(first_ip, pinned.unwrap_or(0));
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
        let redirect_uri = match pinned {
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
            open: AtomicUsize::new(0),
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
    /// Connections being served now (at most [`MAX_OPEN`]).
    open: AtomicUsize,
}

/// One of the [`MAX_OPEN`] places, given back when dropped.
struct Slot(Arc<Shared>);

impl Slot {
    fn take(shared: &Arc<Shared>) -> Option<Slot> {
        shared
            .open
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < MAX_OPEN).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(shared.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
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

/// Accepts connections until the sign-in ends. Whose program connects is
/// checked right at `accept`, before anything is read: another user's
/// program (or, on Linux, one the socket table no longer lists) gets 403
/// and is closed at once, so it can neither take a page, nor end the
/// sign-in, nor hold a descriptor. The others get a thread and one answer
/// each (`Connection: close`), at most [`MAX_OPEN`] at a time: an idle
/// connection a browser opens ahead of time can never hold up the
/// callback.
fn serve(listener: &TcpListener, shared: &Arc<Shared>, tx: &Sender<Callback>) {
    let mut peers = PeerCheck::new();
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                match peers.check(&stream) {
                    Verdict::Serve => {}
                    Verdict::Foreign(uid) => {
                        crate::trace!("loopback: refused a connection from uid {uid}");
                        refuse(stream, 403, FORBIDDEN);
                        continue;
                    }
                    Verdict::Unknown => {
                        crate::trace!("loopback: refused a connection whose owner is gone");
                        refuse(stream, 403, FORBIDDEN);
                        continue;
                    }
                }
                let Some(slot) = Slot::take(shared) else {
                    crate::trace!("loopback: {MAX_OPEN} connections open; refused one more");
                    refuse(stream, 503, "Too many connections; try again.\n");
                    continue;
                };
                let tx = tx.clone();
                std::thread::spawn(move || answer(stream, &slot.0, &tx));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                peers.forget();
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

/// What a refused program of another user is told.
const FORBIDDEN: &str = "This sign-in belongs to another user of this machine.\n";

/// Answers `status` without reading anything and closes: one non-blocking
/// write, so a peer that reads nothing cannot hold the accepting thread.
fn refuse(mut stream: TcpStream, status: u16, body: &str) {
    let _ = stream.set_nonblocking(true);
    respond(&mut stream, status, &[], "text/plain; charset=utf-8", body);
}

/// Reads one request from `stream` and answers it.
fn answer(mut stream: TcpStream, shared: &Shared, tx: &Sender<Callback>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(HEAD_TIME));
    let Some((method, target)) = read_request_line(&mut stream, Instant::now() + HEAD_TIME) else {
        return;
    };
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

/// Reads the request line and skips the headers (nothing in them
/// matters); `None` for anything that is not HTTP, or that has not sent
/// its whole head by `deadline`.
fn read_request_line(stream: &mut TcpStream, deadline: Instant) -> Option<(String, String)> {
    // At most 16 KiB of head: the callback URL is a few hundred bytes.
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let end = loop {
        if let Some(i) = head_end(&head) {
            break i;
        }
        let left = deadline.checked_duration_since(Instant::now())?;
        if head.len() > 16 * 1024 || left.is_zero() {
            return None;
        }
        stream.set_read_timeout(Some(left)).ok()?;
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&chunk[..n]);
    };
    let text = String::from_utf8_lossy(&head[..end]);
    let mut parts = text.lines().next()?.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    parts.next().filter(|v| v.starts_with("HTTP/"))?;
    Some((method, target))
}

/// Where the head ends (the blank line), if it has.
fn head_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = bytes.windows(2).position(|w| w == b"\n\n");
    crlf.into_iter().chain(lf).min()
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
        503 => "Service Unavailable",
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

#[cfg(test)]
mod tests {
    use super::*;

    fn url_of(addr: &str) -> HttpUrl {
        HttpUrl::parse(addr).expect("a redirect URL")
    }

    #[test]
    fn no_port_takes_a_free_port_and_sends_it() {
        for raw in ["http://127.0.0.1", "http://127.0.0.1/"] {
            let l = Listener::bind(&url_of(raw), raw, "https://bitbucket.org").expect("bind");
            let sent = l.redirect_uri().to_owned();
            let port: u16 = sent
                .strip_prefix("http://127.0.0.1:")
                .and_then(|rest| rest.strip_suffix('/'))
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("{raw}: sent {sent}"));
            assert_ne!(port, 0, "{raw}");
            // The port is ours while the listener lives.
            assert!(TcpListener::bind(("127.0.0.1", port)).is_err(), "{raw}");
        }
        // A pinned port is sent exactly as written.
        let free = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = free.local_addr().expect("addr").port();
        drop(free);
        let raw = format!("http://127.0.0.1:{port}/cb");
        let l = Listener::bind(&url_of(&raw), &raw, "https://bitbucket.org").expect("bind");
        assert_eq!(l.redirect_uri(), raw);
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

    /// Issue 21, item 3: at most [`MAX_OPEN`] connections are served at
    /// once (one more gets 503 at once), and one that never sends a whole
    /// head is closed after [`HEAD_TIME`], making room again.
    #[test]
    fn idle_connections_are_capped_and_closed_when_their_head_does_not_come() {
        let raw = "http://127.0.0.1/";
        let listener = Listener::bind(&url_of(raw), raw, "https://bb.example").expect("bind");
        let addr: SocketAddr = listener.servers[0].local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, _rx) = std::sync::mpsc::channel();
        let handles = listener.spawn(Secret::new(String::from("s")), None, tx, stop.clone());
        let connect = || {
            let s = TcpStream::connect(addr).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(30)))
                .expect("timeout");
            s
        };
        let answer_of = |mut s: TcpStream| {
            let mut text = String::new();
            let _ = s.read_to_string(&mut text);
            text
        };
        let mut idle: Vec<TcpStream> = (0..MAX_OPEN)
            .map(|_| {
                let mut s = connect();
                s.write_all(b"GET").expect("a partial head");
                s
            })
            .collect();
        // Every idle one is being served before the next connects.
        std::thread::sleep(Duration::from_millis(500));
        assert!(answer_of(connect()).starts_with("HTTP/1.1 503"));
        // The head never completes: the listener closes the connection.
        let first = idle.remove(0);
        assert_eq!(answer_of(first), "");
        drop(idle);
        std::thread::sleep(Duration::from_millis(200));
        let mut fresh = connect();
        fresh
            .write_all(b"GET /elsewhere HTTP/1.1\r\n\r\n")
            .expect("send");
        assert!(answer_of(fresh).starts_with("HTTP/1.1 404"));
        stop.store(true, Ordering::SeqCst);
        for h in handles {
            h.join().expect("the listener thread");
        }
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
}
