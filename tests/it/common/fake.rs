//! A strict fake Bitbucket Cloud on 127.0.0.1 (docs/bitbucket-facts.md Part A and "What a
//! strict fake server should enforce").
//!
//! It serves the OAuth 2.0 consumer endpoints (`/site/oauth2/authorize`,
//! `/site/oauth2/access_token`), the REST endpoint `/2.0/user`, and git smart
//! HTTP for `/<workspace>/<repo>.git/...` through `git http-backend`. Every
//! request is logged with what the fake decided, so tests count requests
//! from evidence rather than from the helper's own account.
//!
//! Decisions where docs/bitbucket-facts.md leaves Cloud's behaviour open (documented so a
//! test failure can be read against them):
//! - `redirect_uri` is checked as a raw string prefix of the registered
//!   callback; an invalid one gets an HTML page and no redirect.
//! - Consent denial redirects with `error=access_denied` (RFC 6749 §4.1.2.1).
//! - Codes are single-use: presenting one burns it, whatever the outcome.
//!   A `redirect_uri` sent to the token endpoint must equal the one used at
//!   authorize (the registered callback when none was used); one not sent
//!   is not required.
//! - A token request whose body is not form-encoded is read as an empty
//!   form, so it fails as Cloud does: "Unsupported grant type: None".
//! - Basic client credentials are URL-decoded (RFC 6749 §2.3.1) and also
//!   accepted verbatim. Basic and body credentials together are accepted
//!   and logged as [`ClientAuth::Both`]. A Bearer client credential gets
//!   Cloud's HTML "OpenID transaction in progress" page with status 200.
//! - A consumer without a callback (`callback: ""`) gets Cloud's
//!   "No callback uri defined for the OAuth client." for every grant.
//! - Codes do not expire by time (Cloud's code lifetime is unknown).
//! - Refreshing does not revoke the access tokens issued before.
//! - Access tokens and refresh tokens use the standard base64 alphabet
//!   (`+`, `/`, `=`), so a client that forgets to form-encode them breaks.
//! - Atlassian API tokens ([`FakeBitbucket::mint_api_token`]) are taken
//!   by git as Basic `<username>:<token>` or
//!   `x-bitbucket-api-token-auth:<token>` only: not as Bearer, not with
//!   `x-token-auth`, and not by `/2.0/user`.
//!
//! The server, its request log and the test's controls are shared with the
//! Data Center fake ([`super::fake_core`]); the request log types, the
//! `git http-backend` bridge and the other plumbing are in [`super::http`].

use std::time::{Duration, Instant};

use serde_json::json;

use super::fake_core::{Core, FakeServer, Flavor};
use super::http::{
    fault_reply, git_route, presented, run_http_backend, Headers, Incoming, Presented, Reply,
};
pub use super::http::{ClientAuth, Kind, LoggedRequest, TokenFault, TokenState};
use super::{param, parse_form, percent_decode, percent_encode};

/// The challenge Bitbucket Cloud sends with a 401.
pub const WWW_AUTHENTICATE: &str = "Basic realm=\"Bitbucket.org HTTP\"";

/// The static git user name for an Atlassian API token (bitbucket-facts.md A.9).
pub const API_TOKEN_USER: &str = "x-bitbucket-api-token-auth";

const EXPIRED_MESSAGE: &str =
    "Access token expired. Use your refresh token to obtain a new access token.";
const NO_CLIENT_AUTH: &str = "Requests must be authenticated using OAuth client credentials";
const BAD_CODE: &str = "The code has expired or has already been used";
const BAD_REFRESH: &str = "Invalid refresh_token";
const OPENID_PAGE: &str = "<!DOCTYPE html><html><head><title>Bitbucket</title></head>\
<body><p>OpenID transaction in progress</p></body></html>";
const INVALID_REDIRECT_PAGE: &str =
    "<!DOCTYPE html><html><head><title>Invalid redirect_uri</title></head>\
<body><h1>Invalid redirect_uri</h1><p>This integration is misconfigured. \
Contact the vendor for assistance.</p></body></html>";

/// How the fake is set up: the OAuth consumer and token behaviour.
#[derive(Clone, Debug)]
pub struct FakeOptions {
    /// Consumer key.
    pub client_id: String,
    /// Consumer secret.
    pub client_secret: String,
    /// The consumer's registered callback URL; `redirect_uri` must start
    /// with it (raw string prefix, as Cloud checks).
    pub callback: String,
    /// The consumer's permissions, space separated; every token gets them.
    pub scopes: String,
    /// "This is a private consumer": enables `client_credentials`.
    pub private: bool,
    /// Access-token lifetime in seconds (`expires_in`).
    pub access_lifetime: u64,
    /// Post-May-2026 behaviour: refresh tokens rotate and responses say
    /// `scope`. Off: the same refresh token comes back and responses say
    /// `scopes`.
    pub rotate: bool,
    /// Accept `Authorization: Bearer <token>` on git smart HTTP.
    pub git_bearer: bool,
    /// How long a rotated refresh token keeps working after its first use
    /// (Cloud since its 2026 rotation: about 10 minutes, so a client whose
    /// answer was lost can ask again). Zero: strict, it dies at once.
    pub refresh_grace: Duration,
    /// Tokens of realistic length: 2,500+ characters, as the 2026
    /// backend issues (bitbucket-facts.md, 2026 changes). Off: short tokens.
    pub long_tokens: bool,
    /// `/2.0/user` without `username`, as the 2026 API may answer; the
    /// account is then known by `uuid`/`account_id`, `nickname` and
    /// `display_name`.
    pub user_without_username: bool,
    /// Rewrites every successful token answer before it is sent: the
    /// JSON object in, the body out (odd but valid shapes, or broken
    /// ones). The grant has happened by then (a refresh has rotated).
    pub token_answer: Option<fn(serde_json::Value) -> String>,
}

/// The padding that makes tokens [`FakeOptions::long_tokens`] long:
/// 2,600 characters of base64url, like the real ones' alphabet.
fn long_padding() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..2600)
        .map(|i| char::from(ALPHABET[(i * 37 + 11) % ALPHABET.len()]))
        .collect()
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            client_id: "test-client".into(),
            client_secret: "test-secret".into(),
            callback: "http://127.0.0.1".into(),
            scopes: "account repository:write".into(),
            private: false,
            access_lifetime: 7200,
            rotate: true,
            git_bearer: true,
            refresh_grace: Duration::from_secs(600),
            long_tokens: false,
            user_without_username: false,
            token_answer: None,
        }
    }
}

/// A Bitbucket account known to the fake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// `username`, also accepted as the Basic user name for git.
    pub username: String,
    /// `display_name`.
    pub display_name: String,
    /// Braced UUID, as Cloud writes it.
    pub uuid: String,
    /// Atlassian account id.
    pub account_id: String,
    /// `type` in `/2.0/user`: `user`, or `app_user` for client credentials.
    pub kind: String,
}

impl Account {
    fn new(username: &str, display_name: &str, uuid: &str, kind: &str) -> Account {
        Account {
            username: username.into(),
            display_name: display_name.into(),
            uuid: format!("{{{uuid}}}"),
            account_id: format!("557058:{uuid}"),
            kind: kind.into(),
        }
    }
}

/// An authorization code as the Cloud fake remembers it.
#[derive(Debug)]
pub struct CodeGrant {
    client_id: String,
    account: String,
    redirect_uri: Option<String>,
    used: bool,
}

/// What a Cloud access token allows.
#[derive(Debug)]
pub struct CloudRights {
    scopes: Vec<String>,
    /// An Atlassian API token ([`FakeBitbucket::mint_api_token`]), not an
    /// OAuth access token: Basic only, never Bearer (bitbucket-facts.md A.9).
    api_token: bool,
}

/// When a Cloud refresh token was first used (it then lives on for the
/// grace window).
#[derive(Debug, Default)]
pub struct RefreshUse {
    used_at: Option<Instant>,
}

/// Cloud's own controls.
#[derive(Debug, Default)]
pub struct CloudExtra {
    /// Refresh answers still to drop: the refresh is done (and rotates),
    /// then the connection closes without an answer.
    drop_refresh_answers: usize,
}

/// Bitbucket Cloud as a [`Flavor`]: its known accounts.
pub struct Cloud {
    accounts: Vec<Account>,
}

impl Flavor for Cloud {
    type Options = FakeOptions;
    type Code = CodeGrant;
    type Rights = CloudRights;
    type RefreshDetail = RefreshUse;
    type Extra = CloudExtra;

    const THREAD: &'static str = "fake-bitbucket";
    const TEMP_PREFIX: &'static str = "gcb-fake-";
    const AUTHORIZE_PATH: &'static str = "/site/oauth2/authorize";
    const TOKEN_PATH: &'static str = "/site/oauth2/access_token";
    const API_PATH: &'static str = "/2.0";
    const GIT_PATH: &'static str = "";
    const DEFAULT_REPO: (&'static str, &'static str) = ("ws", "repo");

    fn client_id(opts: &FakeOptions) -> &str {
        &opts.client_id
    }

    fn client_secret(opts: &FakeOptions) -> &str {
        &opts.client_secret
    }

    fn access_lifetime(opts: &mut FakeOptions) -> &mut u64 {
        &mut opts.access_lifetime
    }

    fn knows(&self, username: &str) -> bool {
        self.accounts.iter().any(|a| a.username == username)
    }

    fn route(inner: &Inner, req: &Incoming, entry: &mut LoggedRequest) -> Reply {
        let path = req.path.as_str();
        if path == Cloud::AUTHORIZE_PATH {
            entry.kind = Kind::Authorize;
            authorize(inner, &req.method, &req.query, entry)
        } else if path == Cloud::TOKEN_PATH {
            token(inner, req, entry)
        } else if path == "/2.0/user" {
            entry.kind = Kind::User;
            user(inner, &req.method, &req.headers, entry)
        } else if let Some((_, service)) = git_route(path.trim_start_matches('/'), &req.query) {
            entry.kind = Kind::Git;
            entry.git_service = service.clone();
            git(inner, req, service, entry)
        } else {
            Reply::json(
                404,
                &json!({ "type": "error", "error": { "message": "Resource not found" } }),
            )
        }
    }
}

/// The running fake Bitbucket Cloud. Dropping it stops the server and
/// deletes its repos.
pub type FakeBitbucket = FakeServer<Cloud>;

type Inner = Core<Cloud>;

impl Inner {
    fn account(&self, username: &str) -> Option<&Account> {
        self.flavor.accounts.iter().find(|a| a.username == username)
    }
}

impl FakeBitbucket {
    /// Starts the fake on 127.0.0.1 with a free port and creates the
    /// repository `ws/repo.git` holding one commit (a README) on `main`.
    pub fn start(opts: FakeOptions) -> FakeBitbucket {
        let accounts = vec![
            Account::new(
                "alice",
                "Alice Example",
                "0e4a3c1d-6f1b-4c59-9a3e-1f2d3c4b5a61",
                "user",
            ),
            Account::new(
                "bob",
                "Bob Example",
                "7b2f9e40-1c3d-4e5f-8a9b-0c1d2e3f4a5b",
                "user",
            ),
            Account::new(
                "app-user-test",
                "OAuth consumer (app user)",
                "a9d8c7b6-5a4f-4e3d-8c2b-1a0f9e8d7c6b",
                "app_user",
            ),
        ];
        FakeServer::launch(Cloud { accounts }, opts, String::new())
    }

    /// A known account by user name: `alice`, `bob` or `app-user-test`.
    pub fn account(&self, username: &str) -> Account {
        self.inner
            .account(username)
            .cloned()
            .unwrap_or_else(|| panic!("no account {username}"))
    }

    /// The next `n` successful refreshes rotate as usual but close the
    /// connection instead of answering (an answer lost on the way).
    pub fn drop_next_refresh_answers(&self, n: usize) {
        self.inner.lock().extra.drop_refresh_answers = n;
    }

    /// Replaces the OAuth consumer (key and secret) from now on; tokens
    /// issued to the old one stay theirs.
    pub fn set_consumer(&self, client_id: &str, client_secret: &str) {
        let mut st = self.inner.lock();
        st.opts.client_id = client_id.into();
        st.opts.client_secret = client_secret.into();
        st.issued.push(client_secret.into());
    }

    /// Sets the grace window of used refresh tokens (zero: strict).
    pub fn set_refresh_grace(&self, grace: Duration) {
        self.inner.lock().opts.refresh_grace = grace;
    }

    /// Sets [`FakeOptions::token_answer`] for the token answers from now on.
    pub fn set_token_answer(&self, rewrite: Option<fn(serde_json::Value) -> String>) {
        self.inner.lock().opts.token_answer = rewrite;
    }

    /// Sets [`FakeOptions::user_without_username`] from now on.
    pub fn set_user_without_username(&self, on: bool) {
        self.inner.lock().opts.user_without_username = on;
    }

    /// Switches refresh-token rotation (and `scope` vs `scopes`).
    pub fn set_rotate(&self, rotate: bool) {
        self.inner.lock().opts.rotate = rotate;
    }

    /// An Atlassian API token of `username` with the git scopes
    /// `read:repository:bitbucket` and `write:repository:bitbucket` (bitbucket-facts.md
    /// A.9): git takes it as Basic `<username>:<token>` or
    /// `x-bitbucket-api-token-auth:<token>`, never as Bearer. It does not
    /// expire; [`Self::revoke_access_tokens`] kills it too.
    pub fn mint_api_token(&self, username: &str) -> String {
        assert!(
            self.inner.account(username).is_some(),
            "no account {username}"
        );
        let rights = CloudRights {
            scopes: vec![
                "read:repository:bitbucket".into(),
                "write:repository:bitbucket".into(),
            ],
            api_token: true,
        };
        self.inner.lock().mint_long_lived("ATATT", username, rights)
    }
}

fn authorize(inner: &Inner, method: &str, query: &str, entry: &mut LoggedRequest) -> Reply {
    let params = parse_form(query);
    entry.params = params.clone();
    if method != "GET" {
        return Reply::html(405, "<h1>Method not allowed</h1>");
    }
    let mut st = inner.lock();
    if param(&params, "client_id") != Some(st.opts.client_id.as_str()) {
        entry.error = Some("invalid_client".into());
        return Reply::html(400, "<!DOCTYPE html><html><body><h1>Invalid client_id</h1><p>No OAuth consumer has this key.</p></body></html>");
    }
    if param(&params, "response_type") != Some("code") {
        entry.error = Some("unsupported_response_type".into());
        return Reply::html(
            400,
            "<!DOCTYPE html><html><body><h1>Unsupported response_type</h1></body></html>",
        );
    }
    let redirect = param(&params, "redirect_uri").map(str::to_string);
    if let Some(uri) = &redirect {
        if !uri.starts_with(&st.opts.callback) {
            entry.error = Some("invalid_redirect_uri".into());
            return Reply::html(400, INVALID_REDIRECT_PAGE);
        }
    }
    let target = redirect.clone().unwrap_or_else(|| st.opts.callback.clone());
    let mut answer = if st.deny {
        entry.error = Some("access_denied".into());
        "error=access_denied&error_description=The%20user%20denied%20access%20to%20the%20consumer."
            .to_string()
    } else {
        let code = st.fresh_secret("code-", true);
        let grant = CodeGrant {
            client_id: st.opts.client_id.clone(),
            account: st.browser_user.clone(),
            redirect_uri: redirect,
            used: false,
        };
        entry.account = Some(grant.account.clone());
        st.codes.insert(code.clone(), grant);
        format!("code={}", percent_encode(&code))
    };
    if let Some(state) = param(&params, "state") {
        answer.push_str(&format!("&state={}", percent_encode(state)));
    }
    let separator = if target.contains('?') { '&' } else { '?' };
    let location = format!("{target}{separator}{answer}");
    Reply::html(302, "<html><body>Redirecting…</body></html>").header("Location", &location)
}

fn token(inner: &Inner, req: &Incoming, entry: &mut LoggedRequest) -> Reply {
    let (method, headers) = (req.method.as_str(), &req.headers);
    // Cloud reads a body of any other type as an empty form.
    let params = headers.form(&req.body);
    let grant = param(&params, "grant_type").map(str::to_string);
    entry.kind = Kind::token(grant.as_deref().unwrap_or(""));
    entry.params = params.clone();

    let fault = inner.lock().fault.clone();
    if let Some(fault) = fault {
        return fault_reply(fault, entry, |logged| inner.push_log(logged));
    }
    if method != "POST" {
        return Reply::oauth_error(405, "invalid_request", "Use POST", entry);
    }
    let mut st = inner.lock();

    // Client authentication: Basic (RFC 6749 §2.3.1) or the body.
    let basic = match presented(headers, entry) {
        Presented::Basic { user, password } => Some((user, password)),
        Presented::Nothing => None,
        Presented::Bearer(_) => {
            // Cloud answers a Bearer client credential with an HTML page
            // (bitbucket-facts.md A.4), not with a JSON error.
            entry.client_auth = Some(ClientAuth::OtherScheme);
            return Reply::html(200, OPENID_PAGE);
        }
        Presented::Other => {
            entry.client_auth = Some(ClientAuth::OtherScheme);
            return Reply::oauth_error(400, "unauthorized_client", NO_CLIENT_AUTH, entry);
        }
    };
    let body_id = param(&params, "client_id");
    let body_secret = param(&params, "client_secret");
    let (want_id, want_secret) = (st.opts.client_id.clone(), st.opts.client_secret.clone());
    let basic_ok = basic.as_ref().map(|(user, password)| {
        (percent_decode(&user.replace('+', " ")) == want_id || *user == want_id)
            && (percent_decode(&password.replace('+', " ")) == want_secret
                || *password == want_secret)
    });
    let body_ok =
        body_secret.map(|secret| body_id == Some(want_id.as_str()) && secret == want_secret);
    entry.client_auth = Some(match (basic.is_some(), body_secret.is_some()) {
        (true, true) => ClientAuth::Both,
        (true, false) => ClientAuth::Basic,
        (false, true) => ClientAuth::Body,
        (false, false) => ClientAuth::None,
    });
    let id_conflict = body_id.is_some_and(|id| id != want_id);
    let authenticated = match (basic_ok, body_ok) {
        (None, None) => false,
        (Some(b), None) => b && !id_conflict,
        (None, Some(b)) => b,
        (Some(a), Some(b)) => a && b,
    };
    if !authenticated {
        return Reply::oauth_error(400, "unauthorized_client", NO_CLIENT_AUTH, entry);
    }

    if st.opts.callback.is_empty() {
        // Cloud refuses every grant, even client_credentials (bitbucket-facts.md A.2).
        return Reply::oauth_error(
            400,
            "invalid_request",
            "No callback uri defined for the OAuth client.",
            entry,
        );
    }
    let lifetime = st.opts.access_lifetime;
    let scopes = st.opts.scopes.clone();
    let (account, refresh) = match grant.as_deref() {
        Some("authorization_code") => {
            let code = param(&params, "code").unwrap_or("").to_string();
            let callback = st.opts.callback.clone();
            let Some(found) = st.codes.get_mut(&code) else {
                return Reply::oauth_error(400, "invalid_grant", BAD_CODE, entry);
            };
            if found.used || found.client_id != want_id {
                found.used = true;
                return Reply::oauth_error(400, "invalid_grant", BAD_CODE, entry);
            }
            found.used = true;
            let expected = found.redirect_uri.clone().unwrap_or(callback);
            if let Some(sent) = param(&params, "redirect_uri") {
                if sent != expected {
                    return Reply::oauth_error(
                        400,
                        "invalid_grant",
                        "redirect_uri does not match the one used for authorization",
                        entry,
                    );
                }
            }
            let account = found.account.clone();
            let prefix = token_prefix(&st.opts, "rt+");
            let refresh = st.grant_refresh(&prefix, &want_id, &account, RefreshUse::default());
            (account, Some(refresh))
        }
        Some("refresh_token") => {
            let presented_rt = param(&params, "refresh_token").unwrap_or("").to_string();
            let rotate = st.opts.rotate;
            let grace = st.opts.refresh_grace;
            let account = match st.refresh.get_mut(&presented_rt) {
                Some(g) if g.alive && g.client_id == want_id => {
                    let in_grace = g.detail.used_at.is_none_or(|t| t.elapsed() < grace);
                    if !in_grace {
                        g.alive = false;
                        return Reply::oauth_error(400, "invalid_request", BAD_REFRESH, entry);
                    }
                    if rotate {
                        if grace.is_zero() {
                            g.alive = false;
                        } else {
                            g.detail.used_at.get_or_insert_with(Instant::now);
                        }
                    }
                    g.account.clone()
                }
                _ => return Reply::oauth_error(400, "invalid_request", BAD_REFRESH, entry),
            };
            let refresh = if rotate {
                let prefix = token_prefix(&st.opts, "rt+");
                st.grant_refresh(&prefix, &want_id, &account, RefreshUse::default())
            } else {
                presented_rt
            };
            (account, Some(refresh))
        }
        Some("client_credentials") => {
            if !st.opts.private {
                return Reply::oauth_error(
                    400,
                    "unauthorized_client",
                    "The client_credentials grant is only available to private consumers",
                    entry,
                );
            }
            ("app-user-test".to_string(), None)
        }
        other => {
            let description = format!("Unsupported grant type: {}", other.unwrap_or("None"));
            return Reply::oauth_error(400, "invalid_grant", &description, entry);
        }
    };

    let rights = CloudRights {
        scopes: scopes.split_whitespace().map(str::to_string).collect(),
        api_token: false,
    };
    let is_refresh = grant.as_deref() == Some("refresh_token");
    let prefix = token_prefix(&st.opts, "at.");
    let access = st.grant_access(&prefix, &account, Duration::from_secs(lifetime), rights);
    entry.account = Some(account);
    let scope_key = if st.opts.rotate { "scope" } else { "scopes" };
    let mut answer = json!({
        "access_token": access,
        "expires_in": lifetime,
        "token_type": "bearer",
        "state": grant.unwrap_or_default(),
    });
    answer[scope_key] = json!(scopes);
    if let Some(refresh) = refresh {
        answer["refresh_token"] = json!(refresh);
    }
    if is_refresh && st.extra.drop_refresh_answers > 0 {
        st.extra.drop_refresh_answers -= 1;
        entry.error = Some("answer dropped by the test".into());
        // Status 0: the server closes the connection without answering.
        return Reply {
            status: 0,
            headers: Vec::new(),
            body: Vec::new(),
            logged: false,
        };
    }
    match st.opts.token_answer {
        Some(rewrite) => Reply::new(200, "application/json", rewrite(answer)),
        None => Reply::json(200, &answer),
    }
}

/// A token's prefix, padded to a realistic length when the options ask.
fn token_prefix(opts: &FakeOptions, prefix: &str) -> String {
    match opts.long_tokens {
        true => format!("{prefix}{}", long_padding()),
        false => prefix.to_owned(),
    }
}

fn unauthorized(message: &str) -> Reply {
    Reply::json(
        401,
        &json!({ "type": "error", "error": { "message": message } }),
    )
    .header("WWW-Authenticate", WWW_AUTHENTICATE)
}

fn user(inner: &Inner, method: &str, headers: &Headers, entry: &mut LoggedRequest) -> Reply {
    if method != "GET" {
        return Reply::json(
            405,
            &json!({ "type": "error", "error": { "message": "Method not allowed" } }),
        );
    }
    let st = inner.lock();
    let Presented::Bearer(token) = presented(headers, entry) else {
        return unauthorized(EXPIRED_MESSAGE);
    };
    let (state, grant) = st.token_state(&token);
    entry.token_state = Some(state);
    entry.account = grant.map(|g| g.account.clone());
    // API tokens are not Bearer tokens (bitbucket-facts.md A.9).
    let Some(grant) = grant.filter(|g| state == TokenState::Live && !g.rights.api_token) else {
        return unauthorized(EXPIRED_MESSAGE);
    };
    if !grant.rights.scopes.iter().any(|s| s == "account") {
        return Reply::json(
            403,
            &json!({ "type": "error", "error": {
                "message": "Your credentials lack one or more required privilege scopes.",
                "detail": { "granted": grant.rights.scopes, "required": ["account"] } } }),
        );
    }
    let account = inner
        .account(&grant.account)
        .expect("tokens belong to known accounts");
    let base = &inner.base_url;
    let uuid_enc = percent_encode(&account.uuid);
    let mut body = json!({
        "type": account.kind,
        "username": account.username,
        "display_name": account.display_name,
        "uuid": account.uuid,
        "account_id": account.account_id,
        "nickname": account.username,
        "account_status": "active",
        "links": {
            "self": { "href": format!("{base}/2.0/users/{uuid_enc}") },
            "html": { "href": format!("{base}/{uuid_enc}/") },
            "avatar": { "href": format!("{base}/account/{}/avatar", account.username) },
        },
        "created_on": "2019-03-14T09:26:53.123456+00:00",
        "has_2fa_enabled": false,
        "is_staff": false,
        "location": null,
        "website": null,
    });
    if st.opts.user_without_username {
        body.as_object_mut()
            .expect("the user is an object")
            .remove("username");
    }
    Reply::json(200, &body)
        .header("X-OAuth-Scopes", &grant.rights.scopes.join(", "))
        .header("X-Accepted-OAuth-Scopes", "account")
}

fn git(inner: &Inner, req: &Incoming, service: Option<String>, entry: &mut LoggedRequest) -> Reply {
    let git_unauthorized = || {
        Reply::new(401, "text/plain; charset=utf-8", "Unauthorized\n")
            .header("WWW-Authenticate", WWW_AUTHENTICATE)
    };
    let remote_user = {
        let st = inner.lock();
        let (token, user) = match presented(&req.headers, entry) {
            Presented::Basic { user, password } => (password, Some(user)),
            Presented::Bearer(token) if st.opts.git_bearer => (token, None),
            _ => return git_unauthorized(),
        };
        let (state, grant) = st.token_state(&token);
        entry.token_state = Some(state);
        entry.account = grant.map(|g| g.account.clone());
        let Some(grant) = grant.filter(|_| state == TokenState::Live) else {
            return git_unauthorized();
        };
        if grant.rights.api_token {
            // Basic only, with the owner's name or the static one.
            match user.as_deref() {
                Some(u) if u == API_TOKEN_USER || u == grant.account => {}
                _ => return git_unauthorized(),
            }
        } else if let Some(user) = user {
            if user != "x-token-auth" && user != grant.account {
                return git_unauthorized();
            }
        }
        let has = |scope: &str| grant.rights.scopes.iter().any(|s| s == scope);
        let allowed = if service.as_deref() == Some("git-receive-pack") {
            has("repository:write") || has("write:repository:bitbucket")
        } else {
            has("repository")
                || has("repository:write")
                || has("read:repository:bitbucket")
                || has("write:repository:bitbucket")
        };
        if !allowed {
            return Reply::new(
                403,
                "text/plain; charset=utf-8",
                "Your credentials lack one or more required privilege scopes.\n",
            );
        }
        grant.account.clone()
    };
    run_http_backend(&inner.repo_root, req, &req.path, &remote_user)
}
