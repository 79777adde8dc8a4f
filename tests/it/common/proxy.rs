//! A company's forward proxy on 127.0.0.1: HTTP `CONNECT` tunnels (https,
//! and ureq's way for http too) and absolute-URI requests (curl's way for
//! http), optionally behind Basic proxy authentication. It resolves the
//! names in its own table, so a request for `bitbucket.test` arrives only
//! through it: the machine's resolver does not know the name. It logs
//! every request it was asked to carry.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// What the proxy was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyRequest {
    /// `CONNECT` or the method of an absolute-URI request.
    pub method: String,
    /// `host:port` for CONNECT, the absolute URI otherwise.
    pub target: String,
    /// The status the proxy answered (200, 407, 502).
    pub status: u16,
}

/// The proxy.
pub struct FakeProxy {
    port: u16,
    log: Arc<Mutex<Vec<ProxyRequest>>>,
}

impl FakeProxy {
    /// A proxy that resolves `names` (host → address) itself, and asks
    /// for `user:password` when `auth` is given.
    pub fn start(names: &[(&str, &str)], auth: Option<(&str, &str)>) -> FakeProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let names: Arc<HashMap<String, String>> = Arc::new(
            names
                .iter()
                .map(|(n, a)| ((*n).to_owned(), (*a).to_owned()))
                .collect(),
        );
        let expected = auth.map(|(u, p)| format!("Basic {}", STANDARD.encode(format!("{u}:{p}"))));
        let shared = log.clone();
        thread::Builder::new()
            .name("fake-proxy".into())
            .spawn(move || {
                for conn in listener.incoming().flatten() {
                    let (log, names, expected) = (shared.clone(), names.clone(), expected.clone());
                    thread::spawn(move || serve(conn, &log, &names, expected.as_deref()));
                }
            })
            .expect("thread");
        FakeProxy { port, log }
    }

    /// `http://127.0.0.1:PORT`, with `userinfo@` when given.
    pub fn url(&self, userinfo: Option<&str>) -> String {
        match userinfo {
            Some(u) => format!("http://{u}@127.0.0.1:{}", self.port),
            None => format!("http://127.0.0.1:{}", self.port),
        }
    }

    /// Every request the proxy was asked to carry.
    pub fn requests(&self) -> Vec<ProxyRequest> {
        self.log.lock().expect("lock").clone()
    }
}

fn serve(
    conn: TcpStream,
    log: &Mutex<Vec<ProxyRequest>>,
    names: &HashMap<String, String>,
    expected: Option<&str>,
) {
    let Ok(read_half) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut client = conn;
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let end = line == "\r\n" || line == "\n";
        head.push(line.trim_end().to_owned());
        if end {
            break;
        }
    }
    let mut words = head[0].split_whitespace();
    let (method, target) = match (words.next(), words.next()) {
        (Some(m), Some(t)) => (m.to_owned(), t.to_owned()),
        _ => return,
    };
    let record = |status: u16| {
        log.lock().expect("lock").push(ProxyRequest {
            method: method.clone(),
            target: target.clone(),
            status,
        })
    };
    let auth = head.iter().find_map(|h| {
        let (name, value) = h.split_once(':')?;
        name.eq_ignore_ascii_case("proxy-authorization")
            .then(|| value.trim().to_owned())
    });
    if let Some(expected) = expected {
        if auth.as_deref() != Some(expected) {
            record(407);
            let _ = client.write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                  Proxy-Authenticate: Basic realm=\"company\"\r\n\
                  Content-Length: 0\r\nConnection: close\r\n\r\n",
            );
            return;
        }
    }
    // host:port of the target, resolved in the proxy's own table.
    let authority = if method == "CONNECT" {
        target.clone()
    } else {
        let rest = target.split_once("://").map_or(target.as_str(), |(_, r)| r);
        rest.split('/').next().unwrap_or(rest).to_owned()
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h.to_owned(), p.parse::<u16>().unwrap_or(80)),
        None => (authority.clone(), 80),
    };
    let address = names.get(&host).cloned().unwrap_or(host);
    let Ok(mut upstream) = TcpStream::connect((address.as_str(), port)) else {
        record(502);
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    record(200);
    if method == "CONNECT" {
        let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
    } else {
        // One request per connection: origin-form to the server, without
        // the proxy's own headers, and the connection closed after it.
        let path = target
            .split_once("://")
            .and_then(|(_, r)| r.find('/').map(|i| r[i..].to_owned()))
            .unwrap_or_else(|| "/".into());
        let mut out = format!("{method} {path} HTTP/1.1\r\n");
        for h in &head[1..] {
            let name = h.split(':').next().unwrap_or("").to_ascii_lowercase();
            if h.is_empty()
                || name == "proxy-authorization"
                || name == "proxy-connection"
                || name == "connection"
            {
                continue;
            }
            out.push_str(h);
            out.push_str("\r\n");
        }
        out.push_str("Connection: close\r\n\r\n");
        if upstream.write_all(out.as_bytes()).is_err() {
            return;
        }
    }
    // Bytes both ways until either side closes (anything the reader
    // buffered past the head goes first).
    let buffered = reader.buffer().to_vec();
    if upstream.write_all(&buffered).is_err() {
        return;
    }
    let (Ok(mut up_read), Ok(mut client_write)) = (upstream.try_clone(), client.try_clone()) else {
        return;
    };
    let down = thread::spawn(move || {
        let _ = std::io::copy(&mut up_read, &mut client_write);
        // Both: also ends the copy the other way, for a client that would
        // reuse the connection after the server closed it.
        let _ = client_write.shutdown(Shutdown::Both);
    });
    let mut rest = reader.into_inner();
    let _ = std::io::copy(&mut rest, &mut upstream);
    let _ = upstream.shutdown(Shutdown::Write);
    let _ = down.join();
    let _ = rest.read(&mut [0u8; 1]);
}
