//! The answer to `get`: the flow's token, handed to git as Basic
//! (username and password) or as Bearer.

use super::deps::Deps;
use super::host::asked_account;
use super::ladder::obtain;
use super::token_flow::stored_token;
use crate::bitbucket::facts::Kind;
use crate::bitbucket::facts::TOKEN_AUTH_USER;
use crate::config::{AuthType, Flow, HostConfig};
use crate::error::Error;
use crate::protocol::{Request, Response};
use crate::store::Store;

/// The answer to `req` from `store`, renewing through `deps` if need be.
pub fn answer(
    cfg: &HostConfig,
    req: &Request,
    store: &dyn Store,
    deps: &Deps,
) -> Result<Response, Error> {
    let host = cfg.remote.store_key();
    let asked = match cfg.flow {
        // One identity: the consumer's own app user (contract.md §6).
        Flow::ClientCredentials => None,
        _ => asked_account(req.username.as_deref()),
    };
    if cfg.flow == Flow::Token {
        return stored_token(cfg, store, &host, asked, req);
    }
    let record = obtain(cfg, store, &host, asked, deps)?;
    let token = record
        .access_token
        .clone()
        .expect("BUG: obtain() returns a record with an access token");
    // Bearer only when configured and git can take it (git ≥ 2.46).
    if cfg.auth_type == AuthType::Bearer && req.has_capability("authtype") {
        return Ok(Response::bearer(token, Some(record.expires_at)));
    }
    // Never pair one account's name with another's token: the name is the
    // one git sent, whose record this is; else Cloud's generic name, or
    // on Data Center (which ignores it) the account's own.
    let username = match (asked, cfg.kind) {
        (Some(user), _) => user.to_owned(),
        (None, Kind::Cloud) => TOKEN_AUTH_USER.to_owned(),
        (None, Kind::DataCenter) => record.account.username.clone(),
    };
    Ok(Response::Basic {
        username,
        password: token,
        expiry: Some(record.expires_at),
    })
}
