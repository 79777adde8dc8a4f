//! Our keys in one git config file, through `git config`: setting and
//! unsetting them, the snapshot before and after, and what changed.

use super::{Scope, OUR_KEYS, SECRET};
use crate::error::Error;
use std::process::{Command, Stdio};

pub(super) fn git_config(scope: &Scope, args: &[&str]) -> Result<std::process::Output, Error> {
    Command::new("git")
        .arg("config")
        .args(scope.args())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Failed(format!("could not run git config: {e}")))
}

pub(super) fn git_config_ok(scope: &Scope, args: &[&str]) -> Result<(), Error> {
    let out = git_config(scope, args)?;
    if out.status.success() {
        return Ok(());
    }
    Err(Error::Failed(format!(
        "git config {} failed: {}",
        args.first().copied().unwrap_or(""),
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

/// `--unset-all`; exit 5 means there was nothing to unset.
pub(super) fn unset_all(scope: &Scope, key: &str) -> Result<(), Error> {
    let out = git_config(scope, &["--unset-all", key])?;
    match out.status.code() {
        Some(0) | Some(5) => Ok(()),
        _ => Err(Error::Failed(format!(
            "git config --unset-all {key} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
    }
}

/// The values of our keys in the chosen file, before or after.
pub(super) type Snapshot = std::collections::BTreeMap<&'static str, Option<String>>;

pub(super) fn snapshot(scope: &Scope, base: &str) -> Result<Snapshot, Error> {
    let mut snap = Snapshot::new();
    for k in OUR_KEYS.iter().copied().chain(["helper"]) {
        let out = git_config(scope, &["--get-all", &format!("credential.{base}.{k}")])?;
        let value = out.status.success().then(|| {
            String::from_utf8_lossy(&out.stdout)
                .trim_end_matches('\n')
                .to_owned()
        });
        snap.insert(k, value);
    }
    Ok(snap)
}

/// What changed, one line per key; secrets are named, never shown.
pub(super) fn changes(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let mut lines = Vec::new();
    for (k, new) in after {
        let old = before.get(k).cloned().flatten();
        if old == *new {
            continue;
        }
        let show = |v: &Option<String>| match (v, *k) {
            (None, _) => "(unset)".to_owned(),
            (Some(_), SECRET) => "(a secret)".to_owned(),
            (Some(v), "helper") => v
                .split('\n')
                .filter(|h| !h.is_empty())
                .collect::<Vec<_>>()
                .join(", "),
            (Some(v), _) => v.clone(),
        };
        lines.push(match (&old, *k) {
            (Some(_), SECRET) if new.is_none() => {
                "removed bitbucketClientSecret from the git config".to_owned()
            }
            (None, _) => format!("set {k} = {}", show(new)),
            _ => format!("changed {k}: {} -> {}", show(&old), show(new)),
        });
    }
    lines
}
