//! The top-level error: one variant per boundary, each message saying what
//! happened and what to do. `dispatch::run` prints it once, prefixed with the
//! program name.

use crate::bitbucket::ApiError;
use crate::config::ConfigError;
use crate::protocol::{DecodeError, ProtocolWriteError};
use crate::signin::SignInError;
use crate::store::StoreError;

/// Anything a command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// git's input could not be parsed (exit 2).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Writing our answer failed.
    #[error(transparent)]
    Write(#[from] ProtocolWriteError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    SignIn(#[from] SignInError),
    /// Bitbucket refused the refresh for a reason that is not a dead
    /// refresh token: a consumer problem. The token is kept.
    #[error(
        "Bitbucket refused to refresh the access token: {0}. This points at the OAuth consumer \
         (its key, secret or Callback URL), not at your sign-in, which was kept; fix the consumer \
         and try again"
    )]
    RefreshRefused(ApiError),
    /// The `client_credentials` grant was refused.
    #[error(
        "Bitbucket refused the client_credentials grant: {0}. The consumer must be marked \
         \"This is a private consumer\" in Bitbucket, and its key and secret must match \
         bitbucketClientId and bitbucketClientSecret (or GIT_CREDENTIAL_BITBUCKET_CLIENT_ID/_SECRET)"
    )]
    GrantRefused(ApiError),
    /// The `client_credentials` grant could not reach Bitbucket.
    #[error(
        "could not get a client_credentials token: {0}. Try again when Bitbucket can be reached"
    )]
    GrantFailed(ApiError),
    /// The refresh could not reach Bitbucket and the old token has expired.
    #[error(
        "could not refresh the access token: {0}. Your sign-in was kept; try again when \
         Bitbucket can be reached"
    )]
    RefreshFailed(ApiError),
    /// A user command was called wrongly (exit 2).
    #[error("{0}\nRun `git credential-bitbucket --help` for usage.")]
    Usage(String),
    /// A user command failed for a reason explained in the message.
    #[error("{0}")]
    Failed(String),
}

impl Error {
    /// The exit status for a user command (contract.md §2).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Decode(_) | Error::Usage(_) => 2,
            _ => 1,
        }
    }
}
