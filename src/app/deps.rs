//! What the ladder reads from outside the process: the clock, the lock
//! directory, Bitbucket's token endpoint and the browser sign-in.
//! Production passes the real ones ([`Deps::real`]); the ladder's tests
//! pass fakes, so every rung can be tried in-process.

use super::notice::Notice;
use crate::config::HostConfig;
use crate::endpoint::{Bitbucket, TokenEndpoint};
use crate::env::Env;
use crate::error::Error;
use crate::signin::{self, SignInError, SignedIn, Surroundings};
use crate::store::{self, Record};
use std::path::PathBuf;

/// Step 5's sign-in: new tokens and the account they belong to, or what
/// `meanwhile` found once the callback port was ours.
pub trait SignInRunner {
    /// Signs in for `asked` (any account when `None`).
    fn sign_in(
        &self,
        cfg: &HostConfig,
        asked: Option<&str>,
        meanwhile: &dyn Fn() -> Option<Record>,
    ) -> Result<SignedIn<Record>, SignInError>;
}

/// The real sign-in of `signin`, with what this process can use.
pub enum BrowserSignIn<'a> {
    /// `get`: browser and terminal found when a sign-in is needed.
    Detect(&'a dyn Env),
    /// `login`: found up front, with its own rules.
    Detected(Surroundings),
}

impl SignInRunner for BrowserSignIn<'_> {
    fn sign_in(
        &self,
        cfg: &HostConfig,
        asked: Option<&str>,
        meanwhile: &dyn Fn() -> Option<Record>,
    ) -> Result<SignedIn<Record>, SignInError> {
        let detected;
        let how = match self {
            BrowserSignIn::Detect(env) => {
                detected = signin::detect(cfg, *env, signin::Asker::Git);
                &detected
            }
            BrowserSignIn::Detected(how) => how,
        };
        signin::sign_in(cfg, &Bitbucket, how, asked, meanwhile)
    }
}

/// Everything [`super::obtain`] and its renewals read besides the
/// configuration and the store.
pub struct Deps<'a> {
    /// The environment (the consumer secret kept by `configure`).
    pub env: &'a dyn Env,
    /// Now, in Unix seconds.
    pub now: Box<dyn Fn() -> u64 + 'a>,
    /// Where the account and sign-in locks live (the data directory).
    pub lock_dir: PathBuf,
    pub endpoint: Box<dyn TokenEndpoint + 'a>,
    pub sign_in: Box<dyn SignInRunner + 'a>,
    /// Where the ladder's notices go: stderr, or a test's list.
    pub notices: Box<dyn Fn(Notice) + 'a>,
}

impl Deps<'_> {
    /// Hands `notice` to the sink.
    pub fn notify(&self, notice: Notice) {
        (self.notices)(notice);
    }
}

impl<'a> Deps<'a> {
    /// The real clock, data directory, Bitbucket and sign-in.
    pub fn real(env: &'a dyn Env, sign_in: BrowserSignIn<'a>) -> Result<Deps<'a>, Error> {
        Ok(Deps {
            env,
            now: Box::new(store::now),
            lock_dir: store::data_dir()?,
            endpoint: Box::new(Bitbucket),
            sign_in: Box::new(sign_in),
            notices: Box::new(|n: Notice| n.say()),
        })
    }
}
