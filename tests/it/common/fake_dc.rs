//! A strict fake Bitbucket Data Center on 127.0.0.1 (docs/bitbucket-facts.md Part B and
//! "What a strict fake server should enforce" → "DC fake").
//!
//! Everything is served under an optional context path (`/bitbucket`):
//! the OAuth 2.0 provider (`/rest/oauth2/latest/{authorize,token,revoke}`),
//! `/rest/api/latest/application-properties` (answered with the
//! `X-AUSERNAME` header, Data Center's only "who am I"), and git smart HTTP
//! under `/scm/<PROJECT>/<repo>.git/...` through `git http-backend`. Every
//! answer carries `X-AREQUESTID`; authenticated ones carry `X-AUSERNAME`.
//! Every request is logged with what the fake decided (the server, the log
//! and the test's controls are shared with the Cloud fake, in
//! [`super::fake_core`]; the log types are in [`super::http`]).
//!
//! What it enforces (bitbucket-facts.md B.2–B.8):
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
//!   [`FakeDataCenter::mint_project_token`], bitbucket-facts.md B.8): a personal token
//!   as Bearer or as Basic with its owner's name; a project token as
//!   Bearer only, and for its own project only. Anything else is 401 with
//!   `WWW-Authenticate: Basic realm="Atlassian Bitbucket"`. Fetch needs
//!   `REPO_READ` (or a higher scope), push `REPO_WRITE`; a token without
//!   it gets 403.
//!
//! Decisions where docs/bitbucket-facts.md leaves Data Center's behaviour open:
//! - `invalid_client` is answered with 400.
//! - `application-properties` answers 401 without a live token (a real
//!   server may answer anonymous requests 200 without `X-AUSERNAME`).
//! - Dead tokens are kept and reported as [`TokenState::Revoked`] (Data
//!   Center deletes them), so the log can tell "revoked" from "unknown".
//! - The `scope` of a token response is the granted scopes, space
//!   separated.
//! - Codes live [`DcOptions::code_lifetime`] seconds (default 60).

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::client;
use super::fake_core::{self, Core, FakeServer, Flavor};
use super::http::{
    fault_reply, git_route, presented, run_http_backend, Headers, Incoming, Presented, Reply,
};
pub use super::http::{ClientAuth, Kind, LoggedRequest, TokenState};
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
    /// OAuth tokens of 2,500+ characters, as large deployments issue
    /// (bitbucket-facts.md, 2026 changes: every store must take records of 6 KB).
    pub long_tokens: bool,
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
            long_tokens: false,
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

/// Data Center's validation of a redirect URL at registration (bitbucket-facts.md B.3).
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

/// An authorization code as the Data Center fake remembers it.
#[derive(Debug)]
pub struct CodeGrant {
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

/// What a Data Center access token allows.
#[derive(Debug)]
pub struct DcRights {
    level: u8,
    cred: Cred,
}

/// What the fake remembers of a Data Center refresh token.
#[derive(Debug)]
pub struct DcRefresh {
    scopes: Vec<String>,
    created: Instant,
    /// The access token issued with it.
    access: String,
    family: u64,
}

/// What only the Data Center fake keeps.
#[derive(Default)]
pub struct DcExtra {
    /// OAuth access tokens in the order they were issued.
    oauth_order: Vec<String>,
    request_ids: u64,
}

type State = fake_core::State<DataCenter>;

impl State {
    /// A new access + refresh pair for an OAuth grant.
    fn issue(
        &mut self,
        client_id: &str,
        account: &str,
        scopes: &[String],
        family: u64,
    ) -> (String, String) {
        let level = scopes.iter().map(|s| scope_level(s)).max().unwrap_or(0);
        let rights = DcRights {
            level,
            cred: Cred::OAuth { family },
        };
        let lifetime = Duration::from_secs(self.opts.access_lifetime);
        // The padding goes after the prefix the tests recognise tokens by.
        let pad = match self.opts.long_tokens {
            true => "Lg".repeat(1300),
            false => String::new(),
        };
        let access = self.grant_access(&format!("BBDC-at.{pad}"), account, lifetime, rights);
        self.extra.oauth_order.push(access.clone());
        let detail = DcRefresh {
            scopes: scopes.to_vec(),
            created: Instant::now(),
            access: access.clone(),
            family,
        };
        let refresh = self.grant_refresh(&format!("BBDC-rt+{pad}"), client_id, account, detail);
        (access, refresh)
    }

    /// Kills every token descending from the code of `family`.
    fn revoke_family(&mut self, family: u64) {
        for grant in self.access.values_mut() {
            if grant.rights.cred == (Cred::OAuth { family }) {
                grant.revoked = true;
            }
        }
        for grant in self.refresh.values_mut() {
            if grant.detail.family == family {
                grant.alive = false;
            }
        }
    }

    fn client_ok(&self, id: &str, secret: Option<&str>) -> bool {
        id == self.opts.client_id && secret == Some(self.opts.client_secret.as_str())
    }
}

/// Bitbucket Data Center as a [`Flavor`]: its known accounts.
pub struct DataCenter {
    accounts: Vec<String>,
}

impl Flavor for DataCenter {
    type Options = DcOptions;
    type Code = CodeGrant;
    type Rights = DcRights;
    type RefreshDetail = DcRefresh;
    type Extra = DcExtra;

    const THREAD: &'static str = "fake-bitbucket-dc";
    const TEMP_PREFIX: &'static str = "gcb-fake-dc-";
    const AUTHORIZE_PATH: &'static str = "/rest/oauth2/latest/authorize";
    const TOKEN_PATH: &'static str = "/rest/oauth2/latest/token";
    const API_PATH: &'static str = "/rest/api/latest";
    const GIT_PATH: &'static str = "/scm";
    const DEFAULT_REPO: (&'static str, &'static str) = ("PROJ", "repo");

    fn client_id(opts: &DcOptions) -> &str {
        &opts.client_id
    }

    fn client_secret(opts: &DcOptions) -> &str {
        &opts.client_secret
    }

    fn access_lifetime(opts: &mut DcOptions) -> &mut u64 {
        &mut opts.access_lifetime
    }

    fn knows(&self, username: &str) -> bool {
        self.accounts.iter().any(|a| a == username)
    }

    fn route(inner: &Inner, req: &Incoming, entry: &mut LoggedRequest) -> Reply {
        let route = req
            .path
            .strip_prefix(inner.context_path.as_str())
            .filter(|r| r.starts_with('/'));
        match route {
            Some(DataCenter::AUTHORIZE_PATH) => {
                entry.kind = Kind::Authorize;
                authorize(inner, &req.method, &req.query, entry)
            }
            Some(DataCenter::TOKEN_PATH) => token(inner, req, entry),
            Some("/rest/oauth2/latest/revoke") => {
                entry.kind = Kind::Revoke;
                revoke(inner, req, entry)
            }
            Some("/rest/api/latest/application-properties")
            | Some("/rest/api/1.0/application-properties") => {
                entry.kind = Kind::User;
                application_properties(inner, &req.method, &req.headers, entry)
            }
            Some(route) => match scm_route(route, &req.query) {
                Some((project, path_info, service)) => {
                    entry.kind = Kind::Git;
                    entry.git_service = service.clone();
                    git(inner, req, &path_info, &project, service, entry)
                }
                None => not_found(),
            },
            None => not_found(),
        }
    }

    /// Every answer carries `X-AREQUESTID`.
    fn stamp(inner: &Inner, reply: Reply) -> Reply {
        let request_id = {
            let mut st = inner.lock();
            st.extra.request_ids += 1;
            format!(
                "@1Q2W3E4x{}x{}x0",
                inner.started.elapsed().as_secs() / 60 + 1000,
                st.extra.request_ids
            )
        };
        reply.header("X-AREQUESTID", &request_id)
    }
}

type Inner = Core<DataCenter>;

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

/// The running fake Data Center; stops when dropped.
pub type FakeDataCenter = FakeServer<DataCenter>;

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
        let context_path = opts.context_path.clone();
        let flavor = DataCenter {
            accounts: vec!["alice".into(), "bob".into()],
        };
        FakeServer::launch(flavor, opts, context_path)
    }

    /// The revocation endpoint.
    pub fn revoke_url(&self) -> String {
        format!("{}/rest/oauth2/latest/revoke", self.url())
    }

    /// The first registered redirect URL.
    pub fn redirect_uri(&self) -> String {
        self.inner.lock().opts.redirect_uris[0].clone()
    }

    /// A personal HTTP access token of `username` with repository read
    /// (and, with `write`, write) permission: git may send it as Basic
    /// `<username>:<token>` or as Bearer.
    pub fn mint_personal_token(&self, username: &str, write: bool) -> String {
        assert!(self.inner.flavor.knows(username), "no account {username}");
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
        let level = if write { 2 } else { 1 };
        // Data Center's HTTP access tokens are 44 characters of base64.
        self.inner
            .lock()
            .mint_long_lived("BBDC-", account, DcRights { level, cred })
    }

    /// Every OAuth access token issued, oldest first.
    pub fn oauth_access_tokens(&self) -> Vec<String> {
        self.inner.lock().extra.oauth_order.clone()
    }

    /// GETs `path` (below the context path) with an optional
    /// `Authorization` value, as any HTTP client would; the request is
    /// logged like every other.
    pub fn probe(&self, path: &str, authorization: Option<&str>) -> Probe {
        let answer = client::get(&format!("{}{path}", self.url()), authorization);
        Probe {
            status: answer.status,
            ausername: answer.header("x-ausername").map(str::to_string),
            request_id: answer.header("x-arequestid").map(str::to_string),
            www_authenticate: answer.www_authenticate,
        }
    }
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
    let below = route.strip_prefix(DataCenter::GIT_PATH)?;
    let (project, service) = git_route(below.strip_prefix('/')?, query)?;
    Some((project, below.to_string(), service))
}

/// The OAuth answers' cache headers (bitbucket-facts.md B.3, B.4).
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
/// itself is never used to authenticate it (bitbucket-facts.md B.4).
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

fn token(inner: &Inner, req: &Incoming, entry: &mut LoggedRequest) -> Reply {
    let (method, headers) = (req.method.as_str(), &req.headers);
    let params = headers.form(&req.body);
    let grant = param(&params, "grant_type").unwrap_or("").to_string();
    entry.kind = Kind::token(&grant);
    entry.params = params.clone();
    let fault = inner.lock().fault.clone();
    if let Some(fault) = fault {
        return fault_reply(fault, entry, |logged| inner.push_log(logged));
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
                g.alive && g.client_id == client_id && g.detail.created.elapsed() <= lifetime
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
                old.detail.access.clone(),
                old.account.clone(),
                old.detail.scopes.clone(),
                old.detail.family,
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

fn revoke(inner: &Inner, req: &Incoming, entry: &mut LoggedRequest) -> Reply {
    let params = req.headers.form(&req.body);
    entry.params = params.clone();
    if req.method != "POST" {
        return token_error(405, "invalid_request", "Use POST", entry);
    }
    log_client_auth(&req.headers, &params, entry);
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
        (grant.account.clone(), grant.detail.access.clone())
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

/// Resource authentication (bitbucket-facts.md B.6, B.8). A token that is unknown,
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
    let project = match &grant.rights.cred {
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
        level: grant.rights.level,
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
    req: &Incoming,
    path_info: &str,
    project: &str,
    service: Option<String>,
    entry: &mut LoggedRequest,
) -> Reply {
    let who = {
        let st = inner.lock();
        let Some(who) = authenticate(&st, &req.headers, entry) else {
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
    run_http_backend(&inner.repo_root, req, path_info, &who.account)
        .header("X-AUSERNAME", &who.account)
}
