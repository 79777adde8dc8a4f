//! The authorization step: the listener bound before the browser opens,
//! the authorize URL shown (and opened), then the callback, a paste or the
//! timeout, whichever comes first.

use super::{open_browser, over_ssh, Granted, SignInError, Surroundings};
use crate::config::HostConfig;
use crate::loopback::{parse_paste, Callback, Listener, StartPage};
use crate::oauth::{authorize_url, new_state, Pkce};
use crate::secret::Secret;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// The paste prompt's state, shared by the reader and the sign-in.
#[derive(Default)]
struct Prompt {
    /// The terminal a prompt is waiting on for its line, if any.
    open: Option<std::fs::File>,
    /// The sign-in is over: no new prompt.
    ended: bool,
}

type OpenPrompt = Arc<std::sync::Mutex<Prompt>>;

/// The authorization step: binds the listener, shows the authorize URL
/// (and opens the browser), then waits for the callback or a paste until
/// the login timeout. The listeners are closed when this returns.
pub(super) fn authorize(
    cfg: &HostConfig,
    how: &Surroundings,
    url: &str,
) -> Result<Granted, SignInError> {
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
