//! What a call to one Bitbucket host needs to know: which kind of server,
//! where its authorize, token and API endpoints are, and the consumer that
//! calls them; made from a host's configuration, borrowed from it.

use super::facts::Kind;
use crate::secret::Secret;

/// One host's endpoints and the consumer that calls them.
#[derive(Debug, Clone, Copy)]
pub struct Endpoints<'a> {
    /// Cloud or Data Center: how the consumer authenticates and how the
    /// account is learnt.
    pub kind: Kind,
    /// The authorize endpoint.
    pub authorize: &'a str,
    /// The token endpoint (Data Center's revocation sits beside it).
    pub token: &'a str,
    /// The REST API base, without a trailing slash.
    pub api: &'a str,
    /// The OAuth consumer.
    pub consumer: Consumer<'a>,
}

/// The OAuth consumer: its key, its secret, and the scopes it asks for.
#[derive(Debug, Clone, Copy)]
pub struct Consumer<'a> {
    /// The consumer key (client id).
    pub id: &'a str,
    /// The consumer secret, when one is configured.
    pub secret: Option<&'a Secret>,
    /// The scopes to ask for.
    pub scopes: &'a [String],
}

impl Consumer<'_> {
    /// The secret, empty when none is configured.
    pub fn secret(&self) -> &str {
        self.secret.map(Secret::expose).unwrap_or("")
    }
}
