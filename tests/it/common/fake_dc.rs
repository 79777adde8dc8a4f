//! A strict fake Bitbucket Data Center on 127.0.0.1 (FACTS.md Part B and
//! "What a strict fake server should enforce" → "DC fake").
//!
//! Everything is served under an optional context path (`/bitbucket`):
//! the OAuth 2.0 provider (`/rest/oauth2/latest/{authorize,token,revoke}`),
//! `/rest/api/latest/application-properties` (answered with the
//! `X-AUSERNAME` header, Data Center's only "who am I"), and git smart HTTP
//! under `/scm/<PROJECT>/<repo>.git/...` through `git http-backend`. Every
//! answer carries `X-AREQUESTID`; authenticated ones carry `X-AUSERNAME`.
//! Every request is logged with what the fake decided (the log types are
//! the Cloud fake's, from [`super::http`]).
//!
//! What it enforces (FACTS B.2–B.8):
//! - Registered redirect URLs follow the client validator: absolute, no
//!   fragment, at most 450 characters, `http` only for host `localhost`
//!   (unless [`DcOptions::skip_https_requirement`]); [`FakeDataCenter::start`]
//!   panics on one that Data Center would refuse.
//! - Authorize (GET): the scope check comes first and a scope outside the
//!   client's is redirected back with `error=invalid_scope`; an empty
//!   scope means the client's scopes. Unknown client, missing parameters
//!   or a `redirect_uri` that is not *exactly* one of the registered ones
//!   get an HTML error page (status 400) and no redirect. PKCE: `plain` or
//!   `S256` (`plain` when the method is absent), the challenge matching
//!   `[0-9a-zA-Z~\-._]{43,128}`; unlike Data Center this fake *requires* a
//!   challenge ([`DcOptions::require_pkce`]), because the helper always
//!   sends one. `response_type` must be `code`. The signed-in user
//!   consents at once (the consent page's 303 round trip is skipped), and
//!   the answer is a 303 to `redirect_uri?code=…&state=…` (`state` only
//!   when it was not blank); in deny mode `error=access_denied`.
//! - Token (POST, form only; another content type gets 415): client
//!   authentication is read from the body only. An `Authorization: Basic`
//!   header is logged ([`super::http::ClientAuth`]) but never read, so a
//!   client that sends only Basic gets `invalid_request` ("missing
//!   required parameter client_id"). `authorization_code` needs `code`,
//!   `redirect_uri`, `client_id`; an unknown code is `invalid_request`, a
//!   redeemed one revokes every token issued from it and is
//!   `invalid_grant`, as are an expired code, another client's code, a
//!   `redirect_uri` other than the authorize one, and a missing, malformed
//!   or wrong `code_verifier`. The secret is checked last:
//!   `invalid_client`. `refresh_token` rotates: the old refresh token and
//!   the access token issued with it die at once; an unknown, used,
//!   expired or foreign refresh token is `invalid_grant`. Errors are 400
//!   `{"error","error_description"}`; success is
//!   `{"access_token","token_type":"bearer","expires_in","refresh_token","scope"}`,
//!   both with `Cache-Control: no-store`.
//! - Revoke (POST form `token`, `token_type_hint`, `client_id`,
//!   `client_secret`): 200 and the token is dead; a refresh token takes its
//!   access token with it.
//! - Resources take `Authorization: Bearer <token>` (the scheme compared
//!   case-sensitively) or Basic `<anything>:<token>` (exactly one `:`; the
//!   user name is ignored for OAuth tokens). HTTP access tokens
//!   ([`FakeDataCenter::mint_personal_token`],
//!   [`FakeDataCenter::mint_project_token`], FACTS B.8): a personal token
//!   as Bearer or as Basic with its owner's name; a project token as
//!   Bearer only, and for its own project only. Anything else is 401 with
//!   `WWW-Authenticate: Basic realm="Atlassian Bitbucket"`. Fetch needs
//!   `REPO_READ` (or a higher scope), push `REPO_WRITE`; a token without
//!   it gets 403.
//!
//! Decisions where FACTS leaves Data Center's behaviour open:
//! - `invalid_client` is answered with 400.
//! - `application-properties` answers 401 without a live token (a real
//!   server may answer anonymous requests 200 without `X-AUSERNAME`).
//! - Dead tokens are kept and reported as [`TokenState::Revoked`] (Data
//!   Center deletes them), so the log can tell "revoked" from "unknown".
//! - The `scope` of a token response is the granted scopes, space
//!   separated.
//! - Codes live [`DcOptions::code_lifetime`] seconds (default 60).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::http::{
    create_bare_repo, fault_reply, mint_secret, presented, run_http_backend, send, server_git,
    GitRequest, Headers, Incoming, Presented, Reply,
};
pub use super::http::{ClientAuth, Kind, LoggedRequest, TokenFault, TokenState};
use super::mini;
use super::{param, parse_form, percent_encode};

/// The challenge Bitbucket Data Center sends with a 401.
pub const WWW_AUTHENTICATE: &str = "Basic realm=\"Atlassian Bitbucket\"";

/// The scopes a client gets by default: what the admin ticks for a git
/// helper (Repositories Read and Write), plus `PUBLIC_REPOS`, which every
/// client has.
pub const DEFAULT_SCOPES: &str = "PUBLIC_REPOS REPO_READ REPO_WRITE";

/// How the fake is set up: the incoming application link and the token
/// behaviour.
#[derive(Clone, Debug)]
pub struct DcOptions {
    /// Client ID.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// The registered redirect URLs; `redirect_uri` must equal one exactly.
    pub redirect_uris: Vec<String>,
    /// The client's scopes (space separated): what it may ask for, and
    /// what an empty `scope` means.
    pub scopes: String,
    /// Access-token lifetime in seconds (`expires_in`; Data Center: 3600).
    pub access_lifetime: u64,
    /// Refresh-token lifetime in seconds, from that token's creation.
    pub refresh_lifetime: u64,
    /// Authorization-code lifetime in seconds.
    pub code_lifetime: u64,
    /// Where the server lives below the host: `""` or e.g. `/bitbucket`.
    pub context_path: String,
    /// Refuse an authorize request without `code_challenge` (Data Center
    /// itself accepts one; the helper always sends S256).
    pub require_pkce: bool,
    /// `atlassian.oauth2.provider.skip.redirect.url.https.requirement`:
    /// plain http redirect URLs for any host.
    pub skip_https_requirement: bool,
}

impl Default for DcOptions {
    fn default() -> Self {
        DcOptions {
            client_id: "dc-test-client".into(),
            client_secret: "dc-test-secret".into(),
            redirect_uris: vec!["http://localhost:34107/".into()],
            scopes: DEFAULT_SCOPES.into(),
            access_lifetime: 3600,
            refresh_lifetime: 90 * 86400,
            code_lifetime: 60,
            context_path: String::new(),
            require_pkce: true,
            skip_https_requirement: false,
        }
    }
}

impl DcOptions {
    /// Default options with one registered redirect,
    /// `http://localhost:<port>/`.
    pub fn with_redirect_port(port: u16) -> DcOptions {
        DcOptions {
            redirect_uris: vec![format!("http://localhost:{port}/")],
            ..DcOptions::default()
        }
    }
}

/// A port that was free on 127.0.0.1 a moment ago (and on ::1 where there
/// is IPv6), for a redirect URI the helper will listen on.
pub fn free_port() -> u16 {
    for _ in 0..20 {
        let v4 = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = v4.local_addr().expect("a local address").port();
        // Taken on ::1 is the only reason to look again; no IPv6 at all
        // is fine (the helper then binds 127.0.0.1 alone).
        let v6_free = !matches!(
            std::net::TcpListener::bind(("::1", port)),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse
        );
        if v6_free {
            return port;
        }
    }
    panic!("no free loopback port found");
}

/// Data Center's validation of a redirect URL at registration (FACTS B.3).
pub fn check_redirect_registration(uri: &str, skip_https_requirement: bool) -> Result<(), String> {
    if uri.len() > 450 {
        return Err("Redirect URL is invalid: longer than 450 characters".into());
    }
    if uri.contains('#') {
        return Err("Redirect URL is invalid: it must not have a fragment".into());
    }
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err("Redirect URL is invalid: URL must be absolute".into());
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    if host.is_empty() {
        return Err("Redirect URL is invalid: URL must be absolute".into());
    }
    match scheme {
        "https" => Ok(()),
        "http" if host == "localhost" || skip_https_requirement => Ok(()),
        _ => Err("Redirect URL is invalid: URL must use https".into()),
    }
}

/// Whether a PKCE challenge or verifier has the allowed form.
fn pkce_shaped(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"~-._".contains(&b))
}

/// How much a scope allows for repositories: 1 read (clone), 2 write
/// (push); the admin scopes include both.
fn scope_level(scope: &str) -> u8 {
    match scope {
        "REPO_READ" => 1,
        "REPO_WRITE" => 2,
        "REPO_ADMIN" | "PROJECT_ADMIN" | "ADMIN_WRITE" | "SYSTEM_ADMIN" => 3,
        _ => 0,
    }
}

/// What kind of credential an access token is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Cred {
    /// An OAuth access token from the code or refresh grant of `family`
    /// (the code it descends from).
    OAuth { family: u64 },
    /// A personal HTTP access token.
    Personal,
    /// A project HTTP access token for this project key.
    Project { key: String },
}

#[derive(Debug)]
struct CodeGrant {
    client_id: String,
    account: String,
    redirect_uri: String,
    /// (method, challenge).
    challenge: Option<(String, String)>,
    scopes: Vec<String>,
    issued: Instant,
    used: bool,
    family: u64,
}

#[derive(Debug)]
struct AccessGrant {
    account: String,
    level: u8,
    expires_at: Instant,
    revoked: bool,
    cred: Cred,
}

#[derive(Debug)]
struct RefreshGrant {
    client_id: String,
    account: String,
    scopes: Vec<String>,
    created: Instant,
    alive: bool,
    /// The access token issued with it.
    access: String,
    family: u64,
}

struct State {
    opts: DcOptions,
    browser_user: String,
    deny: bool,
    fault: Option<TokenFault>,
    counter: u64,
    codes: HashMap<String, CodeGrant>,
    access: HashMap<String, AccessGrant>,
    /// OAuth access tokens in the order they were issued.
    oauth_order: Vec<String>,
    refresh: HashMap<String, RefreshGrant>,
    issued: Vec<String>,
    log: Vec<LoggedRequest>,
    seq: u64,
    request_ids: u64,
}

impl State {
    fn fresh_secret(&mut self, prefix: &str, url_safe: bool) -> String {
        self.counter += 1;
        let secret = mint_secret(self.counter, prefix, url_safe);
        self.issued.push(secret.clone());
        secret
    }

    fn token_state(&self, token: &str) -> (TokenState, Option<&AccessGrant>) {
        match self.access.get(token) {
            None => (TokenState::Unknown, None),
            Some(g) if g.revoked => (TokenState::Revoked, Some(g)),
            Some(g) if Instant::now() >= g.expires_at => (TokenState::Expired, Some(g)),
            Some(g) => (TokenState::Live, Some(g)),
        }
    }

    /// A new access + refresh pair for an OAuth grant.
    fn issue(
        &mut self,
        client_id: &str,
        account: &str,
        scopes: &[String],
        family: u64,
    ) -> (String, String) {
        let access = self.fresh_secret("BBDC-at.", false);
        let refresh = self.fresh_secret("BBDC-rt+", false);
        let level = scopes.iter().map(|s| scope_level(s)).max().unwrap_or(0);
        self.access.insert(
            access.clone(),
            AccessGrant {
                account: account.into(),
                level,
                expires_at: Instant::now() + Duration::from_secs(self.opts.access_lifetime),
                revoked: false,
                cred: Cred::OAuth { family },
            },
        );
        self.oauth_order.push(access.clone());
        self.refresh.insert(
            refresh.clone(),
            RefreshGrant {
                client_id: client_id.into(),
                account: account.into(),
                scopes: scopes.to_vec(),
                created: Instant::now(),
                alive: true,
                access: access.clone(),
                family,
            },
        );
        (access, refresh)
    }

    /// Kills every token descending from the code of `family`.
    fn revoke_family(&mut self, family: u64) {
        for grant in self.access.values_mut() {
            if grant.cred == (Cred::OAuth { family }) {
                grant.revoked = true;
            }
        }
        for grant in self.refresh.values_mut() {
            if grant.family == family {
                grant.alive = false;
            }
        }
    }

    fn client_ok(&self, id: &str, secret: Option<&str>) -> bool {
        id == self.opts.client_id && secret == Some(self.opts.client_secret.as_str())
    }
}

struct Inner {
    state: Mutex<State>,
    accounts: Vec<String>,
    base_url: String,
    context_path: String,
    repo_root: PathBuf,
    started: Instant,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What came back from [`FakeDataCenter::probe`].
#[derive(Clone, Debug)]
pub struct Probe {
    /// HTTP status.
    pub status: u16,
    /// `X-AUSERNAME`, if sent.
    pub ausername: Option<String>,
    /// `X-AREQUESTID`, if sent.
    pub request_id: Option<String>,
    /// `WWW-Authenticate`, if sent.
    pub www_authenticate: Option<String>,
}

/// The running fake; stops when dropped.
pub struct FakeDataCenter {
    inner: Arc<Inner>,
    server: Arc<mini::Server>,
    stopping: Arc<AtomicBool>,
    dispatcher: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl FakeDataCenter {
    /// Starts the fake on 127.0.0.1 with a free port and creates the
    /// repository `PROJ/repo.git` holding one commit (a README) on `main`.
    /// Panics if a registered redirect URL is one Data Center refuses.
    pub fn start(mut opts: DcOptions) -> FakeDataCenter {
        for uri in &opts.redirect_uris {
            if let Err(why) = check_redirect_registration(uri, opts.skip_https_requirement) {
                panic!("the fake cannot register {uri:?}: {why}");
            }
        }
        let context = opts.context_path.trim_end_matches('/').to_string();
        opts.context_path = if context.is_empty() || context.starts_with('/') {
            context
        } else {
            format!("/{context}")
        };
        let dir = tempfile::Builder::new()
            .prefix("gcb-fake-dc-")
            .tempdir()
            .expect("a temp dir for the fake's repositories");
        let server =
            Arc::new(mini::Server::http("127.0.0.1:0").expect("the fake binds 127.0.0.1:0"));
        let port = server.port();
        let client_secret = opts.client_secret.clone();
        let context_path = opts.context_path.clone();
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                opts,
                browser_user: "alice".into(),
                deny: false,
                fault: None,
                counter: 0,
                codes: HashMap::new(),
                access: HashMap::new(),
                oauth_order: Vec::new(),
                refresh: HashMap::new(),
                issued: vec![client_secret],
                log: Vec::new(),
                seq: 0,
                request_ids: 0,
            }),
            accounts: vec!["alice".into(), "bob".into()],
            base_url: format!("http://127.0.0.1:{port}"),
            context_path,
            repo_root: dir.path().join("repos"),
            started: Instant::now(),
        });
        let stopping = Arc::new(AtomicBool::new(false));
        let dispatcher = {
            let (inner, server, stopping) = (inner.clone(), server.clone(), stopping.clone());
            std::thread::Builder::new()
                .name("fake-bitbucket-dc".into())
                .spawn(move || loop {
                    match server.recv() {
                        Ok(request) => {
                            let inner = inner.clone();
                            std::thread::spawn(move || handle(&inner, request));
                        }
                        Err(_) if stopping.load(Ordering::SeqCst) => break,
                        Err(_) => continue,
                    }
                })
                .expect("spawn the fake's dispatcher")
        };
        let fake = FakeDataCenter {
            inner,
            server,
            stopping,
            dispatcher: Some(dispatcher),
            _dir: dir,
        };
        fake.create_repo("PROJ", "repo");
        fake
    }

    /// `http://127.0.0.1:PORT`: what git sends as `protocol` and `host`.
    pub fn base_url(&self) -> String {
        self.inner.base_url.clone()
    }

    /// `127.0.0.1:PORT`, as git sends `host=`.
    pub fn host(&self) -> String {
        self.inner
            .base_url
            .trim_start_matches("http://")
            .to_string()
    }

    /// The server's URL: the base URL plus the context path, if any.
    pub fn url(&self) -> String {
        format!("{}{}", self.inner.base_url, self.inner.context_path)
    }

    /// The context path (`""` or e.g. `/bitbucket`).
    pub fn context_path(&self) -> String {
        self.inner.context_path.clone()
    }

    /// The authorize endpoint.
    pub fn authorize_url(&self) -> String {
        format!("{}/rest/oauth2/latest/authorize", self.url())
    }

    /// The token endpoint.
    pub fn token_url(&self) -> String {
        format!("{}/rest/oauth2/latest/token", self.url())
    }

    /// The revocation endpoint.
    pub fn revoke_url(&self) -> String {
        format!("{}/rest/oauth2/latest/revoke", self.url())
    }

    /// The REST API base (`…/rest/api/latest`).
    pub fn api_url(&self) -> String {
        format!("{}/rest/api/latest", self.url())
    }

    /// The default repository, `PROJ/repo.git`.
    pub fn repo_url(&self) -> String {
        format!("{}/scm/PROJ/repo.git", self.url())
    }

    /// The client ID.
    pub fn client_id(&self) -> String {
        self.inner.lock().opts.client_id.clone()
    }

    /// The client secret.
    pub fn client_secret(&self) -> String {
        self.inner.lock().opts.client_secret.clone()
    }

    /// The first registered redirect URL.
    pub fn redirect_uri(&self) -> String {
        self.inner.lock().opts.redirect_uris[0].clone()
    }

    /// The options in force now.
    pub fn options(&self) -> DcOptions {
        self.inner.lock().opts.clone()
    }

    /// Who is signed in to the browser from now on (default `alice`).
    pub fn set_browser_user(&self, username: &str) {
        assert!(
            self.inner.accounts.iter().any(|a| a == username),
            "no account {username}"
        );
        self.inner.lock().browser_user = username.into();
    }

    /// Whether the signed-in user denies consent at authorize.
    pub fn set_deny(&self, deny: bool) {
        self.inner.lock().deny = deny;
    }

    /// Lifetime of access tokens issued from now on, in seconds.
    pub fn set_access_lifetime(&self, secs: u64) {
        self.inner.lock().opts.access_lifetime = secs;
    }

    /// A fault for every token request from now on (`None` clears it).
    pub fn set_token_fault(&self, fault: Option<TokenFault>) {
        self.inner.lock().fault = fault;
    }

    /// A personal HTTP access token of `username` with repository read
    /// (and, with `write`, write) permission: git may send it as Basic
    /// `<username>:<token>` or as Bearer.
    pub fn mint_personal_token(&self, username: &str, write: bool) -> String {
        assert!(
            self.inner.accounts.iter().any(|a| a == username),
            "no account {username}"
        );
        self.mint_http_token(username, write, Cred::Personal)
    }

    /// A project HTTP access token for `project` (read, or read and write):
    /// accepted only as Bearer, and only for that project's repositories.
    /// Its requests run as the project's bot user, `<project>-bot`.
    pub fn mint_project_token(&self, project: &str, write: bool) -> String {
        let bot = format!("{}-bot", project.to_ascii_lowercase());
        self.mint_http_token(
            &bot,
            write,
            Cred::Project {
                key: project.to_string(),
            },
        )
    }

    fn mint_http_token(&self, account: &str, write: bool, cred: Cred) -> String {
        let mut st = self.inner.lock();
        // Data Center's HTTP access tokens are 44 characters of base64.
        let token = st.fresh_secret("BBDC-", false);
        st.access.insert(
            token.clone(),
            AccessGrant {
                account: account.into(),
                level: if write { 2 } else { 1 },
                expires_at: Instant::now() + Duration::from_secs(365 * 86400),
                revoked: false,
                cred,
            },
        );
        token
    }

    /// Kills every access token issued so far (HTTP access tokens too).
    pub fn revoke_access_tokens(&self) {
        for grant in self.inner.lock().access.values_mut() {
            grant.revoked = true;
        }
    }

    /// Kills every refresh token issued so far.
    pub fn revoke_refresh_tokens(&self) {
        for grant in self.inner.lock().refresh.values_mut() {
            grant.alive = false;
        }
    }

    /// Every OAuth access token issued, oldest first.
    pub fn oauth_access_tokens(&self) -> Vec<String> {
        self.inner.lock().oauth_order.clone()
    }

    /// What the fake makes of `token` now.
    pub fn token_state(&self, token: &str) -> TokenState {
        self.inner.lock().token_state(token).0
    }

    /// Refresh tokens still alive.
    pub fn live_refresh_tokens(&self) -> usize {
        self.inner
            .lock()
            .refresh
            .values()
            .filter(|g| g.alive)
            .count()
    }

    /// GETs `path` (below the context path) with an optional
    /// `Authorization` value, as any HTTP client would; the request is
    /// logged like every other.
    pub fn probe(&self, path: &str, authorization: Option<&str>) -> Probe {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .new_agent();
        let mut request = agent.get(format!("{}{path}", self.url()));
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        let response = request.call().expect("the fake answers");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        Probe {
            status: response.status().as_u16(),
            ausername: header("x-ausername"),
            request_id: header("x-arequestid"),
            www_authenticate: header("www-authenticate"),
        }
    }

    /// Every request since the start or the last [`Self::clear_log`].
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.inner.lock().log.clone()
    }

    /// Token requests with this `grant_type`.
    pub fn token_requests(&self, grant: &str) -> Vec<LoggedRequest> {
        let kind = Kind::token(grant);
        self.requests()
            .into_iter()
            .filter(|r| r.kind == kind)
            .collect()
    }

    /// Token requests of any grant.
    pub fn all_token_requests(&self) -> Vec<LoggedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.kind.is_token())
            .collect()
    }

    /// Logged requests of exactly this kind.
    pub fn requests_of(&self, kind: &Kind) -> Vec<LoggedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| &r.kind == kind)
            .collect()
    }

    /// How many logged requests are of exactly this kind.
    pub fn count(&self, kind: &Kind) -> usize {
        self.inner
            .lock()
            .log
            .iter()
            .filter(|r| &r.kind == kind)
            .count()
    }

    /// Forgets the log (sequence numbers keep counting).
    pub fn clear_log(&self) {
        self.inner.lock().log.clear();
    }

    /// Every code and token ever issued, and the client secret: what a
    /// secret-leak scan looks for.
    pub fn issued_secrets(&self) -> Vec<String> {
        self.inner.lock().issued.clone()
    }

    /// Creates a bare repository `<project>/<name>.git` with one commit (a
    /// README) on `main`, and returns its clone URL.
    pub fn create_repo(&self, project: &str, name: &str) -> String {
        let seed = self.inner.repo_root.join(format!(".seed-{project}-{name}"));
        create_bare_repo(&seed, &self.repo_dir(project, name), name);
        format!("{}/scm/{project}/{name}.git", self.url())
    }

    /// Where the bare repository `<project>/<name>.git` lives.
    pub fn repo_dir(&self, project: &str, name: &str) -> PathBuf {
        self.inner
            .repo_root
            .join(project)
            .join(format!("{name}.git"))
    }

    /// Runs git inside the default server repository (`PROJ/repo.git`).
    pub fn server_git(&self, args: &[&str]) -> Output {
        server_git(&self.repo_dir("PROJ", "repo"))
            .args(args)
            .output()
            .expect("run git on the server repo")
    }

    /// The commit a revision names in the default server repository.
    pub fn server_rev(&self, rev: &str) -> String {
        let out = self.server_git(&["rev-parse", "--verify", "-q", rev]);
        assert!(
            out.status.success(),
            "rev-parse {rev}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Number of commits on `branch` of the default server repository.
    pub fn server_commit_count(&self, branch: &str) -> usize {
        let out = self.server_git(&["rev-list", "--count", &format!("refs/heads/{branch}")]);
        assert!(
            out.status.success(),
            "rev-list: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a count")
    }
}

impl Drop for FakeDataCenter {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.server.unblock();
        if let Some(dispatcher) = self.dispatcher.take() {
            let _ = dispatcher.join();
        }
    }
}

fn push_log(inner: &Inner, mut entry: LoggedRequest) {
    let mut st = inner.lock();
    entry.seq = st.seq;
    st.seq += 1;
    st.log.push(entry);
}

fn handle(inner: &Inner, mut request: mini::Request) {
    let Incoming {
        method,
        path,
        query,
        headers,
        remote,
        body,
        body_ok,
    } = Incoming::read(&mut request);
    let mut entry = LoggedRequest::new(inner.started.elapsed(), &method, &path, &query);
    let route = path
        .strip_prefix(inner.context_path.as_str())
        .filter(|r| r.starts_with('/'))
        .map(str::to_string);

    let reply = match route.as_deref() {
        _ if !body_ok => Reply::html(400, "<h1>Bad request body</h1>"),
        Some("/rest/oauth2/latest/authorize") => {
            entry.kind = Kind::Authorize;
            authorize(inner, &method, &query, &mut entry)
        }
        Some("/rest/oauth2/latest/token") => token(inner, &method, &headers, &body, &mut entry),
        Some("/rest/oauth2/latest/revoke") => {
            entry.kind = Kind::Revoke;
            revoke(inner, &method, &headers, &body, &mut entry)
        }
        Some("/rest/api/latest/application-properties")
        | Some("/rest/api/1.0/application-properties") => {
            entry.kind = Kind::User;
            application_properties(inner, &method, &headers, &mut entry)
        }
        Some(route) => match scm_route(route, &query) {
            Some((project, path_info, service)) => {
                entry.kind = Kind::Git;
                entry.git_service = service.clone();
                let request = GitRequest {
                    method: &method,
                    path: &path_info,
                    query: &query,
                    headers: &headers,
                    body,
                    remote: &remote,
                };
                git(inner, request, &project, service, &mut entry)
            }
            None => not_found(),
        },
        None => not_found(),
    };
    let request_id = {
        let mut st = inner.lock();
        st.request_ids += 1;
        format!(
            "@1Q2W3E4x{}x{}x0",
            inner.started.elapsed().as_secs() / 60 + 1000,
            st.request_ids
        )
    };
    let reply = reply.header("X-AREQUESTID", &request_id);
    entry.status = reply.status;
    if !reply.logged {
        push_log(inner, entry);
    }
    send(request, reply);
}

fn not_found() -> Reply {
    Reply::json(
        404,
        &json!({ "errors": [{ "context": null, "message": "Not found",
            "exceptionName": null }] }),
    )
}

/// `/scm/<PROJECT>/<repo>.git/...`: the project, the path below `/scm`
/// for `git http-backend`, and the service.
fn scm_route(route: &str, query: &str) -> Option<(String, String, Option<String>)> {
    let below = route.strip_prefix("/scm")?;
    let mut parts = below.strip_prefix('/')?.splitn(3, '/');
    let (project, repo) = (parts.next()?, parts.next()?);
    if project.is_empty() || !repo.ends_with(".git") || repo.len() <= 4 {
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
    Some((project.to_string(), below.to_string(), service))
}

/// The OAuth answers' cache headers (FACTS B.3, B.4).
fn no_store(reply: Reply) -> Reply {
    reply
        .header("Cache-Control", "no-store")
        .header("Pragma", "no-cache")
}

/// Bitbucket's own error page: no redirect to the client.
fn error_page(entry: &mut LoggedRequest, error: &str, description: &str) -> Reply {
    entry.error = Some(error.into());
    no_store(Reply::html(
        400,
        &format!(
            "<!DOCTYPE html><html><head><title>OAuth 2.0 error</title></head><body>\
             <h1>Something went wrong</h1><p>error={error}</p><p>{description}</p></body></html>"
        ),
    ))
}

/// A 303 back to the client's `redirect_uri` with `answer` (already
/// encoded) and the state when it was not blank.
fn redirect_back(target: &str, mut answer: String, state: &str) -> Reply {
    if !state.trim().is_empty() {
        answer.push_str(&format!("&state={}", percent_encode(state)));
    }
    let separator = if target.contains('?') { '&' } else { '?' };
    no_store(
        Reply::html(303, "<html><body>Redirecting…</body></html>")
            .header("Location", &format!("{target}{separator}{answer}")),
    )
}

fn redirect_error(
    entry: &mut LoggedRequest,
    target: &str,
    error: &str,
    description: &str,
    state: &str,
) -> Reply {
    if target.is_empty() {
        return error_page(entry, error, description);
    }
    entry.error = Some(error.into());
    redirect_back(
        target,
        format!(
            "error={error}&error_description={}",
            percent_encode(description)
        ),
        state,
    )
}

fn authorize(inner: &Inner, method: &str, query: &str, entry: &mut LoggedRequest) -> Reply {
    let params = parse_form(query);
    entry.params = params.clone();
    if method != "GET" {
        return Reply::html(405, "<h1>Method not allowed</h1>");
    }
    let get = |key: &str| param(&params, key).unwrap_or("").to_string();
    let (client_id, redirect_uri, state) = (get("client_id"), get("redirect_uri"), get("state"));
    let (response_type, scope) = (get("response_type"), get("scope"));
    let challenge = param(&params, "code_challenge").map(str::to_string);
    let challenge_method = param(&params, "code_challenge_method").map(str::to_string);
    let mut st = inner.lock();

    // 1. The scope check comes first, and is redirected to the client.
    let client_scopes: Vec<String> = st
        .opts
        .scopes
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let scopes: Vec<String> = if scope.trim().is_empty() {
        client_scopes.clone()
    } else {
        scope.split_whitespace().map(str::to_string).collect()
    };
    if scopes.iter().any(|s| !client_scopes.contains(s)) {
        let mut asked = scopes.clone();
        asked.sort();
        let mut allowed = client_scopes.clone();
        allowed.sort();
        let description = format!(
            "The scope used in the request ['{}'] is not valid for client scope ['{}']",
            asked.join(" "),
            allowed.join(" ")
        );
        return redirect_error(entry, &redirect_uri, "invalid_scope", &description, &state);
    }
    // 2. What the consent page needs.
    if client_id.is_empty() || redirect_uri.is_empty() || response_type.is_empty() {
        return error_page(
            entry,
            "invalid_request",
            "client_id, redirect_uri and response_type are required",
        );
    }
    // 3. After consent: the client, and the exact redirect.
    if client_id != st.opts.client_id {
        return error_page(entry, "invalid_client", "No client with this client_id");
    }
    if !st.opts.redirect_uris.contains(&redirect_uri) {
        return error_page(
            entry,
            "invalid_redirect_uri",
            "The redirect_uri does not match any registered redirect URL of the client",
        );
    }
    // 4. PKCE.
    let pkce = match challenge {
        None if st.opts.require_pkce => {
            return redirect_error(
                entry,
                &redirect_uri,
                "invalid_request",
                "code_challenge is required (by this fake)",
                &state,
            )
        }
        None => None,
        Some(challenge) => {
            let method = challenge_method.unwrap_or_else(|| "plain".into());
            if method != "plain" && method != "S256" {
                return redirect_error(
                    entry,
                    &redirect_uri,
                    "invalid_request",
                    "Unsupported code_challenge_method",
                    &state,
                );
            }
            if !pkce_shaped(&challenge) {
                return redirect_error(
                    entry,
                    &redirect_uri,
                    "invalid_request",
                    "Invalid code_challenge",
                    &state,
                );
            }
            Some((method, challenge))
        }
    };
    // 5. The response type.
    if response_type != "code" {
        return redirect_error(
            entry,
            &redirect_uri,
            "unsupported_response_type",
            "Only the code response type is supported",
            &state,
        );
    }
    if st.deny {
        return redirect_error(
            entry,
            &redirect_uri,
            "access_denied",
            "The user denied the request",
            &state,
        );
    }
    let code = st.fresh_secret("dc-code-", true);
    let family = st.counter;
    let account = st.browser_user.clone();
    entry.account = Some(account.clone());
    st.codes.insert(
        code.clone(),
        CodeGrant {
            client_id,
            account,
            redirect_uri: redirect_uri.clone(),
            challenge: pkce,
            scopes,
            issued: Instant::now(),
            used: false,
            family,
        },
    );
    redirect_back(
        &redirect_uri,
        format!("code={}", percent_encode(&code)),
        &state,
    )
}

fn token_error(status: u16, error: &str, description: &str, entry: &mut LoggedRequest) -> Reply {
    Reply::oauth_error(status, error, description, entry)
        .header("Cache-Control", "no-store, no-cache")
        .header("Pragma", "no-cache")
}

fn missing(key: &str, entry: &mut LoggedRequest) -> Reply {
    token_error(
        400,
        "invalid_request",
        &format!("missing required parameter {key}"),
        entry,
    )
}

/// Notes in the log how the client presented its credentials; the header
/// itself is never used to authenticate it (FACTS B.4).
fn log_client_auth(headers: &Headers, params: &[(String, String)], entry: &mut LoggedRequest) {
    let header = presented(headers, entry);
    let body = param(params, "client_secret").is_some();
    entry.client_auth = Some(match (header, body) {
        (Presented::Basic { .. }, true) => ClientAuth::Both,
        (Presented::Basic { .. }, false) => ClientAuth::Basic,
        (_, true) => ClientAuth::Body,
        (Presented::Nothing, false) => ClientAuth::None,
        (_, false) => ClientAuth::OtherScheme,
    });
}

fn token(
    inner: &Inner,
    method: &str,
    headers: &Headers,
    body: &[u8],
    entry: &mut LoggedRequest,
) -> Reply {
    let params = if headers.is_form() {
        parse_form(&String::from_utf8_lossy(body))
    } else {
        Vec::new()
    };
    let grant = param(&params, "grant_type").unwrap_or("").to_string();
    entry.kind = Kind::token(&grant);
    entry.params = params.clone();
    let fault = inner.lock().fault.clone();
    if let Some(fault) = fault {
        return fault_reply(fault, entry, |logged| push_log(inner, logged));
    }
    if method != "POST" {
        return token_error(405, "invalid_request", "Use POST", entry);
    }
    if !headers.is_form() {
        return token_error(
            415,
            "invalid_request",
            "The body must be application/x-www-form-urlencoded",
            entry,
        );
    }
    log_client_auth(headers, &params, entry);
    let get = |key: &str| param(&params, key).unwrap_or("").to_string();
    let client_id = get("client_id");
    let client_secret = param(&params, "client_secret");
    let mut st = inner.lock();

    let (account, scopes, family) = match grant.as_str() {
        "" => return missing("grant_type", entry),
        "authorization_code" => {
            for key in ["code", "redirect_uri", "client_id"] {
                if get(key).trim().is_empty() {
                    return missing(key, entry);
                }
            }
            let (code, redirect_uri) = (get("code"), get("redirect_uri"));
            let code_lifetime = Duration::from_secs(st.opts.code_lifetime);
            let Some(found) = st.codes.get(&code) else {
                return token_error(
                    400,
                    "invalid_request",
                    "Authorization code not found",
                    entry,
                );
            };
            if found.used {
                // Replay: everything issued from this code dies.
                let family = found.family;
                st.revoke_family(family);
                return token_error(
                    400,
                    "invalid_grant",
                    "The authorization code has already been redeemed",
                    entry,
                );
            }
            if found.issued.elapsed() > code_lifetime {
                return token_error(
                    400,
                    "invalid_grant",
                    "The authorization code has expired",
                    entry,
                );
            }
            if found.client_id != client_id {
                return token_error(
                    400,
                    "invalid_grant",
                    "The authorization code was issued to another client",
                    entry,
                );
            }
            if found.redirect_uri != redirect_uri {
                return token_error(
                    400,
                    "invalid_grant",
                    "redirect_uri does not match the one used for authorization",
                    entry,
                );
            }
            if !st.opts.redirect_uris.contains(&redirect_uri) {
                return token_error(400, "invalid_client", "Unregistered redirect_uri", entry);
            }
            if let Some((pkce_method, challenge)) = &found.challenge {
                let verifier = get("code_verifier");
                if verifier.is_empty() || !pkce_shaped(&verifier) {
                    return token_error(
                        400,
                        "invalid_grant",
                        "Missing or invalid code_verifier",
                        entry,
                    );
                }
                let derived = if pkce_method == "S256" {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .encode(Sha256::digest(verifier.as_bytes()))
                } else {
                    verifier.clone()
                };
                if derived != *challenge {
                    return token_error(
                        400,
                        "invalid_grant",
                        "The code_verifier does not match the code_challenge",
                        entry,
                    );
                }
                entry.pkce = Some(pkce_method.clone());
            }
            if !st.client_ok(&client_id, client_secret) {
                return token_error(400, "invalid_client", "Client authentication failed", entry);
            }
            let found = st.codes.get_mut(&code).expect("the code is there");
            found.used = true;
            (found.account.clone(), found.scopes.clone(), found.family)
        }
        "refresh_token" => {
            for key in ["refresh_token", "client_id"] {
                if get(key).trim().is_empty() {
                    return missing(key, entry);
                }
            }
            let presented_rt = get("refresh_token");
            let lifetime = Duration::from_secs(st.opts.refresh_lifetime);
            let usable = st.refresh.get(&presented_rt).is_some_and(|g| {
                g.alive && g.client_id == client_id && g.created.elapsed() <= lifetime
            });
            if !usable {
                return token_error(400, "invalid_grant", "Invalid refresh token", entry);
            }
            if !st.client_ok(&client_id, client_secret) {
                return token_error(400, "invalid_client", "Client authentication failed", entry);
            }
            // Rotation: the old refresh token and its access token die now.
            let old = st
                .refresh
                .get_mut(&presented_rt)
                .expect("the refresh token is there");
            old.alive = false;
            let (old_access, account, scopes, family) = (
                old.access.clone(),
                old.account.clone(),
                old.scopes.clone(),
                old.family,
            );
            if let Some(access) = st.access.get_mut(&old_access) {
                access.revoked = true;
            }
            (account, scopes, family)
        }
        other => {
            return token_error(
                400,
                "unsupported_grant_type",
                &format!("Unsupported grant type: {other}"),
                entry,
            )
        }
    };
    let (access, refresh) = st.issue(&client_id, &account, &scopes, family);
    entry.account = Some(account);
    let lifetime = st.opts.access_lifetime;
    no_store(Reply::json(
        200,
        &json!({
            "access_token": access,
            "token_type": "bearer",
            "expires_in": lifetime,
            "refresh_token": refresh,
            "scope": scopes.join(" "),
        }),
    ))
}

fn revoke(
    inner: &Inner,
    method: &str,
    headers: &Headers,
    body: &[u8],
    entry: &mut LoggedRequest,
) -> Reply {
    let params = if headers.is_form() {
        parse_form(&String::from_utf8_lossy(body))
    } else {
        Vec::new()
    };
    entry.params = params.clone();
    if method != "POST" {
        return token_error(405, "invalid_request", "Use POST", entry);
    }
    log_client_auth(headers, &params, entry);
    let token = param(&params, "token").unwrap_or("").to_string();
    if token.is_empty() {
        return missing("token", entry);
    }
    let mut st = inner.lock();
    if !st.client_ok(
        param(&params, "client_id").unwrap_or(""),
        param(&params, "client_secret"),
    ) {
        return token_error(400, "invalid_client", "Client authentication failed", entry);
    }
    let paired = st.refresh.get_mut(&token).map(|grant| {
        grant.alive = false;
        (grant.account.clone(), grant.access.clone())
    });
    if let Some((account, access)) = paired {
        entry.account = Some(account);
        if let Some(a) = st.access.get_mut(&access) {
            a.revoked = true;
        }
    } else {
        let (state, grant) = st.token_state(&token);
        entry.token_state = Some(state);
        entry.account = grant.map(|g| g.account.clone());
        if let Some(grant) = st.access.get_mut(&token) {
            grant.revoked = true;
        }
    }
    no_store(Reply::new(200, "text/plain", ""))
}

/// Who a resource request authenticated as, and how far it may go.
struct Authenticated {
    account: String,
    level: u8,
    project: Option<String>,
}

/// Resource authentication (FACTS B.6, B.8). A token that is unknown,
/// expired or revoked leaves the request anonymous.
fn authenticate(st: &State, headers: &Headers, entry: &mut LoggedRequest) -> Option<Authenticated> {
    let presented = presented(headers, entry);
    let (token, basic_user) = match presented {
        // The scheme is compared case-sensitively.
        Presented::Bearer(token) if entry.auth_scheme.as_deref() == Some("Bearer") => (token, None),
        // The decoded value must split into exactly two parts.
        Presented::Basic { user, password } if !password.contains(':') => (password, Some(user)),
        _ => return None,
    };
    let (state, grant) = st.token_state(&token);
    entry.token_state = Some(state);
    entry.account = grant.map(|g| g.account.clone());
    let grant = grant.filter(|_| state == TokenState::Live)?;
    let project = match &grant.cred {
        Cred::OAuth { .. } => None,
        Cred::Personal => {
            if basic_user.is_some_and(|u| u != grant.account) {
                return None;
            }
            None
        }
        Cred::Project { key } => {
            if basic_user.is_some() {
                return None;
            }
            Some(key.clone())
        }
    };
    Some(Authenticated {
        account: grant.account.clone(),
        level: grant.level,
        project,
    })
}

fn unauthorized() -> Reply {
    Reply::json(
        401,
        &json!({ "errors": [{ "context": null,
            "message": "Authentication failed. Please check your credentials and try again.",
            "exceptionName": "com.atlassian.bitbucket.auth.IncorrectPasswordAuthenticationException" }] }),
    )
    .header("WWW-Authenticate", WWW_AUTHENTICATE)
}

fn application_properties(
    inner: &Inner,
    method: &str,
    headers: &Headers,
    entry: &mut LoggedRequest,
) -> Reply {
    if method != "GET" {
        return Reply::json(
            405,
            &json!({ "errors": [{ "message": "Method not allowed" }] }),
        );
    }
    let st = inner.lock();
    let Some(who) = authenticate(&st, headers, entry) else {
        return unauthorized();
    };
    Reply::json(
        200,
        &json!({
            "version": "8.19.1",
            "buildNumber": "8019001",
            "buildDate": "1700000000000",
            "displayName": "Bitbucket",
        }),
    )
    .header("X-AUSERNAME", &who.account)
}

fn git(
    inner: &Inner,
    req: GitRequest<'_>,
    project: &str,
    service: Option<String>,
    entry: &mut LoggedRequest,
) -> Reply {
    let who = {
        let st = inner.lock();
        let Some(who) = authenticate(&st, req.headers, entry) else {
            return unauthorized();
        };
        who
    };
    let forbidden = |why: &str| {
        Reply::new(403, "text/plain; charset=utf-8", format!("{why}\n"))
            .header("X-AUSERNAME", &who.account)
    };
    if who
        .project
        .as_deref()
        .is_some_and(|p| !p.eq_ignore_ascii_case(project))
    {
        return forbidden("This project token is for another project.");
    }
    let needed = if service.as_deref() == Some("git-receive-pack") {
        2
    } else {
        1
    };
    if who.level < needed {
        return forbidden("The credentials lack the permission for this operation.");
    }
    run_http_backend(&inner.repo_root, &req, &who.account).header("X-AUSERNAME", &who.account)
}
