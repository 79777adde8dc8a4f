//! What `configure` checks after writing: a helper configured after ours,
//! and a configuration git would then refuse.

use super::Scope;
use crate::config::{ConfigError, Remote};
use crate::error::Error;
use std::process::{Command, Stdio};

/// git runs every `credential.helper` that applies, in config order; our
/// empty entry resets the list only for what came before it. A helper
/// configured after ours (e.g. `credential.helper=store` in a repository's
/// config) would still be handed our short-lived tokens on `store`: say so.
pub(super) fn warn_about_later_helpers(base: &str, exe: &str) {
    let Ok(out) = Command::new("git")
        .args([
            "config",
            "-z",
            "--show-origin",
            "--get-regexp",
            r"^credential\..*helper$",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    else {
        return;
    };
    // Entries: origin NUL name LF value NUL.
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = text.split('\0').collect();
    let ours = format!("credential.{}.helper", base.to_ascii_lowercase());
    let mut seen_ours = false;
    for pair in fields.chunks(2) {
        let [origin, entry] = pair else { continue };
        let (name, value) = entry.split_once('\n').unwrap_or((entry, ""));
        let name_lc = name.to_ascii_lowercase();
        if name_lc == ours && value == exe {
            seen_ours = true;
            continue;
        }
        let applies = name_lc == "credential.helper" || name_lc == ours;
        if seen_ours && applies && !value.is_empty() {
            crate::say!(
                "warning: `{name}={value}` ({origin}) comes after this helper, so git also \
                 gives it the Bitbucket tokens to keep; remove it, or scope it to other hosts"
            );
        }
    }
}

/// A configuration that git would then refuse is reported now, not at
/// the next git command. Only the files git reads count.
pub(super) fn check_usable(scope: &Scope, remote: &Remote) -> Result<(), Error> {
    if matches!(scope, Scope::File(_)) {
        return Ok(());
    }
    let git = crate::config::GitConfig::load()?;
    let keyed = crate::app::keyed_remote(&git, Some(&remote.url()))?;
    match crate::config::resolve(&git, &crate::env::ProcessEnv, &keyed) {
        Ok(_)
        | Err(ConfigError::MissingClientId { .. })
        | Err(ConfigError::MissingClientSecret { .. }) => Ok(()),
        Err(e) => Err(Error::Failed(format!(
            "configured, but git could not use it: {e}"
        ))),
    }
}
