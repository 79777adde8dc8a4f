//! The token flow's answer: a stored API token or access token, with the
//! username (or Bearer) its kind needs.

use super::record;
use crate::config::{AuthType, HostConfig};
use crate::error::Error;
use crate::protocol::{Request, Response};
use crate::store::{Store, StoreKey};

/// The token flow (contract.md §4): a stored API token or access token, handed out
/// with the username its kind needs (bitbucket-facts.md A.9, B.8).
pub fn stored_token(
    cfg: &HostConfig,
    store: &dyn Store,
    host: &StoreKey,
    asked: Option<&str>,
    req: &Request,
) -> Result<Response, Error> {
    let url = cfg.remote.base_url();
    // A clone URL with `alice@` still finds a token stored under a generic
    // name; it is then handed out with that generic name, never with
    // alice's (record.rs).
    let (record, token) = record::stored_token(store, host, asked, cfg)?;
    if record.kind.bearer_only() {
        if !req.has_capability("authtype") {
            return Err(Error::Failed(format!(
                "the token stored for {url} is a Data Center project or repository token, which \
                 Bitbucket accepts only as Bearer; that needs git 2.46 or later (this git did not \
                 offer it)"
            )));
        }
        return Ok(Response::bearer(token, None));
    }
    if cfg.auth_type == AuthType::Bearer
        && req.has_capability("authtype")
        && !record.kind.never_bearer()
    {
        return Ok(Response::bearer(token, None));
    }
    Ok(Response::Basic {
        username: record.account.username.clone(),
        password: token,
        expiry: None,
    })
}
