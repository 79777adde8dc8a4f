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

pub(crate) use deps::{BrowserSignIn, Deps};
pub(crate) use host::{asked_account, keyed_remote, open_store};
pub(crate) use ladder::{find, lock_for, obtain};
pub(crate) use record::{app_account, choose, stored_token, which};
pub(crate) use renew::{grant, sign_in_and_store};

use crate::config::{self, Env, GitConfig};
use crate::error::Error;
use crate::protocol::{Action, Request, Response};
use std::io::{BufRead, Write};

/// Runs a protocol action for git, with its exit policy (contract.md §2):
/// git ignores a helper's exit status, so every failure is reported on
/// stderr and the action succeeds, except input that cannot be parsed,
/// which is returned (exit status 2).
pub fn run(
    action: Action,
    input: impl BufRead,
    output: &mut impl Write,
    env: &dyn Env,
) -> Result<(), Error> {
    match protocol(action, input, output, env) {
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
pub fn protocol(
    action: Action,
    input: impl BufRead,
    output: &mut impl Write,
    env: &dyn Env,
) -> Result<(), Error> {
    if action == Action::Capability {
        output
            .write_all(b"version 0\ncapability authtype\n")
            .and_then(|_| output.flush())
            .map_err(|e| Error::Write(e.into()))?;
        return Ok(());
    }
    let req = Request::read_from(input)?;
    let Some(remote) = host::remote_of(&req) else {
        return Ok(());
    };
    let git = match GitConfig::load() {
        Ok(g) => g,
        Err(e) => {
            // We cannot tell whether the host is ours: say why, stay
            // silent on stdout (git itself will usually complain too).
            crate::say!("{e}");
            return Ok(());
        }
    };
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
        Action::Get => match get::get(&cfg, &req, env) {
            Ok(resp) => Ok(resp.write_to(output)?),
            Err(e) => quit(output, &e),
        },
        Action::Erase => erase::erase(&cfg, &req),
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
