//! git-credential-bitbucket: a git credential helper for Bitbucket.
//!
//! git runs the binary with `get`, `store` or `erase` and a `key=value`
//! request on stdin (`protocol`). For a host that is ours (`config`),
//! `get` answers from the token store (`store`) with no network while the
//! access token is fresh, refreshes it under a cross-process lock when it
//! nears expiry (`bitbucket`), and signs the user in through the browser
//! when there is nothing to refresh (`signin`, `loopback`, `oauth`).
//! The ladder itself is in `app`. The contract is `docs/contract.md`; the
//! architecture is described in `docs/architecture.md`.
//!
//! The library exists for the binary: its one public item is [`run`], which
//! `main.rs` calls; the modules are private, so the compiler finds what no
//! path uses. The fuzz targets reach the parsers through a hidden
//! `fuzzing` module.
//!
//! Try it by hand:
//! `printf 'protocol=https\nhost=bitbucket.org\n\n' | git-credential-bitbucket get`

#![deny(missing_docs)]

mod app;
mod bitbucket;
mod cli;
mod commands;
mod config;
mod dispatch;
mod endpoint;
mod env;
mod error;
mod gcm;
mod gitconfig;
mod human;
mod loopback;
mod network;
mod oauth;
mod platform;
mod protocol;
mod secret;
mod setup;
mod signin;
mod spelled;
mod store;
mod text;
mod trace;
mod url;

pub use dispatch::run;

/// What the fuzz targets in `fuzz/fuzz_targets/` call; not an API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::bitbucket::{parse_token_answer, parse_user_answer};
    pub use crate::gitconfig::parse as parse_gitconfig;
    pub use crate::loopback::{parse_callback, parse_paste};
    pub use crate::protocol::Request;
    pub use crate::secret::Secret;
    pub use crate::store::file::parse_document;
    pub use crate::url::parse_query;
}
