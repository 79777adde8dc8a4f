//! Signing in (contract.md §6), one job per file: where we are (a browser?
//! a terminal? `surroundings.rs`), the authorization-code flow with `state`
//! and PKCE through the loopback listener or a pasted redirect URL
//! (`authorize.rs`), the code exchange and the account check
//! (`exchange.rs`); here, the sign-in put together and its errors.

mod authorize;
mod exchange;
mod surroundings;

use authorize::authorize;
use exchange::exchange;
use surroundings::over_ssh;

pub use surroundings::{detect, find_browser, open_browser, Asker, Surroundings};

use crate::bitbucket::Account;
use crate::bitbucket::{ApiError, TokenSet};
use crate::config::HostConfig;
use crate::endpoint::TokenEndpoint;
use crate::loopback::{BindError, CallbackError};
use crate::oauth::{Pkce, RandomError};
use crate::secret::Secret;
use crate::store::lock::{self, lock_path, Lock};
use crate::store::StoreError;
use std::time::Duration;

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

#[cfg(test)]
mod tests;
