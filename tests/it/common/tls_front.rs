//! A company's TLS in front of a fake Bitbucket: a throwaway certificate
//! authority made by the `openssl` command line in the test's own
//! directory ([`TestCa`]), and a TLS terminator on 127.0.0.1 ([`TlsFront`],
//! rustls with ring, as the helper uses) that serves the fake's HTTP over
//! https with a certificate of that authority, optionally requiring a
//! client certificate (mutual TLS, common in front of Data Center).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Host names the server certificate is valid for besides 127.0.0.1.
pub const TLS_NAMES: &[&str] = &["localhost", "bitbucket.test"];

/// A throwaway CA with a server certificate for 127.0.0.1, `localhost` and
/// `bitbucket.test`, and a client certificate (with its key in clear and
/// encrypted with the passphrase `pass`).
pub struct TestCa {
    dir: PathBuf,
}

impl TestCa {
    /// Makes every file under `dir` with `openssl`.
    pub fn new(dir: &Path) -> TestCa {
        std::fs::create_dir_all(dir).expect("CA dir");
        let ca = TestCa {
            dir: dir.to_owned(),
        };
        let sans = std::iter::once("IP:127.0.0.1".to_owned())
            .chain(TLS_NAMES.iter().map(|n| format!("DNS:{n}")))
            .collect::<Vec<_>>()
            .join(",");
        ca.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Test Company Root CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        for (name, cn, ext) in [
            (
                "server",
                "127.0.0.1",
                format!("subjectAltName={sans}\nextendedKeyUsage=serverAuth\n"),
            ),
            (
                "client",
                "alice",
                "extendedKeyUsage=clientAuth\n".to_owned(),
            ),
        ] {
            let key = format!("{name}.key");
            let csr = format!("{name}.csr");
            let ext_file = format!("{name}.ext");
            std::fs::write(dir.join(&ext_file), ext).expect("ext file");
            ca.openssl(&[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &format!("/CN={cn}"),
            ]);
            ca.openssl(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{name}.pem"),
                "-days",
                "2",
                "-extfile",
                &ext_file,
            ]);
        }
        ca.openssl(&[
            "pkey",
            "-in",
            "client.key",
            "-aes256",
            "-passout",
            "pass:pass",
            "-out",
            "client-encrypted.key",
        ]);
        ca
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&self.dir)
            .output()
            .expect("the openssl command line (apt package openssl)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A file of the authority's directory (`ca.pem`, `client.pem`…).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The same, as a string for git config.
    pub fn file(&self, name: &str) -> String {
        self.path(name).to_str().expect("UTF-8 path").to_owned()
    }

    fn server_config(&self, require_client_cert: bool) -> rustls::ServerConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(self.path("server.pem"))
                .expect("server.pem")
                .map(|c| c.expect("a certificate"))
                .collect();
        let key = PrivateKeyDer::from_pem_file(self.path("server.key")).expect("server.key");
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("TLS versions");
        let builder = if require_client_cert {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(self.path("ca.pem")).expect("ca.pem") {
                roots.add(c.expect("a certificate")).expect("a root");
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        builder
            .with_single_cert(certs, key)
            .expect("server certificate")
    }
}

/// A TLS terminator on 127.0.0.1 in front of a plain HTTP server.
pub struct TlsFront {
    port: u16,
    /// Handshakes that completed, and those that failed.
    pub handshakes: Arc<Mutex<(usize, usize)>>,
}

impl TlsFront {
    /// Serves `backend` (a `127.0.0.1` port) over https with `ca`'s server
    /// certificate; with `require_client_cert`, only clients that present
    /// a certificate of `ca` get through.
    pub fn start(ca: &TestCa, backend: u16, require_client_cert: bool) -> TlsFront {
        let config = Arc::new(ca.server_config(require_client_cert));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let handshakes = Arc::new(Mutex::new((0, 0)));
        let counts = handshakes.clone();
        thread::Builder::new()
            .name("tls-front".into())
            .spawn(move || {
                for conn in listener.incoming().flatten() {
                    let config = config.clone();
                    let counts = counts.clone();
                    thread::spawn(move || serve(conn, config, backend, &counts));
                }
            })
            .expect("thread");
        TlsFront { port, handshakes }
    }

    /// `https://HOST:PORT` for one of the certificate's names.
    pub fn base_url(&self, host: &str) -> String {
        format!("https://{host}:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Handshakes that failed (an unknown authority, no client certificate).
    pub fn failed_handshakes(&self) -> usize {
        self.handshakes.lock().expect("lock").1
    }
}

/// One connection: the handshake, then bytes both ways until either side
/// closes.
fn serve(
    mut sock: TcpStream,
    config: Arc<rustls::ServerConfig>,
    backend: u16,
    counts: &Mutex<(usize, usize)>,
) {
    let mut tls = rustls::ServerConnection::new(config).expect("connection");
    while tls.is_handshaking() {
        if tls.complete_io(&mut sock).is_err() {
            counts.lock().expect("lock").1 += 1;
            // The alert is sent; close lingering, as nginx does, so a
            // client that already wrote its request reads the alert
            // instead of a reset.
            let _ = sock.set_read_timeout(Some(std::time::Duration::from_secs(2)));
            let mut sink = [0u8; 4096];
            while matches!(sock.read(&mut sink), Ok(n) if n > 0) {}
            return;
        }
    }
    counts.lock().expect("lock").0 += 1;
    let Ok(mut back) = TcpStream::connect(("127.0.0.1", backend)) else {
        return;
    };
    // The first request may have come in the same read as the end of the
    // handshake: pass on what is already decrypted.
    let mut early = Vec::new();
    let mut buf = [0u8; 16384];
    while let Ok(m) = tls.reader().read(&mut buf) {
        if m == 0 {
            break;
        }
        early.extend_from_slice(&buf[..m]);
    }
    if back.write_all(&early).is_err() {
        return;
    }
    let tls = Arc::new(Mutex::new(tls));
    let (Ok(sock_out), Ok(mut back_in)) = (sock.try_clone(), back.try_clone()) else {
        return;
    };
    let tls_out = tls.clone();
    // The backend's answers, encrypted, to the client.
    let answers = thread::spawn(move || {
        let mut sock_out = sock_out;
        let mut buf = [0u8; 16384];
        loop {
            let n = match back_in.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut t = tls_out.lock().expect("lock");
            if t.writer().write_all(&buf[..n]).is_err() {
                break;
            }
            while t.wants_write() {
                if t.write_tls(&mut sock_out).is_err() {
                    return;
                }
            }
        }
        let mut t = tls_out.lock().expect("lock");
        t.send_close_notify();
        while t.wants_write() {
            if t.write_tls(&mut sock_out).is_err() {
                break;
            }
        }
        let _ = sock_out.shutdown(Shutdown::Write);
    });
    // The client's requests, decrypted, to the backend.
    let mut back_out = back;
    let mut raw = [0u8; 16384];
    let mut plain = [0u8; 16384];
    'conn: loop {
        let n = match sock.read(&mut raw) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // Decrypted under the lock, written to the backend after it: the
        // backend may be busy writing its answer, which needs the lock.
        let mut out = Vec::new();
        let mut closed = false;
        {
            let mut t = tls.lock().expect("lock");
            let mut slice = &raw[..n];
            while !slice.is_empty() && !closed {
                if t.read_tls(&mut slice).is_err() || t.process_new_packets().is_err() {
                    let _ = t.write_tls(&mut sock);
                    closed = true;
                    break;
                }
                loop {
                    match t.reader().read(&mut plain) {
                        Ok(0) => {
                            closed = true;
                            break;
                        }
                        Ok(m) => out.extend_from_slice(&plain[..m]),
                        Err(_) => break,
                    }
                }
            }
            while t.wants_write() {
                if t.write_tls(&mut sock).is_err() {
                    closed = true;
                    break;
                }
            }
        }
        if back_out.write_all(&out).is_err() || closed {
            break 'conn;
        }
    }
    let _ = back_out.shutdown(Shutdown::Write);
    let _ = answers.join();
}
