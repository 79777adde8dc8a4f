//! Signing in (SPEC §6): where we are (a browser? a terminal?), the
//! authorization-code flow with `state` and PKCE through the loopback
//! listener or a pasted redirect URL, the code exchange and the account
//! check.

use crate::bitbucket::{ApiError, Client, TokenSet};
use crate::config::{Env, HostConfig};
use crate::loopback::{parse_paste, BindError, CallbackError, Listener};
use crate::oauth::{authorize_url, new_state, Pkce, RandomError};
use crate::secret::Secret;
use crate::store::Account;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Why signing in failed.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Neither a browser nor a terminal: nobody can answer (SPEC §6).
    #[error(
        "signing in to {url} needs a browser or a terminal, and there is neither here \
         (an IDE's background fetch, cron, or credential.interactive=false); \
         run `git credential-bitbucket login {url}` in a terminal, then try again"
    )]
    NoWayToSignIn {
        /// The host.
        url: String,
    },
    /// The loopback listener could not start.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The callback ended the sign-in.
    #[error(transparent)]
    Callback(#[from] CallbackError),
    /// Nobody finished in time.
    #[error(
        "timed out after {seconds} s waiting for the sign-in in the browser; run \
         `git credential-bitbucket login {url}` to try again, or raise \
         credential.{url}.bitbucketLoginTimeout"
    )]
    Timeout {
        /// The wait.
        seconds: u64,
        /// The host.
        url: String,
    },
    /// The code exchange failed.
    #[error(
        "the sign-in could not be completed: {0}. Check the consumer's key and secret \
         (bitbucketClientId, bitbucketClientSecret) and that its Callback URL matches \
         bitbucketRedirectUri; a code is valid only briefly, so sign in again rather than \
         reusing an old redirect"
    )]
    Exchange(ApiError),
    /// The account lookup failed.
    #[error("signed in, but could not learn which Bitbucket account it is: {0}")]
    User(ApiError),
    /// Signed in as somebody else than asked.
    #[error(
        "you signed in to Bitbucket as {got}, but this remote asks for {asked}; nothing was \
         saved. Sign out of Bitbucket in the browser (or use a private window), then sign in \
         as {asked}; or change the user in the remote URL"
    )]
    AccountMismatch {
        /// The account git asked for.
        asked: String,
        /// The account that signed in.
        got: String,
    },
    /// No randomness.
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// How to open a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Browser {
    /// A configured command (`bitbucketBrowser` or `$BROWSER`); the URL
    /// is passed as one separate argument, never pasted into the command
    /// (Unix: through `/bin/sh`; Windows: no shell, see src/platform/).
    Shell(String),
    /// A platform opener program.
    Program(String),
}

/// What this process can use to sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Surroundings {
    /// A browser, when SPEC §6 finds one.
    pub browser: Option<Browser>,
    /// Whether `/dev/tty` can be used for a pasted redirect URL.
    pub terminal: bool,
    /// Whether to read a paste while waiting: `login` always does on a
    /// terminal, `get` only when there is no browser.
    pub paste: bool,
    /// `login`: with neither browser nor terminal it still prints the URL
    /// and waits for the redirect (e.g. through `ssh -L`); `get` fails fast.
    pub login: bool,
}

/// Decides, in one place, whether there is a browser and a terminal
/// (SPEC §6). `login` reads the terminal whatever `GIT_TERMINAL_PROMPT`
/// says; `no_browser` is `login --no-browser`.
pub fn detect(cfg: &HostConfig, env: &dyn Env, login: bool, no_browser: bool) -> Surroundings {
    if !cfg.interactive && !login {
        crate::trace!("sign-in: credential.interactive=false rules out browser and terminal");
        return Surroundings {
            browser: None,
            terminal: false,
            paste: false,
            login,
        };
    }
    let browser = if no_browser {
        None
    } else {
        find_browser(cfg.browser.as_deref(), env)
    };
    let prompt_ok = env
        .var("GIT_TERMINAL_PROMPT")
        .and_then(|v| crate::config::parse_bool(&v))
        .unwrap_or(true);
    let terminal = (login || prompt_ok) && tty_available();
    let paste = terminal && (login || browser.is_none());
    crate::trace!("sign-in: browser={browser:?} terminal={terminal} paste={paste}");
    Surroundings {
        browser,
        terminal,
        paste,
        login,
    }
}

/// The browser SPEC §6 finds: `configured` (bitbucketBrowser), else
/// `$BROWSER`, else the platform opener where there is a display.
pub fn find_browser(configured: Option<&str>, env: &dyn Env) -> Option<Browser> {
    if let Some(cmd) = configured {
        return Some(Browser::Shell(cmd.to_owned()));
    }
    if let Some(cmd) = env.var("BROWSER").filter(|b| !b.trim().is_empty()) {
        return Some(Browser::Shell(cmd));
    }
    crate::platform::default_browser(env)
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
        Err(e) => eprintln!("git-credential-bitbucket: could not start the browser ({e}); open the URL above by hand"),
    }
}

enum Event {
    Callback(Result<Secret, CallbackError>),
}

/// Runs the whole browser sign-in: bind, print and open the authorize URL,
/// wait for the callback (or a paste), exchange the code, learn the
/// account, check it against `asked`.
pub fn sign_in(
    cfg: &HostConfig,
    client: &Client<'_>,
    how: &Surroundings,
    asked: Option<&str>,
) -> Result<(TokenSet, Account), SignInError> {
    let url = cfg.remote.base_url();
    if how.browser.is_none() && !how.terminal && !how.login {
        return Err(SignInError::NoWayToSignIn { url });
    }
    // Bind before the browser opens, or a fast browser finds nobody
    // listening (atlascode#1663).
    let listener = Listener::bind(&cfg.redirect, &cfg.redirect_uri)?;
    let redirect_uri = listener.redirect_uri().to_owned();
    let state = new_state()?;
    let pkce = Pkce::new()?;
    let auth_url = authorize_url(cfg, &redirect_uri, &state, &pkce);

    let (tx, rx) = mpsc::channel::<Event>();
    let stop = Arc::new(AtomicBool::new(false));
    let servers = listener.spawn(state.clone(), tx.clone(), Event::Callback, stop.clone());

    let seconds = cfg.login_timeout.as_secs();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "git-credential-bitbucket: sign in to Bitbucket ({url}) in your browser; waiting up to {seconds} s for \
         the redirect to {redirect_uri} (Ctrl-C cancels). If no browser opens, open this URL:"
    );
    // The URL alone on its own line, plain text (SPEC §6).
    let _ = writeln!(err, "{auth_url}");
    let _ = writeln!(
        err,
        "git-credential-bitbucket: if Bitbucket shows \"Invalid redirect_uri\", the consumer's Callback URL \
         must be {} (credential.{url}.bitbucketRedirectUri).",
        cfg.redirect_uri
    );
    drop(err);
    match &how.browser {
        Some(b) => open_browser(b, &auth_url),
        None => {
            eprintln!(
                "git-credential-bitbucket: no browser here. Open the URL on any machine; if its redirect to \
                 {redirect_uri} fails there, paste the address it tried to open (or the code) here."
            );
            if std::env::var_os("SSH_CONNECTION").is_some_and(|s| !s.is_empty()) {
                if let Some(port) = crate::url::HttpUrl::parse(&redirect_uri).and_then(|u| u.port) {
                    eprintln!(
                        "git-credential-bitbucket: over SSH you can also forward the port: \
                         ssh -L {port}:127.0.0.1:{port} <this host>"
                    );
                }
            }
        }
    }
    if how.paste {
        spawn_paste_reader(state.clone(), tx);
    }

    let deadline = Instant::now() + cfg.login_timeout;
    // On a terminal (and no paste prompt sharing it), a live line with the
    // time left, below the URL, never on its line (SPEC §6).
    let countdown = !how.paste && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let outcome = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if countdown {
            let s = left.as_secs();
            eprint!(
                "\r\x1b[Kwaiting for the sign-in in the browser: {}:{:02} left (Ctrl-C cancels)",
                s / 60,
                s % 60
            );
        }
        let tick = if countdown {
            left.min(Duration::from_secs(1))
        } else {
            left
        };
        match rx.recv_timeout(tick.max(Duration::from_millis(1))) {
            Ok(Event::Callback(r)) => break Some(r),
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => continue,
            Err(_) => break None,
        }
    };
    if countdown {
        eprint!("\r\x1b[K");
    }
    stop.store(true, Ordering::SeqCst);
    for s in servers {
        let _ = s.join();
    }
    let code = match outcome {
        Some(r) => r?,
        None => return Err(SignInError::Timeout { seconds, url }),
    };
    crate::trace!("sign-in: exchanging the authorization code");
    let tokens = client
        .exchange_code(&code, &redirect_uri, &pkce.verifier)
        .map_err(SignInError::Exchange)?;
    let account = client
        .current_user(&tokens.access_token)
        .map_err(SignInError::User)?;
    if let Some(asked) = asked {
        if asked != account.username {
            return Err(SignInError::AccountMismatch {
                asked: asked.to_owned(),
                got: account.username,
            });
        }
    }
    Ok((tokens, account))
}

/// Reads pasted redirect URLs or codes from the terminal (`/dev/tty`, or
/// the Windows console) until one is valid.
fn spawn_paste_reader(state: Secret, tx: mpsc::Sender<Event>) {
    std::thread::spawn(move || {
        let Ok((tty, mut out)) = crate::platform::open_terminal() else {
            return;
        };
        let _ = write!(out, "Paste the redirect URL or code: ");
        let mut reader = std::io::BufReader::new(tty);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            match parse_paste(&line, &state) {
                Some(result) => {
                    let _ = tx.send(Event::Callback(result));
                    return;
                }
                None => {
                    let _ = write!(
                        out,
                        "That is neither a redirect URL nor a code; paste again: "
                    );
                }
            }
        }
    });
}
