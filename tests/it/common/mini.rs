//! A minimal HTTP/1.1 server for the fakes: one thread per connection, one
//! request per connection (`Connection: close`).
//!
//! Why not tiny_http here: its connection pool can leave a new connection
//! queued behind long-lived keep-alive connections (git holds its
//! connection open while our helper runs), and with 32 parallel git
//! processes the helper's own token request then waits for a thread that
//! never frees up: a deadlock in the fake, not in the helper. Closing each
//! connection after its answer, on its own thread, cannot starve.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

/// One parsed request, with the connection to answer on.
pub struct Request {
    /// Upper-case method.
    pub method: String,
    /// Request target: path and query.
    pub url: String,
    /// Headers, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
    /// Whether the body was read completely.
    pub body_ok: bool,
    /// The peer.
    pub remote: SocketAddr,
    stream: TcpStream,
}

impl Request {
    /// Writes the answer and closes the connection.
    pub fn respond(mut self, status: u16, headers: &[(String, String)], body: &[u8]) {
        let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
        for (name, value) in headers {
            if name.eq_ignore_ascii_case("content-length")
                || name.eq_ignore_ascii_case("connection")
            {
                continue;
            }
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        ));
        let _ = self.stream.write_all(head.as_bytes());
        let _ = self.stream.write_all(body);
        let _ = self.stream.flush();
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        302 => "Found",
        303 => "See Other",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// A listening server; requests arrive through [`Server::recv`].
pub struct Server {
    addr: SocketAddr,
    rx: Mutex<Receiver<Request>>,
    stopping: Arc<AtomicBool>,
}

impl Server {
    /// Binds `addr` and starts accepting.
    pub fn http(addr: &str) -> std::io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let (tx, rx) = channel();
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = stopping.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = conn else { continue };
                let tx: Sender<Request> = tx.clone();
                std::thread::spawn(move || {
                    if let Some(req) = read_request(stream) {
                        let _ = tx.send(req);
                    }
                });
            }
        });
        Ok(Server {
            addr,
            rx: Mutex::new(rx),
            stopping,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The next request; an error once the server is stopped.
    pub fn recv(&self) -> Result<Request, ()> {
        if self.stopping.load(Ordering::SeqCst) {
            return Err(());
        }
        let rx = self.rx.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match rx.recv_timeout(std::time::Duration::from_millis(100)) {
                Ok(r) => return Ok(r),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if self.stopping.load(Ordering::SeqCst) {
                        return Err(());
                    }
                }
                Err(_) => return Err(()),
            }
        }
    }

    /// Stops accepting and makes `recv` return an error.
    pub fn unblock(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.addr);
    }
}

fn read_request(stream: TcpStream) -> Option<Request> {
    let remote = stream.peer_addr().ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_ascii_uppercase();
    let url = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        if headers.len() > 200 {
            return None;
        }
    }
    let header = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let mut writer = stream.try_clone().ok()?;
    if header("expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue")) {
        let _ = writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let mut body = Vec::new();
    let body_ok = if header("transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
    {
        read_chunked(&mut reader, &mut body)
    } else if let Some(len) = header("content-length") {
        match len.parse::<usize>() {
            Ok(n) if n <= 64 << 20 => {
                body.resize(n, 0);
                reader.read_exact(&mut body).is_ok()
            }
            _ => false,
        }
    } else {
        true
    };
    Some(Request {
        method,
        url,
        headers,
        body,
        body_ok,
        remote,
        stream,
    })
}

fn read_chunked(reader: &mut BufReader<TcpStream>, body: &mut Vec<u8>) -> bool {
    loop {
        let mut size_line = String::new();
        if reader.read_line(&mut size_line).is_err() {
            return false;
        }
        let size_hex = size_line.trim().split(';').next().unwrap_or("");
        let Ok(size) = usize::from_str_radix(size_hex, 16) else {
            return false;
        };
        if size == 0 {
            // Trailers until the empty line.
            loop {
                let mut t = String::new();
                match reader.read_line(&mut t) {
                    Ok(0) => return true,
                    Ok(_) if t.trim().is_empty() => return true,
                    Ok(_) => continue,
                    Err(_) => return false,
                }
            }
        }
        if body.len() + size > 64 << 20 {
            return false;
        }
        let start = body.len();
        body.resize(start + size, 0);
        if reader.read_exact(&mut body[start..]).is_err() {
            return false;
        }
        let mut crlf = [0u8; 2];
        if reader.read_exact(&mut crlf).is_err() {
            return false;
        }
    }
}
