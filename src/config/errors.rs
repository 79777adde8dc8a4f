//! `ConfigError`: why a configuration cannot be used, each message naming
//! the key and the command that fixes it.

/// Why the configuration cannot be used. Each message names the key and
/// the command that fixes it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `git config` could not be run or failed.
    #[error("could not read git config: {0}")]
    GitConfig(String),
    /// A value that is not one of the accepted ones.
    #[error("{name} is {value:?}; accepted values: {accepted}")]
    Invalid {
        /// Where the value came from: `credential.<url>.<key>`, or the
        /// environment variable that overrode it.
        name: String,
        /// What was set.
        value: String,
        /// What is accepted.
        accepted: String,
    },
    /// No consumer key.
    #[error(
        "no OAuth consumer is configured for {url}: set credential.{url}.bitbucketClientId \
         and bitbucketClientSecret (run `git credential-bitbucket configure {url}`, \
         see docs/bitbucket-consumer.md), or GIT_CREDENTIAL_BITBUCKET_CLIENT_ID and \
         GIT_CREDENTIAL_BITBUCKET_CLIENT_SECRET in the environment"
    )]
    MissingClientId { url: String },
    /// The token endpoint needs the consumer secret.
    #[error(
        "no consumer secret is configured for {url}: set credential.{url}.bitbucketClientSecret \
         (or GIT_CREDENTIAL_BITBUCKET_CLIENT_SECRET); Bitbucket's token endpoint requires it"
    )]
    MissingClientSecret { url: String },
    /// A value holding a control character or a bidirectional override:
    /// never what anyone meant, and never printed back (the terminal would
    /// run it).
    #[error(
        "{name} holds a control character, which no value may; set it again \
         (`git config --show-origin --get-regexp ^credential` shows where)"
    )]
    ControlCharacter {
        /// Where the value came from, as for `Invalid`.
        name: String,
    },
    /// A URL-valued key that does not parse, or is not allowed.
    #[error("{name} is {value:?}: {why}")]
    BadUrl {
        /// Where the value came from, as for `Invalid`.
        name: String,
        /// What was set.
        value: String,
        /// What is wrong.
        why: &'static str,
    },
    /// Plain http to a host that is not loopback.
    #[error(
        "refusing to send a Bitbucket token over plain http to {url}; use https, or set \
         credential.{url}.bitbucketAllowHttp=true if you really mean it"
    )]
    InsecureHttp { url: String },
}
