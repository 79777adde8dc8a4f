//! Plumbing shared by the fake Bitbucket Cloud ([`super::fake`]) and the
//! fake Bitbucket Data Center ([`super::fake_dc`]): the request log types,
//! reading a request and sending the reply, the `Authorization` header
//! taken apart, form bodies, token generation, token-endpoint faults, the
//! git routes and the bridge to `git http-backend`, and the fakes' own
//! repositories. The server around them is [`super::fake_core`].

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::json;

use super::mini;
use super::{param, parse_form, percent_decode};

/// A fault applied to every token-endpoint request while it is set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenFault {
    /// HTTP 500 with an HTML body.
    ServerError500,
    /// HTTP 200, `application/json`, truncated JSON.
    MalformedJson,
    /// HTTP 200 with an HTML page (Cloud does this for a wrong auth scheme).
    Html,
    /// Wait this long, then answer 504. Logged when the request arrives.
    Hang(Duration),
}

/// How a token request authenticated the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic only.
    Basic,
    /// `client_id` and `client_secret` in the form body only.
    Body,
    /// Both at once (accepted).
    Both,
    /// An `Authorization` scheme other than Basic (refused; Bearer gets
    /// Cloud's HTML page).
    OtherScheme,
    /// Neither.
    None,
}

/// What a request was for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The authorize endpoint (Cloud `/site/oauth2/authorize`, Data Center
    /// `/rest/oauth2/latest/authorize`).
    Authorize,
    /// The token endpoint; `grant_type` as sent, `""` if missing.
    Token {
        /// The `grant_type` form field.
        grant_type: String,
    },
    /// Data Center's `/rest/oauth2/latest/revoke`.
    Revoke,
    /// Who am I: Cloud `/2.0/user`; Data Center
    /// `/rest/api/latest/application-properties` (read for `X-AUSERNAME`).
    User,
    /// Git smart HTTP.
    Git,
    /// Anything else (answered 404).
    Other,
}

impl Kind {
    /// `Kind::Token` for `grant`.
    pub fn token(grant: &str) -> Kind {
        Kind::Token {
            grant_type: grant.into(),
        }
    }

    /// Whether this is a token-endpoint request, whatever the grant.
    pub fn is_token(&self) -> bool {
        matches!(self, Kind::Token { .. })
    }
}

/// What a fake made of a token that arrived in `Authorization`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenState {
    /// Issued, not expired, not revoked.
    Live,
    /// Past its lifetime.
    Expired,
    /// Revoked (by the test, by a rotation, by a code replay or through
    /// the revoke endpoint).
    Revoked,
    /// Never issued by this fake.
    Unknown,
}

/// One request as a fake saw and answered it.
#[derive(Clone, Debug)]
pub struct LoggedRequest {
    /// Position in the log, from 0 since the fake started.
    pub seq: u64,
    /// Time since the fake started.
    pub at: Duration,
    /// HTTP method.
    pub method: String,
    /// Path, raw.
    pub path: String,
    /// Query string, raw, without `?`.
    pub query: String,
    /// Decoded query parameters (authorize) or form fields (token, revoke).
    pub params: Vec<(String, String)>,
    /// What the request was for.
    pub kind: Kind,
    /// Token requests: how the client authenticated.
    pub client_auth: Option<ClientAuth>,
    /// The status answered.
    pub status: u16,
    /// The OAuth `error` answered, if any.
    pub error: Option<String>,
    /// Scheme of the `Authorization` header (`Basic`, `Bearer`, …), as sent.
    pub auth_scheme: Option<String>,
    /// User name of a Basic `Authorization` header.
    pub basic_user: Option<String>,
    /// Owner of the access token that arrived (known even if expired).
    pub account: Option<String>,
    /// What the fake made of the access token that arrived.
    pub token_state: Option<TokenState>,
    /// Git requests: `git-upload-pack` or `git-receive-pack`.
    pub git_service: Option<String>,
    /// Token requests: the fault applied, if any.
    pub fault: Option<TokenFault>,
    /// Data Center code exchanges: the PKCE method (`S256` or `plain`)
    /// the fake checked the `code_verifier` against and found right.
    pub pkce: Option<String>,
}

impl LoggedRequest {
    /// An entry for a request that has just arrived; the handler fills in
    /// the rest.
    pub fn new(at: Duration, method: &str, path: &str, query: &str) -> LoggedRequest {
        LoggedRequest {
            seq: 0,
            at,
            method: method.into(),
            path: path.into(),
            query: query.into(),
            params: Vec::new(),
            kind: Kind::Other,
            client_auth: None,
            status: 0,
            error: None,
            auth_scheme: None,
            basic_user: None,
            account: None,
            token_state: None,
            git_service: None,
            fault: None,
            pkce: None,
        }
    }

    /// The first value of a query parameter or form field.
    pub fn param(&self, key: &str) -> Option<&str> {
        param(&self.params, key)
    }
}

/// A fresh secret: `prefix`, the counter, then 24 random bytes in base64.
/// URL-safe for codes; otherwise the standard alphabet with a trailing `=`
/// (23 bytes), as real tokens often have, so a client that forgets to
/// form-encode a token breaks.
pub fn mint_secret(counter: u64, prefix: &str, url_safe: bool) -> String {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    let body = if url_safe {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    } else {
        base64::engine::general_purpose::STANDARD.encode(&bytes[..23])
    };
    format!("{prefix}{counter}{body}")
}

/// An answer before it is sent.
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// Already in the log (a hang is logged when it starts).
    pub logged: bool,
}

impl Reply {
    /// A reply with a `Content-Type`.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
            logged: false,
        }
    }

    /// A JSON reply.
    pub fn json(status: u16, value: &serde_json::Value) -> Reply {
        Reply::new(status, "application/json; charset=utf-8", value.to_string())
    }

    /// An HTML reply.
    pub fn html(status: u16, body: &str) -> Reply {
        Reply::new(status, "text/html; charset=utf-8", body)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// `{"error", "error_description"}`, noted in the log entry.
    pub fn oauth_error(
        status: u16,
        error: &str,
        description: &str,
        entry: &mut LoggedRequest,
    ) -> Reply {
        entry.error = Some(error.into());
        Reply::json(
            status,
            &json!({ "error": error, "error_description": description }),
        )
    }
}

/// The reply to a token request while a fault is set. A hang is logged
/// through `log_now` when it starts, then answered after its duration.
pub fn fault_reply(
    fault: TokenFault,
    entry: &mut LoggedRequest,
    log_now: impl FnOnce(LoggedRequest),
) -> Reply {
    entry.fault = Some(fault.clone());
    match fault {
        TokenFault::ServerError500 => Reply::html(
            500,
            "<html><body><h1>500 Internal Server Error</h1></body></html>",
        ),
        TokenFault::MalformedJson => {
            Reply::new(200, "application/json", "{\"access_token\": \"at-trunc")
        }
        TokenFault::Html => Reply::html(
            200,
            "<!DOCTYPE html><html><head><title>Bitbucket</title></head>\
             <body><p>OpenID transaction in progress</p></body></html>",
        ),
        TokenFault::Hang(duration) => {
            // Logged now, while the client waits; answered later.
            log_now(LoggedRequest {
                status: 504,
                ..entry.clone()
            });
            std::thread::sleep(duration);
            let mut reply = Reply::html(
                504,
                "<html><body><h1>504 Gateway Timeout</h1></body></html>",
            );
            reply.logged = true;
            reply
        }
    }
}

/// A request's headers, names lower-cased.
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    /// The first value of a header (name in lower case).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the body is `application/x-www-form-urlencoded`.
    pub fn is_form(&self) -> bool {
        self.get("content-type")
            .and_then(|ct| ct.split(';').next())
            .is_some_and(|ct| {
                ct.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
    }

    /// The fields of a form `body`; none when the body is not
    /// form-encoded.
    pub fn form(&self, body: &[u8]) -> Vec<(String, String)> {
        if self.is_form() {
            parse_form(&String::from_utf8_lossy(body))
        } else {
            Vec::new()
        }
    }
}

/// A request as it arrived, read whole.
pub struct Incoming {
    /// Upper-case method.
    pub method: String,
    /// Path, raw.
    pub path: String,
    /// Query, raw, without `?`.
    pub query: String,
    /// Headers.
    pub headers: Headers,
    /// Peer address.
    pub remote: String,
    /// Body (at most 64 MiB).
    pub body: Vec<u8>,
    /// Whether the body could be read.
    pub body_ok: bool,
}

impl Incoming {
    /// Takes everything from `request` but leaves it open for the answer.
    pub fn read(request: &mut mini::Request) -> Incoming {
        let (path, query) = match request.url.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (request.url.clone(), String::new()),
        };
        Incoming {
            method: request.method.clone(),
            path,
            query,
            headers: Headers(request.headers.clone()),
            remote: request.remote.ip().to_string(),
            body: std::mem::take(&mut request.body),
            body_ok: request.body_ok,
        }
    }
}

/// Sends `reply` and closes the connection.
pub fn send(request: mini::Request, reply: Reply) {
    request.respond(reply.status, &reply.headers, &reply.body);
}

/// The `Authorization` header, taken apart.
pub enum Presented {
    /// No header.
    Nothing,
    /// Basic, decoded and split at the first `:`.
    Basic {
        /// Before the first `:`.
        user: String,
        /// After it.
        password: String,
    },
    /// Bearer (scheme matched case-insensitively; the raw scheme is in
    /// the log entry for servers that care).
    Bearer(String),
    /// Any other scheme, or Basic that does not decode.
    Other,
}

/// Takes the `Authorization` header apart, noting the scheme and the Basic
/// user name in `entry`.
pub fn presented(headers: &Headers, entry: &mut LoggedRequest) -> Presented {
    let Some(value) = headers.get("authorization") else {
        return Presented::Nothing;
    };
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    entry.auth_scheme = Some(scheme.to_string());
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        match decoded.as_deref().and_then(|s| s.split_once(':')) {
            Some((user, password)) => {
                entry.basic_user = Some(user.to_string());
                Presented::Basic {
                    user: user.to_string(),
                    password: password.to_string(),
                }
            }
            None => Presented::Other,
        }
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Presented::Bearer(rest.to_string())
    } else {
        Presented::Other
    }
}

/// Whether `below` (a path without its leading `/`) is
/// `<owner>/<repo>.git/...`: the owner (Cloud workspace, Data Center
/// project) and the git service asked for, if any.
pub fn git_route(below: &str, query: &str) -> Option<(String, Option<String>)> {
    let mut parts = below.splitn(3, '/');
    let (owner, repo) = (parts.next()?, parts.next()?);
    if owner.is_empty() || !repo.ends_with(".git") || repo.len() <= 4 {
        return None;
    }
    let rest = parts.next().unwrap_or("");
    let service = if rest == "info/refs" {
        param(&parse_form(query), "service").map(str::to_string)
    } else if rest == "git-upload-pack" || rest == "git-receive-pack" {
        Some(rest.to_string())
    } else {
        None
    };
    Some((owner.to_string(), service))
}

/// Runs `git http-backend` (CGI) for `req` on the repositories under
/// `root`, as `remote_user`; `path_info` is the request's path below the
/// repositories (raw; decoded here).
pub fn run_http_backend(root: &Path, req: &Incoming, path_info: &str, remote_user: &str) -> Reply {
    let mut cmd = Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", root)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &req.method)
        .env("PATH_INFO", percent_decode(path_info))
        .env("QUERY_STRING", &req.query)
        .env("REMOTE_USER", remote_user)
        .env("REMOTE_ADDR", &req.remote)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(ct) = req.headers.get("content-type") {
        cmd.env("CONTENT_TYPE", ct);
    }
    if req.headers.get("content-length").is_some() {
        cmd.env("CONTENT_LENGTH", req.body.len().to_string());
    }
    if let Some(enc) = req.headers.get("content-encoding") {
        cmd.env("HTTP_CONTENT_ENCODING", enc);
    }
    if let Some(proto) = req.headers.get("git-protocol") {
        cmd.env("GIT_PROTOCOL", proto);
    }
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            return Reply::new(
                500,
                "text/plain",
                format!("cannot run git http-backend: {e}\n"),
            )
        }
    };
    let mut stdin = child.stdin.take().expect("piped stdin");
    let body = req.body.clone();
    // Written from its own thread, so a large push cannot deadlock.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let output = child.wait_with_output();
    let _ = writer.join();
    let output = match output {
        Ok(output) => output,
        Err(e) => return Reply::new(500, "text/plain", format!("git http-backend failed: {e}\n")),
    };
    parse_cgi(&output.stdout).unwrap_or_else(|| {
        Reply::new(
            500,
            "text/plain",
            format!(
                "bad CGI output from git http-backend: {}\n",
                String::from_utf8_lossy(&output.stderr)
            ),
        )
    })
}

/// Parses a CGI answer: header lines up to a blank line, `Status:` first.
fn parse_cgi(out: &[u8]) -> Option<Reply> {
    let (head_end, body_start) = find_blank_line(out)?;
    let head = std::str::from_utf8(&out[..head_end]).ok()?;
    let mut reply = Reply {
        status: 200,
        headers: Vec::new(),
        body: out[body_start..].to_vec(),
        logged: false,
    };
    for line in head.lines() {
        let (name, value) = line.split_once(':')?;
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("status") {
            reply.status = value.split_whitespace().next()?.parse().ok()?;
        } else if !name.eq_ignore_ascii_case("content-length")
            && !name.eq_ignore_ascii_case("transfer-encoding")
        {
            reply.headers.push((name.to_string(), value.to_string()));
        }
    }
    Some(reply)
}

fn find_blank_line(out: &[u8]) -> Option<(usize, usize)> {
    for i in 0..out.len() {
        if out[i..].starts_with(b"\r\n\r\n") {
            return Some((i, i + 4));
        }
        if out[i..].starts_with(b"\n\n") {
            return Some((i, i + 2));
        }
    }
    None
}

/// git for a fake's own repositories: no user or system config.
pub fn server_git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Fake Server")
        .env("GIT_AUTHOR_EMAIL", "server@fake.invalid")
        .env("GIT_COMMITTER_NAME", "Fake Server")
        .env("GIT_COMMITTER_EMAIL", "server@fake.invalid")
        .env("LC_ALL", "C");
    cmd
}

/// Creates the bare repository `bare` holding one commit (a README titled
/// `name`) on `main`, using the scratch work tree `seed`.
pub fn create_bare_repo(seed: &Path, bare: &Path, name: &str) {
    std::fs::create_dir_all(seed).expect("create the seed work tree");
    std::fs::write(
        seed.join("README.md"),
        format!("# {name}\n\nServed by the fake Bitbucket.\n"),
    )
    .expect("write README.md");
    let run = |args: &[&str], dir: &Path| {
        let out = server_git(dir)
            .args(args)
            .output()
            .expect("run git for the fake");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["init", "-q", "-b", "main", "."], seed);
    run(&["add", "README.md"], seed);
    run(&["commit", "-q", "-m", "Initial commit"], seed);
    let bare_str = bare.to_str().expect("UTF-8 temp path");
    run(&["clone", "-q", "--bare", ".", bare_str], seed);
    std::fs::remove_dir_all(seed).expect("remove the seed work tree");
}
