//! Signing in (contract.md §6): where we are (a browser? a terminal?), the
//! authorization-code flow with `state` and PKCE through the loopback
//! listener or a pasted redirect URL, the code exchange and the account
//! check.

use crate::bitbucket::Account;
use crate::bitbucket::{ApiError, TokenSet};
use crate::config::HostConfig;
use crate::endpoint::TokenEndpoint;
use crate::env::Env;
use crate::loopback::{parse_paste, BindError, Callback, CallbackError, Listener, StartPage};
use crate::oauth::{authorize_url, new_state, Pkce, RandomError};
use crate::secret::Secret;
use crate::store::lock::{self, lock_path, Lock};
use crate::store::StoreError;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::platform::Browser;

/// Why signing in failed. Every piece of outside text in these messages
/// (account names from a URL or a server) is made printable first.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Neither a browser nor a terminal: nobody can answer (contract.md §6).
    #[error(
        "signing in to {url} needs a browser or a terminal, and there is neither here \
         (an IDE's background fetch, cron, or credential.interactive=false); \
         run `git credential-bitbucket login {url}` in a terminal, then try again"
    )]
    NoWayToSignIn { url: String },
    /// `login` (without `--no-browser`) with neither a browser nor a
    /// terminal: waiting would be for a redirect nobody was told to make.
    #[error(
        "`login` found no browser and no terminal here, so nobody could open the sign-in page. \
         Run `git credential-bitbucket login --no-browser {url}` from a terminal (it prints a URL \
         to open on any machine and reads the redirect back);{} or use a token instead of OAuth: \
         `git credential-bitbucket configure {url} --api-token`",
        ssh_hint(.ssh_port.as_deref())
    )]
    NoWayToLogIn {
        url: String,
        /// Over SSH (`SSH_CONNECTION` set): the redirect port, for the
        /// `ssh -L` example. Elsewhere the hint would only mislead.
        ssh_port: Option<String>,
    },
    /// The loopback listener could not start.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The callback lock could not be had.
    #[error(transparent)]
    Lock(#[from] StoreError),
    /// The callback ended the sign-in.
    #[error(
        "{source}. To try again, run `git credential-bitbucket login {url}` (or the git command)"
    )]
    Callback {
        /// What the callback (or paste) said.
        source: CallbackError,
        url: String,
    },
    /// Nobody finished in time.
    #[error(
        "timed out after {seconds} s waiting for the sign-in in the browser. If the browser \
         showed a Bitbucket error page instead of \"Grant access\" (an unknown client id, \
         \"Invalid redirect_uri\"), the OAuth consumer settings are wrong: its Key must be \
         credential.{url}.bitbucketClientId and its Callback URL {redirect_uri} \
         (credential.{url}.bitbucketRedirectUri). Run `git credential-bitbucket login {url}` to \
         try again, or raise credential.{url}.bitbucketLoginTimeout"
    )]
    Timeout {
        seconds: u64,
        url: String,
        /// The configured redirect URI.
        redirect_uri: String,
    },
    /// The code exchange failed; what to do depends on why
    /// ([`exchange_advice`]).
    #[error("the sign-in could not be completed: {0}. {advice}", advice = exchange_advice(.0))]
    Exchange(ApiError),
    /// The account lookup failed. Right after a sign-in, a refused or
    /// missing answer points at the API URL, not at the sign-in: "sign in
    /// again" would go round in circles.
    #[error(
        "signed in, but could not learn which Bitbucket account it is: {source}. {}",
        user_advice(source, url, api)
    )]
    User {
        source: Box<ApiError>,
        /// The host's URL, for the key to name.
        url: String,
        /// The API URL asked (`bitbucketApiUrl`).
        api: String,
    },
    /// Signed in as somebody else than asked.
    #[error(
        "you signed in to Bitbucket as {got}, but {asked} was asked for; nothing was saved. \
         Sign out of Bitbucket in the browser (or use a private window), then sign in as \
         {asked}"
    )]
    AccountMismatch {
        /// The account git asked for, made printable.
        asked: String,
        /// The account that signed in, made printable.
        got: String,
    },
    /// No randomness.
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// Consumer advice only where the answer is about the consumer: its key
/// or secret refused (`invalid_client`, `unauthorized_client`), the code
/// refused (`invalid_grant`: a stale or reused code, or a Callback URL that
/// does not match), or a redirect URI error. A network failure, an
/// oversize body, a 3xx or a server error say nothing about the consumer.
fn consumer_problem(e: &ApiError) -> bool {
    match e {
        ApiError::OAuth {
            error, description, ..
        } => {
            let about_redirect = |s: &str| {
                let s = s.to_ascii_lowercase();
                s.contains("redirect") || s.contains("callback")
            };
            matches!(
                error.as_str(),
                "invalid_client" | "invalid_grant" | "unauthorized_client"
            ) || about_redirect(error)
                || description.as_deref().is_some_and(about_redirect)
        }
        _ => false,
    }
}

/// What to do after a failed code exchange (see [`consumer_problem`]).
fn exchange_advice(e: &ApiError) -> &'static str {
    match e {
        _ if consumer_problem(e) => {
            "Check the consumer's key and secret (bitbucketClientId, bitbucketClientSecret) and \
             that its Callback URL matches bitbucketRedirectUri; a code is valid only briefly, \
             so sign in again rather than reusing an old redirect"
        }
        ApiError::Network { .. } => {
            "Nothing was saved; sign in again (`git credential-bitbucket login`) when Bitbucket \
             can be reached"
        }
        _ => {
            "Nothing was saved; if it happens again, check the token URL (bitbucketTokenUrl), \
             then sign in again with `git credential-bitbucket login`"
        }
    }
}

/// What to do after a failed account lookup right after signing in.
fn user_advice(e: &ApiError, url: &str, api: &str) -> String {
    match e {
        ApiError::Network { .. } => {
            "Nothing was saved; sign in again when Bitbucket can be reached".to_owned()
        }
        // The consumer lacks the Account permission: the error says so.
        ApiError::Unexpected { status: 403, .. } => "Nothing was saved".to_owned(),
        _ => format!(
            "Nothing was saved. The account is looked up under {api}: check \
             credential.{url}.bitbucketApiUrl (`git credential-bitbucket doctor {url}` tests it)"
        ),
    }
}

/// The `ssh -L` part of [`SignInError::NoWayToLogIn`], over SSH only.
fn ssh_hint(port: Option<&str>) -> String {
    match port {
        Some(port) => format!(
            " or forward the port first (`ssh -L {port}:127.0.0.1:{port} <this host>`) and run it \
             with --no-browser, which waits for the redirect;"
        ),
        None => String::new(),
    }
}

/// Whether we run over SSH, where a browser elsewhere needs the port
/// forwarded to reach the listener.
fn over_ssh() -> bool {
    crate::platform::over_ssh(&|v| std::env::var(v).ok())
}

/// Who asks for the sign-in; it decides what may be used to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asker {
    /// Git, through `get`: only with `credential.interactive` and
    /// `GIT_TERMINAL_PROMPT` allowing it; with no way to answer, fail fast.
    Git,
    /// The `login` command: the terminal is read whatever
    /// `GIT_TERMINAL_PROMPT` says. With neither browser nor terminal,
    /// plain `login` fails fast; `login --no-browser` (the user opens the
    /// URL themselves) still prints the URL and waits for the redirect
    /// (e.g. through `ssh -L`).
    Login {
        /// `--no-browser` was given.
        no_browser: bool,
    },
}

/// What this process can use to sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Surroundings {
    /// A browser, when contract.md §6 finds one.
    pub browser: Option<Browser>,
    /// Whether `/dev/tty` can be used for a pasted redirect URL.
    pub terminal: bool,
    /// Whether to read a paste while waiting: `login` always does on a
    /// terminal, `get` only when there is no browser.
    pub paste: bool,
    pub asker: Asker,
}

/// Decides, in one place, whether there is a browser and a terminal
/// (contract.md §6), for `asker`.
pub fn detect(cfg: &HostConfig, env: &dyn Env, asker: Asker) -> Surroundings {
    let login = matches!(asker, Asker::Login { .. });
    if !cfg.interactive && !login {
        crate::trace!("sign-in: credential.interactive=false rules out browser and terminal");
        return Surroundings {
            browser: None,
            terminal: false,
            paste: false,
            asker,
        };
    }
    let browser = if asker == (Asker::Login { no_browser: true }) {
        None
    } else {
        find_browser(cfg.browser.as_deref(), env)
    };
    let prompt_ok = env
        .var("GIT_TERMINAL_PROMPT")
        .and_then(|v| crate::gitconfig::parse_bool(&v))
        .unwrap_or(true);
    let terminal = (login || prompt_ok) && tty_available();
    let paste = terminal && (login || browser.is_none());
    crate::trace!("sign-in: browser={browser:?} terminal={terminal} paste={paste}");
    Surroundings {
        browser,
        terminal,
        paste,
        asker,
    }
}

/// The browser contract.md §6 finds: `configured` (bitbucketBrowser), else
/// `$BROWSER`, else the platform opener where there is a display.
pub fn find_browser(configured: Option<&str>, env: &dyn Env) -> Option<Browser> {
    if let Some(cmd) = configured {
        return Some(Browser::Shell(cmd.to_owned()));
    }
    if let Some(cmd) = env.var("BROWSER").filter(|b| !b.trim().is_empty()) {
        return Some(Browser::Shell(cmd));
    }
    crate::platform::default_browser(&|name| env.var(name))
}

fn tty_available() -> bool {
    crate::platform::terminal_available()
}

/// Opens `url`; failures are reported, not fatal: the URL is printed too.
pub fn open_browser(browser: &Browser, url: &str) {
    match crate::platform::spawn_browser(browser, url) {
        Ok(mut child) => {
            crate::trace!("sign-in: browser started ({browser:?})");
            std::thread::spawn(move || {
                let _ = child.wait();
            });
        }
        Err(e) => crate::say!("could not start the browser ({e}); open the URL above by hand"),
    }
}

/// The paste prompt's state, shared by the reader and the sign-in.
#[derive(Default)]
struct Prompt {
    /// The terminal a prompt is waiting on for its line, if any.
    open: Option<std::fs::File>,
    /// The sign-in is over: no new prompt.
    ended: bool,
}

type OpenPrompt = Arc<std::sync::Mutex<Prompt>>;

/// What [`sign_in`] ended with.
#[derive(Debug)]
pub enum SignedIn<T> {
    /// A new sign-in: its tokens and account, and the callback port's
    /// lock, to hold until the record is saved (a process waiting for the
    /// port then finds it).
    New(TokenSet, Account, Option<Lock>),
    /// While we waited for the callback port, another process signed in:
    /// what `meanwhile` found.
    Found(T),
}

/// The lock that keeps two of our sign-ins off one callback port: the
/// second would fail with "address in use" (say a remote with `user@` and
/// one without, cloned in parallel; or two hosts on the default port).
/// `None` when the port is chosen by the system and cannot collide.
fn lock_callback_port(cfg: &HostConfig) -> Result<Option<Lock>, SignInError> {
    let Some(port) = cfg.redirect.port.filter(|p| *p != 0) else {
        return Ok(None);
    };
    let path = lock_path(&crate::store::data_dir()?, &format!("callback port {port}"));
    // The holder may wait a whole login timeout for its browser.
    let wait = cfg.login_timeout.saturating_add(Duration::from_secs(60));
    let notice =
        format!("waiting for another sign-in to finish: it uses the same callback port ({port})");
    Ok(Some(lock::acquire_saying(&path, wait, Some(&notice))?))
}

/// Runs the whole browser sign-in: take the callback port, bind, print the
/// authorize URL and open the browser, wait for the callback (or a paste),
/// exchange the code, learn the account, check it against `asked`.
///
/// `meanwhile` is asked once the port is ours: a process that held it may
/// have signed in the account we need; if it finds that record, no
/// browser opens.
pub fn sign_in<T>(
    cfg: &HostConfig,
    endpoint: &dyn TokenEndpoint,
    how: &Surroundings,
    asked: Option<&str>,
    meanwhile: &dyn Fn() -> Option<T>,
) -> Result<SignedIn<T>, SignInError> {
    let url = crate::text::plain(&cfg.remote.base_url());
    nobody_to_answer(cfg, how, &url)?;
    let port_lock = lock_callback_port(cfg)?;
    if let Some(found) = meanwhile() {
        crate::trace!("sign-in: another process signed in meanwhile");
        return Ok(SignedIn::Found(found));
    }
    let granted = authorize(cfg, how, &url)?;
    let (tokens, account) = exchange(cfg, endpoint, &granted, asked)?;
    Ok(SignedIn::New(tokens, account, port_lock))
}

/// The error for a sign-in nobody can answer, before any port is taken:
/// neither a browser nor a terminal, and not `login --no-browser` (which
/// still prints the URL and waits).
fn nobody_to_answer(cfg: &HostConfig, how: &Surroundings, url: &str) -> Result<(), SignInError> {
    if how.browser.is_some() || how.terminal {
        return Ok(());
    }
    let url = url.to_owned();
    match how.asker {
        Asker::Git => Err(SignInError::NoWayToSignIn { url }),
        Asker::Login { no_browser: false } => {
            let ssh_port = over_ssh().then(|| {
                cfg.redirect
                    .port
                    .map_or_else(|| "PORT".to_owned(), |p| p.to_string())
            });
            Err(SignInError::NoWayToLogIn { url, ssh_port })
        }
        Asker::Login { no_browser: true } => Ok(()),
    }
}

/// What the user granted: the authorization code, with what its exchange
/// must repeat (the redirect URI it was sent to, the PKCE verifier).
struct Granted {
    code: Secret,
    redirect_uri: String,
    pkce: Pkce,
}

/// The authorization step: binds the listener, shows the authorize URL
/// (and opens the browser), then waits for the callback or a paste until
/// the login timeout. The listeners are closed when this returns.
fn authorize(cfg: &HostConfig, how: &Surroundings, url: &str) -> Result<Granted, SignInError> {
    // Bind before the browser opens, or a fast browser finds nobody
    // listening (atlascode#1663).
    let listener = Listener::bind(&cfg.redirect, &cfg.redirect_uri, url)?;
    let redirect_uri = listener.redirect_uri().to_owned();
    let state = new_state()?;
    let pkce = Pkce::new()?;
    let auth_url = crate::text::plain(&authorize_url(
        &cfg.endpoints(),
        &redirect_uri,
        &state,
        &pkce,
    ));
    // The browser gets a one-time local page that redirects to the
    // authorize URL: a command line is readable by every local user, and
    // the authorize URL holds `state` (docs/security.md).
    let start = match &how.browser {
        Some(_) => Some(StartPage::new(new_state()?, auth_url.clone())),
        None => None,
    };
    let start_url = start.as_ref().map(|p| listener.start_url(p));

    let (tx, rx) = mpsc::channel::<Callback>();
    let stop = Arc::new(AtomicBool::new(false));
    let servers = listener.spawn(state.clone(), start, tx.clone(), stop.clone());

    announce(cfg, how, url, &auth_url, &redirect_uri);
    match (&how.browser, &start_url) {
        (Some(b), Some(start_url)) => open_browser(b, start_url),
        _ => without_browser_hints(how, &redirect_uri),
    }
    let prompt = OpenPrompt::default();
    if how.paste {
        spawn_paste_reader(state.clone(), tx, prompt.clone());
    }

    // On a terminal (and no paste prompt sharing it), a live line with the
    // time left, below the URL, never on its line (contract.md §6).
    let countdown = !how.paste && std::io::IsTerminal::is_terminal(&std::io::stderr());
    // A wrong consumer key or Callback URL shows an error page in the
    // browser and never comes back: only a sign-in that is slow to come
    // back hears about it, not every one that works.
    let slow = || {
        let on_prompt = end_prompt_line(&prompt);
        consumer_hint(cfg, url);
        if on_prompt {
            reopen_prompt(&prompt);
        }
    };
    let outcome = wait_for_callback(&rx, cfg.login_timeout, countdown, &slow);
    end_prompt(&prompt);
    stop.store(true, Ordering::SeqCst);
    for s in servers {
        let _ = s.join();
    }
    let code = match outcome {
        Some(r) => r.map_err(|source| SignInError::Callback {
            source,
            url: url.to_owned(),
        })?,
        None => {
            return Err(SignInError::Timeout {
                seconds: cfg.login_timeout.as_secs(),
                url: url.to_owned(),
                redirect_uri: crate::text::plain(&cfg.redirect_uri),
            })
        }
    };
    Ok(Granted {
        code,
        redirect_uri,
        pkce,
    })
}

/// Tells the user what to do: the authorize URL alone on its own line,
/// between what it is for and what a Bitbucket error page would mean.
fn announce(cfg: &HostConfig, how: &Surroundings, url: &str, auth_url: &str, redirect_uri: &str) {
    let seconds = cfg.login_timeout.as_secs();
    let shown_redirect = crate::text::plain(redirect_uri);
    // One lock for the three parts, so nothing else lands between them
    // (`say!` takes the same, reentrant, lock).
    let mut err = std::io::stderr().lock();
    if how.browser.is_some() {
        crate::say!(
            "sign in to Bitbucket ({url}) in your browser; waiting up to \
             {seconds} s (Ctrl-C cancels). If no browser opens, open this URL:"
        );
    } else {
        crate::say!(
            "to sign in to Bitbucket ({url}), open this URL in a browser \
             on any machine; waiting up to {seconds} s for its redirect to {shown_redirect} \
             (Ctrl-C cancels):"
        );
    }
    // The URL alone on its own line, plain text (contract.md §6).
    let _ = writeln!(err, "{auth_url}");
}

/// How long a sign-in may take before it hears what a Bitbucket error page
/// in the browser would mean: a person who granted access is back by then.
const HINT_AFTER: Duration = Duration::from_secs(20);

/// What a Bitbucket error page instead of "Grant access" means: the
/// consumer's Key or Callback URL is wrong (Bitbucket shows that page and
/// never redirects back, bitbucket-facts.md A.2).
fn consumer_hint(cfg: &HostConfig, url: &str) {
    let callback = crate::text::plain(&cfg.redirect_uri);
    match cfg.consumer {
        crate::config::ConsumerOwner::BuiltIn => crate::say!(
            "no answer from the browser yet. If it shows a Bitbucket error page instead of \
             \"Grant access\" (an unknown client id, \"Invalid redirect_uri\"), the OAuth \
             consumer built into this build is wrong: tell whoever built it, or set up your \
             own with `git credential-bitbucket configure {url} --client-id KEY \
             --client-secret-stdin`."
        ),
        _ => crate::say!(
            "no answer from the browser yet. If it shows a Bitbucket error page instead of \
             \"Grant access\" (an unknown client id, \"Invalid redirect_uri\"), the OAuth \
             consumer settings are wrong: its Key must be credential.{url}.bitbucketClientId \
             and its Callback URL {callback} (credential.{url}.bitbucketRedirectUri)."
        ),
    }
}

/// With no browser to open: where to paste, and over SSH (or with no
/// terminal at all) how to let a browser elsewhere reach the listener.
fn without_browser_hints(how: &Surroundings, redirect_uri: &str) {
    if how.paste {
        crate::say!(
            "if the redirect to {} fails on that \
             machine, paste the address it tried to open (or the code) here.",
            crate::text::plain(redirect_uri)
        );
    }
    if over_ssh() {
        if let Some(port) = crate::url::HttpUrl::parse(redirect_uri).and_then(|u| u.port) {
            crate::say!(
                "from another machine, forward the port first: \
                 ssh -L {port}:127.0.0.1:{port} <this host>"
            );
        }
    }
}

/// Waits up to `timeout` for the first callback or paste; `None` when the
/// time ran out. With `countdown`, a live line shows the time left. If
/// nothing came within [`HINT_AFTER`], `slow` runs once (on a terminal the
/// countdown line is cleared for it and then says so).
fn wait_for_callback(
    rx: &mpsc::Receiver<Callback>,
    timeout: Duration,
    countdown: bool,
    slow: &dyn Fn(),
) -> Option<Callback> {
    let start = Instant::now();
    let deadline = start + timeout;
    let hint_at = start + HINT_AFTER;
    let mut hinted = false;
    let outcome = loop {
        let now = Instant::now();
        let left = deadline.saturating_duration_since(now);
        if !hinted && now >= hint_at && !left.is_zero() {
            hinted = true;
            if countdown {
                eprint!("\r\x1b[K");
            }
            slow();
        }
        if countdown {
            let s = left.as_secs();
            let what = match hinted {
                false => "waiting for the sign-in in the browser",
                true => "still waiting (a Bitbucket error page: see above)",
            };
            eprint!(
                "\r\x1b[K{what}: {}:{:02} left (Ctrl-C cancels)",
                s / 60,
                s % 60
            );
        }
        let mut tick = left;
        if countdown {
            tick = tick.min(Duration::from_secs(1));
        }
        if !hinted {
            tick = tick.min(hint_at.saturating_duration_since(now));
        }
        match rx.recv_timeout(tick.max(Duration::from_millis(1))) {
            Ok(r) => break Some(r),
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => continue,
            Err(_) => break None,
        }
    };
    if countdown {
        eprint!("\r\x1b[K");
    }
    outcome
}

/// Ends the line of a paste prompt still waiting, so a message can go on
/// a line of its own; whether one was open.
fn end_prompt_line(prompt: &OpenPrompt) -> bool {
    let Ok(mut p) = prompt.lock() else {
        return false;
    };
    match p.open.as_mut() {
        Some(tty) => writeln!(tty).is_ok(),
        None => false,
    }
}

/// Shows the paste prompt again after a message interrupted it.
fn reopen_prompt(prompt: &OpenPrompt) {
    if let Ok(mut p) = prompt.lock() {
        if let Some(tty) = p.open.as_mut() {
            let _ = write!(tty, "{PASTE_PROMPT}");
        }
    }
}

/// What the paste prompt says.
const PASTE_PROMPT: &str = "Paste the redirect URL or code: ";

/// Ends a paste prompt still waiting for a line, so the next message
/// starts on a line of its own, and keeps a new one from opening.
fn end_prompt(prompt: &OpenPrompt) {
    if let Ok(mut p) = prompt.lock() {
        p.ended = true;
        if let Some(mut tty) = p.open.take() {
            let _ = writeln!(tty);
        }
    }
}

/// Exchanges the code for tokens and learns whose they are; refuses an
/// account other than the one `asked` for (nothing is saved then).
fn exchange(
    cfg: &HostConfig,
    endpoint: &dyn TokenEndpoint,
    granted: &Granted,
    asked: Option<&str>,
) -> Result<(TokenSet, Account), SignInError> {
    crate::trace!("sign-in: exchanging the authorization code");
    let tokens = endpoint
        .exchange_code(
            cfg,
            &granted.code,
            &granted.redirect_uri,
            &granted.pkce.verifier,
        )
        .map_err(SignInError::Exchange)?;
    let account = endpoint
        .current_user(cfg, &tokens.access_token)
        .map_err(|source| SignInError::User {
            source: Box::new(source),
            url: cfg.remote.base_url(),
            api: crate::text::plain(&cfg.api_url),
        })?;
    if let Some(asked) = asked {
        if !cfg.kind.same_user(&account, asked) {
            return Err(SignInError::AccountMismatch {
                asked: crate::text::printable(asked),
                got: crate::text::printable(&crate::bitbucket::account_label(&account)),
            });
        }
    }
    Ok((tokens, account))
}

/// Reads pasted redirect URLs or codes from the terminal (`/dev/tty`, or
/// the Windows console) until one is valid. While a prompt waits for its
/// line, `prompt` holds the terminal, so the sign-in can end that line when
/// it finishes another way.
fn spawn_paste_reader(state: Secret, tx: mpsc::Sender<Callback>, prompt: OpenPrompt) {
    std::thread::spawn(move || {
        let Ok((tty, mut out)) = crate::platform::open_terminal() else {
            return;
        };
        // Writes `text` as the open prompt, unless the sign-in is over;
        // `None` marks the prompt answered.
        let ask = |text: Option<&str>, out: &mut std::fs::File| {
            if let Ok(mut p) = prompt.lock() {
                p.open = None;
                if let Some(text) = text.filter(|_| !p.ended) {
                    let _ = write!(out, "{text}");
                    p.open = out.try_clone().ok();
                }
            }
        };
        ask(Some(PASTE_PROMPT), &mut out);
        let mut reader = std::io::BufReader::new(tty);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            ask(None, &mut out);
            match parse_paste(&line, &state) {
                Some(result) => {
                    let _ = tx.send(result);
                    return;
                }
                None => {
                    ask(
                        Some("That is neither a redirect URL nor a code; paste again: "),
                        &mut out,
                    );
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::{cfg as git_config, no_env, remote};
    use std::cell::RefCell;

    /// A token endpoint playing Bitbucket from a script (the exchange's
    /// access token or error, then the lookup's answer), logging each call
    /// with what it was sent.
    struct FakeBitbucket {
        exchange: RefCell<Option<Result<&'static str, ApiError>>>,
        user: RefCell<Option<Result<Account, ApiError>>>,
        calls: RefCell<Vec<String>>,
    }

    impl FakeBitbucket {
        fn new(exchange: Result<&'static str, ApiError>, user: Result<Account, ApiError>) -> Self {
            FakeBitbucket {
                exchange: RefCell::new(Some(exchange)),
                user: RefCell::new(Some(user)),
                calls: RefCell::default(),
            }
        }
    }

    fn network(reason: &str) -> ApiError {
        ApiError::Network {
            url: "https://bitbucket.org/site/oauth2/access_token".into(),
            reason: reason.into(),
            cause: crate::bitbucket::NetCause::Other,
        }
    }

    impl TokenEndpoint for FakeBitbucket {
        fn refresh(&self, _: &HostConfig, _: &Secret) -> Result<TokenSet, ApiError> {
            self.calls.borrow_mut().push("refresh".into());
            Err(network("a sign-in never refreshes"))
        }

        fn client_credentials(&self, _: &HostConfig) -> Result<TokenSet, ApiError> {
            self.calls.borrow_mut().push("client_credentials".into());
            Err(network("a sign-in never asks for client_credentials"))
        }

        fn exchange_code(
            &self,
            _: &HostConfig,
            code: &Secret,
            redirect_uri: &str,
            verifier: &Secret,
        ) -> Result<TokenSet, ApiError> {
            self.calls.borrow_mut().push(format!(
                "exchange {} {redirect_uri} {}",
                code.expose(),
                verifier.expose()
            ));
            let answer = self.exchange.borrow_mut().take();
            let access = answer.unwrap_or_else(|| Err(network("called twice")))?;
            Ok(TokenSet {
                access_token: Secret::new(access),
                refresh_token: Some(Secret::new("R1")),
                expires_in: 7200,
                scopes: String::new(),
            })
        }

        fn current_user(&self, _: &HostConfig, token: &Secret) -> Result<Account, ApiError> {
            self.calls
                .borrow_mut()
                .push(format!("current_user {}", token.expose()));
            let answer = self.user.borrow_mut().take();
            answer.unwrap_or_else(|| Err(network("called twice")))
        }
    }

    /// The host configuration for bitbucket.org, or for a Data Center host.
    fn host(dc: bool) -> HostConfig {
        let (url, lines): (&str, &[(&str, &str)]) = if dc {
            (
                "git.example.com",
                &[
                    (
                        "credential.https://git.example.com.bitbucketkind",
                        "datacenter",
                    ),
                    ("credential.https://git.example.com.bitbucketclientid", "id"),
                    (
                        "credential.https://git.example.com.bitbucketclientsecret",
                        "s",
                    ),
                ],
            )
        } else {
            (
                "bitbucket.org",
                &[
                    ("credential.bitbucketclientid", "id"),
                    ("credential.bitbucketclientsecret", "s"),
                    // The system's port: no callback-port lock to take.
                    ("credential.bitbucketredirecturi", "http://127.0.0.1/"),
                ],
            )
        };
        crate::config::resolve(&git_config(lines), &no_env(), &remote("https", url))
            .expect("valid")
            .expect("ours")
    }

    fn granted() -> Granted {
        Granted {
            code: Secret::new("C1"),
            redirect_uri: "http://127.0.0.1:8123/callback".into(),
            pkce: Pkce {
                verifier: Secret::new("V1"),
                challenge: String::new(),
            },
        }
    }

    fn account(username: &str) -> Account {
        Account::named(username)
    }

    #[test]
    fn the_exchange_repeats_the_redirect_and_verifier_then_learns_the_account() {
        let fake = FakeBitbucket::new(Ok("A1"), Ok(account("alice")));
        let (tokens, who) = exchange(&host(false), &fake, &granted(), Some("alice")).expect("ok");
        assert_eq!(tokens.access_token.expose(), "A1");
        assert_eq!(who.username, "alice");
        assert_eq!(
            *fake.calls.borrow(),
            [
                "exchange C1 http://127.0.0.1:8123/callback V1",
                "current_user A1"
            ]
        );
    }

    #[test]
    fn without_an_asked_account_whoever_signed_in_is_taken() {
        let fake = FakeBitbucket::new(Ok("A1"), Ok(account("bob")));
        let (_, who) = exchange(&host(false), &fake, &granted(), None).expect("ok");
        assert_eq!(who.username, "bob");
    }

    #[test]
    fn a_refused_exchange_says_to_check_the_consumer_and_looks_nobody_up() {
        let refused = ApiError::OAuth {
            url: "https://bitbucket.org/site/oauth2/access_token".into(),
            status: 400,
            error: "invalid_grant".into(),
            description: None,
        };
        let fake = FakeBitbucket::new(Err(refused), Ok(account("alice")));
        let err = exchange(&host(false), &fake, &granted(), Some("alice")).expect_err("refused");
        assert!(matches!(err, SignInError::Exchange(_)), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("invalid_grant"), "{msg}");
        assert!(msg.contains("bitbucketClientId"), "{msg}");
        assert_eq!(fake.calls.borrow().len(), 1, "{:?}", fake.calls.borrow());
    }

    #[test]
    fn a_failed_account_lookup_is_its_own_error() {
        let fake = FakeBitbucket::new(Ok("A1"), Err(network("connection reset")));
        let err = exchange(&host(false), &fake, &granted(), None).expect_err("failed");
        assert!(matches!(err, SignInError::User { .. }), "{err:?}");
        assert!(err
            .to_string()
            .contains("could not learn which Bitbucket account"));
    }

    #[test]
    fn another_account_than_asked_is_refused_naming_both_printably() {
        let fake = FakeBitbucket::new(Ok("A1"), Ok(account("bob\x1b[31m")));
        let err = exchange(&host(false), &fake, &granted(), Some("alice")).expect_err("mismatch");
        let msg = err.to_string();
        assert!(
            matches!(err, SignInError::AccountMismatch { .. }),
            "{err:?}"
        );
        assert!(
            msg.contains("as bob [31m, but alice was asked for"),
            "{msg}"
        );
        assert!(!msg.contains('\x1b'), "{msg:?}");
    }

    #[test]
    fn data_center_names_match_without_case_and_cloud_names_with_it() {
        let fake = FakeBitbucket::new(Ok("A1"), Ok(account("alice")));
        assert!(exchange(&host(true), &fake, &granted(), Some("Alice")).is_ok());
        let fake = FakeBitbucket::new(Ok("A1"), Ok(account("alice")));
        let err = exchange(&host(false), &fake, &granted(), Some("Alice"));
        assert!(matches!(err, Err(SignInError::AccountMismatch { .. })));
    }

    #[test]
    fn a_sign_in_found_meanwhile_calls_nobody() {
        let fake = FakeBitbucket::new(Ok("A1"), Ok(account("alice")));
        let how = Surroundings {
            browser: Some(Browser::Shell("true".into())),
            terminal: false,
            paste: false,
            asker: Asker::Git,
        };
        let cfg = host(false);
        let found = sign_in(&cfg, &fake, &how, Some("alice"), &|| Some("kept"));
        assert!(matches!(found, Ok(SignedIn::Found("kept"))), "{found:?}");
        assert!(fake.calls.borrow().is_empty());
    }

    #[test]
    fn with_neither_browser_nor_terminal_git_is_told_at_once() {
        let fake = FakeBitbucket::new(Ok("A1"), Ok(account("alice")));
        let how = Surroundings {
            browser: None,
            terminal: false,
            paste: false,
            asker: Asker::Git,
        };
        let asked = std::cell::Cell::new(false);
        let meanwhile = || {
            asked.set(true);
            None::<()>
        };
        let err = sign_in(&host(false), &fake, &how, None, &meanwhile).expect_err("nobody");
        assert!(matches!(err, SignInError::NoWayToSignIn { .. }), "{err:?}");
        assert!(err
            .to_string()
            .contains("git credential-bitbucket login https://bitbucket.org"));
        assert!(!asked.get() && fake.calls.borrow().is_empty());
    }
}
