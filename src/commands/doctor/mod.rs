//! `doctor [URL] [--json]`: check the setup and say what to fix, one line
//! per check, each failure with its fix; exit 1 when something is wrong.
//!
//! It holds to one rule (docs/contract.md §2): it fails, naming the key or
//! the fix, exactly when the next git command would fail. It reads config
//! as `get` does (GitConfig, which knows each entry's file), never sends a
//! secret, never prints one, and decides nothing: a store choice not made
//! yet stays unmade.
//!
//! One file per check: keys.rs (misspelled keys, secrets in gitconfig),
//! helpers.rs (helper order), consumer.rs (the consumer secret), store.rs,
//! redirect.rs (the port), endpoints.rs (the network, run for all hosts
//! at once under one bound), signin.rs (a sign-in, or whether one can
//! happen); report.rs prints them.

mod consumer;
mod endpoints;
mod helpers;
mod keys;
mod redirect;
mod report;
mod signin;
mod store;

use super::configured_hosts;
use crate::app;
use crate::config::{self, Flow, GitConfig, Remote};
use crate::env::Env;
use crate::error::Error;
use crate::text::NAME;
use std::io::Write;
use std::path::PathBuf;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    /// Worth knowing; not an error.
    Warn,
    /// Wrong: the next git command would fail, and doctor exits 1.
    Fail,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "fail",
        }
    }
}

/// One line of the checklist.
#[derive(Debug, Clone)]
pub struct Check {
    /// Which host, if the check is about one.
    pub host: Option<String>,
    /// A short name: `keys`, `config`, `helpers`, `gcm`, `consumer`,
    /// `store`, `redirect`, `network`, `endpoint`, `sign-in`.
    pub check: &'static str,
    pub level: Level,
    /// What was found.
    pub message: String,
    /// What to do about it.
    pub fix: Option<String>,
}

fn check(host: Option<&str>, check: &'static str, level: Level, message: String) -> Check {
    Check {
        host: host.map(str::to_owned),
        check,
        level,
        message,
        fix: None,
    }
}

impl Check {
    fn fix(mut self, fix: String) -> Check {
        self.fix = Some(fix);
        self
    }
}

/// One host's checks: those made without the network, the endpoints to
/// probe (run for every host at once), and the checks after them.
struct HostPlan {
    before: Vec<Check>,
    probes: Vec<endpoints::Probe>,
    after: Vec<Check>,
}

impl HostPlan {
    fn only(before: Vec<Check>) -> HostPlan {
        HostPlan {
            before,
            probes: Vec::new(),
            after: Vec::new(),
        }
    }
}

/// The checks of one host that need no network: its configuration, the
/// other helpers git calls for it, the consumer secret, its store and
/// redirect port, and its sign-in; and the endpoints to probe.
fn plan_host(
    git: &GitConfig,
    helper_entries: &helpers::Helpers,
    data_dir: &Result<PathBuf, String>,
    env: &dyn Env,
    remote: &Remote,
) -> HostPlan {
    let base = remote.base_url();
    let cfg = match config::resolve(git, env, remote) {
        Ok(Some(cfg)) => cfg,
        Ok(None) => {
            return HostPlan::only(vec![check(
                Some(&base),
                "config",
                Level::Fail,
                format!("{base} is not set up for {NAME}"),
            )
            .fix(format!("git credential-bitbucket configure {base}"))]);
        }
        Err(e) => {
            // The message names the key (and never prints a control
            // character or a secret: config::ConfigError).
            let mut checks = vec![
                check(Some(&base), "config", Level::Fail, e.to_string()).fix(format!(
                "set the key as the message says, or rerun `git credential-bitbucket configure \
                 {base}`"
            )),
            ];
            checks.extend(helpers::checks(helper_entries, &base));
            return HostPlan::only(checks);
        }
    };
    let mut before = vec![check(
        Some(&base),
        "config",
        Level::Ok,
        "every bitbucket* value is valid".into(),
    )];
    before.extend(helpers::checks(helper_entries, &base));
    let dir = match data_dir {
        Ok(d) => d,
        Err(e) => {
            before.push(check(Some(&base), "store", Level::Fail, e.clone()));
            return HostPlan::only(before);
        }
    };
    before.extend(consumer::secret(&cfg, dir));
    let (store_check, store) = store::readable(&cfg, dir);
    before.push(store_check);
    if cfg.flow == Flow::Browser {
        before.extend(redirect::port(&cfg));
    }
    // The company network (which proxy, which CA), before the endpoints it
    // explains.
    // git's http.* settings for this host, read once for the lines and
    // the probes' agent.
    let net = crate::network::Settings::for_remote(&cfg.remote);
    for (warn, line) in net.doctor_lines() {
        let level = if warn { Level::Warn } else { Level::Ok };
        before.push(check(Some(&base), "network", level, line));
    }
    let probes = endpoints::probes(&cfg, &net);
    let after = store
        .map(|s| vec![signin::state(&cfg, s.as_ref(), env)])
        .unwrap_or_default();
    HostPlan {
        before,
        probes,
        after,
    }
}

pub fn run(
    url: Option<&str>,
    json: bool,
    out: &mut impl Write,
    env: &dyn Env,
) -> Result<(), Error> {
    let git = GitConfig::load()?;
    let mut checks = keys::checks(git.entries());
    let hosts: Vec<Remote> = match url {
        Some(u) => vec![app::keyed_remote(&git, Some(u))?],
        None => configured_hosts(&git)
            .iter()
            .filter_map(|b| app::keyed_remote(&git, Some(b)).ok())
            .collect(),
    };
    if hosts.is_empty() {
        checks.push(
            check(
                None,
                "config",
                Level::Fail,
                format!("no host is set up for {NAME}"),
            )
            .fix("git credential-bitbucket configure [URL]".into()),
        );
    }
    let helper_entries = helpers::Helpers::new(git.entries());
    // Looked up once for all hosts.
    let data_dir = crate::store::data_dir().map_err(|e| e.to_string());
    let plans: Vec<HostPlan> = hosts
        .iter()
        .map(|r| plan_host(&git, &helper_entries, &data_dir, env, r))
        .collect();
    let all_probes: Vec<&endpoints::Probe> = plans.iter().flat_map(|p| &p.probes).collect();
    let mut probed = endpoints::run_all(&all_probes).into_iter();
    let gcm = crate::gcm::find(&git);
    for (plan, remote) in plans.into_iter().zip(&hosts) {
        checks.extend(plan.before);
        if let Some(gcm) = &gcm {
            // GCM beside us (Git for Windows' default): what happens now.
            let (base, host) = (remote.base_url(), remote.hostname());
            let [now, old] = gcm.what_happens(&base, &host);
            checks.push(check(Some(&base), "gcm", Level::Warn, now).fix(old));
        }
        checks.extend(probed.by_ref().take(plan.probes.len()));
        checks.extend(plan.after);
    }
    let failures = checks.iter().filter(|c| c.level == Level::Fail).count();
    report::write(out, &checks, json).map_err(|e| Error::Write(e.into()))?;
    match failures {
        0 => Ok(()),
        n => Err(Error::Failed(format!(
            "doctor found {n} problem{}; each has its fix above",
            if n == 1 { "" } else { "s" }
        ))),
    }
}
