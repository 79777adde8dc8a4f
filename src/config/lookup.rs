//! One key's value for one of our hosts: the environment's override, else
//! git config under the key's scope rule; and the name a bad value is
//! reported under, with the checks every kind of value shares.

use super::{ConfigError, GitConfig, Key, Remote};
use crate::env::Env;
use crate::gitconfig::parse_bool;
use crate::spelled::NotAccepted;
use crate::url::{HttpUrl, Scheme};
use std::time::Duration;

/// Where `resolve` reads the keys of one remote.
pub(super) struct Lookup<'a> {
    git: &'a GitConfig,
    env: &'a dyn Env,
    remote: &'a Remote,
    /// `protocol://host[:port]`, the scope messages name.
    pub(super) url: String,
    /// bitbucket.org, where keys without a URL count too.
    pub(super) is_cloud_host: bool,
}

impl<'a> Lookup<'a> {
    pub(super) fn new(git: &'a GitConfig, env: &'a dyn Env, remote: &'a Remote) -> Lookup<'a> {
        Lookup {
            git,
            env,
            remote,
            url: remote.base_url(),
            is_cloud_host: remote.is_cloud(),
        }
    }

    /// The environment variable, else git config: a host-bound key without
    /// a URL counts for bitbucket.org only (contract.md §4).
    pub(super) fn value(&self, key: Key) -> Option<String> {
        if let Some(v) = self.env.var(key.env_var()) {
            return Some(v);
        }
        let v = if key.host_bound() && !self.is_cloud_host {
            self.git.scoped(self.remote, key.name())
        } else {
            self.git.get(self.remote, key.name())
        };
        v.map(str::to_owned)
    }

    /// A bad value is reported under the name it was given by: the
    /// environment variable that overrides the key, else the git key.
    pub(super) fn name_of(&self, key: Key) -> String {
        match self.env.var(key.env_var()) {
            Some(_) => key.env_var().to_owned(),
            None => format!("credential.{}.{}", self.url, key.name()),
        }
    }

    /// `value` is not what `key` accepts.
    pub(super) fn invalid(&self, key: Key, value: String, accepted: String) -> ConfigError {
        ConfigError::Invalid {
            name: self.name_of(key),
            value,
            accepted,
        }
    }

    /// One of a list: `default` when unset, else exactly one spelling.
    pub(super) fn one_of<T>(&self, key: Key, default: T) -> Result<T, ConfigError>
    where
        T: std::str::FromStr<Err = NotAccepted>,
    {
        match self.value(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|e: NotAccepted| self.invalid(key, v, e.list())),
        }
    }

    /// A git boolean, `false` when unset.
    pub(super) fn boolean(&self, key: Key) -> Result<bool, ConfigError> {
        match self.value(key) {
            None => Ok(false),
            Some(v) => parse_bool(&v).ok_or_else(|| self.invalid(key, v, "true, false".into())),
        }
    }

    /// Whole seconds, at most a day: far beyond any sensible wait or
    /// margin, and it keeps every time sum far from overflow.
    pub(super) fn seconds(&self, key: Key, default: u64) -> Result<Duration, ConfigError> {
        match self.value(key) {
            None => Ok(Duration::from_secs(default)),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|s| *s <= 86_400)
                .map(Duration::from_secs)
                .ok_or_else(|| {
                    self.invalid(key, v, "a whole number of seconds, at most 86400".into())
                }),
        }
    }

    /// An endpoint URL, without a trailing slash. The client secret, codes
    /// and tokens go only to https endpoints, whatever the config says
    /// (contract.md §7).
    pub(super) fn endpoint(&self, key: Key, default: &str) -> Result<String, ConfigError> {
        let v = self.value(key).unwrap_or_else(|| default.to_owned());
        let parsed = HttpUrl::parse(&v).ok_or_else(|| ConfigError::BadUrl {
            name: self.name_of(key),
            value: v.clone(),
            why: "not an http(s) URL",
        })?;
        if parsed.scheme != Scheme::Https && !parsed.is_loopback() {
            return Err(ConfigError::BadUrl {
                name: self.name_of(key),
                value: v,
                why: "endpoints must use https (plain http only on loopback)",
            });
        }
        Ok(v.trim_end_matches('/').to_owned())
    }
}
