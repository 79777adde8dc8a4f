//! git-credential-bitbucket: a git credential helper for Bitbucket.
//!
//! git runs the binary with `get`, `store` or `erase` and a `key=value`
//! request on stdin ([`protocol`]). For a host that is ours ([`config`]),
//! `get` answers from the token store ([`store`]) with no network while the
//! access token is fresh, refreshes it under a cross-process lock when it
//! nears expiry ([`bitbucket`]), and signs the user in through the browser
//! when there is nothing to refresh ([`signin`], [`loopback`], [`oauth`]).
//! The ladder itself is in [`app`]. The contract is `docs/contract.md`; the
//! architecture is described in `docs/architecture.md`.
//!
//! Try it by hand:
//! `printf 'protocol=https\nhost=bitbucket.org\n\n' | git-credential-bitbucket get`

#![deny(missing_docs)]

pub mod app;
pub mod bitbucket;
pub mod cli;
pub mod commands;
pub mod config;
mod env;
pub mod error;
pub mod gitconfig;
pub mod loopback;
pub mod oauth;
pub mod platform;
pub mod protocol;
pub mod secret;
pub mod setup;
pub mod signin;
mod spelled;
pub mod store;
pub mod text;
pub mod trace;
pub mod url;
