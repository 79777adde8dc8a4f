//! What the ladder tells the user besides its answer: a warning that the
//! current token is used meanwhile, an expired sign-in, a renewal that
//! could not be saved, a new sign-in. The rungs hand these over as values
//! ([`super::Deps::notices`]); the one sink prints them (or, in the
//! ladder's tests, keeps them to compare).

use crate::bitbucket::facts::app_password_message;
use crate::human::rfc3339;
use crate::store::TokenKind;

/// One thing the ladder says on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A renewal failed without killing anything; the current access
    /// token answers until `until` (contract.md §4 step 6).
    UsingCurrent { why: String, until: u64 },
    /// The refresh token is dead; a sign-in follows.
    SignInExpired {
        username: String,
        host: String,
        why: String,
    },
    /// A refresh's result could not be saved; `sign_in_lost` when the
    /// spent refresh token's successor is gone with it.
    NotSaved { why: String, sign_in_lost: bool },
    /// A sign-in was saved.
    SignedIn {
        url: String,
        account: String,
        store: &'static str,
    },
    /// `erase`: a stored token Bitbucket refuses was removed; what to do
    /// depends on what it was (an app password by its prefix, else its
    /// kind), since the cure differs (docs/bitbucket-facts.md, 2026
    /// changes).
    StoredTokenRemoved {
        kind: TokenKind,
        app_password: bool,
        url: String,
    },
}

impl Notice {
    /// The lines of the notice, each printed after our name.
    pub fn lines(&self) -> Vec<String> {
        match self {
            Notice::UsingCurrent { why, until } => vec![
                format!("warning: {why}"),
                format!(
                    "using the current access token meanwhile; it is valid until {}",
                    rfc3339(*until)
                ),
            ],
            Notice::SignInExpired {
                username,
                host,
                why,
            } => vec![format!(
                "the saved sign-in of {username} on {host} has expired or was revoked ({why}); \
                 a new sign-in is needed"
            )],
            Notice::NotSaved {
                why,
                sign_in_lost: false,
            } => vec![format!(
                "warning: could not save the renewed access token: {why}. The sign-in itself is \
                 kept"
            )],
            Notice::NotSaved {
                why,
                sign_in_lost: true,
            } => vec![format!(
                "warning: could not save the renewed sign-in: {why}. This command goes on with \
                 the new token, but the sign-in is lost: the next git command will open the \
                 browser to sign in again"
            )],
            Notice::SignedIn {
                url,
                account,
                store,
            } => vec![format!("signed in to {url} as {account} ({store} store)")],
            Notice::StoredTokenRemoved {
                kind,
                app_password,
                url,
            } => vec![refused_token(*kind, *app_password, url)],
        }
    }

    /// Prints the notice on stderr, one `say!` per line.
    pub fn say(&self) {
        for line in self.lines() {
            crate::say!("{line}");
        }
    }
}

/// What to say when Bitbucket refused a stored token we then removed.
fn refused_token(kind: TokenKind, app_password: bool, url: &str) -> String {
    let again = format!("`git credential-bitbucket configure {url} --api-token`");
    if app_password {
        return format!(
            "Bitbucket refused the stored token for {url}, so it was removed. {}",
            app_password_message("it", url)
        );
    }
    let (what, cure) = match kind {
        TokenKind::ApiToken => (
            "API token",
            "Create a new API token with the repository read and write scopes on your \
             Atlassian account's security page",
        ),
        TokenKind::AccessToken => (
            "access token",
            "Create a new repository, project or workspace access token in Bitbucket",
        ),
        TokenKind::PersonalToken | TokenKind::ProjectToken => (
            "HTTP access token",
            "Create a new HTTP access token in Bitbucket",
        ),
        // Renewable kinds are never removed here; named for completeness.
        TokenKind::Oauth | TokenKind::ClientCredentials => ("token", "Sign in again"),
    };
    format!(
        "Bitbucket refused the stored {what} for {url}, so it was removed; it has expired, \
         was revoked or lacks a scope. {cure} and store it with {again}, or sign in with \
         OAuth: `git credential-bitbucket configure {url}`."
    )
}
