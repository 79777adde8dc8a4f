//! Which remote a request or a command's URL argument names, the account
//! git asked for, and the store that holds the host's records.

use crate::config::{self, GitConfig, HostConfig, Remote};
use crate::error::Error;
use crate::protocol::Request;
use crate::store::{self, choice, Store};
use crate::url::Scheme;

use crate::bitbucket::facts::TOKEN_AUTH_USER;

/// The remote of a request; `None` for anything that is not http(s).
pub fn remote_of(req: &Request) -> Option<Remote> {
    let protocol = Scheme::parse(req.protocol.as_deref()?)?;
    let host = req.host.as_deref().filter(|h| !h.is_empty())?;
    crate::url::split_host_port(host)?;
    Some(Remote {
        protocol,
        host: host.to_ascii_lowercase(),
        path: req.path.clone().filter(|p| !p.is_empty()),
        username: req.username.clone().filter(|u| !u.is_empty()),
    })
}

/// The account git asked for: its username, unless it is the generic
/// `x-token-auth` (contract.md §4 step 1).
pub fn asked_account(username: Option<&str>) -> Option<&str> {
    username.filter(|u| !u.is_empty() && *u != TOKEN_AUTH_USER)
}

/// The store for a host (contract.md §5): as configured, `auto` decided once per
/// host and remembered.
pub fn open_store(cfg: &HostConfig) -> Result<Box<dyn Store>, Error> {
    Ok(choice::open(
        &store::data_dir()?,
        cfg.store,
        &cfg.remote.store_key(),
    )?)
}

/// The remote named on the command line, keyed exactly as `get` keys it:
/// git sends no path unless credential.useHttpPath is set (contract.md §6).
pub fn keyed_remote(git: &GitConfig, url: Option<&str>) -> Result<Remote, Error> {
    let mut remote = remote_arg(url)?;
    let use_path = git
        .get(&remote, "usehttppath")
        .and_then(crate::gitconfig::parse_bool)
        .unwrap_or(false);
    if !use_path {
        remote.path = None;
    }
    // A Cloud host's key has no path, whatever its name (the kind as
    // configured; `resolve` keys the remote the same way).
    let kind = config::kind(git, &crate::env::ProcessEnv, &remote);
    Ok(remote.keyed(kind))
}

/// Parses the URL argument of `login`/`logout`/`status`.
pub fn remote_arg(url: Option<&str>) -> Result<Remote, Error> {
    let url = url.unwrap_or("https://bitbucket.org");
    Remote::from_url(url)
        .ok_or_else(|| Error::Usage(format!("{url:?} is not an https:// or http:// URL")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x_token_auth_means_no_particular_account() {
        assert_eq!(asked_account(Some("x-token-auth")), None);
        assert_eq!(asked_account(Some("")), None);
        assert_eq!(asked_account(Some("alice")), Some("alice"));
    }
}
