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
use peer::foreign_peer;
pub use redirect::{parse_callback, parse_paste, Callback, CallbackError};

use crate::secret::Secret;
use crate::url::HttpUrl;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

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
