//! Configuration (contract.md §3): git config scoped to the remote's URL, then
//! environment overrides, then defaults.
//!
//! All `credential.*` keys are read with ONE `git config --get-regexp`
//! call, and the URL matching that `git config --get-urlmatch` would do is
//! done here, because we must also know *where* a key came from: a key
//! without a URL counts for bitbucket.org only, so a global client id never
//! makes github.com ours (contract.md §4).

mod entries;
mod env;
mod errors;
mod keys;
mod lookup;
mod remote;
mod resolve;
#[cfg(test)]
pub mod test_support;
mod values;

#[cfg(test)]
pub use entries::entries_read;
pub use entries::url_match;
pub use entries::{Entry, GitConfig};
pub use env::with_client_secret;
pub use errors::ConfigError;
pub use keys::{known_keys, Key};
pub use remote::Remote;
pub use resolve::{kind, resolve, ConsumerOwner, HostConfig};
pub use values::{AuthType, Flow};

/// A consumer key baked in by a packager at build time (contract.md §1).
pub const BUILTIN_CLIENT_ID: Option<&str> =
    option_env!("GIT_CREDENTIAL_BITBUCKET_BUILTIN_CLIENT_ID");
pub const BUILTIN_CLIENT_SECRET: Option<&str> =
    option_env!("GIT_CREDENTIAL_BITBUCKET_BUILTIN_CLIENT_SECRET");
