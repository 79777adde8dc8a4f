//! The loopback listener that receives the OAuth redirect (SPEC §6).
//!
//! It is bound before the browser opens, answers only a GET on the
//! redirect path (anything else gets 404 and the wait goes on), checks
//! `state` in constant time, answers the browser with a small page, and
//! closes. The callback parser is a pure function, fuzzed by the tests.

use crate::secret::Secret;
use crate::url::{parse_query, HttpUrl};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

/// Why a callback (or a pasted redirect URL) ends the sign-in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// Bitbucket redirected with `error=` (the user denied, or the
    /// consumer is misconfigured).
    #[error(
        "Bitbucket refused the sign-in: {error}{}. Nothing was saved. To try again, run \
         `git credential-bitbucket login` (or the git command) and choose Grant access; if you \
         did, check the OAuth consumer's permissions (Account: Read, Repositories: Write)",
        description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default()
    )]
    Refused {
        /// OAuth error code, e.g. `access_denied`.
        error: String,
        /// Its description.
        description: Option<String>,
    },
    /// No `state`, or not ours: the redirect did not come from this
    /// sign-in.
    #[error(
        "the sign-in redirect carried a missing or wrong state, so it did not come from this \
         sign-in; nothing was exchanged. Start again with `git credential-bitbucket login` (or the \
         git command), and use the URL it prints"
    )]
    BadState,
    /// No `code`.
    #[error(
        "the sign-in redirect carried no authorization code; nothing was saved. Start again with \
         `git credential-bitbucket login` (or the git command)"
    )]
    MissingCode,
}

/// Checks a callback query string: the authorization code, or why not.
pub fn parse_callback(query: &str, state: &Secret) -> Result<Secret, CallbackError> {
    let pairs = parse_query(query);
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    if let Some(error) = get("error") {
        return Err(CallbackError::Refused {
            error: crate::bitbucket::printable(error),
            description: get("error_description").map(crate::bitbucket::printable),
        });
    }
    match get("state") {
        Some(s) if state.ct_eq(s) => {}
        _ => return Err(CallbackError::BadState),
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
    "cannot listen on {addr} for the sign-in redirect ({reason}); another sign-in may be \
     running, or choose another port in credential.<url>.bitbucketRedirectUri (and on the consumer)"
)]
pub struct BindError {
    /// Address.
    pub addr: String,
    /// Cause.
    pub reason: String,
}

/// A bound listener.
pub struct Listener {
    servers: Vec<TcpListener>,
    path: String,
    redirect_uri: String,
}

impl Listener {
    /// Binds the configured redirect: its port, or any free port when it
    /// has none. `raw` is the configured string, sent as is when it has a
    /// port. A literal loopback IP is bound as written; `localhost` binds
    /// 127.0.0.1 and, best effort, ::1 on the same port, since a browser
    /// may resolve it either way (Data Center requires `localhost`).
    pub fn bind(redirect: &HttpUrl, raw: &str) -> Result<Listener, BindError> {
        let literal = redirect
            .host
            .parse::<IpAddr>()
            .ok()
            .filter(IpAddr::is_loopback);
        let first_ip = literal.unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let first = bind_one(SocketAddr::new(first_ip, redirect.port.unwrap_or(0)))?;
        let port = first
            .local_addr()
            .map_err(|e| BindError {
                addr: first_ip.to_string(),
                reason: e.to_string(),
            })?
            .port();
        let mut servers = vec![first];
        if literal.is_none() {
            match bind_one(SocketAddr::new(
                IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
                port,
            )) {
                Ok(v6) => servers.push(v6),
                Err(e) => crate::trace!("loopback: no ::1 listener ({e}); IPv4 only"),
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
        Ok(Listener {
            servers,
            path,
            redirect_uri,
        })
    }

    /// The redirect URI to send (with the real port).
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Serves requests, one thread per bound address, until one callback
    /// arrives or `stop` is set; the callback's outcome goes to `tx` as
    /// `wrap(result)`. Join the handles to be sure the sockets are closed.
    pub fn spawn<E: Send + 'static>(
        self,
        state: Secret,
        tx: Sender<E>,
        wrap: fn(Result<Secret, CallbackError>) -> E,
        stop: Arc<AtomicBool>,
    ) -> Vec<std::thread::JoinHandle<()>> {
        let path = Arc::new(self.path);
        self.servers
            .into_iter()
            .map(|server| {
                let (state, tx, stop, path) =
                    (state.clone(), tx.clone(), stop.clone(), path.clone());
                std::thread::spawn(move || serve(&server, &path, &state, &tx, wrap, &stop))
            })
            .collect()
    }
}

fn bind_one(addr: SocketAddr) -> Result<TcpListener, BindError> {
    let fail = |e: std::io::Error| BindError {
        addr: addr.to_string(),
        reason: e.to_string(),
    };
    let listener = TcpListener::bind(addr).map_err(fail)?;
    // Polled, so the wait can end (timeout, paste, the other listener).
    listener.set_nonblocking(true).map_err(fail)?;
    Ok(listener)
}

/// Accepts connections until the sign-in ends. Each connection gets its
/// own thread and one answer (`Connection: close`): an idle connection a
/// browser opens ahead of time can never hold up the callback.
fn serve<E: Send + 'static>(
    listener: &TcpListener,
    redirect_path: &Arc<String>,
    state: &Secret,
    tx: &Sender<E>,
    wrap: fn(Result<Secret, CallbackError>) -> E,
    stop: &Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let (path, state, tx, stop) = (
                    redirect_path.clone(),
                    state.clone(),
                    tx.clone(),
                    stop.clone(),
                );
                std::thread::spawn(move || answer(stream, &path, &state, &tx, wrap, &stop));
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
    // Returning drops the listener: the port closes (SPEC §6).
}

/// Reads one request from `stream` and answers it.
fn answer<E>(
    mut stream: TcpStream,
    redirect_path: &str,
    state: &Secret,
    tx: &Sender<E>,
    wrap: fn(Result<Secret, CallbackError>) -> E,
    stop: &AtomicBool,
) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let Some((method, target)) = read_request_line(&mut stream) else {
        return;
    };
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    if method != "GET" || path != redirect_path {
        crate::trace!("loopback: {method} {path} -> 404");
        respond(&mut stream, 404, "text/plain; charset=utf-8", "Not found\n");
        return;
    }
    // The first callback wins; the sign-in is over for any later one.
    if stop.swap(true, Ordering::SeqCst) {
        respond(
            &mut stream,
            404,
            "text/plain; charset=utf-8",
            "This sign-in has already ended.\n",
        );
        return;
    }
    let result = parse_callback(query, state);
    crate::trace!("loopback: callback received, ok={}", result.is_ok());
    let page = match &result {
        Ok(_) => success_page(),
        Err(e) => failure_page(&e.to_string()),
    };
    respond(&mut stream, 200, "text/html; charset=utf-8", &page);
    let _ = tx.send(wrap(result));
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

fn respond(stream: &mut TcpStream, status: u16, content_type: &str, body: &str) {
    let reason = match status {
        200 => "OK",
        _ => "Not Found",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\n\
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

/// Escapes text for HTML.
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
