//! git's protocol actions, dispatched: `get` answers through the ladder of
//! contract.md §4, `erase` drops a refused token of ours, `store` and
//! `capability` keep nothing. The ladder's rungs live in the files beside
//! this one, one job each.
//!
//! Policy, in one place:
//! - a host that is not ours: print nothing, touch nothing, exit 0, so git
//!   goes on to the next helper or its prompt;
//! - our host without a credential (denied, timed out, non-interactive,
//!   misconfigured): `quit=1` on stdout and the reason on stderr, so git
//!   stops instead of prompting for a password Bitbucket does not take;
//! - protocol actions exit 0 (git ignores the status) except for input
//!   that cannot be parsed (2); `store` never keeps anything; `erase` drops
//!   only an access token we issued and keeps the refresh token.

mod deps;
mod erase;
mod get;
mod host;
mod ladder;
mod notice;
mod record;
mod renew;
mod token_flow;

pub use deps::{BrowserSignIn, Deps};
pub use host::{asked_account, keyed_remote, open_store};
pub use ladder::{lock_for, obtain};
pub use record::{app_account, choose, find, stored_token, which};
pub use renew::{grant, sign_in_and_store};

use crate::config::{self, ConfigError, GitConfig, HostConfig};
use crate::env::Env;
use crate::error::Error;
use crate::protocol::{Action, Request, Response};
use crate::store::Store;
use std::io::{BufRead, Write};

/// What a protocol action reads besides its input: git's configuration,
/// the store of a host, and the ladder's outside world (clock, locks,
/// Bitbucket, sign-in). Production passes [`RealWorld`]; the policy's
/// tests pass fakes, so the whole action runs in-process.
pub trait World {
    /// The environment (its overrides and the kept consumer secret).
    fn env(&self) -> &dyn Env;
    /// git's `credential.*` configuration.
    fn git_config(&self) -> Result<GitConfig, ConfigError>;
    /// The store that holds `cfg`'s host (contract.md §5).
    fn open_store(&self, cfg: &HostConfig) -> Result<Box<dyn Store + '_>, Error>;
    /// What the ladder reads from outside.
    fn deps(&self) -> Result<Deps<'_>, Error>;
}

/// The process's world: git's config files, the configured store, the
/// real clock, Bitbucket and browser.
pub struct RealWorld<'a>(pub &'a dyn Env);

impl World for RealWorld<'_> {
    fn env(&self) -> &dyn Env {
        self.0
    }

    fn git_config(&self) -> Result<GitConfig, ConfigError> {
        GitConfig::load()
    }

    fn open_store(&self, cfg: &HostConfig) -> Result<Box<dyn Store + '_>, Error> {
        open_store(cfg)
    }

    fn deps(&self) -> Result<Deps<'_>, Error> {
        Deps::real(self.0, BrowserSignIn::Detect(self.0))
    }
}

/// Runs a protocol action for git, with its exit policy (contract.md §2):
/// git ignores a helper's exit status, so every failure is reported on
/// stderr and the action succeeds, except input that cannot be parsed,
/// which is returned (exit status 2).
pub fn run(
    action: Action,
    input: impl BufRead,
    output: &mut impl Write,
    world: &dyn World,
) -> Result<(), Error> {
    match protocol(action, input, output, world) {
        Err(e @ Error::Decode(_)) => Err(e),
        Err(e) => {
            crate::say!("{e}");
            Ok(())
        }
        Ok(()) => Ok(()),
    }
}

/// Runs a protocol action; every failure is returned ([`run`] decides
/// which ones git sees as a failure).
fn protocol(
    action: Action,
    input: impl BufRead,
    output: &mut impl Write,
    world: &dyn World,
) -> Result<(), Error> {
    if action == Action::Capability {
        return Ok(crate::protocol::write_capabilities(output)?);
    }
    let req = Request::read_from(input)?;
    let Some(remote) = host::remote_of(&req) else {
        return Ok(());
    };
    let git = match world.git_config() {
        Ok(g) => g,
        Err(e) => {
            // We cannot tell whether the host is ours: say why, stay
            // silent on stdout (git itself will usually complain too).
            crate::say!("{e}");
            return Ok(());
        }
    };
    let env = world.env();
    let cfg = match config::resolve(&git, env, &remote) {
        Ok(Some(cfg)) => cfg,
        Ok(None) => {
            crate::trace!("{} is not ours: silent", remote.base_url());
            return Ok(());
        }
        // Our host, but we cannot serve it: for `get`, stop git with the
        // reason rather than letting it prompt.
        Err(e) if action == Action::Get => return quit(output, &e.into()),
        Err(e) => return Err(e.into()),
    };
    match action {
        Action::Get => {
            let answer = world.open_store(&cfg).and_then(|store| {
                let deps = world.deps()?;
                get::answer(&cfg, &req, store.as_ref(), &deps)
            });
            match answer {
                Ok(resp) => Ok(resp.write_to(output)?),
                Err(e) => quit(output, &e),
            }
        }
        Action::Erase => erase::erase(&cfg, &req, world),
        // contract.md §4: we never keep credentials we did not issue; ours are
        // already stored.
        Action::Store | Action::Capability => Ok(()),
    }
}

/// Prints the reason on stderr and `quit=1` on stdout.
fn quit(output: &mut impl Write, why: &Error) -> Result<(), Error> {
    crate::say!("{why}");
    Response::Quit.write_to(output)?;
    Ok(())
}

#[cfg(test)]
mod tests;
