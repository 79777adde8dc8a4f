//! The part of a fake Bitbucket that does not depend on which Bitbucket it
//! plays: the server on 127.0.0.1 with its dispatcher thread, the one lock
//! over the fake's state, the request log and its accessors, the secrets it
//! issued, the test's controls (browser user, consent, token faults,
//! revocation) and the fake's own repositories.
//!
//! [`FakeServer`] is generic over a [`Flavor`]: Bitbucket Cloud
//! ([`super::fake::Cloud`]) or Data Center ([`super::fake_dc::DataCenter`]),
//! which supplies its options, what its tokens carry, its endpoints and its
//! request handler.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::http::{
    create_bare_repo, mint_secret, send, server_git, Incoming, Kind, LoggedRequest, Reply,
    TokenFault, TokenState,
};
use super::mini;

/// What one kind of fake Bitbucket brings to a [`FakeServer`].
pub trait Flavor: Send + Sync + Sized + 'static {
    /// How the fake is set up.
    type Options: Clone + Send;
    /// An authorization code as the fake remembers it.
    type Code: Send;
    /// What an access token allows, besides its owner and lifetime.
    type Rights: Send;
    /// What a refresh token carries, besides its client, owner and life.
    type RefreshDetail: Send;
    /// The fake's own state besides what every fake keeps.
    type Extra: Default + Send;

    /// The dispatcher thread's name.
    const THREAD: &'static str;
    /// The prefix of the temp dir holding the fake's repositories.
    const TEMP_PREFIX: &'static str;
    /// The authorize endpoint below [`FakeServer::url`].
    const AUTHORIZE_PATH: &'static str;
    /// The token endpoint below [`FakeServer::url`].
    const TOKEN_PATH: &'static str;
    /// The REST API base below [`FakeServer::url`].
    const API_PATH: &'static str;
    /// Where git repositories are served below [`FakeServer::url`].
    const GIT_PATH: &'static str;
    /// The repository every fake starts with: (owner, name).
    const DEFAULT_REPO: (&'static str, &'static str);

    /// The client ID in `opts`.
    fn client_id(opts: &Self::Options) -> &str;
    /// The client secret in `opts`.
    fn client_secret(opts: &Self::Options) -> &str;
    /// Where `opts` keeps the lifetime of access tokens issued from now on.
    fn access_lifetime(opts: &mut Self::Options) -> &mut u64;
    /// Whether `username` is an account of this fake.
    fn knows(&self, username: &str) -> bool;
    /// Answers a request whose body was read whole; `entry` is its log
    /// entry, to fill in.
    fn route(fake: &Core<Self>, request: &Incoming, entry: &mut LoggedRequest) -> Reply;
    /// Last touches on every answer before it is logged and sent.
    fn stamp(_fake: &Core<Self>, reply: Reply) -> Reply {
        reply
    }
}

/// An access token the fake issued (or a test minted).
#[derive(Debug)]
pub struct AccessGrant<R> {
    /// Its owner.
    pub account: String,
    /// When it stops working.
    pub expires_at: Instant,
    /// Killed before its time.
    pub revoked: bool,
    /// What it allows.
    pub rights: R,
}

/// A refresh token the fake issued.
#[derive(Debug)]
pub struct RefreshGrant<D> {
    /// The client it was issued to.
    pub client_id: String,
    /// Its owner.
    pub account: String,
    /// Not yet used up by a rotation nor revoked.
    pub alive: bool,
    /// What else the fake remembers about it.
    pub detail: D,
}

/// Everything a fake keeps under its one lock.
pub struct State<F: Flavor> {
    /// The options in force.
    pub opts: F::Options,
    /// Who is signed in to the browser.
    pub browser_user: String,
    /// Whether that user denies consent.
    pub deny: bool,
    /// A fault for every token request.
    pub fault: Option<TokenFault>,
    /// Counts the secrets minted.
    pub counter: u64,
    /// Authorization codes.
    pub codes: HashMap<String, F::Code>,
    /// Access tokens, live or not.
    pub access: HashMap<String, AccessGrant<F::Rights>>,
    /// Refresh tokens, live or not.
    pub refresh: HashMap<String, RefreshGrant<F::RefreshDetail>>,
    /// Every secret issued, and the client secret.
    pub issued: Vec<String>,
    /// The request log.
    pub log: Vec<LoggedRequest>,
    /// The next log entry's sequence number.
    pub seq: u64,
    /// What only this kind of fake keeps.
    pub extra: F::Extra,
}

impl<F: Flavor> State<F> {
    /// A fresh secret (see [`mint_secret`]), remembered as issued.
    pub fn fresh_secret(&mut self, prefix: &str, url_safe: bool) -> String {
        self.counter += 1;
        let secret = mint_secret(self.counter, prefix, url_safe);
        self.issued.push(secret.clone());
        secret
    }

    /// What the fake makes of an access token, and its grant if known.
    pub fn token_state(&self, token: &str) -> (TokenState, Option<&AccessGrant<F::Rights>>) {
        match self.access.get(token) {
            None => (TokenState::Unknown, None),
            Some(g) if g.revoked => (TokenState::Revoked, Some(g)),
            Some(g) if Instant::now() >= g.expires_at => (TokenState::Expired, Some(g)),
            Some(g) => (TokenState::Live, Some(g)),
        }
    }

    /// Mints an access token of `account` that lives `lifetime`.
    pub fn grant_access(
        &mut self,
        prefix: &str,
        account: &str,
        lifetime: Duration,
        rights: F::Rights,
    ) -> String {
        let token = self.fresh_secret(prefix, false);
        self.access.insert(
            token.clone(),
            AccessGrant {
                account: account.into(),
                expires_at: Instant::now() + lifetime,
                revoked: false,
                rights,
            },
        );
        token
    }

    /// Mints a token that lives a year, as a test hands one out (API and
    /// HTTP access tokens).
    pub fn mint_long_lived(&mut self, prefix: &str, account: &str, rights: F::Rights) -> String {
        self.grant_access(prefix, account, Duration::from_secs(365 * 86400), rights)
    }

    /// Mints a live refresh token of `account` for `client_id`.
    pub fn grant_refresh(
        &mut self,
        prefix: &str,
        client_id: &str,
        account: &str,
        detail: F::RefreshDetail,
    ) -> String {
        let token = self.fresh_secret(prefix, false);
        self.refresh.insert(
            token.clone(),
            RefreshGrant {
                client_id: client_id.into(),
                account: account.into(),
                alive: true,
                detail,
            },
        );
        token
    }
}

/// What the dispatcher and the handlers share.
pub struct Core<F: Flavor> {
    state: Mutex<State<F>>,
    /// The fixed part of the flavor (its accounts).
    pub flavor: F,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// `""` or e.g. `/bitbucket`.
    pub context_path: String,
    /// Where the bare repositories live.
    pub repo_root: PathBuf,
    /// When the fake started.
    pub started: Instant,
}

impl<F: Flavor> Core<F> {
    /// The state, even after a handler panicked while holding it.
    pub fn lock(&self) -> MutexGuard<'_, State<F>> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends `entry` to the log with the next sequence number.
    pub fn push_log(&self, mut entry: LoggedRequest) {
        let mut st = self.lock();
        entry.seq = st.seq;
        st.seq += 1;
        st.log.push(entry);
    }
}

fn handle<F: Flavor>(core: &Core<F>, mut request: mini::Request) {
    let incoming = Incoming::read(&mut request);
    let mut entry = LoggedRequest::new(
        core.started.elapsed(),
        &incoming.method,
        &incoming.path,
        &incoming.query,
    );
    let reply = if incoming.body_ok {
        F::route(core, &incoming, &mut entry)
    } else {
        Reply::html(400, "<h1>Bad request body</h1>")
    };
    let reply = F::stamp(core, reply);
    entry.status = reply.status;
    if !reply.logged {
        // Logged before answering, so a client that has its answer can rely
        // on the log holding the request.
        core.push_log(entry);
    }
    if reply.status == 0 {
        // A handler's "answer lost": close without a word.
        drop(request);
        return;
    }
    send(request, reply);
}

/// A running fake. Dropping it stops the server and deletes its repos.
pub struct FakeServer<F: Flavor> {
    pub(super) inner: Arc<Core<F>>,
    server: Arc<mini::Server>,
    stopping: Arc<AtomicBool>,
    dispatcher: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl<F: Flavor> FakeServer<F> {
    /// Starts the fake on 127.0.0.1 with a free port, serving below
    /// `context_path`, and creates [`Flavor::DEFAULT_REPO`] holding one
    /// commit (a README) on `main`.
    pub(super) fn launch(flavor: F, opts: F::Options, context_path: String) -> FakeServer<F> {
        let dir = tempfile::Builder::new()
            .prefix(F::TEMP_PREFIX)
            .tempdir()
            .expect("a temp dir for the fake's repositories");
        let server =
            Arc::new(mini::Server::http("127.0.0.1:0").expect("the fake binds 127.0.0.1:0"));
        let port = server.port();
        let client_secret = F::client_secret(&opts).to_string();
        let inner = Arc::new(Core {
            state: Mutex::new(State {
                opts,
                browser_user: "alice".into(),
                deny: false,
                fault: None,
                counter: 0,
                codes: HashMap::new(),
                access: HashMap::new(),
                refresh: HashMap::new(),
                issued: vec![client_secret],
                log: Vec::new(),
                seq: 0,
                extra: F::Extra::default(),
            }),
            flavor,
            base_url: format!("http://127.0.0.1:{port}"),
            context_path,
            repo_root: dir.path().join("repos"),
            started: Instant::now(),
        });
        let stopping = Arc::new(AtomicBool::new(false));
        let dispatcher = {
            let (inner, server, stopping) = (inner.clone(), server.clone(), stopping.clone());
            std::thread::Builder::new()
                .name(F::THREAD.into())
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
        let fake = FakeServer {
            inner,
            server,
            stopping,
            dispatcher: Some(dispatcher),
            _dir: dir,
        };
        let (owner, name) = F::DEFAULT_REPO;
        fake.create_repo(owner, name);
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
        format!("{}{}", self.url(), F::AUTHORIZE_PATH)
    }

    /// The token endpoint.
    pub fn token_url(&self) -> String {
        format!("{}{}", self.url(), F::TOKEN_PATH)
    }

    /// The REST API base (Cloud `…/2.0`, Data Center `…/rest/api/latest`).
    pub fn api_url(&self) -> String {
        format!("{}{}", self.url(), F::API_PATH)
    }

    /// The default repository (Cloud `ws/repo.git`, Data Center
    /// `PROJ/repo.git`).
    pub fn repo_url(&self) -> String {
        let (owner, name) = F::DEFAULT_REPO;
        self.clone_url(owner, name)
    }

    fn clone_url(&self, owner: &str, name: &str) -> String {
        format!("{}{}/{owner}/{name}.git", self.url(), F::GIT_PATH)
    }

    /// The client ID (Cloud: the consumer key).
    pub fn client_id(&self) -> String {
        F::client_id(&self.inner.lock().opts).to_string()
    }

    /// The client secret (Cloud: the consumer secret).
    pub fn client_secret(&self) -> String {
        F::client_secret(&self.inner.lock().opts).to_string()
    }

    /// The options in force now (lifetimes and rotation may have changed).
    pub fn options(&self) -> F::Options {
        self.inner.lock().opts.clone()
    }

    /// Who is signed in to the browser from now on (default `alice`).
    pub fn set_browser_user(&self, username: &str) {
        assert!(self.inner.flavor.knows(username), "no account {username}");
        self.inner.lock().browser_user = username.into();
    }

    /// Whether the signed-in user denies consent at authorize.
    pub fn set_deny(&self, deny: bool) {
        self.inner.lock().deny = deny;
    }

    /// Lifetime of access tokens issued from now on, in seconds.
    pub fn set_access_lifetime(&self, secs: u64) {
        *F::access_lifetime(&mut self.inner.lock().opts) = secs;
    }

    /// A fault for every token request from now on (`None` clears it).
    pub fn set_token_fault(&self, fault: Option<TokenFault>) {
        self.inner.lock().fault = fault;
    }

    /// Kills every access token issued so far (API and HTTP access tokens
    /// too).
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

    /// Whether the fake would take `token` as a refresh token now
    /// (`None`: it never issued it). The soak's evidence.
    pub fn refresh_token_alive(&self, token: &str) -> Option<bool> {
        self.inner.lock().refresh.get(token).map(|g| g.alive)
    }

    /// Every request since the start or the last [`Self::clear_log`].
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.inner.lock().log.clone()
    }

    /// When a logged request arrived, as an `Instant` of this process.
    pub fn instant_of(&self, request: &LoggedRequest) -> Instant {
        self.inner.started + request.at
    }

    /// Token requests with this `grant_type`.
    pub fn token_requests(&self, grant: &str) -> Vec<LoggedRequest> {
        self.requests_of(&Kind::token(grant))
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

    /// Every code, access token and refresh token ever issued, and the
    /// client secret: what a secret-leak scan looks for.
    pub fn issued_secrets(&self) -> Vec<String> {
        self.inner.lock().issued.clone()
    }

    /// Creates a bare repository `<owner>/<name>.git` (Cloud: a workspace,
    /// Data Center: a project) with one commit (a README) on `main`, and
    /// returns its clone URL.
    pub fn create_repo(&self, owner: &str, name: &str) -> String {
        let seed = self.inner.repo_root.join(format!(".seed-{owner}-{name}"));
        create_bare_repo(&seed, &self.repo_dir(owner, name), name);
        self.clone_url(owner, name)
    }

    /// Where the bare repository `<owner>/<name>.git` lives.
    pub fn repo_dir(&self, owner: &str, name: &str) -> PathBuf {
        self.inner.repo_root.join(owner).join(format!("{name}.git"))
    }

    /// Runs git inside the default server repository.
    pub fn server_git(&self, args: &[&str]) -> Output {
        let (owner, name) = F::DEFAULT_REPO;
        server_git(&self.repo_dir(owner, name))
            .args(args)
            .output()
            .expect("run git on the server repo")
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

    /// The commit `HEAD` of the default server repository points at.
    pub fn server_head(&self) -> String {
        self.server_rev("HEAD")
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
}

impl<F: Flavor> Drop for FakeServer<F> {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.server.unblock();
        if let Some(dispatcher) = self.dispatcher.take() {
            let _ = dispatcher.join();
        }
    }
}
