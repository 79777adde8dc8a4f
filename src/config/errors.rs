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
    /// The token endpoint needs the consumer secret. It belongs in our
    /// store, not in a gitconfig file (docs/bitbucket-consumer.md), so the
    /// fix named is `configure`, which asks for it.
    #[error(
        "no consumer secret is set for {url}. Run `git credential-bitbucket configure {url}`, \
         which asks for it, or pipe it to `git credential-bitbucket configure {url} \
         --client-secret-stdin` (GIT_CREDENTIAL_BITBUCKET_CLIENT_SECRET in the environment \
         works too)"
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
    /// The stored consumer secret could not be read (a locked keyring):
    /// that alone is what the user must fix, since the secret is there.
    #[error("could not read the consumer secret for {url}: {source}")]
    SecretUnreadable {
        url: String,
        source: crate::store::StoreError,
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
